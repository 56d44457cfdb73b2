import io
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from enricher.documents import to_document
from notifier.__main__ import COMMANDS, main
from notifier.check_rules import check_rules
from notifier.rules import RuleSet
from sandbox.documents import SandboxDocuments, expand_paths, render
from shared.kladana_types import TRANSACTION_TYPES
from tests.helpers import ROOT, enriched_event, expand_of

KOLKATA = ZoneInfo("Asia/Kolkata")
SHIPPED_FILES = [
    ROOT / "notifier" / "default_rules.toml",
    *sorted((ROOT / "examples" / "rules").glob("*.toml")),
]
BAD = '[[rule]]\nname = "big-order"\ntype = "CustomerOrder"\nstate = "New"\ntemplate = "{summ}"\n'


def _check(path: Path, documents: list[Path] | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = check_rules(path, documents or [], KOLKATA, out=out, err=err)
    return status, out.getvalue(), err.getvalue()


def test_the_examples_cover_the_common_cases() -> None:
    assert len(SHIPPED_FILES) >= 3
    names = {rule.name for path in SHIPPED_FILES for rule in RuleSet.load(path).rules}
    assert {"order-shipped", "invoice-issued", "payment-received", "return-accepted"} <= names
    assert "staff-big-order" in names


@pytest.mark.parametrize("path", SHIPPED_FILES, ids=lambda path: path.name)
def test_every_shipped_rules_file_checks_and_renders(path: Path) -> None:
    status, out, err = _check(path)
    assert (status, err) == (0, "")
    rules = RuleSet.load(path).rules
    assert f"{len(rules)} rule(s), all valid" in out
    for rule in rules:
        when = f" entering state {rule.state!r}" if rule.state else ", once per document"
        assert f"\n{rule.name}: {rule.type}{when}" in out
    # One sample per language of each rule, each with its text and what it costs.
    samples = sum(len(rule.wordings) for rule in rules)
    assert out.count("\n  sample") == out.count("  text: ") == out.count("  sms: ") == samples
    assert "cannot be rendered" not in out


def test_the_output_says_whether_the_sample_matched_and_shows_the_text() -> None:
    status, out, _ = _check(ROOT / "examples" / "rules" / "staff-alerts.toml")
    assert status == 0
    assert (
        "staff-big-order: CustomerOrder entering state 'New', when sum >= 100000\n"
        "  sample: did not match (not sum >= 100000)\n"
        "  to: fixed number (***********0000), from ACMEOPS\n"
        "  text: Big order 5643: 50,000 rupees from Ravi Kumar (+91 98765 43210).\n"
    ) in out
    status, out, _ = _check(ROOT / "notifier" / "default_rules.toml")
    assert "  sample: matched\n  to: counterparty phone (***********3210)\n" in out


def test_an_invalid_file_exits_1_naming_the_rule_and_problem(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(BAD)
    status, out, err = _check(path)
    assert (status, out) == (1, "")
    assert err.startswith(
        f"check-rules: rules file {path}: rule 'big-order': unknown field {{summ}}"
    )


def test_a_rule_showing_a_field_its_type_lacks_exits_1_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(
        '[[rule]]\nname = "move-total"\ntype = "Move"\ntemplate = "Transfer {number}: {sum}"\n'
        'recipient = { phone = "+91 98765 00000" }\n'
    )
    status, out, err = _check(path)
    assert (status, out) == (1, "")
    assert err == (
        f"check-rules: rules file {path}: rule 'move-total': template does not render on a"
        " sample Move: the document has no sum\n"
    )


def test_the_default_rules_are_shown_on_the_sample_of_their_own_type() -> None:
    status, out, _ = _check(ROOT / "notifier" / "default_rules.toml")
    assert status == 0
    assert (
        "\npayment-received-balance-due: PaymentIn, once per document, when link.number is set"
        " and link.balance_due is set\n"
        "  sample: matched\n"
        "  to: counterparty phone (***********3210)\n"
        "  text: Payment of ₹20,000 received for order 5643. Balance due: ₹30,000.\n"
    ) in out
    assert (
        "\nreturn-accepted: SalesReturn, once per document\n"
        "  sample: matched\n"
        "  to: counterparty phone (***********3210)\n"
        "  text: Your return 5643 dated 10.06.2024 for ₹50,000 has been accepted.\n"
    ) in out


def test_a_missing_file_exits_1(tmp_path: Path) -> None:
    status, _, err = _check(tmp_path / "absent.toml")
    assert status == 1
    assert "cannot be read" in err


def _sandbox_documents(tmp_path: Path) -> list[Path]:
    """What the enricher makes of every sandbox document, fetched with its expand."""
    paths = []
    for index, stored in enumerate(SandboxDocuments.bundled()):
        kladana = render(
            stored, api_url="http://sandbox.test", expand=expand_paths(expand_of("CustomerOrder"))
        )
        kind = TRANSACTION_TYPES.by_entity(kladana["meta"]["type"])
        assert kind is not None
        document = to_document(kladana, transaction_type=kind, timezone=ZoneInfo("Europe/Moscow"))
        path = tmp_path / f"document-{index}.json"
        path.write_text(json.dumps(document))
        paths.append(path)
    return paths


def test_the_examples_work_on_what_the_enricher_produces(tmp_path: Path) -> None:
    documents = _sandbox_documents(tmp_path)
    status, out, err = _check(ROOT / "examples" / "rules" / "customer-messages.toml", documents)
    assert (status, err) == (0, "")
    assert "  sample:" not in out
    # The order names its courier in an additional field: the rule that shows it wins.
    assert (
        "\norder-shipped-with-courier: CustomerOrder entering state 'Shipped', when"
        " attributes.Delivery service is set, quiet 21:00-09:00 Asia/Kolkata\n"
        "  document 34efe2ee-015e-11e6-9464-e4de0000006b: matched\n"
        "  channels: whatsapp, sms\n"
        "  to: counterparty phone (***********3210)\n"
        "  text: Dear Priya Sharma, your order 5643 of 10.06.2024 (50,000 rupees) is on its way"
        " with BlueDart.\n"
        '  whatsapp: order_shipped (en) parameters: "5643", "10.06.2024", "50,000"\n'
    ) in out
    # The new order goes by email to its counterparty, Rahul Verma.
    assert (
        "  document a5f2022a-eb25-11f1-a1e8-02fc00000001: matched\n"
        "  channels: email, sms\n"
        "  to: counterparty phone (*******5443)\n"
        "  text: Thank you for your order 5644 dated 11.06.2024 for 12,345.50 rupees. We will"
        " tell you when it ships.\n"
        '  email: to counterparty email (r***@example.in), subject "Ganesh Traders Pvt Ltd:'
        ' order 5644 received"\n'
    ) in out
    assert (
        "  document 34efe2ee-015e-11e6-9464-e4de0000006b: did not match"
        " (not attributes.Delivery service is not set)\n"
    ) in out
    assert "did not match (state 'New')" in out
    assert "We have received your payment 00031 of ₹25,000. Thank you," in out
    # The return's SMS goes to the counterparty's first contact person, Neha Desai.
    assert (
        "  document a60041c8-eb25-11f1-9b6e-02fc00000001: matched\n"
        "  to: first contact person (***********4556)\n"
    ) in out


def test_rules_on_tags_attributes_and_contacts_work_on_the_enrichers_output(
    tmp_path: Path,
) -> None:
    documents = _sandbox_documents(tmp_path)
    status, out, err = _check(ROOT / "examples" / "rules" / "staff-alerts.toml", documents)
    assert (status, err) == (0, "")
    assert (
        "staff-vip-return: SalesReturn, once per document, when agent.tags contains 'vip'\n"
        "  document a60041c8-eb25-11f1-9b6e-02fc00000001: matched\n"
    ) in out
    rules = tmp_path / "rules.toml"
    rules.write_text(
        "[[rule]]\n"
        'name = "west-shipment"\n'
        'type = "Demand"\n'
        'state = "Shipped"\n'
        'template = "{number}: {attributes.Packages} packages in {attributes.Vehicle number}."\n'
        'recipient = { contact = "suresh patil" }\n'
        "[rule.when]\n"
        '"agent.attributes.Sales region" = "West"\n'
        'agent.tags = { contains = "wholesale" }\n'
        "\n"
        "[[rule]]\n"
        'name = "urgent-order"\n'
        'type = "CustomerOrder"\n'
        'state = "New"\n'
        'template = "Order {number} is {attributes.Priority} priority."\n'
        'recipient = { phone = "+91 98765 00000" }\n'
        "[rule.when]\n"
        '"attributes.Priority" = "high"\n'
        '"attributes.Gift wrap" = true\n'
    )
    status, out, err = _check(rules, documents)
    assert (status, err) == (0, "")
    assert (
        "  document a5fcb648-eb25-11f1-b795-02fc00000001: matched\n"
        "  to: contact person 'suresh patil' (***********1223)\n"
        "  text: 00012: 3 packages in MH 15 AB 1234.\n"
    ) in out
    # A custom list value ("Priority") is compared by its name.
    assert (
        "  document a5f2022a-eb25-11f1-a1e8-02fc00000001: matched\n"
        "  to: fixed number (***********0000)\n"
        "  text: Order 5644 is High priority.\n"
    ) in out


def test_a_document_given_as_an_enriched_event_works_too(tmp_path: Path) -> None:
    path = tmp_path / "event.json"
    event = enriched_event(number=None)
    path.write_text(json.dumps({"data": event.get_data()}))
    status, out, _ = _check(ROOT / "notifier" / "default_rules.toml", [path])
    assert status == 0
    assert "text: cannot be rendered, the event would be dead-lettered:" in out
    assert "the document has no number" in out


@pytest.mark.parametrize("content", ["not json", "[1, 2]", '{"data": {"document": 5}}'])
def test_an_unreadable_document_exits_2(tmp_path: Path, content: str) -> None:
    path = tmp_path / "document.json"
    path.write_text(content)
    status, out, err = _check(ROOT / "notifier" / "default_rules.toml", [path])
    assert (status, out) == (2, "")
    assert f"check-rules: document {path}" in err


def test_a_document_nested_too_deeply_exits_2_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text('{"type": "CustomerOrder", "deep": ' + "[" * 100_000 + "]" * 100_000 + "}")
    status, out, err = _check(ROOT / "notifier" / "default_rules.toml", [path])
    assert (status, out) == (2, "")
    assert err == f"check-rules: document {path}: nested too deeply to be a document\n"


def test_main_dispatches_subcommands(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert set(COMMANDS) >= {"run", "check-rules"}
    assert main(["check-rules", str(ROOT / "notifier" / "default_rules.toml")]) == 0
    assert "sales-order-shipped" in capsys.readouterr().out
    path = tmp_path / "rules.toml"
    path.write_text(BAD)
    assert main(["check-rules", str(path), "--timezone", "Europe/Moscow"]) == 1
    with pytest.raises(SystemExit) as exited:
        main(["check-rules", str(path), "--timezone", "Mars/Olympus"])
    assert exited.value.code == 2
    with pytest.raises(SystemExit) as exited:
        main(["check-rules"])
    assert exited.value.code == 2
    with pytest.raises(SystemExit) as exited:
        main(["frobnicate"])
    assert exited.value.code == 2


def test_each_sample_shows_its_encoding_segments_and_dlt_template_in_every_language() -> None:
    status, out, _ = _check(ROOT / "notifier" / "default_rules.toml")
    assert status == 0
    assert (
        "  text: Sales Order 5643 dated 10.06.2024 for an amount of 50,000 rupees has been"
        " handed over to the delivery service.\n"
        "  sms: GSM-7, 1 segment (110 characters), DLT template 1107161234567890123\n"
        "  sample in Hindi (hi): matched\n"
        "  to: counterparty phone (***********3210)\n"
        "  text: बिक्री ऑर्डर 5643 दिनांक 10.06.2024, राशि 50,000 रुपये, डिलीवरी सेवा को सौंप"
        " दिया गया है।\n"
        "  sms: UCS-2, 2 segments (89 characters), DLT template 1107161234567890124\n"
    ) in out
    assert (
        "  text: Your order 5643 dated 10.06.2024 has been delivered. Thank you for shopping"
        " with us!\n"
        "  sms: GSM-7, 1 segment (84 characters), no DLT template\n"
    ) in out
    status, out, _ = _check(ROOT / "examples" / "rules" / "staff-alerts.toml")
    assert (
        "  text: Big order 5643: 50,000 rupees from Ravi Kumar (+91 98765 43210).\n"
        "  sms: GSM-7, 1 segment (64 characters), DLT template 1107161234567890301\n"
    ) in out


def test_a_document_that_would_be_refused_shows_why(tmp_path: Path) -> None:
    document = tmp_path / "long.json"
    document.write_text(json.dumps({"data": enriched_event(number="SO-" + "7" * 28).get_data()}))
    status, out, _ = _check(ROOT / "notifier" / "default_rules.toml", [document])
    assert status == 0
    assert (
        "  refused: variable 1 of DLT template 1107161234567890123 would be 31 characters"
        " long; TRAI allows at most 30\n"
    ) in out


def test_a_rule_without_channel_keys_shows_no_channel_lines() -> None:
    status, out, _ = _check(ROOT / "notifier" / "default_rules.toml")
    assert status == 0
    assert "  channels: " not in out
    assert "  whatsapp: " not in out
    assert "  email: " not in out


def test_a_whatsapp_rule_shows_its_channels_template_and_parameters() -> None:
    status, out, _ = _check(ROOT / "examples" / "rules" / "customer-messages.toml")
    assert status == 0
    assert (
        "  sample: matched\n"
        "  channels: whatsapp, sms\n"
        "  to: counterparty phone (***********3210)\n"
        "  text: Dear Ravi Kumar, your order 5643 of 10.06.2024 (50,000 rupees) is on its way"
        " with <attributes.Delivery service>.\n"
        '  whatsapp: order_shipped (en) parameters: "5643", "10.06.2024", "50,000"\n'
        "  sms: GSM-7, 1 segment (112 characters), DLT template 1107161234567890201\n"
    ) in out


def test_an_email_rule_shows_the_masked_address_and_the_subject() -> None:
    status, out, _ = _check(ROOT / "examples" / "rules" / "customer-messages.toml")
    assert status == 0
    assert (
        "\norder-received: CustomerOrder entering state 'New'\n"
        "  sample: matched\n"
        "  channels: email, sms\n"
        "  to: counterparty phone (***********3210)\n"
        "  text: Thank you for your order 5643 dated 10.06.2024 for 50,000 rupees. We will tell"
        " you when it ships.\n"
        '  email: to counterparty email (r***@k.in), subject "Acme Traders: order 5643'
        ' received"\n'
        "  sms: GSM-7, 1 segment (97 characters), DLT template 1107161234567890207\n"
    ) in out


EMAIL_ONLY = """
[[rule]]
name = "order-received"
type = "CustomerOrder"
state = "New"
recipient = "first-contact"
channels = ["email"]
email_subject = "Order {number} received"
template = "We have received your order {number}."

[[rule]]
name = "order-shipped"
type = "CustomerOrder"
state = "Shipped"
channels = ["whatsapp"]
whatsapp_template = "order_shipped"
whatsapp_language = "hi"
template = "Order {number} shipped."
"""


def test_an_email_only_rule_shows_no_phone_or_sms_and_says_when_there_is_no_address(
    tmp_path: Path,
) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(EMAIL_ONLY)
    status, out, err = _check(path)
    assert (status, err) == (0, "")
    # The sample's first contact person has no email.
    assert (
        "\norder-received: CustomerOrder entering state 'New'\n"
        "  sample: matched\n"
        "  channels: email\n"
        "  text: We have received your order 5643.\n"
        "  email: to first contact person (no usable email address in this document),"
        ' subject "Order 5643 received"\n'
        "\n"
    ) in out
    assert (
        "  channels: whatsapp\n"
        "  to: counterparty phone (***********3210)\n"
        "  text: Order 5643 shipped.\n"
        "  whatsapp: order_shipped (hi) parameters: none\n"
    ) in out


def test_a_document_shows_its_parameters_as_sent_and_its_own_address(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(
        "[[rule]]\n"
        'name = "order-shipped"\n'
        'type = "CustomerOrder"\n'
        'state = "Shipped"\n'
        'channels = ["whatsapp", "email"]\n'
        'whatsapp_template = "order_shipped"\n'
        'whatsapp_parameters = ["{number}", "{attributes.Address}"]\n'
        'email_subject = "Order {number}: {attributes.Address}"\n'
        'template = "Order {number} shipped."\n'
    )
    agent = {"id": "a1", "name": "Ravi", "phone": "+91 98765 43210", "email": "Ravi@Kumar.IN"}
    document = tmp_path / "order.json"
    document.write_text(
        json.dumps(
            {
                "data": enriched_event(
                    agent=agent, attributes={"Address": "12 MG Road,\n\tBengaluru"}
                ).get_data()
            }
        )
    )
    status, out, err = _check(rules, [document])
    assert (status, err) == (0, "")
    assert (
        '  whatsapp: order_shipped (en) parameters: "5643", "12 MG Road, Bengaluru"\n'
        # The subject's line break became a space; the tab stays (a header may hold one).
        '  email: to counterparty email (R***@kumar.in), subject "Order 5643: 12 MG Road,'
        ' \\tBengaluru"\n'
    ) in out


def test_a_refused_sms_among_other_channels_says_the_others_still_go(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    default = (ROOT / "notifier" / "default_rules.toml").read_text()
    rules.write_text(
        default.replace(
            'name = "sales-order-shipped"\n',
            'name = "sales-order-shipped"\nchannels = ["whatsapp", "sms"]\n'
            'whatsapp_template = "order_shipped"\n'
            'whatsapp_parameters = ["{number}", "{date}", "{amount}"]\n',
        )
    )
    document = tmp_path / "long.json"
    document.write_text(json.dumps({"data": enriched_event(number="SO-" + "7" * 28).get_data()}))
    status, out, _ = _check(rules, [document])
    assert status == 0
    assert (
        '  whatsapp: order_shipped (en) parameters: "SO-7777777777777777777777777777",'
        ' "10.06.2024", "50,000"\n'
    ) in out
    assert (
        "  sms refused, the other channels still go: variable 1 of DLT template"
        " 1107161234567890123 would be 31 characters long; TRAI allows at most 30\n"
    ) in out
    assert "  refused: " not in out
