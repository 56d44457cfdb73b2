"""The Kladana client and its metrics against real local HTTP servers (never a patched
``requests``)."""

import gzip
import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import requests
from flask import Flask, Response, request
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from devstack.broker import free_port
from devstack.http_server import BackgroundServer
from enricher.bucket import ServerQuota
from enricher.errors import (
    ConfigurationError,
    DocumentNotFound,
    InvalidDocument,
    KladanaAuthFailed,
    KladanaRejected,
    KladanaUnavailable,
    NoRequestSlot,
)
from enricher.kladana import RATE_WINDOW_S, KladanaClient
from enricher.limiter import RequestLimiter
from enricher.limiting import GrantedPermit
from enricher.metrics import EnricherMetrics, KladanaMetrics
from sandbox.app import create_app as create_sandbox
from sandbox.documents import SEED_ORDER_ID
from shared.kladana_types import TRANSACTION_TYPES
from tests.unit.test_enricher_kladana import TOO_DEEP

TOKEN = "t0k3n-abcdef"
SALES_ORDER = TRANSACTION_TYPES.by_name("CustomerOrder")
assert SALES_ORDER is not None


class RecordingLimiter(RequestLimiter):
    """A real limiter that also records what it was told and when its slots were held."""

    def __init__(self, **knobs: object) -> None:
        super().__init__(**knobs)  # type: ignore[arg-type]
        self.observed: list[tuple[int | None, float | None, int | None]] = []
        self.quotas: list[ServerQuota] = []
        self.events: list[str] = []

    @contextmanager
    def slot(self, timeout: float | None = None) -> Iterator[GrantedPermit]:
        with super().slot(timeout) as permit:
            self.events.append("slot taken")
            try:
                yield GrantedPermit(self, permit.serial, permit.granted_at)
            finally:
                self.events.append("slot released")

    def observe(self, quota: ServerQuota, serial: float, granted_at: float) -> None:
        self.quotas.append(quota)
        self.observed.append((quota.remaining, quota.retry_after_s, quota.limit))
        self.events.append("observed")
        super().observe(quota, serial, granted_at)

    def count_abandoned(self, for_s: float) -> None:
        self.events.append(f"abandoned for {for_s}s")
        super().count_abandoned(for_s)


def make_client(
    session: requests.Session,
    url: str,
    *,
    timeout_s: float = 5.0,
    limiter: RequestLimiter | None = None,
    metrics: KladanaMetrics | None = None,
) -> KladanaClient:
    return KladanaClient(
        session,
        f"{url}/api/remap/1.2/",
        SecretStr(TOKEN),
        timeout_s,
        limiter=limiter or RequestLimiter(),
        metrics=metrics,
    )


