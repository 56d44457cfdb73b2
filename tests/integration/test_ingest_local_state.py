"""A host's local state across real processes, as gunicorn workers share it: the spool's
drain lock (one drainer at a time, released by the OS when its holder is killed) and
the requestId store (each id claimed by exactly one process). No broker."""

import multiprocessing
import signal
import subprocess
import sys
from pathlib import Path

from ingest.drainer import drain_once
from ingest.request_ids import Claim, RequestIds
from ingest.spool import Spool
from shared.events import Record
from tests.unit.ingest_fakes import FakeChannel, record

WRITE_TIMEOUT_S = 5.0
TTL_S = 3600.0

_HOLD_LOCK = """
import sys, time
from pathlib import Path
from ingest.spool import Spool
with Spool(Path(sys.argv[1]), write_timeout_s=5).drain_lock() as held:
    print("held" if held else "not held", flush=True)
    time.sleep(600)
"""


def open_spool(directory: Path) -> Spool:
    return Spool(directory, write_timeout_s=WRITE_TIMEOUT_S)


def test_the_os_releases_the_drain_lock_of_a_killed_holder(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        with open_spool(tmp_path).drain_lock() as held_while_alive:
            assert not held_while_alive
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with open_spool(tmp_path).drain_lock() as held_after_kill:
        assert held_after_kill


def _drain_until_empty(directory: str, published_path: str) -> None:
    """A drainer process: records what it published, one value per line."""
    spool = open_spool(Path(directory))
    channel = FakeChannel(pause_s=0.002)
    while not spool.is_empty():
        drain_once(spool, channel, batch_size=3)
    Path(published_path).write_bytes(b"\n".join(r.value for _, r in channel.sent))


def test_two_drainer_processes_never_publish_the_same_record(tmp_path: Path) -> None:
    spool = open_spool(tmp_path / "spool")
    values = [record("doc", n).value for n in range(150)]
    spool.append("raw", [Record(key=b"doc", value=value) for value in values])

    context = multiprocessing.get_context("spawn")
    outputs = [tmp_path / f"published-{n}" for n in range(2)]
    drainers = [
        context.Process(target=_drain_until_empty, args=(str(tmp_path / "spool"), str(path)))
        for path in outputs
    ]
    for drainer in drainers:
        drainer.start()
    for drainer in drainers:
        drainer.join(timeout=120)
        assert drainer.exitcode == 0

    published = [path.read_bytes().split(b"\n") for path in outputs]
    everything = [value for values_of_one in published for value in values_of_one if value]
    assert sorted(everything) == sorted(values)  # each exactly once
    for values_of_one in published:
        mine = [value for value in values_of_one if value]
        assert mine == sorted(mine, key=values.index)  # in spool order
    assert spool.is_empty()


def _claim_in_a_process(directory: str, request_ids: list[str]) -> list[str]:
    store = RequestIds(Path(directory), ttl_s=TTL_S)
    return [request_id for request_id in request_ids if store.claim(request_id) is Claim.CLAIMED]


def test_each_request_id_is_claimed_by_exactly_one_of_several_processes(tmp_path: Path) -> None:
    request_ids = [f"r-{n}" for n in range(100)]
    RequestIds(tmp_path, ttl_s=TTL_S).claim("warm-up")  # creates the file and its schema
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        won = pool.starmap(_claim_in_a_process, [(str(tmp_path), request_ids)] * 4)
    claimed = [request_id for process in won for request_id in process]
    assert sorted(claimed) == sorted(request_ids)
