"""Issue 16 end to end: the seed webhook through the real broker and the three services to
each Indian gateway's sandbox fake, with the DLT fields that gateway expects; a Hindi
customer's SMS in Hindi under its own DLT template; a delivery report into the ledger.

Ingest, enricher and notifier run as ``python -m ...`` children; the Kladana sandbox with
its fake MSG91 and Exotel is a real HTTP server in this process.
"""

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine

from devstack.broker import free_port, wait_for_port
from devstack.http_server import BackgroundServer
from devstack.processes import ServiceProcess
from notifier.ledger import Ledger, LedgerQuery
from notifier.ledger_schema import DeliveryStatus, Status
from sandbox.app import create_app as create_sandbox
from sandbox.sms_gateways import DEFAULT_EXOTEL_ACCOUNT, DEFAULT_MSG91_AUTH_KEY, SmsInbox
from tests.conftest import PipelineTopics, ReadTopic
from tests.helpers import SEED_DOCUMENT_ID, SEED_SMS, wait_until
from tests.sandbox_ids import ORDER_5644

pytestmark = [pytest.mark.e2e, pytest.mark.broker]

KLADANA_TOKEN = "e2e-token"
INGEST_TOKEN = "e2e-secret"
REPORT_TOKEN = "e2e-report-token-0123456789"
ENTITY_ID = "1201100000000000042"
HEADER = "KLDANA"

# The bundled seed rule and a rule for new orders with a Hindi text of its own; the
# texts below are what each registered DLT template allows, written out by hand.
RULES = """
[[rule]]
name = "sales-order-shipped"
type = "CustomerOrder"
state = "Shipped"
template = @SEED_TEMPLATE@
dlt_template_id = "1107161234567890123"
dlt_template = @SEED_DLT_TEMPLATE@

[[rule]]
name = "order-received"
type = "CustomerOrder"
state = "New"
template = "We have received your order {number} dated {date}. Thank you!"
dlt_template_id = "1107161234567890301"
dlt_template = "We have received your order {#var#} dated {#var#}. Thank you!"

[rule.templates.hi]
template = "आपका ऑर्डर {number} दिनांक {date} हमें मिल गया है। धन्यवाद!"
dlt_template_id = "1107161234567890302"
dlt_template = "आपका ऑर्डर {#var#} दिनांक {#var#} हमें मिल गया है। धन्यवाद!"
""".replace(
    "@SEED_TEMPLATE@",
    json.dumps(
        "Sales Order {number} dated {date} for an amount of {amount} rupees"
        " has been handed over to the delivery service."
    ),
).replace(
    "@SEED_DLT_TEMPLATE@",
    json.dumps(
        "Sales Order {#var#} dated {#var#} for an amount of {#var#} rupees"
        " has been handed over to the delivery service."
    ),
)
HINDI_SMS = "आपका ऑर्डर 5644 दिनांक 11.06.2024 हमें मिल गया है। धन्यवाद!"
"""Order 5644 of 2024-06-11 09:15 Moscow time, for Rahul Verma, whose Language is Hindi."""


@dataclass(frozen=True)
class Gateway:
    provider: str
    environment: dict[str, str]
    seed_to: str
    """The seed customer's number as this gateway's API takes it."""
    hindi_to: str
    entity_id: str | None
    """What the fake received as the entity: MSG91's API has no field for it."""


MSG91 = Gateway(
    "msg91",
    {"MSG91_AUTH_KEY": DEFAULT_MSG91_AUTH_KEY},
    seed_to="919876543210",
    hindi_to="919820155443",
    entity_id=None,
)
EXOTEL = Gateway(
    "exotel",
    dict(
        zip(
            ("EXOTEL_ACCOUNT_SID", "EXOTEL_API_KEY", "EXOTEL_API_TOKEN"),
            DEFAULT_EXOTEL_ACCOUNT,
            strict=True,
        )
    ),
    seed_to="+919876543210",
    hindi_to="+919820155443",
    entity_id=ENTITY_ID,
)


@dataclass
class Pipeline:
    ingest_url: str
    sandbox_url: str
    notifier_url: str
    inbox: SmsInbox
    ledger: Ledger


@pytest.fixture(params=[MSG91, EXOTEL], ids=lambda gateway: gateway.provider)
def gateway(request: pytest.FixtureRequest) -> Gateway:
    gateway: Gateway = request.param
    return gateway


