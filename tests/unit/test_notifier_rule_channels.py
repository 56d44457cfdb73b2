"""The rule keys that choose channels: ``channels``, ``whatsapp_*`` and ``email_subject``."""

import re
from zoneinfo import ZoneInfo

import pytest

from notifier.channels import Channel, WhatsAppTemplate
from notifier.errors import DocumentIncomplete, RulesError
from notifier.render import parse_template
from notifier.rule_channels import EmailSubject, WhatsAppWording
from notifier.rules import RuleSet
from tests.helpers import ROOT, seed_document

ORDER = (
    '[[rule]]\nname = "order-shipped"\ntype = "CustomerOrder"\nstate = "Shipped"\n'
    'template = "Order {number} shipped"\n'
)
WHATSAPP = (
    'channels = ["whatsapp", "sms"]\nwhatsapp_template = "order_shipped"\n'
    'whatsapp_parameters = ["{number}", "{date}", "{amount}"]\n'
)
EMAIL = 'channels = ["email"]\nemail_subject = "Order {number} shipped"\n'


def _problem(keys: str, rule: str = ORDER) -> str:
    with pytest.raises(RulesError) as raised:
        RuleSet.parse(rule + keys, source="rules.toml")
    message = str(raised.value)
    assert message.startswith("rules file rules.toml: rule 'order-shipped': ")
    return message.removeprefix("rules file rules.toml: rule 'order-shipped': ")


def test_a_rule_without_channel_keys_sends_sms_only() -> None:
    (rule,) = RuleSet.parse(ORDER, source="t").rules
    assert (rule.channels, rule.whatsapp, rule.email_subject) == ((Channel.SMS,), None, None)


def test_whatsapp_keys_are_read_with_the_default_language() -> None:
    (rule,) = RuleSet.parse(ORDER + WHATSAPP, source="t").rules
    assert rule.channels == (Channel.WHATSAPP, Channel.SMS)
    assert rule.whatsapp == WhatsAppWording(
        name="order_shipped",
        language="en",
        parameters=(
            parse_template("{number}"),
            parse_template("{date}"),
            parse_template("{amount}"),
        ),
    )
    assert rule.email_subject is None


@pytest.mark.parametrize("language", ["en", "en_US", "en_GB", "hi", "pt_BR", "zh_CN", "fil"])
def test_meta_language_codes_are_accepted(language: str) -> None:
    (rule,) = RuleSet.parse(
        ORDER + WHATSAPP + f'whatsapp_language = "{language}"\n', source="t"
    ).rules
    assert rule.whatsapp is not None
    assert rule.whatsapp.language == language


def test_an_email_rule_reads_its_subject() -> None:
    (rule,) = RuleSet.parse(ORDER + EMAIL, source="t").rules
    assert rule.channels == (Channel.EMAIL,)
    assert rule.email_subject == EmailSubject(parse_template("Order {number} shipped"))
    assert rule.whatsapp is None


def test_every_channel_in_one_rule() -> None:
    keys = (
        'channels = ["email", "whatsapp", "sms"]\nwhatsapp_template = "order_shipped"\n'
        'email_subject = "Order {number}"\n'
    )
    (rule,) = RuleSet.parse(ORDER + keys, source="t").rules
    assert rule.channels == (Channel.EMAIL, Channel.WHATSAPP, Channel.SMS)
    assert rule.whatsapp == WhatsAppWording(name="order_shipped", language="en")


