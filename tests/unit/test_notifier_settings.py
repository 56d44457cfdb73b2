import io
from pathlib import Path

import pytest
import requests

from notifier.exotel import ExotelSender
from notifier.msg91 import Msg91Sender
from notifier.settings import NotifierSettings
from notifier.sms import ConsoleSender, HttpSender, TwilioSender
from notifier.wiring import build_sender, exotel_status_url, twilio_status_url
from shared.errors import SettingsError
from shared.settings import environment_variables, load_settings


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in environment_variables(NotifierSettings):
        monkeypatch.delenv(name, raising=False)


def _twilio_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMS_PROVIDER", "twilio")
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC123")
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "tw-secret-token")
    monkeypatch.setenv("TWILIO_FROM", "+15005550006")


def test_defaults() -> None:
    settings = load_settings(NotifierSettings)
    assert settings.sms_provider == "console"
    assert settings.notifier_group_id == "notifier"
    assert settings.notifier_rules is None
    assert settings.default_phone_region == "IN"
    assert settings.notify_timezone.key == "Asia/Kolkata"
    assert settings.sms_timeout_s == 10
    assert settings.twilio_api_url == "https://api.twilio.com"


def test_values_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NOTIFIER_RULES", str(tmp_path / "rules.toml"))
    monkeypatch.setenv("DEFAULT_PHONE_REGION", "gb")
    monkeypatch.setenv("NOTIFY_TIMEZONE", "Europe/Moscow")
    monkeypatch.setenv("NOTIFIER_GROUP_ID", "notifier-2")
    settings = load_settings(NotifierSettings)
    assert settings.notifier_rules == tmp_path / "rules.toml"
    assert settings.default_phone_region == "GB"
    assert settings.notify_timezone.key == "Europe/Moscow"
    assert settings.notifier_group_id == "notifier-2"


def test_the_http_provider_needs_its_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMS_PROVIDER", "http")
    with pytest.raises(SettingsError, match="SMS_HTTP_URL"):
        load_settings(NotifierSettings)


@pytest.mark.parametrize("missing", ["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM"])
def test_the_twilio_provider_needs_each_of_its_variables(
    monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    _twilio_environment(monkeypatch)
    monkeypatch.delenv(missing)
    with pytest.raises(SettingsError) as raised:
        load_settings(NotifierSettings)
    assert missing in str(raised.value)
    assert "tw-secret-token" not in str(raised.value)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DEFAULT_PHONE_REGION", "XX"),
        ("NOTIFY_TIMEZONE", "Asia/Nowhere"),
        ("SMS_PROVIDER", "pigeon"),
        ("SMS_HTTP_URL", "ftp://sms.example"),
        ("SMS_TIMEOUT_S", "0"),
        ("NOTIFIER_DATABASE_URL", "mysql://root:hunter2@db/ledger"),
        ("NOTIFIER_DATABASE_URL", "not a url"),
        ("NOTIFIER_SEND_ATTEMPTS", "0"),
        ("NOTIFIER_STUCK_AFTER_S", "-1"),
        ("METRICS_PORT", "70000"),
        ("NOTIFIER_PUBLIC_URL", "notifier.example.com"),
        ("MSG91_API_URL", "api.msg91.com"),
        ("EXOTEL_API_URL", "ftp://api.exotel.com"),
    ],
)
def test_malformed_values_are_named(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=variable):
        load_settings(NotifierSettings)


def test_the_sender_follows_the_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    with requests.Session() as session:
        out = io.StringIO()
        assert isinstance(
            build_sender(load_settings(NotifierSettings), session, out), ConsoleSender
        )
        monkeypatch.setenv("SMS_PROVIDER", "http")
        monkeypatch.setenv("SMS_HTTP_URL", "http://127.0.0.1:9/sms")
        assert isinstance(build_sender(load_settings(NotifierSettings), session, out), HttpSender)
        _twilio_environment(monkeypatch)
        assert isinstance(build_sender(load_settings(NotifierSettings), session, out), TwilioSender)


def test_the_ledger_defaults_to_a_sqlite_file_and_reads_postgresql_urls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = load_settings(NotifierSettings)
    assert settings.notifier_database_url == "sqlite:///notifier-ledger.db"
    assert settings.notifier_send_attempts == 3
    assert settings.notifier_stuck_after_s == 300
    monkeypatch.setenv("NOTIFIER_DATABASE_URL", "postgresql://notifier:pw@db:5432/ledger")
    assert load_settings(NotifierSettings).notifier_database_url.startswith("postgresql://")


