"""The sandbox's start-up settings: limits, token kinds and the initial knobs."""

import pytest

from sandbox.faults import Faults
from sandbox.limits import RateLimits
from sandbox.settings import SandboxSettings
from shared.errors import SettingsError
from shared.settings import environment_variables, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in environment_variables(SandboxSettings):
        monkeypatch.delenv(name, raising=False)


def test_defaults_are_kladanas_limits_and_no_faults() -> None:
    settings = load_settings(SandboxSettings)
    assert settings.rate_limits() == RateLimits(
        units=45, window_ms=3000, max_parallel=5, application_cost=1, user_cost=4
    )
    assert settings.faults() == Faults()
    assert settings.sandbox_user_token is None


def test_limits_and_knobs_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "SANDBOX_USER_TOKEN": "user-secret",
        "SANDBOX_RATE_LIMIT_UNITS": "90",
        "SANDBOX_RATE_LIMIT_WINDOW_MS": "6000",
        "SANDBOX_APPLICATION_TOKEN_COST": "2",
        "SANDBOX_USER_TOKEN_COST": "8",
        "SANDBOX_MAX_PARALLEL": "10",
        "SANDBOX_LATENCY_MS": "100",
        "SANDBOX_LATENCY_JITTER_MS": "20",
        "SANDBOX_ERROR_RATE": "0.1",
        "SANDBOX_TIMEOUT_RATE": "0.05",
        "SANDBOX_HANG_MS": "40000",
        "SANDBOX_OUTAGE": "true",
        "SANDBOX_RATE_LIMIT_STORM": "1",
        "SANDBOX_SYNTHESIZE": "yes",
        "SANDBOX_SEED": "42",
        "SANDBOX_FORBIDDEN_ENTITIES": '["cashout", "move"]',
    }.items():
        monkeypatch.setenv(name, value)
    settings = load_settings(SandboxSettings)
    assert settings.rate_limits() == RateLimits(
        units=90, window_ms=6000, max_parallel=10, application_cost=2, user_cost=8
    )
    assert settings.faults() == Faults(
        latency_ms=100,
        latency_jitter_ms=20,
        error_rate=0.1,
        timeout_rate=0.05,
        hang_ms=40000,
        outage=True,
        rate_limit_storm=True,
        synthesize=True,
        seed=42,
        forbidden_entities=["cashout", "move"],
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SANDBOX_ERROR_RATE", "1.5"),
        ("SANDBOX_TIMEOUT_RATE", "-0.1"),
        ("SANDBOX_LATENCY_MS", "slow"),
        ("SANDBOX_MAX_PARALLEL", "0"),
        ("SANDBOX_RATE_LIMIT_UNITS", "0"),
        ("SANDBOX_SYNTHESIZE", "perhaps"),
    ],
)
def test_a_bad_value_fails_naming_the_variable_not_the_value(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=variable) as refused:
        load_settings(SandboxSettings)
    assert value not in str(refused.value)


def test_a_request_cannot_cost_more_than_the_bucket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_RATE_LIMIT_UNITS", "3")
    with pytest.raises(SettingsError, match="SANDBOX_USER_TOKEN_COST"):
        load_settings(SandboxSettings)


def test_the_user_token_must_differ_from_the_application_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SANDBOX_TOKEN", "same-secret")
    monkeypatch.setenv("SANDBOX_USER_TOKEN", "same-secret")
    with pytest.raises(SettingsError, match="SANDBOX_USER_TOKEN") as refused:
        load_settings(SandboxSettings)
    assert "same-secret" not in str(refused.value)