@pytest.mark.parametrize(
    ("keys", "problem"),
    [
        (
            "channels = []\n",
            "'channels' must be a non-empty list of whatsapp, sms, email, in order of preference",
        ),
        (
            'channels = "sms"\n',
            "'channels' must be a non-empty list of whatsapp, sms, email, in order of preference",
        ),
        (
            'channels = ["sms", "telegram"]\n',
            "channels: 'telegram' is not a channel (known: whatsapp, sms, email)",
        ),
        (
            'channels = ["SMS"]\n',
            "channels: 'SMS' is not a channel (known: whatsapp, sms, email)",
        ),
        ("channels = [1]\n", "channels: 1 is not a channel (known: whatsapp, sms, email)"),
        ('channels = ["sms", "sms"]\n', "channels: 'sms' is listed twice"),
        (
            'whatsapp_template = "order_shipped"\n',
            "'whatsapp_template' is for the whatsapp channel, which 'channels' does not list (sms)",
        ),
        (
            'channels = ["sms", "email"]\nemail_subject = "x"\nwhatsapp_language = "en"\n',
            "'whatsapp_language' is for the whatsapp channel, which 'channels' does not list"
            " (sms, email)",
        ),
        (
            'channels = ["whatsapp"]\nwhatsapp_template = "t"\nemail_subject = "Order"\n',
            "'email_subject' is for the email channel, which 'channels' does not list (whatsapp)",
        ),
        (
            'channels = ["whatsapp", "sms"]\n',
            "'channels' lists whatsapp: 'whatsapp_template' (the approved template's name)"
            " is missing",
        ),
        (
            'channels = ["email"]\n',
            "'channels' lists email: 'email_subject' (the email's subject) is missing",
        ),
    ],
)
def test_a_wrong_channel_key_is_refused_naming_it(keys: str, problem: str) -> None:
    assert _problem(keys) == problem


@pytest.mark.parametrize("name", ["Order_Shipped", "order-shipped", "order shipped", "", "x" * 513])
def test_a_template_name_meta_would_not_allow_is_refused(name: str) -> None:
    keys = f'channels = ["whatsapp"]\nwhatsapp_template = "{name}"\n'
    assert _problem(keys) == (
        "'whatsapp_template' must be the approved template's name: lowercase letters,"
        " digits and underscores, e.g. order_shipped"
    )


def test_the_longest_template_name_meta_allows_loads() -> None:
    keys = f'channels = ["whatsapp"]\nwhatsapp_template = "{"x" * 512}"\n'
    (rule,) = RuleSet.parse(ORDER + keys, source="t").rules
    assert rule.whatsapp is not None
    assert len(rule.whatsapp.name) == 512


@pytest.mark.parametrize(
    ("language", "shown"),
    [("EN", "'EN'"), ("en-US", "'en-US'"), ("xx", "'xx'"), ("en_XX", "'en_XX'"), ("1", "1")],
)
def test_a_language_that_is_no_meta_code_is_refused(language: str, shown: str) -> None:
    value = language if language.isdigit() else f'"{language}"'
    keys = WHATSAPP + f"whatsapp_language = {value}\n"
    assert _problem(keys) == (
        f"'whatsapp_language' {shown} is not a language code as Meta writes them,"
        " e.g. en, en_US, hi"
    )


@pytest.mark.parametrize("parameters", ['"{number}"', '[1, "{number}"]', '{ first = "{number}" }'])
def test_parameters_that_are_no_list_of_texts_are_refused(parameters: str) -> None:
    keys = f'channels = ["whatsapp"]\nwhatsapp_template = "t"\nwhatsapp_parameters = {parameters}\n'
    assert _problem(keys) == (
        '\'whatsapp_parameters\' must be a list of templates, e.g. ["{number}", "{date}"]'
    )


@pytest.mark.parametrize(
    ("parameters", "problem"),
    [
        (
            '["{number}", "{numbr}"]',
            "whatsapp_parameters {{2}}: unknown field {numbr} in template (known: ",
        ),
        ('["{number"]', "whatsapp_parameters {{1}}: template is not valid: "),
        ('["{amount:d}"]', "whatsapp_parameters {{1}}: format 'd' does not apply to {amount}"),
        (
            '["{number}", "{moment:qqqqqq}"]',
            "whatsapp_parameters {{2}} does not render on a sample CustomerOrder: ",
        ),
        ('["{number}", ""]', "whatsapp_parameters {{2}} renders as nothing on a sample"),
        ('["   "]', "whatsapp_parameters {{1}} renders as nothing on a sample CustomerOrder"),
        (
            "[\"{moment:' '}\"]",
            "whatsapp_parameters {{1}} placeholder(s) {moment:' '} render as nothing",
        ),
    ],
)
def test_a_parameter_that_cannot_be_sent_is_refused_naming_its_variable(
    parameters: str, problem: str
) -> None:
    keys = f'channels = ["whatsapp"]\nwhatsapp_template = "t"\nwhatsapp_parameters = {parameters}\n'
    assert _problem(keys).startswith(problem)


