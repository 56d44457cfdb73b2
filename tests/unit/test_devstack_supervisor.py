"""devstack's supervisor, on fake services and a fake clock: which service it restarts,
when, and what it says on the console."""

import re
import signal
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from devstack.processes import describe_exit
from devstack.restart_policy import RestartPolicy
from devstack.supervisor import Supervisor


@dataclass
class FakeService:
    """Gets pid 100 at its start, 101 at its restart, ...; dies when the test sets
    ``returncode``."""

    module: str
    stops: list[str] = field(default_factory=list)
    """Where it writes its name when stopped."""
    log_path: Path = Path(".devstack/fake.log")
    pid: int = 99
    returncode: int | None = None

    def exit_code(self) -> int | None:
        return self.returncode

    def start(self) -> "FakeService":
        self.pid += 1
        self.returncode = None
        return self

    def stop(self) -> None:
        self.stops.append(self.module)


@dataclass
class Clock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def console() -> list[str]:
    return []


@pytest.fixture
def supervisor(clock: Clock, console: list[str]) -> Supervisor:
    policy = RestartPolicy(first_delay_s=1.0, max_delay_s=30.0, healthy_after_s=10.0)
    return Supervisor(policy, say=console.append, clock=clock)


def test_starting_a_service_says_its_pid(supervisor: Supervisor, console: list[str]) -> None:
    supervisor.start(FakeService("notifier"))
    assert console == ["notifier started (pid 100)"]


def test_a_dead_service_is_restarted_after_the_delay_and_the_others_are_left_alone(
    supervisor: Supervisor, clock: Clock, console: list[str]
) -> None:
    ingest, notifier = FakeService("ingest"), FakeService("notifier")
    supervisor.start(ingest)
    supervisor.start(notifier)
    console.clear()
    clock.now = 2.0
    notifier.returncode = -signal.SIGKILL

    supervisor.check()
    assert console == [
        "notifier (pid 100) was killed by SIGKILL; restarting it in 1 s "
        "(its log: .devstack/fake.log)"
    ]
    clock.now = 2.9
    supervisor.check()
    assert notifier.returncode is not None, "restarted before its delay was over"

    clock.now = 3.0
    supervisor.check()
    assert console[-1] == "notifier restarted (pid 101)"
    assert notifier.returncode is None
    assert (ingest.pid, ingest.returncode) == (100, None)


def test_a_service_that_keeps_dying_waits_longer_each_time_until_it_runs_a_while(
    supervisor: Supervisor, clock: Clock, console: list[str]
) -> None:
    enricher = FakeService("enricher")
    supervisor.start(enricher)
    delays = []
    for ran_for_s in (0.5, 0.5, 0.5, 60.0):
        clock.now += ran_for_s
        enricher.returncode = 2
        supervisor.check()
        announced = re.search(
            r"enricher \(pid \d+\) exited with status 2; restarting it in (\S+) s", console[-1]
        )
        assert announced, console[-1]
        delays.append(announced[1])
        clock.now += 60
        supervisor.check()
        assert enricher.returncode is None
    assert delays == ["1", "2", "4", "1"]


def test_stop_stops_every_service_the_last_started_first(supervisor: Supervisor) -> None:
    stopped: list[str] = []
    for name in ("sandbox", "ingest", "enricher", "notifier"):
        supervisor.start(FakeService(name, stopped))
    supervisor.stop()
    assert stopped == ["notifier", "enricher", "ingest", "sandbox"]


@pytest.mark.parametrize(
    ("returncode", "said"),
    [
        (0, "exited with status 0"),
        (1, "exited with status 1"),
        (-signal.SIGKILL, "was killed by SIGKILL"),
        (-signal.SIGTERM, "was killed by SIGTERM"),
        (-(signal.SIGRTMIN + 3), f"was killed by signal {signal.SIGRTMIN + 3}"),
    ],
)
def test_an_exit_is_told_by_its_status_or_signal(returncode: int, said: str) -> None:
    assert describe_exit(returncode) == said
