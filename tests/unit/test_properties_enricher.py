"""Property tests: whatever Kladana answers, the enricher builds an enriched event that
keeps its published schema or refuses with one of its own errors, never anything else."""

import json
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import requests
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr
from requests.structures import CaseInsensitiveDict

from enricher.errors import InvalidDocument, KladanaAnswer
from enricher.handlers import DocumentRequest, enriched_record
from enricher.kladana import (
    KladanaClient,
    describe_error_body,
    error_codes,
    header_count,
    retry_after_s,
)
from enricher.limiter import RequestLimiter
from shared.kladana_types import TRANSACTION_TYPES
from tests.unit.property_strategies import (
    FAST,
    deeply_nested,
    json_scalars,
    json_values,
    kladana_documents,
    kladana_object,
    maybe_odd,
    result_or_error,
    texts,
    zones,
)


def _request(type_name: str) -> DocumentRequest:
    transaction_type = TRANSACTION_TYPES.by_name(type_name)
    assert transaction_type is not None
    return DocumentRequest("raw-1", "34efe2ee-015e-11e6-9464-e4de0000006b", transaction_type)


@FAST
@given(
    kladana_documents,
    st.sampled_from(TRANSACTION_TYPES.names),
    zones,
)
def test_any_document_is_enriched_within_its_schema_or_refused_as_invalid(
    kladana: dict[str, Any], type_name: str, timezone: ZoneInfo
) -> None:
    # enriched_record checks the event against enriched-document.v1 itself; a miss
    # there would raise ContractViolation, which this test lets through as a failure.
    outcome = result_or_error(
        lambda: enriched_record(_request(type_name), kladana, timezone=timezone), InvalidDocument
    )
    assert str(outcome) if isinstance(outcome, InvalidDocument) else outcome.value


@FAST
@given(json_values, zones)
def test_any_json_value_inside_a_document_is_enriched_or_refused_as_invalid(
    value: Any, timezone: ZoneInfo
) -> None:
    kladana = {"id": "abc", "moment": "2024-06-10 12:57:00.000", "sum": 100.0}
    for field in ("sum", "moment", "agent", "attributes", "positions", "rate", "meta", "id"):
        odd = {**kladana, field: value}
        outcome = result_or_error(
            partial(enriched_record, _request("CustomerOrder"), odd, timezone=timezone),
            InvalidDocument,
        )
        assert str(outcome) if isinstance(outcome, InvalidDocument) else outcome.value


# What a gateway, Kladana or a broken proxy may answer instead of a document.
error_bodies = st.one_of(
    st.text(max_size=200),
    json_values.map(lambda value: _json_text(value)),
    st.builds(
        lambda errors: _json_text({"errors": errors}),
        maybe_odd(st.lists(kladana_object(error=texts, code=json_scalars, parameter=json_values))),
    ),
    st.sampled_from(
        [
            "<html><body><h1>502 Bad Gateway</h1></body></html>",
            '{"errors": [{"error": "x", "code": 1073',
            deeply_nested(5_000),
            '{"errors": ' + deeply_nested(5_000) + "}",
        ]
    ),
)


def _json_text(value: Any) -> str:
    return json.dumps(value)


@FAST
@given(error_bodies)
def test_any_error_body_is_described_in_one_line_and_its_codes_read(text: str) -> None:
    description = describe_error_body(text)
    assert description
    assert "\n" not in description
    assert all(isinstance(code, int) for code in error_codes(text))


header_values = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", " 45 ", "-1", "1e400", "nan", "inf", "1_000", "٣", "9" * 5000]),
)


@FAST
@given(header_values)
def test_any_rate_limit_header_is_a_count_a_wait_or_none(value: str) -> None:
    count = header_count({"X-RateLimit-Remaining": value}, "X-RateLimit-Remaining")
    assert count is None or count >= 0
    wait = retry_after_s({"X-Lognex-Retry-After": value})
    assert wait is None or 0 < wait < float("inf")


class AnsweringSession(requests.Session):
    """Answers every GET with one scripted response, without any network."""

    def __init__(self, answer: requests.Response) -> None:
        super().__init__()
        self.answer = answer

    def get(self, url: str | bytes, **kwargs: Any) -> requests.Response:
        return self.answer


def _response(status: int, body: bytes, headers: dict[str, str]) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body
    response.headers = CaseInsensitiveDict(headers)
    return response


bodies = st.one_of(
    st.binary(max_size=200),
    error_bodies.map(lambda text: text.encode("utf-8", "surrogatepass")),
    kladana_documents.map(lambda document: _json_text(document).encode()),
)
statuses = st.one_of(
    st.sampled_from([200, 400, 401, 403, 404, 412, 429, 500, 502, 503]),
    st.integers(min_value=100, max_value=599),
)
answer_headers = st.fixed_dictionaries(
    {},
    optional={
        "X-RateLimit-Remaining": header_values,
        "X-RateLimit-Limit": header_values,
        "X-Lognex-Retry-After": header_values,
        "Content-Type": st.sampled_from(
            ["application/json;charset=utf-8", "text/html", "application/json;charset=x-bogus"]
        ),
    },
)


@FAST
@given(statuses, bodies, answer_headers)
def test_any_answer_is_a_document_or_one_of_the_enricher_errors(
    status: int, body: bytes, headers: dict[str, str]
) -> None:
    with AnsweringSession(_response(status, body, headers)) as session:
        client = KladanaClient(
            session, "http://kladana.invalid", SecretStr("t0k3n"), 5.0, limiter=RequestLimiter()
        )
        outcome = result_or_error(
            lambda: client.fetch_document("customerorder", "abc"), KladanaAnswer
        )
    if isinstance(outcome, KladanaAnswer):
        assert str(outcome)
        assert "t0k3n" not in f"{outcome} {outcome.body}"
    else:
        assert isinstance(outcome, dict)
        assert status < 400