def test_a_bad_database_url_is_named_without_its_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NOTIFIER_DATABASE_URL", "mysql://root:hunter2@db/ledger")
    with pytest.raises(SettingsError, match="NOTIFIER_DATABASE_URL") as raised:
        load_settings(NotifierSettings)
    assert "hunter2" not in str(raised.value)


def test_the_public_url_gives_twilio_a_status_callback_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _twilio_environment(monkeypatch)
    assert twilio_status_url(load_settings(NotifierSettings)) is None
    monkeypatch.setenv("METRICS_PORT", "9100")
    monkeypatch.setenv("NOTIFIER_PUBLIC_URL", "https://notifier.example.com/")
    settings = load_settings(NotifierSettings)
    assert settings.metrics_port == 9100
    assert twilio_status_url(settings) == "https://notifier.example.com/twilio/status"
    monkeypatch.setenv("SMS_PROVIDER", "console")
    assert twilio_status_url(load_settings(NotifierSettings)) is None


def test_a_public_url_without_a_port_to_receive_callbacks_on_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _twilio_environment(monkeypatch)
    monkeypatch.setenv("NOTIFIER_PUBLIC_URL", "https://notifier.example.com")
    with pytest.raises(SettingsError, match="NOTIFIER_PUBLIC_URL requires METRICS_PORT"):
        load_settings(NotifierSettings)


def _msg91_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMS_PROVIDER", "msg91")
    monkeypatch.setenv("MSG91_AUTH_KEY", "msg91-secret-authkey")
    monkeypatch.setenv("SMS_SENDER", "KLDANA")


def _exotel_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMS_PROVIDER", "exotel")
    monkeypatch.setenv("EXOTEL_ACCOUNT_SID", "kladanashop1")
    monkeypatch.setenv("EXOTEL_API_KEY", "exotel-api-key")
    monkeypatch.setenv("EXOTEL_API_TOKEN", "exotel-secret-token")
    monkeypatch.setenv("DLT_ENTITY_ID", "1201100000000000001")
    monkeypatch.setenv("SMS_SENDER", "KLDANA")


def test_the_indian_gateways_default_to_their_real_apis(monkeypatch: pytest.MonkeyPatch) -> None:
    _msg91_environment(monkeypatch)
    settings = load_settings(NotifierSettings)
    assert settings.msg91_api_url == "https://api.msg91.com"
    assert settings.msg91_route == "4"
    assert settings.exotel_api_url == "https://api.exotel.com"
    assert settings.sms_report_token is None


@pytest.mark.parametrize("missing", ["MSG91_AUTH_KEY", "SMS_SENDER"])
def test_msg91_needs_its_key_and_a_header(monkeypatch: pytest.MonkeyPatch, missing: str) -> None:
    _msg91_environment(monkeypatch)
    monkeypatch.delenv(missing)
    with pytest.raises(SettingsError, match=f"SMS_PROVIDER=msg91 requires {missing} to be set"):
        load_settings(NotifierSettings)