@pytest.fixture
def pipeline(
    kafka_bootstrap: str, topics: PipelineTopics, gateway: Gateway, tmp_path: Path
) -> Iterator[Pipeline]:
    ingest_port, notifier_port = free_port(), free_port()
    notifier_url = f"http://127.0.0.1:{notifier_port}"
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES, encoding="utf-8")
    inbox = SmsInbox()
    database = f"sqlite:///{tmp_path / 'notifier-ledger.db'}"
    sandbox_app = create_sandbox(
        token=KLADANA_TOKEN,
        sms_inbox=inbox,
        msg91_webhook_url=f"{notifier_url}/msg91/report/{REPORT_TOKEN}",
    )
    with BackgroundServer(sandbox_app) as sandbox:
        common = {
            **topics.environment(kafka_bootstrap),
            "ENRICHER_GROUP_ID": f"{topics.group_prefix}-enricher",
            "NOTIFIER_GROUP_ID": f"{topics.group_prefix}-notifier",
        }
        environments = {
            "ingest": common
            | {
                "INGEST_PORT": str(ingest_port),
                "INGEST_TOKEN": INGEST_TOKEN,
                "INGEST_SPOOL_DIR": str(tmp_path / "spool"),
            },
            "enricher": common
            | {"KLADANA_API_URL": f"{sandbox.url}/api/remap/1.2", "KLADANA_TOKEN": KLADANA_TOKEN},
            "notifier": common
            | gateway.environment
            | {
                "SMS_PROVIDER": gateway.provider,
                f"{gateway.provider.upper()}_API_URL": f"{sandbox.url}/{gateway.provider}",
                "SMS_SENDER": HEADER,
                "DLT_ENTITY_ID": ENTITY_ID,
                "NOTIFIER_RULES": str(rules),
                "NOTIFIER_DATABASE_URL": database,
                "METRICS_PORT": str(notifier_port),
                "NOTIFIER_PUBLIC_URL": notifier_url,
                "SMS_REPORT_TOKEN": REPORT_TOKEN,
            },
        }
        services = [
            ServiceProcess(module, environment, log_dir=tmp_path).start()
            for module, environment in environments.items()
        ]
        engine = create_engine(database)
        try:
            wait_for_port("127.0.0.1", ingest_port, timeout_s=60)
            yield Pipeline(
                f"http://127.0.0.1:{ingest_port}", sandbox.url, notifier_url, inbox, Ledger(engine)
            )
            assert [s.exit_code() for s in services] == [None, None, None], _logs(services)
        finally:
            exit_codes = [service.stop() for service in services]
            engine.dispose()
        assert exit_codes == [0, 0, 0], _logs(services)


def _logs(services: list[ServiceProcess]) -> str:
    return "\n".join(
        f"--- {s.module}\n{s.log_path.read_text()[-3000:]}" for s in services if s.log_path.exists()
    )


def _webhook(pipeline: Pipeline, document_id: str) -> None:
    answer = requests.post(
        f"{pipeline.ingest_url}/webhook",
        params={"id": document_id, "type": "CustomerOrder", "token": INGEST_TOKEN},
        timeout=10,
    )
    assert answer.status_code == 202, answer.text


def _received(pipeline: Pipeline, provider: str) -> list[dict[str, Any]]:
    return pipeline.inbox.messages(provider)


def test_seed_and_hindi_sms_reach_the_gateway_with_dlt_fields_and_a_report_is_recorded(
    pipeline: Pipeline,
    gateway: Gateway,
    topics: PipelineTopics,
    read_topic: ReadTopic,
    committed_total: Callable[[str], int],
) -> None:
    _webhook(pipeline, SEED_DOCUMENT_ID)
    _webhook(pipeline, ORDER_5644)
    assert wait_until(lambda: len(_received(pipeline, gateway.provider)) >= 2, timeout_s=90)

    received = sorted(
        (m["to"], m["text"], m["sender"], m["entity_id"], m["template_id"])
        for m in _received(pipeline, gateway.provider)
    )
    assert received == sorted(
        [
            (gateway.seed_to, SEED_SMS, HEADER, gateway.entity_id, "1107161234567890123"),
            (gateway.hindi_to, HINDI_SMS, HEADER, gateway.entity_id, "1107161234567890302"),
        ]
    )

    # The same webhook again: the ledger already holds its business event. Once the
    # notifier has committed past all three enriched events, nothing more can follow.
    _webhook(pipeline, SEED_DOCUMENT_ID)
    assert len(read_topic(topics.enriched, count=3, timeout_s=60)) == 3
    assert wait_until(lambda: committed_total(f"{topics.group_prefix}-notifier") >= 3, timeout_s=60)
    assert len(_received(pipeline, gateway.provider)) == 2
    [seed_row] = pipeline.ledger.entries(LedgerQuery(document_id=SEED_DOCUMENT_ID))
    assert (seed_row.status, seed_row.notification.dlt_template_id) == (
        Status.SENT,
        "1107161234567890123",
    )
    assert seed_row.provider_message_id is not None

    report = requests.post(
        f"{pipeline.sandbox_url}/__sandbox/sms/{gateway.provider}/reports",
        json={"message_id": seed_row.provider_message_id, "status": _delivered(gateway)},
        headers={"Authorization": f"Bearer {KLADANA_TOKEN}"},
        timeout=10,
    )
    assert report.status_code == 200, report.text
    assert report.json()["status"] == 200, report.json()
    [reported] = pipeline.ledger.entries(LedgerQuery(document_id=SEED_DOCUMENT_ID))
    assert reported.delivery_status is DeliveryStatus.DELIVERED

    # A report to a wrong token is refused and changes nothing.
    forged = requests.post(
        f"{pipeline.sandbox_url}/__sandbox/sms/{gateway.provider}/reports",
        json={
            "message_id": seed_row.provider_message_id,
            "status": "failed",
            "callback_url": f"{pipeline.notifier_url}/{gateway.provider}/report/{'x' * 26}",
        },
        headers={"Authorization": f"Bearer {KLADANA_TOKEN}"},
        timeout=10,
    )
    assert forged.json()["status"] == 403, forged.json()
    [after] = pipeline.ledger.entries(LedgerQuery(document_id=SEED_DOCUMENT_ID))
    assert after.delivery_status is DeliveryStatus.DELIVERED


def _delivered(gateway: Gateway) -> str:
    """The provider's own word for a delivered message."""
    return "DELIVERED" if gateway.provider == "msg91" else "delivered"