class ScriptedKladana:
    """A real HTTP server that answers what the test scripts and records what it got."""

    def __init__(self, *, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.reset()

    def reset(self) -> None:
        self.status = 200
        self.body = b"{}"
        self.headers: dict[str, str] = {}
        self.seen: list[dict[str, str]] = []

    def app(self) -> Flask:
        app = Flask("scripted-kladana")

        @app.get("/<path:anything>")
        def answer(anything: str) -> Response:
            self.seen.append({**request.headers, "uri": request.environ["REQUEST_URI"]})
            if self.delay_s:
                threading.Event().wait(self.delay_s)
            return Response(self.body, status=self.status, headers=self.headers)

        return app


@pytest.fixture(scope="module")
def scripted_server() -> Iterator[tuple[ScriptedKladana, str]]:
    script = ScriptedKladana()
    with BackgroundServer(script.app()) as server:
        yield script, server.url


@pytest.fixture
def limiter() -> RecordingLimiter:
    return RecordingLimiter()


@pytest.fixture
def kladana(
    scripted_server: tuple[ScriptedKladana, str], limiter: RecordingLimiter
) -> Iterator[tuple[ScriptedKladana, KladanaClient]]:
    """A freshly scripted server (200, empty object) and a client pointed at it."""
    script, url = scripted_server
    script.reset()
    with requests.Session() as session:
        yield script, make_client(session, url, limiter=limiter)


def _gzip_json(payload: object) -> tuple[bytes, dict[str, str]]:
    return gzip.compress(json.dumps(payload).encode()), {
        "Content-Encoding": "gzip",
        "Content-Type": "application/json;charset=utf-8",
    }


def test_sends_bearer_token_gzip_and_expand_and_decodes_the_gzip_answer(
    kladana: tuple[ScriptedKladana, KladanaClient],
) -> None:
    script, client = kladana
    script.body, script.headers = _gzip_json({"id": "abc", "name": "5643"})
    fetched = client.fetch_document("customerorder", "abc", SALES_ORDER.expand)
    assert fetched == {"id": "abc", "name": "5643"}
    [seen] = script.seen
    assert seen["Authorization"] == f"Bearer {TOKEN}"
    assert "gzip" in seen["Accept-Encoding"]
    assert seen["uri"] == (
        "/api/remap/1.2/entity/customerorder/abc?expand=agent,agent.contactpersons,state,"
        "organization,rate.currency,positions,positions.assortment"
    )


def test_document_id_cannot_leave_its_path_segment(
    kladana: tuple[ScriptedKladana, KladanaClient],
) -> None:
    script, client = kladana
    script.status, script.body = 404, b""
    with pytest.raises(DocumentNotFound):
        client.fetch_document("customerorder", "x/../../counterparty/y?expand=z", ("state",))
    assert script.seen[0]["uri"] == (
        "/api/remap/1.2/entity/customerorder/x%2F..%2F..%2Fcounterparty%2Fy%3Fexpand%3Dz"
        "?expand=state"
    )


def test_fetches_the_seed_order_expanded_from_the_sandbox() -> None:
    with BackgroundServer(create_sandbox(token=TOKEN)) as server, requests.Session() as session:
        client = make_client(session, server.url)
        order = client.fetch_document("customerorder", SEED_ORDER_ID, SALES_ORDER.expand)
    assert order["agent"]["phone"] == "+91 98765 43210"
    assert order["state"]["name"] == "Shipped"
    assert order["rate"]["currency"]["isoCode"] == "INR"
    assert order["organization"]["name"]
    assert [row["assortment"]["name"] for row in order["positions"]["rows"]] == [
        "Voltas 1.5 Ton 3 Star Split AC",
        "Copper installation kit, 3 m",
    ]
    assert order["agent"]["contactpersons"]["rows"] == []


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (401, KladanaAuthFailed),
        (403, KladanaAuthFailed),
        (404, DocumentNotFound),
        (400, KladanaRejected),
        (405, KladanaRejected),
        (412, KladanaRejected),
        (429, KladanaUnavailable),
        (500, KladanaUnavailable),
        (502, KladanaUnavailable),
        (503, KladanaUnavailable),
    ],
)
def test_each_status_maps_to_its_error_class(
    kladana: tuple[ScriptedKladana, KladanaClient], status: int, error_class: type[Exception]
) -> None:
    script, client = kladana
    script.status = status
    errors = {"errors": [{"error": "Something went wrong", "code": 1000 + status}]}
    script.body, script.headers = _gzip_json(errors)
    with pytest.raises(error_class) as raised:
        client.fetch_document("customerorder", "abc")
    message = str(raised.value)
    assert f"Kladana answered {status} for customerorder/abc" in message
    assert f"Something went wrong (code {1000 + status})" in message
    assert raised.value.status == status  # type: ignore[attr-defined]
    assert json.loads(raised.value.body) == errors  # type: ignore[attr-defined]


