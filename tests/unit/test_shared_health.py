"""The health, readiness and metrics app, called in process (the server: integration tests)."""

from wsgiref.types import StartResponse, WSGIEnvironment

from prometheus_client import CollectorRegistry, Counter
from werkzeug.test import Client

from shared.health import Readiness, health_app


def test_health_endpoints_follow_readiness() -> None:
    readiness = Readiness()
    client = Client(health_app(readiness))
    assert client.get("/healthz").status_code == 200
    starting = client.get("/readyz")
    assert (starting.status_code, starting.json) == (
        503,
        {"status": "not ready", "reason": "starting"},
    )
    readiness.ready()
    ready = client.get("/readyz")
    assert (ready.status_code, ready.json) == (200, {"status": "ready"})
    readiness.not_ready("Kladana refused the token")
    refused = client.get("/readyz")
    assert (refused.status_code, refused.json["reason"]) == (503, "Kladana refused the token")
    assert client.get("/nothing").status_code == 404


def test_metrics_serves_the_registry_in_prometheus_text_format() -> None:
    registry = CollectorRegistry()
    Counter("answers", "Answers given.", registry=registry).inc(3)
    scraped = Client(health_app(Readiness(), registry)).get("/metrics")
    assert scraped.status_code == 200
    assert scraped.headers["Content-Type"].startswith("text/plain")
    assert "answers_total 3.0" in scraped.text.splitlines()


def _callbacks(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"callback {environ['SCRIPT_NAME']} {environ['PATH_INFO']}".encode()]


def test_a_mount_gets_its_prefix_and_the_health_endpoints_stay() -> None:
    client = Client(health_app(Readiness(), mounts={"/twilio": _callbacks}))
    assert client.post("/twilio/status").text == "callback /twilio /status"
    assert client.get("/healthz").status_code == 200
    assert client.get("/other").status_code == 404
