"""The consumers' HTTP face on the production server (waitress): the endpoints and mounts
over a real socket, its limits, a clean stop, and the running services answering from it."""

import socket
import threading
from pathlib import Path
from wsgiref.types import StartResponse, WSGIEnvironment

import pytest
import requests
from prometheus_client import CollectorRegistry, Counter

from devstack.broker import free_port
from devstack.processes import ServiceProcess
from shared.health import Readiness, health_server
from shared.http_server import HttpServer, ServerLimits
from tests.conftest import PipelineTopics
from tests.helpers import wait_until


def _echo_body(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"{environ['SCRIPT_NAME']} got {len(body)} bytes".encode()]


def test_health_metrics_and_a_mount_answer_from_waitress() -> None:
    registry = CollectorRegistry()
    Counter("answers", "Answers given.", registry=registry).inc(3)
    readiness = Readiness()
    with health_server(readiness, 0, registry, mounts={"/twilio": _echo_body}) as server:
        healthz = requests.get(f"{server.url}/healthz", timeout=5)
        starting = requests.get(f"{server.url}/readyz", timeout=5)
        readiness.ready()
        ready = requests.get(f"{server.url}/readyz", timeout=5)
        metrics = requests.get(f"{server.url}/metrics", timeout=5)
        mounted = requests.post(f"{server.url}/twilio/status", data=b"x" * 10, timeout=5)
    answers = [healthz, starting, ready, metrics, mounted]
    assert {answer.headers["Server"] for answer in answers} == {"waitress"}
    assert [answer.status_code for answer in answers] == [200, 503, 200, 200, 200]
    assert ready.json() == {"status": "ready"}
    assert "answers_total 3.0" in metrics.text.splitlines()
    assert mounted.text == "/twilio got 10 bytes"


def test_a_body_over_the_limit_is_refused_unread() -> None:
    limits = ServerLimits(max_request_body_bytes=1000)
    with HttpServer(_echo_body, limits=limits) as server:
        assert requests.post(server.url, data=b"x" * 1000, timeout=5).status_code == 200
        assert requests.post(server.url, data=b"x" * 1001, timeout=5).status_code == 413


def test_port_0_picks_a_free_port_and_stop_frees_it_and_ends_every_thread() -> None:
    before = set(threading.enumerate())
    server = HttpServer(_echo_body, port=0).start()
    with requests.Session() as kept_alive:  # an open connection must not hold the stop up
        assert kept_alive.get(server.url, timeout=5).status_code == 200
        server.stop()
    assert server.port > 0
    assert set(threading.enumerate()) <= before
    with socket.socket() as probe:
        # SO_REUSEADDR: the closed connection's TIME_WAIT does not count, a listener does.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", server.port))


def test_a_silent_connection_is_closed_after_the_channel_timeout() -> None:
    with (
        HttpServer(_echo_body, limits=ServerLimits(channel_timeout_s=1)) as server,
        socket.create_connection(("127.0.0.1", server.port), timeout=30) as silent,
    ):
        assert silent.recv(1) == b""  # the server hung up; recv raises on the timeout


@pytest.mark.broker
@pytest.mark.parametrize("service", ["enricher", "notifier"])
def test_a_running_consumer_answers_metrics_from_waitress(
    service: str, kafka_bootstrap: str, topics: PipelineTopics, tmp_path: Path
) -> None:
    port = free_port()
    process = ServiceProcess(
        service,
        {
            **topics.environment(kafka_bootstrap),
            "METRICS_PORT": str(port),
            "KLADANA_TOKEN": "unused-token",
            "NOTIFIER_DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.db'}",
        },
        log_dir=tmp_path,
    ).start()
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        assert wait_until(lambda: _answers(url), timeout_s=60), process.log_path.read_text()
        metrics = requests.get(url, timeout=5)
    finally:
        process.stop(timeout_s=30)
    assert metrics.status_code == 200
    assert metrics.headers["Server"] == "waitress"


def _answers(url: str) -> bool:
    try:
        requests.get(url, timeout=2)
    except requests.ConnectionError:
        return False
    return True