def test_auth_failure_is_a_configuration_error_that_never_shows_the_token(
    kladana: tuple[ScriptedKladana, KladanaClient], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    script, client = kladana
    script.status = 401
    # A gateway that echoes the request back must not leak the token into the reason.
    script.body = f"<html><body>Bad credentials: Bearer {TOKEN}</body></html>".encode()
    with pytest.raises(KladanaAuthFailed) as raised:
        client.fetch_document("customerorder", "abc")
    # Retriable, so a loop that does not know the class never dead-letters the event.
    assert raised.value.retriable
    assert isinstance(raised.value, ConfigurationError)
    assert TOKEN not in str(raised.value)
    assert "Bad credentials" in str(raised.value)
    assert raised.value.body == "<html><body>Bad credentials: Bearer [token]</body></html>"
    assert TOKEN not in caplog.text


@pytest.mark.parametrize("status", [400, 404, 429, 503])
def test_a_token_cut_by_truncation_is_scrubbed_first(
    kladana: tuple[ScriptedKladana, KladanaClient],
    caplog: pytest.LogCaptureFixture,
    status: int,
) -> None:
    caplog.set_level(logging.DEBUG)
    script, client = kladana
    script.status = status
    # The token straddles both cuts: the 200-character reason and the 1000-character body.
    script.body = ("a" * 197 + TOKEN + "b" * 788 + TOKEN).encode()
    with pytest.raises((KladanaRejected, DocumentNotFound, KladanaUnavailable)) as raised:
        client.fetch_document("customerorder", "abc")
    body: str = raised.value.body  # type: ignore[union-attr]
    assert TOKEN[:3] not in str(raised.value)
    assert TOKEN[:3] not in body
    assert body == "a" * 197 + "[token]" + "b" * 788 + "[token]"
    assert TOKEN[:3] not in caplog.text


def test_not_found_and_rejected_are_permanent(
    kladana: tuple[ScriptedKladana, KladanaClient],
) -> None:
    script, client = kladana
    for status in (404, 400):
        script.status = status
        with pytest.raises((DocumentNotFound, KladanaRejected)) as raised:
            client.fetch_document("customerorder", "abc")
        assert not raised.value.retriable  # type: ignore[union-attr]


def test_a_long_error_body_is_truncated_for_the_dead_letter_headers(
    kladana: tuple[ScriptedKladana, KladanaClient],
) -> None:
    script, client = kladana
    script.status, script.body = 400, b"x" * 5000
    with pytest.raises(KladanaRejected) as raised:
        client.fetch_document("customerorder", "abc")
    assert raised.value.body == "x" * 1000 + "..."


def test_rate_limit_waits_as_long_as_kladana_says_in_milliseconds(
    kladana: tuple[ScriptedKladana, KladanaClient], limiter: RecordingLimiter
) -> None:
    script, client = kladana
    script.status = 429
    script.body, headers = _gzip_json({"errors": [{"error": "Rate limit", "code": 1049}]})
    script.headers = {
        **headers,
        "X-Lognex-Retry-After": "1500",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Limit": "45",
    }
    with pytest.raises(KladanaUnavailable) as raised:
        client.fetch_document("customerorder", "abc")
    assert raised.value.retry_after == 1.5
    # Every caller is paused, not only the one that got the 429.
    assert limiter.observed == [(0, 1.5, 45)]
    assert limiter.events == ["slot taken", "observed", "slot released"]


@pytest.mark.parametrize(("code", "abandoned"), [(1073, True), (1049, False)])
def test_a_parallel_limit_429_counts_one_request_more_in_flight_for_a_window(
    kladana: tuple[ScriptedKladana, KladanaClient],
    limiter: RecordingLimiter,
    code: int,
    abandoned: bool,
) -> None:
    # A 1073 says Kladana serves more of our requests than the limiter counts.
    script, client = kladana
    script.status = 429
    script.body, script.headers = _gzip_json({"errors": [{"error": "Too many", "code": code}]})
    with pytest.raises(KladanaUnavailable):
        client.fetch_document("customerorder", "abc")
    counted = ["observed", f"abandoned for {RATE_WINDOW_S}s"] if abandoned else ["observed"]
    assert limiter.events == ["slot taken", *counted, "slot released"]


def test_rate_limit_without_a_wait_still_waits_a_full_window(
    kladana: tuple[ScriptedKladana, KladanaClient], limiter: RecordingLimiter
) -> None:
    script, client = kladana
    script.status, script.body = 429, b""
    with pytest.raises(KladanaUnavailable) as raised:
        client.fetch_document("customerorder", "abc")
    assert raised.value.retry_after == RATE_WINDOW_S
    assert limiter.observed == [(None, RATE_WINDOW_S, None)]


def test_every_answer_feeds_its_rate_headers_to_the_limiter_inside_the_slot(
    kladana: tuple[ScriptedKladana, KladanaClient], limiter: RecordingLimiter
) -> None:
    script, client = kladana
    script.body, headers = _gzip_json({"id": "abc"})
    script.headers = {
        **headers,
        "X-RateLimit-Remaining": "41",
        "X-RateLimit-Limit": "45",
        "X-Lognex-Retry-TimeInterval": "3000",
    }
    client.fetch_document("customerorder", "abc")
    script.status, script.body = 503, b"<html>Service Unavailable</html>"
    script.headers = {"X-Lognex-Retry-After": "800", "X-RateLimit-Remaining": "soon"}
    with pytest.raises(KladanaUnavailable) as raised:
        client.fetch_document("customerorder", "abc")
    # A 5xx's retry-after is for this request's retry, not a pause for every caller.
    assert raised.value.retry_after == 0.8
    assert limiter.observed == [(41, None, 45), (None, None, None)]
    assert limiter.quotas[0].interval_s == 3.0
    assert limiter.events == ["slot taken", "observed", "slot released"] * 2
    assert len(script.seen) == 2


def test_a_failed_connection_gives_its_slot_back_without_observing(
    limiter: RecordingLimiter,
) -> None:
    with requests.Session() as session:
        client = make_client(session, f"http://127.0.0.1:{free_port()}", limiter=limiter)
        with pytest.raises(KladanaUnavailable, match="unreachable"):
            client.fetch_document("customerorder", "abc")
    assert limiter.events == ["slot taken", "slot released"]


def test_no_request_is_sent_once_the_limiter_is_stopped(
    scripted_server: tuple[ScriptedKladana, str],
) -> None:
    script, url = scripted_server
    script.reset()
    stop = threading.Event()
    stop.set()
    with requests.Session() as session:
        client = make_client(session, url, limiter=RequestLimiter(stop=stop))
        with pytest.raises(NoRequestSlot) as raised:
            client.fetch_document("customerorder", "abc")
    assert raised.value.retriable
    assert script.seen == []


def test_the_parallel_cap_holds_for_requests_through_the_client() -> None:
    script = ScriptedKladana(delay_s=0.3)
    limiter = RecordingLimiter(max_parallel=1)
    with BackgroundServer(script.app()) as server, requests.Session() as session:
        client = make_client(session, server.url, limiter=limiter)
        callers = [
            threading.Thread(target=client.fetch_document, args=("customerorder", str(number)))
            for number in range(3)
        ]
        for caller in callers:
            caller.start()
        for caller in callers:
            caller.join(30)
    assert len(script.seen) == 3
    # With one slot, every request ends before the next one starts.
    assert limiter.events == ["slot taken", "observed", "slot released"] * 3


def test_server_error_with_html_is_retriable_with_a_readable_reason(
    kladana: tuple[ScriptedKladana, KladanaClient],
) -> None:
    script, client = kladana
    script.status = 502
    script.body = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    with pytest.raises(KladanaUnavailable) as raised:
        client.fetch_document("customerorder", "abc")
    assert str(raised.value).endswith(": 502 Bad Gateway nginx")
    assert raised.value.retry_after is None
    assert raised.value.status == 502
    assert raised.value.body == script.body.decode()


def test_an_answer_that_is_not_json_is_retried(
    kladana: tuple[ScriptedKladana, KladanaClient],
) -> None:
    script, client = kladana
    script.body = b"<html>Please log in to the proxy</html>"
    with pytest.raises(KladanaUnavailable, match="not JSON") as raised:
        client.fetch_document("customerorder", "abc")
    assert raised.value.status == 200
    assert raised.value.body == "<html>Please log in to the proxy</html>"


def test_json_that_is_not_an_object_is_an_invalid_document(
    kladana: tuple[ScriptedKladana, KladanaClient],
) -> None:
    script, client = kladana
    script.body, script.headers = _gzip_json([{"id": "abc"}])
    with pytest.raises(InvalidDocument, match="not a JSON object") as raised:
        client.fetch_document("customerorder", "abc")
    assert raised.value.status == 200
    assert json.loads(raised.value.body) == [{"id": "abc"}]


def test_nothing_listening_is_retriable() -> None:
    with requests.Session() as session:
        client = make_client(session, f"http://127.0.0.1:{free_port()}")
        with pytest.raises(KladanaUnavailable, match="unreachable") as raised:
            client.fetch_document("customerorder", "abc")
    assert TOKEN not in str(raised.value)
    assert (raised.value.status, raised.value.body) == (None, "")


def test_a_slow_answer_times_out_as_retriable() -> None:
    script = ScriptedKladana(delay_s=2.0)
    with BackgroundServer(script.app()) as server, requests.Session() as session:
        client = make_client(session, server.url, timeout_s=0.2)
        with pytest.raises(KladanaUnavailable, match=r"did not answer within 0\.2s"):
            client.fetch_document("customerorder", "abc")


def test_a_request_given_up_on_keeps_its_parallel_slot_for_another_timeout() -> None:
    # Kladana still serves it and counts it: a new request now would get a 1073.
    script = ScriptedKladana(delay_s=3.0)
    limiter = RequestLimiter(max_parallel=1)
    with BackgroundServer(script.app()) as server, requests.Session() as session:
        client = make_client(session, server.url, timeout_s=1.0, limiter=limiter)
        with pytest.raises(KladanaUnavailable, match="did not answer"):
            client.fetch_document("customerorder", "abc")
        with pytest.raises(NoRequestSlot), limiter.slot(timeout=0.1):
            pytest.fail("a slot Kladana still holds was given out")
        with limiter.slot(timeout=5):
            pass  # and it comes back


def test_an_answer_nested_too_deeply_is_an_invalid_document(
    kladana: tuple[ScriptedKladana, KladanaClient],
) -> None:
    script, client = kladana
    script.body = TOO_DEEP.encode()
    with pytest.raises(InvalidDocument, match="nested too deeply") as raised:
        client.fetch_document("customerorder", "abc")
    assert raised.value.status == 200
    assert raised.value.body == TOO_DEEP[:1000] + "..."


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def test_kladana_calls_are_counted_by_status_class_and_429s_by_code(
    scripted_server: tuple[ScriptedKladana, str],
) -> None:
    script, url = scripted_server
    script.reset()
    registry = CollectorRegistry()
    with requests.Session() as session:
        client = make_client(session, url, metrics=EnricherMetrics.on(registry).kladana)
        client.fetch_document("customerorder", "a")
        script.status = 429
        # A tiny retry-after, so the limiter's pause does not slow the test down.
        script.body, headers = _gzip_json({"errors": [{"error": "Too many", "code": 1073}]})
        script.headers = {**headers, "X-Lognex-Retry-After": "1"}
        with pytest.raises(KladanaUnavailable):
            client.fetch_document("customerorder", "b")
        script.body, script.headers = b"", {"X-Lognex-Retry-After": "1"}
        with pytest.raises(KladanaUnavailable):
            client.fetch_document("customerorder", "c")
        script.status = 503
        with pytest.raises(KladanaUnavailable):
            client.fetch_document("customerorder", "d")

    classes = {
        c: _value(registry, "kladana_requests_total", status_class=c) for c in ("2xx", "4xx", "5xx")
    }
    assert classes == {"2xx": 1, "4xx": 2, "5xx": 1}
    assert _value(registry, "kladana_rate_limited_total", code="1073") == 1
    assert _value(registry, "kladana_rate_limited_total", code="none") == 1
    assert _value(registry, "kladana_request_seconds_count") == 4


def test_an_unreachable_kladana_is_counted_as_such() -> None:
    registry = CollectorRegistry()
    with requests.Session() as session:
        client = make_client(
            session,
            f"http://127.0.0.1:{free_port()}",
            metrics=EnricherMetrics.on(registry).kladana,
        )
        with pytest.raises(KladanaUnavailable):
            client.fetch_document("customerorder", "a")
    assert _value(registry, "kladana_requests_total", status_class="unreachable") == 1
    assert _value(registry, "kladana_requests_total", status_class="2xx") == 0
