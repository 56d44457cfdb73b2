"""What every Kladana request goes through: a limiter that grants a permit to send, and the
permit that carries the answer's rate-limit headers back to it.

Two limiters implement it: :class:`~enricher.limiter.RequestLimiter`, one process's
share, and :class:`~enricher.shared_limiter.SharedLimiter`, one budget in Redis for
every replica of a token (which falls back to a per-process share when Redis is away).
"""

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from enricher.bucket import ServerQuota


class Permit(Protocol):
    """One request's right to be sent, held while it runs."""

    def observe(self, quota: ServerQuota) -> None:
        """Align the limiter with what this request's answer said."""

    def count_abandoned(self, for_s: float) -> None:
        """Count one more request in flight for ``for_s``: one we stopped waiting for (a
        timeout, or a 1073 saying Kladana serves more of ours than we count) that Kladana
        may still be serving and still counts against its cap of parallel requests."""


class Limiter(Protocol):
    def slot(self, timeout: float | None = None) -> AbstractContextManager[Permit]:
        """Hold a parallel slot and a request's units while the block runs; raises
        :class:`~enricher.errors.NoRequestSlot` (nothing was sent) on shutdown or when
        ``timeout`` seconds pass first."""


class Answered(Protocol):
    """What a limiter does with the answers to the requests it granted."""

    def observe(self, quota: ServerQuota, serial: float, granted_at: float) -> None:
        """Align with the answer to the request granted at ``granted_at`` (the limiter's
        clock) as ``serial``: the units spent that the server surely counted with it."""

    def count_abandoned(self, for_s: float) -> None: ...


@dataclass(frozen=True)
class GrantedPermit:
    """The permit both limiters grant: it hands the answer back with what they need."""

    limiter: Answered
    serial: float
    granted_at: float

    def observe(self, quota: ServerQuota) -> None:
        self.limiter.observe(quota, self.serial, self.granted_at)

    def count_abandoned(self, for_s: float) -> None:
        self.limiter.count_abandoned(for_s)
