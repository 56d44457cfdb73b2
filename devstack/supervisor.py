"""Keep devstack's services running: restart one that died, after the restart policy's
delay, and say so on the console.

The broker, not a service here, keeps every accepted event in memory; restarting a
service rather than stopping the stack is what keeps those events (see devstack's main).
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from devstack.processes import describe_exit
from devstack.restart_policy import RestartPolicy


class Service(Protocol):
    """What the supervisor needs of a process (:class:`devstack.processes.ServiceProcess`)."""

    module: str
    log_path: Path

    @property
    def pid(self) -> int: ...

    def exit_code(self) -> int | None: ...

    def start(self) -> object: ...

    def stop(self) -> object: ...


@dataclass
class _Watched:
    service: Service
    started_at: float = 0.0
    deaths_in_a_row: int = 0
    restart_at: float | None = None
    """When it is due to be restarted; None while it runs."""


class Supervisor:
    """``start`` each service, call ``check`` every moment the stack runs, ``stop`` once."""

    def __init__(
        self,
        policy: RestartPolicy,
        *,
        say: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._policy = policy
        self._say = say
        self._clock = clock
        self._watched: list[_Watched] = []

    def start(self, service: Service) -> None:
        watched = _Watched(service)
        self._watched.append(watched)
        self._run(watched, "started")

    def check(self) -> None:
        """Restart the services whose delay is over; schedule those that died since."""
        now = self._clock()
        for watched in self._watched:
            if watched.restart_at is None:
                self._schedule_if_dead(watched, now)
            elif now >= watched.restart_at:
                watched.restart_at = None
                self._run(watched, "restarted")

    def stop(self) -> None:
        """Stop every service, the last started first: the enricher finishes the events
        in hand while the sandbox it calls still answers."""
        for watched in reversed(self._watched):
            watched.service.stop()

    def _schedule_if_dead(self, watched: _Watched, now: float) -> None:
        service = watched.service
        returncode = service.exit_code()
        if returncode is None:
            return
        watched.deaths_in_a_row = self._policy.deaths_in_a_row(
            watched.deaths_in_a_row, ran_for_s=now - watched.started_at
        )
        delay_s = self._policy.delay_s(watched.deaths_in_a_row)
        watched.restart_at = now + delay_s
        self._say(
            f"{service.module} (pid {service.pid}) {describe_exit(returncode)}; "
            f"restarting it in {delay_s:g} s (its log: {service.log_path})"
        )

    def _run(self, watched: _Watched, verb: str) -> None:
        watched.service.start()
        watched.started_at = self._clock()
        self._say(f"{watched.service.module} {verb} (pid {watched.service.pid})")
