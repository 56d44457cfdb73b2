"""The scenario's fault schedule: seeded, inside the drive, process faults never overlapping."""

import itertools

import pytest

from bench.scenario.schedule import (
    CONSUMERS,
    FAULT_FLAGS,
    SERVICES,
    fault_kinds,
    plan_faults,
)

ALL = fault_kinds(FAULT_FLAGS)


@pytest.mark.parametrize("seed", range(20))
def test_every_fault_ends_before_the_drive_does_and_starts_after_the_warm_up(seed: int) -> None:
    faults = plan_faults(seed=seed, duration_s=60, kinds=ALL, warm_up_s=5, cool_down_s=3)
    assert faults
    for fault in faults:
        assert fault.at_s >= 5
        assert fault.busy_until_s <= 60 - 3 + 1e-6, fault


@pytest.mark.parametrize("seed", range(20))
def test_kills_and_stalls_never_overlap_and_hit_services_that_exist(seed: int) -> None:
    faults = plan_faults(seed=seed, duration_s=60, kinds=ALL)
    process = [f for f in faults if f.kind in ("kill", "stall")]
    for before, after in itertools.pairwise(process):
        assert before.busy_until_s <= after.at_s
    assert all(f.target in SERVICES for f in process if f.kind == "kill")
    assert all(f.target in CONSUMERS for f in process if f.kind == "stall")
    # A stall outlasts the session timeout, so the group evicts the stalled member.
    assert all(f.duration_s > 6.0 for f in process if f.kind == "stall")


@pytest.mark.parametrize("seed", range(20))
def test_a_minute_with_every_fault_has_each_kind_and_kills_ingest(seed: int) -> None:
    faults = plan_faults(seed=seed, duration_s=60, kinds=ALL)
    assert {f.kind for f in faults} == set(ALL)
    assert any(f.kind == "kill" and f.target == "ingest" for f in faults)


def test_same_kind_windows_do_not_overlap() -> None:
    faults = plan_faults(seed=1, duration_s=600, kinds=ALL)
    for kind in ALL:
        of_kind = [f for f in faults if f.kind == kind]
        assert len(of_kind) > 1, kind
        for before, after in itertools.pairwise(of_kind):
            assert before.at_s + before.duration_s <= after.at_s


def test_the_schedule_follows_the_seed_and_the_flags() -> None:
    assert plan_faults(seed=5, duration_s=60, kinds=ALL) == plan_faults(
        seed=5, duration_s=60, kinds=ALL
    )
    only_sms = plan_faults(seed=5, duration_s=60, kinds=fault_kinds(["sms-outage"]))
    assert {f.kind for f in only_sms} == {"sms-outage"}
    assert plan_faults(seed=5, duration_s=60, kinds=[]) == []
    assert plan_faults(seed=5, duration_s=6, kinds=ALL) == []
    with pytest.raises(KeyError):
        fault_kinds(["meteor"])
