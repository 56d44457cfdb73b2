"""Ingest behind the reverse proxy of ``deploy/nginx/``, as docker-compose.yml runs it, all on
loopback: while 200 slow clients hold connections, real webhooks are still answered
within Kladana's 1500 ms, and the proxy cuts off the clients that are too slow; its own
refusals are JSON, it tells ingest who the client is, and no log line holds the token.

Needs nginx (Debian: ``apt-get install nginx``; ``.ci/run`` installs it).
"""

import json
import os
import shutil
import socket
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from string import Template

import pytest
import requests

from devstack.broker import free_port, wait_for_port
from ingest.settings import ANSWER_DEADLINE_MS
from tests.conftest import PipelineTopics
from tests.helpers import ROOT, wait_until
from tests.integration.ingest_service import body_of, raw_exchange, running_ingest, status_of

NGINX = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
pytestmark = pytest.mark.skipif(
    NGINX is None, reason="nginx is not installed (apt-get install nginx; .ci/run installs it)"
)

TEMPLATE = ROOT / "deploy" / "nginx" / "default.conf.template"
SECRET = "pr0xy-s3cret"
DOCUMENT_ID = "34efe2ee-015e-11e6-9464-e4de0000006b"
WEBHOOK = f"/webhook?id={DOCUMENT_ID}&type=CustomerOrder&token={SECRET}"
MAX_BODY_BYTES = 1000
SLOW_CLIENTS = 200
SLOW_FOR_S = 20
"""How long the slow clients go on: past the proxy's 10 s deadlines, bounded."""
WEBHOOKS = 10


@dataclass(frozen=True)
class Proxy:
    port: int
    directory: Path

    def logs(self) -> str:
        return "".join((self.directory / name).read_text() for name in ("access.log", "error.log"))


@contextmanager
def running_proxy(directory: Path, upstream_port: int) -> Iterator[Proxy]:
    """nginx with the stack's proxy configuration in front of ingest on ``upstream_port``.

    The template is filled as the nginx image fills it; the main configuration around it
    is what the image's is (worker processes, connections), with paths in ``directory``.
    """
    assert NGINX is not None
    directory.mkdir(parents=True)
    port = free_port()
    server = Template(TEMPLATE.read_text()).safe_substitute(
        INGEST_PROXY_PORT=str(port),
        INGEST_UPSTREAM=f"127.0.0.1:{upstream_port}",
        INGEST_MAX_BODY_BYTES=str(MAX_BODY_BYTES),
    )
    (directory / "default.conf").write_text(server)
    temporary = "\n".join(
        f"    {kind}_temp_path {directory / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (directory / "nginx.conf").write_text(
        f"""daemon off;
worker_processes auto;
pid {directory / "nginx.pid"};
{"user root;" if os.geteuid() == 0 else ""}
events {{ worker_connections 1024; }}
http {{
{temporary}
    include {directory / "default.conf"};
}}
"""
    )
    with (
        (directory / "access.log").open("wb") as access,
        (directory / "error.log").open("wb") as errors,
    ):
        nginx = subprocess.Popen(
            [NGINX, "-p", str(directory), "-c", str(directory / "nginx.conf"), "-e", "stderr"],
            stdout=access,
            stderr=errors,
        )
    try:
        wait_for_port("127.0.0.1", port, timeout_s=30)
        yield Proxy(port, directory)
    finally:
        nginx.terminate()
        nginx.wait(timeout=30)


class SlowClient:
    """A connection to the proxy that sends what is left of its request a byte a second."""

    def __init__(self, port: int, sent_at_once: bytes, dripped: bytes) -> None:
        self.socket = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.socket.sendall(sent_at_once)
        self.socket.setblocking(False)
        self._left = dripped
        self.cut_off = False

    def step(self) -> None:
        """The next byte, unless the proxy has closed the connection (or answered)."""
        if self.cut_off:
            return
        try:
            self.socket.recv(4096)
            self.cut_off = True  # closed, or answered: either way the proxy is done with it
        except BlockingIOError:
            pass  # open, and the proxy has said nothing
        except ConnectionResetError:
            self.cut_off = True
        if self.cut_off or not self._left:
            return
        try:
            self.socket.send(self._left[:1])
        except (BrokenPipeError, ConnectionResetError):
            self.cut_off = True
        self._left = self._left[1:]


def drip(clients: list[SlowClient], first_round: threading.Event) -> None:
    """A byte a second on each connection, for ``SLOW_FOR_S`` seconds at most."""
    deadline = time.monotonic() + SLOW_FOR_S
    for _ in range(SLOW_FOR_S):
        for client in clients:
            client.step()
        first_round.set()
        time.sleep(max(0.0, min(1.0, deadline - time.monotonic())))


def _request_producer_connected(logs: str) -> bool:
    entries = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    return any(entry.get("message") == "broker connected" for entry in entries)


