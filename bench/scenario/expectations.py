"""Which SMS each document of the mix must cause: the scenario's rules (``rules.toml``)
written out again by hand, each with the text it sends as a literal f-string.

Nothing here comes from ``notifier/``: whether a rule matches, the number an SMS goes to,
the opt-out and the text are the runner's own reading of ``rules.toml`` and
docs/rules.md, applied to facts the runner chose itself (``documents.py``). So a notifier
bug in rule matching, phone parsing, opt-outs, formatting or its notification key shows up
in the reconciliation as an SMS missing, unexpected or received twice.
``tests/unit/test_scenario_expectations.py`` holds these rules to ``rules.toml``.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from bench.scenario.documents import PlannedDocument
from bench.scenario.stack import KLADANA_TIMEZONE, NOTIFY_TIMEZONE


@dataclass(frozen=True)
class ExpectedSms:
    """One business event: ``document_id`` entering its state, for ``rule``."""

    document_id: str
    rule: str
    to: str
    """E.164, as the provider receives it."""
    text: str

    @property
    def message(self) -> tuple[str, str]:
        """What the provider must receive: (number, text)."""
        return self.to, self.text


def rupees(paise: int) -> str:
    """A sum as en_IN writes it: the last three digits, then groups of two (1,23,45,678);
    paise only when there are any (1,234.50)."""
    whole, fraction = divmod(paise, 100)
    digits = str(whole)
    head, groups = digits[:-3], [digits[-3:]]
    while head:
        groups.insert(0, head[-2:])
        head = head[:-2]
    grouped = ",".join(groups)
    return f"{grouped}.{fraction:02d}" if fraction else grouped


def day(moment: datetime) -> str:
    """Kladana's zone-less date (Moscow time) as dd.MM.yyyy in the notifier's zone: late in
    a Moscow evening it is already the next day in Kolkata."""
    local = moment.replace(tzinfo=ZoneInfo(KLADANA_TIMEZONE)).astimezone(ZoneInfo(NOTIFY_TIMEZONE))
    return local.strftime("%d.%m.%Y")


@dataclass(frozen=True)
class ScenarioRule:
    name: str
    type: str
    state: str
    text: Callable[[PlannedDocument], str]
    min_sum_paise: int | None = None
    """``[rule.when] sum = { gte = ... }``, in paise."""

    def matches(self, document: PlannedDocument) -> bool:
        """Its type, its state (case and surrounding spaces ignored), its condition."""
        return (
            document.type == self.type
            and document.state.strip().lower() == self.state.lower()
            and (self.min_sum_paise is None or document.sum_paise >= self.min_sum_paise)
        )


RULES: tuple[ScenarioRule, ...] = (
    ScenarioRule(
        "sales-order-shipped",
        "CustomerOrder",
        "Shipped",
        lambda d: (
            f"Sales Order {d.number} dated {day(d.moment)} for an amount of"
            f" {rupees(d.sum_paise)} rupees has been handed over to the delivery service."
        ),
    ),
    ScenarioRule(
        "sales-order-big",
        "CustomerOrder",
        "Shipped",
        lambda d: f"Thank you for your large order {d.number} of {rupees(d.sum_paise)} rupees.",
        min_sum_paise=100_000_00,
    ),
    ScenarioRule(
        "sales-order-new",
        "CustomerOrder",
        "New",
        lambda d: f"We have received your order {d.number}.",
    ),
    ScenarioRule(
        "invoice-issued",
        "InvoiceOut",
        "Issued",
        lambda d: f"Invoice {d.number} of {day(d.moment)}: {rupees(d.sum_paise)} rupees.",
    ),
    ScenarioRule(
        "payment-received",
        "PaymentIn",
        "Received",
        lambda d: f"Payment {d.number} of {rupees(d.sum_paise)} rupees received, thank you.",
    ),
    ScenarioRule(
        "shipment-shipped", "Demand", "Shipped", lambda d: f"Shipment {d.number} is on its way."
    ),
    ScenarioRule(
        "return-accepted",
        "SalesReturn",
        "Accepted",
        lambda d: f"Your return {d.number} has been accepted.",
    ),
    ScenarioRule(
        "purchaseorder-shipped",
        "PurchaseOrder",
        "Shipped",
        lambda d: f"Purchase Order {d.number} is now {d.state}.",
    ),
    ScenarioRule(
        "invoicein-shipped",
        "InvoiceIn",
        "Shipped",
        lambda d: f"Supplier Invoice {d.number} is now {d.state}.",
    ),
    ScenarioRule(
        "supply-shipped", "Supply", "Shipped", lambda d: f"Receiving {d.number} is now {d.state}."
    ),
    ScenarioRule(
        "paymentout-shipped",
        "PaymentOut",
        "Shipped",
        lambda d: f"Outgoing Payment {d.number} is now {d.state}.",
    ),
    ScenarioRule(
        "cashin-shipped",
        "CashIn",
        "Shipped",
        lambda d: f"Incoming Cash {d.number} is now {d.state}.",
    ),
)


def rule_states(type_name: str) -> tuple[str, ...]:
    """The states the rules name for a type, each once (none: the type sends no SMS)."""
    return tuple(dict.fromkeys(rule.state for rule in RULES if rule.type == type_name))


def expected_sms(document: PlannedDocument) -> tuple[ExpectedSms, ...]:
    """Every SMS ``document`` must cause, in rule order: none without a mobile number or
    when the counterparty opted out (the counterparty is every rule's recipient)."""
    if document.mobile is None or document.opted_out:
        return ()
    return tuple(
        ExpectedSms(document.id, rule.name, document.mobile, rule.text(document))
        for rule in RULES
        if rule.matches(document)
    )
