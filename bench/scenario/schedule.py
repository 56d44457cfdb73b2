"""When which fault happens: a seeded schedule planned before the run (pure, no I/O).

Every fault starts after a warm-up (the services settled into their groups) and ends,
restart included, before the drive phase does, so the drain phase measures recovery
and nothing else. Faults that act on a service process (kill, stall) never overlap each
other, so a stalled process is never the one killed; faults of different kinds (the
broker paused while Kladana is down) may overlap, as real incidents do.
"""

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# The runner's flags and the fault kinds each turns on.
FAULT_FLAGS: dict[str, tuple[str, ...]] = {
    "kill": ("kill",),
    "stall": ("stall",),
    "kladana": ("kladana-outage", "kladana-latency", "kladana-storm"),
    "sms-outage": ("sms-outage",),
    "broker-pause": ("broker-pause",),
}

SERVICES = ("ingest", "enricher-1", "enricher-2", "notifier-1", "notifier-2")
CONSUMERS = SERVICES[1:]

# One fault of a kind per this many seconds of the fault window (at least one).
PERIOD_S: dict[str, float] = {
    "kill": 12.0,
    "stall": 30.0,
    "kladana-outage": 40.0,
    "kladana-latency": 40.0,
    "kladana-storm": 40.0,
    "sms-outage": 30.0,
    "broker-pause": 30.0,
}

RESTART_ALLOWANCE_S = 6.0
"""A killed service needs this long after its restart to be back in its group."""


@dataclass(frozen=True)
class Fault:
    kind: str
    at_s: float
    """Seconds after the drive started."""
    duration_s: float
    """How long it lasts: the outage or pause; for a kill, the time until the restart."""
    target: str | None = None
    """The service a kill or stall acts on."""

    @property
    def busy_until_s(self) -> float:
        """When its effect is over (a killed service has restarted and settled)."""
        extra = RESTART_ALLOWANCE_S if self.kind == "kill" else 0.0
        return self.at_s + self.duration_s + extra


def fault_kinds(flags: Iterable[str]) -> list[str]:
    """The fault kinds the given flags turn on; raises KeyError on an unknown flag."""
    return [kind for flag in flags for kind in FAULT_FLAGS[flag]]


def _duration(kind: str, rng: random.Random, session_timeout_s: float) -> float:
    if kind == "kill":
        return rng.uniform(0.5, 2.0)
    if kind == "stall":
        # Longer than the session timeout: the group must evict the stalled member.
        return session_timeout_s + rng.uniform(2.0, 5.0)
    if kind in ("kladana-latency", "sms-outage"):
        return rng.uniform(4.0, 8.0)
    return rng.uniform(3.0, 6.0)


def _spread(
    kinds: Sequence[str],
    rng: random.Random,
    start_s: float,
    end_s: float,
    session_timeout_s: float,
) -> list[Fault]:
    """One timeline: ``kinds`` in order, one after the other, with random gaps between.

    Faults that do not fit the window (with the ones before them) are left out."""
    planned: list[tuple[str, float]] = []
    needed = 0.0
    for kind in kinds:
        duration = _duration(kind, rng, session_timeout_s)
        span = duration + (RESTART_ALLOWANCE_S if kind == "kill" else 0.0)
        if needed + span <= end_s - start_s:
            planned.append((kind, duration))
            needed += span
    free = end_s - start_s - needed
    # The free time cut at random points: the gap before each fault.
    cuts = sorted(rng.uniform(0, free) for _ in planned)
    gaps = [b - a for a, b in zip([0.0, *cuts], cuts, strict=False)]
    faults, at = [], start_s
    for (kind, duration), gap in zip(planned, gaps, strict=True):
        at += gap
        faults.append(Fault(kind, round(at, 3), round(duration, 3)))
        at += duration + (RESTART_ALLOWANCE_S if kind == "kill" else 0.0)
    return faults


def plan_faults(
    *,
    seed: int,
    duration_s: float,
    kinds: Iterable[str],
    session_timeout_s: float = 6.0,
    warm_up_s: float = 5.0,
    cool_down_s: float = 3.0,
) -> list[Fault]:
    """The faults of a drive of ``duration_s``, sorted by start time."""
    rng = random.Random(seed)
    wanted = sorted(set(kinds))
    start_s, end_s = warm_up_s, duration_s - cool_down_s
    window = end_s - start_s
    if window <= 0:
        return []

    def count(kind: str) -> int:
        return max(1, round(window / PERIOD_S[kind]))

    faults: list[Fault] = []
    process_kinds = [k for k in wanted if k in ("kill", "stall") for _ in range(count(k))]
    rng.shuffle(process_kinds)
    for fault in _spread(process_kinds, rng, start_s, end_s, session_timeout_s):
        pool = SERVICES if fault.kind == "kill" else CONSUMERS
        faults.append(Fault(fault.kind, fault.at_s, fault.duration_s, rng.choice(pool)))
    kills = [i for i, f in enumerate(faults) if f.kind == "kill"]
    # Ingest is the one service that must not lose what it accepted: always kill it once
    # when there are kills enough to spare one.
    if len(kills) >= 2 and not any(faults[i].target == "ingest" for i in kills):
        victim = faults[rng.choice(kills)]
        faults[faults.index(victim)] = Fault("kill", victim.at_s, victim.duration_s, "ingest")
    for kind in wanted:
        if kind not in ("kill", "stall"):
            faults.extend(_spread([kind] * count(kind), rng, start_s, end_s, session_timeout_s))
    return sorted(faults, key=lambda f: (f.at_s, f.kind))
