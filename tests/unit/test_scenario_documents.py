"""The scenario's documents as the sandbox serves them: the planned facts, where Kladana
keeps them, and nothing for an id the plan does not hold."""

from dataclasses import replace
from datetime import datetime
from typing import Any

from bench.scenario.documents import PlannedDocument, ScenarioDocuments
from sandbox.app import create_app
from tests.unit.sandbox_client import TOKEN, body_of, get_document

PLANNED = PlannedDocument(
    id="7d6f1a52-0000-4000-8000-000000000002",
    type="PaymentIn",
    number="00031",
    moment=datetime(2024, 6, 12, 23, 5, 45),
    sum_paise=2_500_050,
    state="received",
    phone="+91-9900122334",
    mobile="+919900122334",
    opt_out="Yes",
    opted_out=True,
)


def served(planned: PlannedDocument, entity: str = "paymentin") -> Any:
    """The document as the enricher gets it from the sandbox; None: 404."""
    client = create_app(ScenarioDocuments({planned.id: planned}), token=TOKEN).test_client()
    response = get_document(client, entity, planned.id, expand="agent,state")
    if response.status_code == 404:
        return None
    assert response.status_code == 200
    return body_of(response)


def test_the_sandbox_serves_the_planned_facts_where_kladana_keeps_them() -> None:
    document = served(PLANNED)
    assert document is not None
    assert document["id"] == PLANNED.id
    assert document["name"] == "00031"
    assert document["moment"] == "2024-06-12 23:05:45.000"
    assert document["sum"] == 2_500_050
    assert document["state"]["name"] == "received"
    agent = document["agent"]
    assert agent["phone"] == "+91-9900122334"
    attributes = {a["name"]: (a["type"], a["value"]) for a in agent["attributes"]}
    assert attributes["SMS opt-out"] == ("string", "Yes")


def test_a_flag_is_a_boolean_attribute_and_an_empty_phone_field_is_absent() -> None:
    document = served(replace(PLANNED, phone=None, mobile=None, opt_out=False, opted_out=False))
    assert document is not None
    agent = document["agent"]
    assert "phone" not in agent
    attributes = {a["name"]: (a["type"], a["value"]) for a in agent["attributes"]}
    assert attributes["SMS opt-out"] == ("boolean", False)


def test_no_opt_out_attribute_unless_planned() -> None:
    document = served(replace(PLANNED, opt_out=None, opted_out=False))
    assert document is not None
    names = [a["name"] for a in document["agent"]["attributes"]]
    assert "SMS opt-out" not in names


def test_an_id_the_plan_does_not_hold_or_another_entity_is_not_found() -> None:
    assert served(PLANNED, entity="customerorder") is None
    documents = ScenarioDocuments({PLANNED.id: PLANNED})
    assert documents.find("paymentin", "7d6f1a52-0000-4000-8000-000000000003") is None
    assert documents.find("paymentin", PLANNED.id) is not None
