import requests
from prometheus_client import CollectorRegistry, Counter

from shared.health import Readiness, health_server


def test_health_endpoints_follow_readiness_over_http() -> None:
    readiness = Readiness()
    with health_server(readiness, 0) as server:
        url = server.url.replace("0.0.0.0", "127.0.0.1")
        assert requests.get(f"{url}/healthz", timeout=5).status_code == 200
        starting = requests.get(f"{url}/readyz", timeout=5)
        assert (starting.status_code, starting.json()["reason"]) == (503, "starting")
        readiness.ready()
        assert requests.get(f"{url}/readyz", timeout=5).json() == {"status": "ready"}
        readiness.not_ready("Kladana refused the token")
        refused = requests.get(f"{url}/readyz", timeout=5)
        assert (refused.status_code, refused.json()["reason"]) == (503, "Kladana refused the token")
        assert requests.get(f"{url}/nothing", timeout=5).status_code == 404


def test_metrics_serves_the_registry_in_prometheus_text_format() -> None:
    registry = CollectorRegistry()
    Counter("answers", "Answers given.", registry=registry).inc(3)
    with health_server(Readiness(), 0, registry) as server:
        url = server.url.replace("0.0.0.0", "127.0.0.1")
        scraped = requests.get(f"{url}/metrics", timeout=5)
    assert scraped.status_code == 200
    assert scraped.headers["Content-Type"].startswith("text/plain")
    assert "answers_total 3.0" in scraped.text.splitlines()
