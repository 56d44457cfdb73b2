"""The compose file's healthchecks, run as compose runs them (``python -c``, the shell)
against real servers: each asks the port and path its service serves, and fails on a 503
or on nothing listening; PostgreSQL's asks over TCP, as the notifiers connect."""

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import pytest
import yaml

from devstack.broker import free_port
from tests.unit.test_compose import ROOT, value_of


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


class _Probed(BaseHTTPRequestHandler):
    status = 200
    paths: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.paths.append(self.path)
        self.send_response(self.status)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        """Quiet: the test reads ``paths`` instead."""


@pytest.fixture
def probed() -> Iterator[tuple[ThreadingHTTPServer, type[_Probed]]]:
    handler = type("Handler", (_Probed,), {"paths": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, handler
    server.shutdown()
    server.server_close()


def _run_probe(code: str, port_variable: str, port: int) -> int:
    return subprocess.run(
        [sys.executable, "-c", code],
        env={port_variable: str(port)},
        capture_output=True,
        timeout=30,
        check=False,
    ).returncode


@pytest.mark.parametrize(
    ("service", "path"),
    [("ingest", "/readyz"), ("enricher", "/healthz"), ("notifier", "/healthz")],
)
def test_the_http_healthchecks_ask_the_port_the_service_serves(
    compose: dict[str, Any],
    probed: tuple[ThreadingHTTPServer, type[_Probed]],
    service: str,
    path: str,
) -> None:
    spec = compose["services"][service]
    command = spec["healthcheck"]["test"]
    assert command[:3] == ["CMD", "python", "-c"], command
    (port_variable,) = re.findall(r"os\.environ\['(\w+)'\]", command[3])
    assert int(value_of(spec["environment"][port_variable])) > 0
    server, handler = probed

    assert _run_probe(command[3], port_variable, server.server_address[1]) == 0
    assert handler.paths == [path]
    handler.status = 503
    assert _run_probe(command[3], port_variable, server.server_address[1]) != 0


def test_the_sandbox_healthcheck_needs_its_port_to_answer(
    compose: dict[str, Any], probed: tuple[ThreadingHTTPServer, type[_Probed]]
) -> None:
    code = compose["services"]["sandbox"]["healthcheck"]["test"][3]
    server, _ = probed
    assert _run_probe(code, "SANDBOX_PORT", server.server_address[1]) == 0
    assert _run_probe(code, "SANDBOX_PORT", free_port()) != 0


def test_the_redis_healthcheck_pings_the_port_it_names(
    compose: dict[str, Any], redis_url: str
) -> None:
    command = compose["services"]["redis"]["healthcheck"]["test"]
    assert command[:2] == ["CMD", "redis-cli"], command
    port_at = command.index("-p") + 1
    assert command[port_at] == "6379"  # redis-server's default, which compose's runs on

    def probe(port: int) -> int:
        argv = [*command[1:port_at], str(port), *command[port_at + 1 :]]
        return subprocess.run(argv, capture_output=True, timeout=30, check=False).returncode

    redis_port = urlsplit(redis_url).port or 6379
    assert probe(redis_port) == 0
    assert probe(free_port()) != 0


def _machine_postgres_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


def test_the_postgres_healthcheck_asks_over_tcp_on_the_port_it_names(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    kind, command = compose["services"]["postgres"]["healthcheck"]["test"]
    assert kind == "CMD-SHELL"
    if shutil.which("pg_isready") is None:
        pytest.skip("pg_isready is not installed (Debian: postgresql-client)")

    def probe(port: int) -> int:
        # libpq's defaults point at a directory with no server socket: only the command's
        # own host can reach a server, over TCP.
        environment = {"PATH": os.environ["PATH"], "PGHOST": str(tmp_path), "PGPORT": str(port)}
        return subprocess.run(
            ["sh", "-c", command], env=environment, capture_output=True, timeout=30, check=False
        ).returncode

    assert probe(free_port()) != 0
    if not _machine_postgres_answers():
        pytest.skip("no PostgreSQL on 127.0.0.1:5432 to answer the check")
    assert probe(5432) == 0  # the official image's port, the compose file's
