"""``python -m sandbox`` as a real process: serves on SANDBOX_PORT, exits 0 on SIGTERM."""

from pathlib import Path

import requests

from devstack.broker import free_port, wait_for_port
from devstack.processes import ServiceProcess
from sandbox.documents import SEED_ORDER_ID


def test_serves_the_seed_order_and_exits_cleanly_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    service = ServiceProcess(
        "sandbox", {"SANDBOX_PORT": str(port), "SANDBOX_TOKEN": "process-token"}, log_dir=tmp_path
    ).start()
    try:
        wait_for_port("127.0.0.1", port, timeout_s=30)
        response = requests.get(
            f"http://127.0.0.1:{port}/api/remap/1.2/entity/customerorder/{SEED_ORDER_ID}",
            params={"expand": "state"},
            headers={"Authorization": "Bearer process-token", "Accept-Encoding": "gzip"},
            timeout=10,
        )
    finally:
        exit_code = service.stop(timeout_s=30)
    assert response.status_code == 200
    assert response.json()["state"]["name"] == "Shipped"
    assert exit_code == 0, service.log_path.read_text()
