"""The sandbox served for real: ``python -m sandbox`` as a process, and on a threaded server."""

import threading
from pathlib import Path
from typing import Any

import requests

from devstack.broker import free_port, wait_for_port
from devstack.http_server import BackgroundServer
from devstack.processes import ServiceProcess
from sandbox.app import create_app
from sandbox.documents import SEED_ORDER_ID
from sandbox.faults import Faults
from tests.helpers import wait_until

SEED_PATH = f"/api/remap/1.2/entity/customerorder/{SEED_ORDER_ID}"
# No bundled document has this id: only a synthesizing sandbox answers it.
SYNTHESIZED_PATH = "/api/remap/1.2/entity/demand/11111111-1111-4111-8111-111111111111"


def _api(base: str, path: str, token: str, **params: str) -> requests.Response:
    return requests.get(
        base + path,
        params=params,
        headers={"Authorization": f"Bearer {token}", "Accept-Encoding": "gzip"},
        timeout=10,
    )


def _control(base: str, method: str, path: str, token: str, **knobs: Any) -> requests.Response:
    return requests.request(
        method,
        f"{base}/__sandbox{path}",
        json=knobs or None,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


def test_serves_the_seed_order_and_exits_cleanly_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    service = ServiceProcess(
        "sandbox", {"SANDBOX_PORT": str(port), "SANDBOX_TOKEN": "process-token"}, log_dir=tmp_path
    ).start()
    try:
        wait_for_port("127.0.0.1", port, timeout_s=30)
        response = _api(f"http://127.0.0.1:{port}", SEED_PATH, "process-token", expand="state")
    finally:
        exit_code = service.stop(timeout_s=30)
    assert response.status_code == 200
    assert response.json()["state"]["name"] == "Shipped"
    assert response.headers["X-RateLimit-Limit"] == "45"
    assert exit_code == 0, service.log_path.read_text()


def test_the_served_process_takes_knobs_from_its_environment_and_at_runtime(
    tmp_path: Path,
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    token = "process-token"
    environment = {
        "SANDBOX_PORT": str(port),
        "SANDBOX_TOKEN": token,
        "SANDBOX_SYNTHESIZE": "true",
        "SANDBOX_RATE_LIMIT_UNITS": "90",
    }
    service = ServiceProcess("sandbox", environment, log_dir=tmp_path).start()
    try:
        wait_for_port("127.0.0.1", port, timeout_s=30)
        synthesized = _api(base, SYNTHESIZED_PATH, token)
        assert _control(base, "PUT", "/faults", token, outage=True).status_code == 200
        down = _api(base, SEED_PATH, token)
        assert _control(base, "PUT", "/faults", token, outage=False).status_code == 200
        deleted = _control(base, "DELETE", f"/documents/customerorder/{SEED_ORDER_ID}", token)
        assert deleted.status_code == 204
        removed = _api(base, SEED_PATH, token)
        counters = _control(base, "GET", "/stats", token).json()
    finally:
        exit_code = service.stop(timeout_s=30)
    assert synthesized.status_code == 200
    assert synthesized.headers["X-RateLimit-Limit"] == "90"
    assert down.status_code == 503
    assert removed.status_code == 404
    assert removed.json()["errors"][0]["code"] == 1021
    assert counters["responses"] == {"200": 1, "404": 1, "503": 1}
    assert exit_code == 0, service.log_path.read_text()


SERVED_TOKEN = "served-token"


def _stats(base: str) -> Any:
    return _control(base, "GET", "/stats", SERVED_TOKEN).json()


def test_the_server_answers_requests_in_parallel_and_caps_them_at_five() -> None:
    # Each request hangs 3 s: five of them in flight at once prove a threaded server,
    # and a sixth arriving meanwhile meets the parallel cap.
    faults = Faults(timeout_rate=1, hang_ms=3000)
    with BackgroundServer(create_app(token=SERVED_TOKEN, faults=faults)) as server:
        answers: list[int] = []
        workers = [
            threading.Thread(
                target=lambda: answers.append(_api(server.url, SEED_PATH, SERVED_TOKEN).status_code)
            )
            for _ in range(5)
        ]
        for worker in workers:
            worker.start()
        assert wait_until(lambda: _stats(server.url)["in_flight"] == 5, timeout_s=10)
        sixth = _api(server.url, SEED_PATH, SERVED_TOKEN)
        for worker in workers:
            worker.join(timeout=30)
        counters = _stats(server.url)
    assert sixth.status_code == 429
    assert sixth.json()["errors"][0]["code"] == 1073
    assert int(sixth.headers["X-Lognex-Retry-After"]) > 0
    assert answers == [200] * 5
    assert counters["max_parallel"] == 6
