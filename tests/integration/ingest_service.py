"""``python -m ingest`` as a real process for a test, and raw HTTP to it over a socket.

Without a broker unless the environment names one: webhooks are then accepted into the
spool, which is all a test of ingest's HTTP face needs.
"""

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from devstack.broker import free_port, wait_for_port
from devstack.processes import ServiceProcess
from tests.helpers import wait_until


@dataclass(frozen=True)
class RunningIngest:
    port: int
    service: ServiceProcess

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def logs(self) -> str:
        return self.service.log_path.read_text()


@contextmanager
def running_ingest(tmp_path: Path, environment: dict[str, str]) -> Iterator[RunningIngest]:
    """Started and ready; stopped (SIGTERM) on leaving, then its log is complete."""
    port = free_port()
    service = ServiceProcess(
        "ingest",
        {
            # A loopback port nothing listens on: no broker, every event spooled.
            "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
            "INGEST_PORT": str(port),
            "INGEST_SPOOL_DIR": str(tmp_path / "spool"),
            "INGEST_WORKERS": "1",
            **environment,
        },
        log_dir=tmp_path,
    ).start()
    running = RunningIngest(port, service)
    try:
        wait_for_port("127.0.0.1", port, timeout_s=60)
        assert wait_until(lambda: ready(running.base_url), timeout_s=60), running.logs()
        yield running
        assert service.exit_code() is None, running.logs()
    finally:
        service.stop(timeout_s=30)


def ready(base_url: str) -> bool:
    try:
        return requests.get(f"{base_url}/readyz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def raw_exchange(
    port: int, request: bytes, *, timeout_s: float = 10, source: str = "127.0.0.1"
) -> bytes:
    """``request`` sent as it is (no client library normalises it) from the loopback
    address ``source``, then everything the server answers until it closes the
    connection, or until ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    answer = b""
    with socket.create_connection(
        ("127.0.0.1", port), timeout=timeout_s, source_address=(source, 0)
    ) as connection:
        connection.sendall(request)
        while (left_s := deadline - time.monotonic()) > 0:
            connection.settimeout(left_s)
            try:
                chunk = connection.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            answer += chunk
    return answer


def status_of(answer: bytes) -> int:
    """The status code of a raw HTTP answer; 0 for no answer."""
    parts = answer.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and answer.startswith(b"HTTP/") else 0


def body_of(answer: bytes) -> bytes:
    return answer.partition(b"\r\n\r\n")[2]
