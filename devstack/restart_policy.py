"""When devstack restarts a service that died: after a delay that doubles while it keeps
dying, as docker compose's restart policy does.

A service that dies again at once (a bad setting, a broken rules file) is restarted ever
less often, up to a cap, rather than spinning; one that ran a while before it died was
healthy, so it gets the first, short delay again.
"""

from dataclasses import dataclass

from shared.backoff import backoff_delay


@dataclass(frozen=True)
class RestartPolicy:
    first_delay_s: float = 1.0
    max_delay_s: float = 30.0
    healthy_after_s: float = 10.0
    """A service that ran this long before it died starts a new count of deaths."""

    def deaths_in_a_row(self, earlier: int, *, ran_for_s: float) -> int:
        """The count after one more death, ``earlier`` being the count before it."""
        return 1 if ran_for_s >= self.healthy_after_s else earlier + 1

    def delay_s(self, deaths_in_a_row: int) -> float:
        """How long to wait before restarting a service that has died this many times."""
        # The full delay, no jitter: one process restarts, there is no crowd to spread out.
        return backoff_delay(
            deaths_in_a_row, base=self.first_delay_s, cap=self.max_delay_s, jitter_draw=1.0
        )