@pytest.mark.parametrize(
    "parameter", ["{number}\\n{date}", "{number}\\t{date}", "{number}     {date}", "a\\r\\nb"]
)
def test_a_parameter_with_what_meta_refuses_on_the_sample_is_refused(parameter: str) -> None:
    keys = (
        f'channels = ["whatsapp"]\nwhatsapp_template = "t"\nwhatsapp_parameters = ["{parameter}"]\n'
    )
    assert _problem(keys) == (
        "whatsapp_parameters {{1}} holds a line break, a tab or more than four spaces in a row"
        " on a sample CustomerOrder; Meta refuses such a parameter"
    )


def test_four_spaces_in_a_parameter_are_allowed() -> None:
    keys = 'channels = ["whatsapp"]\nwhatsapp_template = "t"\nwhatsapp_parameters = ["a    b"]\n'
    (rule,) = RuleSet.parse(ORDER + keys, source="t").rules
    assert rule.whatsapp is not None


def test_a_parameter_showing_a_field_its_type_lacks_is_refused() -> None:
    rule = (
        '[[rule]]\nname = "order-shipped"\ntype = "Move"\ntemplate = "Transfer {number}"\n'
        'recipient = { phone = "+91 98765 00000" }\n'
    )
    keys = 'channels = ["whatsapp"]\nwhatsapp_template = "t"\nwhatsapp_parameters = ["{sum}"]\n'
    assert _problem(keys, rule) == (
        "whatsapp_parameters {{1}} does not render on a sample Move: the document has no sum"
    )


@pytest.mark.parametrize(
    ("subject", "problem"),
    [
        ("= 5", "email_subject must be a string"),
        ('"{numbr}"', "email_subject: unknown field {numbr} in template (known: "),
        ('""', "email_subject renders as nothing on a sample CustomerOrder"),
        ('"{moment:qqqqqq}"', "email_subject does not render on a sample CustomerOrder: "),
        ("\"Order {moment:' '}\"", "email_subject placeholder(s) {moment:' '} render as nothing"),
    ],
)
def test_a_subject_that_cannot_be_sent_is_refused(subject: str, problem: str) -> None:
    value = subject[1:].strip() if subject.startswith("=") else subject
    assert _problem(f'channels = ["email"]\nemail_subject = {value}\n').startswith(problem)


def test_email_to_a_fixed_number_is_refused() -> None:
    keys = 'recipient = { phone = "+91 98765 00000" }\n' + EMAIL
    assert _problem(keys) == (
        "channels: email needs an address, and a fixed number has none"
        " (name another recipient or leave email out)"
    )


def test_attributes_only_the_channel_keys_show_get_sample_values() -> None:
    keys = (
        'channels = ["whatsapp", "email"]\nwhatsapp_template = "order_shipped"\n'
        'whatsapp_parameters = ["{attributes.Courier}", "{attributes.Advance:money}"]\n'
        'email_subject = "Order {number} via {agent.attributes.Courier}"\n'
    )
    (rule,) = RuleSet.parse(ORDER + keys, source="t").rules
    sample = rule.sample()
    assert sample["attributes"] == {"Courier": "<attributes.Courier>", "Advance": "1500"}
    assert sample["agent"]["attributes"] == {"Courier": "<agent.attributes.Courier>"}


# --- What a planned message carries --------------------------------------------------


def test_a_planned_message_carries_the_rendered_whatsapp_template() -> None:
    (message,) = RuleSet.parse(ORDER + WHATSAPP, source="t").plan(seed_document())
    assert message.channels == (Channel.WHATSAPP, Channel.SMS)
    assert message.whatsapp == WhatsAppTemplate(
        name="order_shipped", language="en", parameters=("5643", "10.06.2024", "50,000")
    )
    assert (message.text, message.email_subject) == ("Order 5643 shipped", None)