@pytest.mark.parametrize(
    "missing",
    ["EXOTEL_ACCOUNT_SID", "EXOTEL_API_KEY", "EXOTEL_API_TOKEN", "DLT_ENTITY_ID", "SMS_SENDER"],
)
def test_exotel_needs_its_account_the_entity_and_a_header(
    monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    _exotel_environment(monkeypatch)
    monkeypatch.delenv(missing)
    with pytest.raises(SettingsError) as raised:
        load_settings(NotifierSettings)
    assert f"SMS_PROVIDER=exotel requires {missing} to be set" in str(raised.value)
    assert "exotel-secret-token" not in str(raised.value)


@pytest.mark.parametrize("provider", ["msg91", "exotel"])
@pytest.mark.parametrize("header", ["KLD", "KLADANAS"])
def test_the_header_must_have_the_six_characters_dlt_registers(
    monkeypatch: pytest.MonkeyPatch, provider: str, header: str
) -> None:
    (_msg91_environment if provider == "msg91" else _exotel_environment)(monkeypatch)
    monkeypatch.setenv("SMS_SENDER", header)
    with pytest.raises(SettingsError, match="SMS_SENDER must be the 6-character header"):
        load_settings(NotifierSettings)


def test_a_report_token_needs_a_port_and_sixteen_characters(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _msg91_environment(monkeypatch)
    monkeypatch.setenv("SMS_REPORT_TOKEN", "report-token-0123456789")
    with pytest.raises(SettingsError, match="SMS_REPORT_TOKEN requires METRICS_PORT"):
        load_settings(NotifierSettings)
    monkeypatch.setenv("METRICS_PORT", "9100")
    monkeypatch.setenv("SMS_REPORT_TOKEN", "short")
    with pytest.raises(SettingsError, match="SMS_REPORT_TOKEN") as raised:
        load_settings(NotifierSettings)
    assert "short" not in str(raised.value)


def test_exotel_is_given_the_tokened_callback_url_only_with_a_public_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _exotel_environment(monkeypatch)
    assert exotel_status_url(load_settings(NotifierSettings)) is None
    monkeypatch.setenv("METRICS_PORT", "9100")
    monkeypatch.setenv("NOTIFIER_PUBLIC_URL", "https://notifier.example.com/")
    with pytest.raises(SettingsError, match="requires SMS_REPORT_TOKEN"):
        load_settings(NotifierSettings)
    monkeypatch.setenv("SMS_REPORT_TOKEN", "report-token-0123456789")
    assert (
        exotel_status_url(load_settings(NotifierSettings))
        == "https://notifier.example.com/exotel/report/report-token-0123456789"
    )


def test_the_indian_gateways_get_their_senders(monkeypatch: pytest.MonkeyPatch) -> None:
    with requests.Session() as session:
        _msg91_environment(monkeypatch)
        sender = build_sender(load_settings(NotifierSettings), session, io.StringIO())
        assert isinstance(sender, Msg91Sender)
        _exotel_environment(monkeypatch)
        sender = build_sender(load_settings(NotifierSettings), session, io.StringIO())
        assert isinstance(sender, ExotelSender)


WHATSAPP = {
    "WHATSAPP_TOKEN": "EAAG-system-user-token",
    "WHATSAPP_PHONE_NUMBER_ID": "106540352242922",
    "WHATSAPP_APP_SECRET": "app-secret-value",
    "WHATSAPP_VERIFY_TOKEN": "verify-token-value",
}


def test_whatsapp_is_off_until_configured_and_then_needs_all_four_and_a_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = load_settings(NotifierSettings)
    assert (settings.whatsapp_configured, settings.email_configured) == (False, False)
    assert settings.whatsapp_api_url == "https://graph.facebook.com/v21.0"
    monkeypatch.setenv("WHATSAPP_TOKEN", WHATSAPP["WHATSAPP_TOKEN"])
    with pytest.raises(SettingsError) as refused:
        load_settings(NotifierSettings)
    assert str(refused.value) == (
        "invalid settings: Value error, WHATSAPP_TOKEN requires WHATSAPP_PHONE_NUMBER_ID,"
        " WHATSAPP_APP_SECRET, WHATSAPP_VERIFY_TOKEN to be set as well"
    )
    for name, value in WHATSAPP.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match="WHATSAPP_TOKEN requires METRICS_PORT"):
        load_settings(NotifierSettings)
    monkeypatch.setenv("METRICS_PORT", "9300")
    assert load_settings(NotifierSettings).whatsapp_configured


@pytest.mark.parametrize(
    ("variables", "problem"),
    [
        ({"SMTP_URL": "smtp://mail.example.in"}, "SMTP_URL and EMAIL_FROM are set together"),
        ({"EMAIL_FROM": "orders@shop.example"}, "SMTP_URL and EMAIL_FROM are set together"),
        (
            {"SMTP_URL": "https://user:hunter2-secret@mail.example.in", "EMAIL_FROM": "o@shop.in"},
            "SMTP_URL must start with smtp:// or smtps://",
        ),
        (
            {"SMTP_URL": "smtp://mail.example.in", "EMAIL_FROM": "Shop orders"},
            "EMAIL_FROM must be an address",
        ),
    ],
)
def test_email_needs_a_server_and_a_sender_address(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], problem: str
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as refused:
        load_settings(NotifierSettings)
    assert problem in str(refused.value)
    assert "hunter2" not in str(refused.value)


def test_email_with_a_server_and_a_sender(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_URL", "smtps://orders%40shop.in:hunter2@mail.example.in")
    monkeypatch.setenv("EMAIL_FROM", "Ganesh Traders <orders@ganeshtraders.in>")
    settings = load_settings(NotifierSettings)
    assert settings.email_configured
    assert "hunter2" not in repr(settings)
