"""ingest's published HTTP contract (``ingest/openapi.yaml``), fuzzed with schemathesis.

Every operation gets generated requests, valid and invalid; each answer must not be a
5xx, must use a status code the document lists, and must match its schema. The sink
accepts everything: the contract is about HTTP, not Kafka. Hypothesis is derandomized,
so a run is the same on every machine.
"""

from pathlib import Path
from typing import Any

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

import ingest
from ingest.errors import SinkUnavailable
from ingest.settings import IngestSettings
from ingest.sink import EventSink
from ingest.wiring import build_app
from shared.kladana_types import TRANSACTION_TYPES
from tests.unit.ingest_fakes import RecordingSink

OPENAPI = Path(ingest.__file__).parent / "openapi.yaml"
EXAMPLES_PER_OPERATION = 60
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


OPERATIONS = [
    f"{method} {path}"
    for path, item in yaml.safe_load(OPENAPI.read_text())["paths"].items()
    for method in ("GET", "POST")
    if method.lower() in item
]
# Invalid data can only be made for operations that take some.
FUZZED = [(label, GenerationMode.POSITIVE) for label in OPERATIONS] + [
    (label, GenerationMode.NEGATIVE) for label in OPERATIONS if "/webhook" in label
]


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> schemathesis.BaseSchema:
    settings = IngestSettings(
        ingest_spool_dir=tmp_path_factory.mktemp("spool"), ingest_max_body_bytes=4096
    )
    schema = schemathesis.openapi.from_path(OPENAPI)
    schema.app = build_app(settings, RecordingSink())
    return schema


@pytest.mark.parametrize(("label", "mode"), FUZZED)
def test_every_answer_keeps_the_contract(
    api_schema: schemathesis.BaseSchema, label: str, mode: GenerationMode
) -> None:
    operation = api_schema.find_operation_by_label(label)
    assert operation is not None

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def answer_keeps_the_contract(case: schemathesis.Case) -> None:
        case.call_and_validate(checks=CHECKS)

    answer_keeps_the_contract()


def test_the_document_lists_the_transaction_types_of_the_type_table() -> None:
    document = yaml.safe_load(OPENAPI.read_text())
    listed = document["components"]["schemas"]["TransactionType"]["enum"]
    assert listed == list(TRANSACTION_TYPES.names)


def test_the_document_lists_every_route_of_the_app(tmp_path: Path) -> None:
    app = build_app(IngestSettings(ingest_spool_dir=tmp_path), RecordingSink())
    routes = {
        rule.rule.replace("<path_token>", "{token}")
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
    }
    assert routes == set(yaml.safe_load(OPENAPI.read_text())["paths"])


NATIVE_BODY = {
    "auditContext": {"moment": "2021-07-21 15:51:16", "uid": "admin@example"},
    "events": [
        {
            "meta": {
                "type": "customerorder",
                "href": "https://api.kladana.com/api/remap/1.2/entity/customerorder/"
                "34efe2ee-015e-11e6-9464-e4de0000006b",
            },
            "action": "UPDATE",
            "accountId": "84e60e93-f7b2-11e5-7a69-971500188b19",
            "updatedFields": ["sum", "state"],
        }
    ],
}
SECRET = "s3cret-token"


def contract_schema(tmp_path: Path, sink: EventSink, **configured: Any) -> schemathesis.BaseSchema:
    schema = schemathesis.openapi.from_path(OPENAPI)
    schema.app = build_app(IngestSettings(ingest_spool_dir=tmp_path, **configured), sink)
    return schema


def call(
    schema: schemathesis.BaseSchema, label: str, checks: list[Any] = CHECKS, **case: Any
) -> int:
    operation = schema.find_operation_by_label(label)
    assert operation is not None
    return int(operation.Case(**case).call_and_validate(checks=checks).status_code)


def test_answers_the_fuzzer_rarely_reaches_keep_the_contract_too(tmp_path: Path) -> None:
    """Accepted and repeated native webhooks, 401, 403 and 503, each checked once."""
    native = {"query": {"requestId": "r-1"}, "body": NATIVE_BODY, "media_type": "application/json"}
    accepting = contract_schema(tmp_path / "a", RecordingSink())
    assert call(accepting, "POST /webhook", **native) == 200
    assert call(accepting, "POST /webhook", **native) == 200  # the repeat

    guarded = contract_schema(
        tmp_path / "g", RecordingSink(), ingest_token=SECRET, ingest_allowed_networks="10.0.0.0/8"
    )
    assert call(guarded, "GET /webhook", query={"id": "a", "type": "Move", "token": "x"}) == 403

    tokened = contract_schema(tmp_path / "t", RecordingSink(), ingest_token=SECRET)
    assert call(tokened, "GET /webhook", query={"id": "a", "type": "Move", "token": "x"}) == 401
    assert (
        call(tokened, "POST /webhook/{token}", path_parameters={"token": SECRET}, **native) == 200
    )

    # 503 is what the document promises here, so not_a_server_error is left out.
    failing = contract_schema(
        tmp_path / "f", RecordingSink(failure=SinkUnavailable("the spool is full"))
    )
    conformance = CHECKS[1:]
    assert call(failing, "POST /webhook", conformance, **native) == 503
    assert call(failing, "GET /webhook", conformance, query={"id": "a", "type": "Move"}) == 503
