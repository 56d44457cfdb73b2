import io
from pathlib import Path

import pytest
import requests

from notifier.settings import NotifierSettings
from notifier.sms import ConsoleSender, HttpSender, TwilioSender
from notifier.wiring import build_sender, twilio_status_url
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