@pytest.mark.broker
def test_webhooks_are_answered_in_time_while_200_slow_clients_hold_connections(
    kafka_bootstrap: str,
    topics: PipelineTopics,
    tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> None:
    environment = {
        **topics.environment(kafka_bootstrap),
        "INGEST_TOKEN": SECRET,
        "INGEST_WORKERS": "2",  # the default: 2 x 32 threads, which 64 slow clients used to hold
        "INGEST_TRUSTED_PROXIES": "127.0.0.1/32",
        "INGEST_MAX_BODY_BYTES": str(MAX_BODY_BYTES),
    }
    with (
        running_ingest(tmp_path / "ingest", environment) as ingest,
        running_proxy(tmp_path / "proxy", ingest.port) as proxy,
    ):
        # Answers after the broker's acknowledgement, not after a spool write.
        assert wait_until(lambda: _request_producer_connected(ingest.logs())), ingest.logs()
        head = f"POST {WEBHOOK} HTTP/1.1\r\nHost: x\r\nContent-Length: {MAX_BODY_BYTES}\r\n\r\n"
        slow_headers = [SlowClient(proxy.port, b"", head.encode()) for _ in range(100)]
        slow_bodies = [
            SlowClient(proxy.port, head.encode(), b" " * MAX_BODY_BYTES) for _ in range(90)
        ]
        # One byte of the body, then nothing more.
        stalled = [SlowClient(proxy.port, head.encode() + b" ", b"") for _ in range(10)]
        slow = slow_headers + slow_bodies + stalled
        assert len(slow) == SLOW_CLIENTS
        first_round = threading.Event()
        dripper = threading.Thread(target=drip, args=(slow, first_round))
        dripper.start()
        try:
            assert first_round.wait(timeout=10)
            answers: list[tuple[int, float]] = []
            for _ in range(WEBHOOKS):
                started = time.monotonic()
                answer = requests.post(f"http://127.0.0.1:{proxy.port}{WEBHOOK}", timeout=10)
                answers.append((answer.status_code, time.monotonic() - started))
                time.sleep(0.2)
            holding = sum(not client.cut_off for client in slow)
        finally:
            dripper.join(timeout=SLOW_FOR_S + 10)
            for client in slow:
                client.socket.close()
        proxy_logs = proxy.logs()
    ingest_logs = ingest.logs()

    latencies_ms = sorted(round(seconds * 1000, 1) for _, seconds in answers)
    record_property("webhook_latency_ms", latencies_ms)
    print(f"webhook latency under {SLOW_CLIENTS} slow clients (ms): {latencies_ms}")
    # Every webhook was sent while all the slow clients held their connections.
    assert holding == SLOW_CLIENTS
    assert [status for status, _ in answers] == [202] * WEBHOOKS
    assert max(latencies_ms) < ANSWER_DEADLINE_MS, statistics.median(latencies_ms)
    # The proxy's deadlines cut off the clients that were too slow with their headers or
    # stopped sending their body; one that keeps a body trickling holds a connection of
    # the proxy, never a thread of ingest.
    assert all(client.cut_off for client in slow_headers + stalled)
    accepted = [
        line
        for line in ingest_logs.splitlines()
        if '"gunicorn.access"' in line and '"path": "/webhook"' in line
    ]
    assert len(accepted) == WEBHOOKS  # none of the slow requests ever reached ingest
    assert SECRET not in proxy_logs
    assert SECRET not in ingest_logs


def test_the_proxy_answers_its_refusals_as_json_and_tells_ingest_who_the_client_is(
    tmp_path: Path,
) -> None:
    environment = {
        "INGEST_TOKEN": SECRET,
        "INGEST_TRUSTED_PROXIES": "127.0.0.1/32",
        # The test's client sends from 127.0.0.2: a loopback address that is not the
        # proxy's, as it would be across a network.
        "INGEST_ALLOWED_NETWORKS": "127.0.0.2/32",
        "INGEST_MAX_BODY_BYTES": str(MAX_BODY_BYTES),
    }
    over = b" " * (MAX_BODY_BYTES + 1)
    requests_sent = {
        "from an allowed client": (f"GET {WEBHOOK} HTTP/1.1\r\n", b"", 202),
        "forged X-Forwarded-For": (
            f"GET {WEBHOOK} HTTP/1.1\r\nX-Forwarded-For: 127.0.0.2\r\n",
            b"",
            403,
        ),
        "body over the limit": (
            f"POST {WEBHOOK} HTTP/1.1\r\nContent-Length: {len(over)}\r\n",
            over,
            413,
        ),
        "chunked body over the limit": (
            f"POST {WEBHOOK} HTTP/1.1\r\nTransfer-Encoding: chunked\r\n",
            b"%x\r\n%s\r\n0\r\n\r\n" % (len(over), over),
            413,
        ),
        "not HTTP": (f"GET /webhook/{SECRET}?id=1 junk HTTP/1.1\r\n", b"", 400),
        "malformed query": (f"GET /webhook/{SECRET}?id=\udcff HTTP/1.1\r\n", b"", 400),
    }
    sources = {"forged X-Forwarded-For": "127.0.0.3"}
    with (
        running_ingest(tmp_path / "ingest", environment) as ingest,
        running_proxy(tmp_path / "proxy", ingest.port) as proxy,
    ):
        answers = {
            name: raw_exchange(
                proxy.port,
                f"{head}Host: x\r\nConnection: close\r\n\r\n".encode("utf-8", "surrogateescape")
                + body,
                source=sources.get(name, "127.0.0.2"),
            )
            for name, (head, body, _) in requests_sent.items()
        }
        proxy_logs = proxy.logs()
    logs = proxy_logs + ingest.logs()

    assert {name: status_of(answer) for name, answer in answers.items()} == {
        name: status for name, (_, _, status) in requests_sent.items()
    }
    for name, answer in answers.items():
        assert b"Content-Type: application/json" in answer, (name, answer)
        json.loads(body_of(answer))
        assert SECRET.encode() not in answer, (name, answer)
    assert json.loads(body_of(answers["body over the limit"]))["error"] == (
        "request_entity_too_large"
    )
    assert SECRET not in logs
    # One JSON line per request, without its URL.
    access = [json.loads(line) for line in proxy_logs.splitlines() if line.startswith("{")]
    assert sorted(line["status"] for line in access) == sorted(
        status for _, _, status in requests_sent.values()
    )
