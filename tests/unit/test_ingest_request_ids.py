"""The store of native webhooks' requestIds: claim, confirm, release, expiry, a broken file.
Across real processes: tests/integration/test_ingest_local_state.py."""

from pathlib import Path

import pytest

from ingest.request_ids import PENDING_TIMEOUT_S, Claim, RequestIds

TTL_S = 3600.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> RequestIds:
    return RequestIds(tmp_path / "spool", ttl_s=TTL_S, clock=clock)


def test_a_new_request_id_is_claimed_and_a_confirmed_one_is_a_duplicate(store: RequestIds) -> None:
    assert store.claim("r-1") is Claim.CLAIMED
    store.confirm("r-1")
    assert store.claim("r-1") is Claim.DUPLICATE
    assert store.claim("r-2") is Claim.CLAIMED


def test_a_claim_in_progress_is_reported_as_in_flight(store: RequestIds) -> None:
    assert store.claim("r-1") is Claim.CLAIMED
    assert store.claim("r-1") is Claim.IN_FLIGHT


def test_a_released_claim_can_be_claimed_again(store: RequestIds) -> None:
    assert store.claim("r-1") is Claim.CLAIMED
    store.release("r-1")
    assert store.claim("r-1") is Claim.CLAIMED


def test_release_never_forgets_an_accepted_request_id(store: RequestIds) -> None:
    store.claim("r-1")
    store.confirm("r-1")
    store.release("r-1")
    assert store.claim("r-1") is Claim.DUPLICATE


def test_an_accepted_request_id_is_forgotten_after_the_ttl(store: RequestIds, clock: Clock) -> None:
    store.claim("r-1")
    store.confirm("r-1")
    clock.now += TTL_S - 1
    assert store.claim("r-1") is Claim.DUPLICATE
    clock.now += 2
    assert store.claim("r-1") is Claim.CLAIMED


def test_a_claim_abandoned_by_a_dead_request_expires(store: RequestIds, clock: Clock) -> None:
    store.claim("r-1")
    clock.now += PENDING_TIMEOUT_S - 1
    assert store.claim("r-1") is Claim.IN_FLIGHT
    clock.now += 2
    assert store.claim("r-1") is Claim.CLAIMED


def test_the_store_is_shared_through_its_file(tmp_path: Path, clock: Clock) -> None:
    first = RequestIds(tmp_path, ttl_s=TTL_S, clock=clock)
    second = RequestIds(tmp_path, ttl_s=TTL_S, clock=clock)
    assert first.claim("r-1") is Claim.CLAIMED
    assert second.claim("r-1") is Claim.IN_FLIGHT
    first.confirm("r-1")
    assert second.claim("r-1") is Claim.DUPLICATE


def test_a_store_that_cannot_be_created_grants_the_claim(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    store = RequestIds(tmp_path / "a-file" / "spool", ttl_s=TTL_S)
    assert store.claim("r-1") is Claim.CLAIMED
    assert store.claim("r-1") is Claim.CLAIMED
    store.confirm("r-1")
    store.release("r-1")


def test_a_broken_store_file_grants_the_claim_and_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "request-ids.sqlite3").write_bytes(b"this is not a database" * 100)
    store = RequestIds(tmp_path, ttl_s=TTL_S)
    assert store.claim("r-1") is Claim.CLAIMED
    assert store.claim("r-1") is Claim.CLAIMED
    store.confirm("r-1")
    assert [r.getMessage() for r in caplog.records].count(
        "request id store unavailable; accepting without de-duplication"
    ) == 2
