"""``SMS_PROVIDER=msg91|exotel make run``: which gateway's fake is used, and what the
notifier and the sandbox are told."""

import pytest

from devstack.sms_fakes import sms_fake, sms_fake_environment


@pytest.mark.parametrize(
    ("environ", "fake"),
    [
        ({}, None),
        ({"SMS_PROVIDER": "console"}, None),
        ({"SMS_PROVIDER": "twilio"}, None),
        ({"SMS_PROVIDER": "msg91"}, "msg91"),
        ({"SMS_PROVIDER": "exotel"}, "exotel"),
        ({"SMS_PROVIDER": "msg91", "MSG91_API_URL": "https://api.msg91.com"}, None),
        ({"SMS_PROVIDER": "exotel", "EXOTEL_API_URL": "https://api.in.exotel.com"}, None),
    ],
)
def test_the_fake_is_used_only_without_a_real_api_url(
    environ: dict[str, str], fake: str | None
) -> None:
    assert sms_fake(environ) == fake


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "METRICS_PORT",
        "SMS_REPORT_TOKEN",
        "SMS_SENDER",
        "DLT_ENTITY_ID",
        "MSG91_AUTH_KEY",
        "NOTIFIER_PUBLIC_URL",
        "EXOTEL_ACCOUNT_SID",
        "EXOTEL_API_KEY",
        "EXOTEL_API_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)


def test_msg91_points_the_notifier_at_the_fake_and_the_fake_at_the_notifier(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SMS_REPORT_TOKEN", "report-token-0123456789")
    fake = sms_fake_environment("msg91", "http://127.0.0.1:8081", lambda: 9300)
    assert fake.notifier == {
        "SMS_SENDER": "KLDANA",
        "DLT_ENTITY_ID": "1201100000000000001",
        "METRICS_PORT": "9300",
        "SMS_REPORT_TOKEN": "report-token-0123456789",
        "MSG91_API_URL": "http://127.0.0.1:8081/msg91",
        "MSG91_AUTH_KEY": "sandbox-msg91-authkey",
    }
    assert fake.sandbox == {
        "SANDBOX_MSG91_WEBHOOK_URL": "http://127.0.0.1:9300/msg91/report/report-token-0123456789"
    }


def test_exotel_keeps_what_the_user_set_and_draws_a_fresh_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SMS_SENDER", "ACMESH")
    monkeypatch.setenv("METRICS_PORT", "9400")
    first = sms_fake_environment("exotel", "http://127.0.0.1:8081", lambda: 1)
    second = sms_fake_environment("exotel", "http://127.0.0.1:8081", lambda: 1)
    assert first.notifier["SMS_SENDER"] == "ACMESH"
    assert first.notifier["METRICS_PORT"] == "9400"
    assert first.notifier["NOTIFIER_PUBLIC_URL"] == "http://127.0.0.1:9400"
    assert first.notifier["EXOTEL_API_URL"] == "http://127.0.0.1:8081/exotel"
    assert len(first.notifier["SMS_REPORT_TOKEN"]) >= 16
    assert first.notifier["SMS_REPORT_TOKEN"] != second.notifier["SMS_REPORT_TOKEN"]
    assert first.sandbox == {}