def test_parameters_follow_the_rules_locale_and_zone() -> None:
    text = ORDER + 'locale = "de_DE"\n' + WHATSAPP.replace('"{date}"', '"{date:d MMMM y}"')
    late = seed_document(moment="2024-06-10T22:30:00+03:00")
    (kolkata,) = RuleSet.parse(text, source="t").plan(late)
    assert kolkata.whatsapp is not None
    assert kolkata.whatsapp.parameters == ("5643", "11 Juni 2024", "50.000")
    (moscow,) = RuleSet.parse(text, source="t", timezone=ZoneInfo("Europe/Moscow")).plan(late)
    assert moscow.whatsapp is not None
    assert moscow.whatsapp.parameters[1] == "10 Juni 2024"


def test_a_planned_email_has_the_recipients_address_and_the_subject() -> None:
    agent = {"id": "a1", "name": "Ravi Kumar", "phone": None, "email": "ravi@kumar.example"}
    (message,) = RuleSet.parse(ORDER + EMAIL, source="t").plan(seed_document(agent=agent))
    assert message.channels == (Channel.EMAIL,)
    assert (message.email_text, message.email_subject) == (
        "ravi@kumar.example",
        "Order 5643 shipped",
    )
    assert (message.phone_text, message.whatsapp) == (None, None)


def test_a_subject_is_one_line_whatever_the_document_holds() -> None:
    keys = 'channels = ["email"]\nemail_subject = "Order {number}: {attributes.Note}"\n'
    document = seed_document(attributes={"Note": "fragile\r\nkeep upright\nthank you"})
    (message,) = RuleSet.parse(ORDER + keys, source="t").plan(document)
    assert message.email_subject == "Order 5643: fragile keep upright thank you"


def test_a_parameter_is_planned_as_the_document_has_it() -> None:
    # Meta's whitespace rules are applied when it is sent (notifier/outbound.py).
    keys = (
        'channels = ["whatsapp"]\nwhatsapp_template = "t"\n'
        'whatsapp_parameters = ["{attributes.Address}"]\n'
    )
    document = seed_document(attributes={"Address": "12 MG Road\nBengaluru"})
    (message,) = RuleSet.parse(ORDER + keys, source="t").plan(document)
    assert message.whatsapp is not None
    assert message.whatsapp.parameters == ("12 MG Road\nBengaluru",)


def test_a_document_lacking_a_parameters_value_names_the_rule() -> None:
    keys = (
        'channels = ["whatsapp"]\nwhatsapp_template = "t"\n'
        'whatsapp_parameters = ["{attributes.Tracking number}"]\n'
    )
    rules = RuleSet.parse(ORDER + keys, source="t")
    with pytest.raises(
        DocumentIncomplete,
        match=r"^rule 'order-shipped', document 34efe.*: the document has no"
        r" attributes.Tracking number$",
    ):
        rules.plan(seed_document(attributes={}))


def test_a_sms_only_rule_plans_no_whatsapp_or_subject_but_the_email_it_knows() -> None:
    agent = {"id": "a1", "name": "Ravi", "phone": "+91 98765 43210", "email": "r@k.in"}
    (message,) = RuleSet.parse(ORDER, source="t").plan(seed_document(agent=agent))
    assert (message.channels, message.whatsapp, message.email_subject) == (
        (Channel.SMS,),
        None,
        None,
    )
    assert message.email_text == "r@k.in"


def test_the_channels_example_of_the_docs_sends_what_they_say() -> None:
    docs = (ROOT / "docs" / "rules.md").read_text()
    (block,) = [
        block
        for block in re.findall(r"```toml\n(.*?)```", docs, re.DOTALL)
        if 'channels = ["whatsapp", "sms"]' in block
    ]
    rules = RuleSet.parse(block, source="docs")
    (shipped,) = rules.plan(seed_document())
    assert shipped.whatsapp == WhatsAppTemplate(
        name="order_shipped", language="en", parameters=("5643", "10.06.2024", "50,000")
    )
    (received,) = rules.plan(seed_document(state="New"))
    assert (received.channels, received.email_subject) == ((Channel.EMAIL,), "Order 5643 received")
