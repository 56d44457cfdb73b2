from zoneinfo import ZoneInfo

import pytest

from enricher.settings import EnricherSettings, parse_entity_overrides
from shared.errors import SettingsError
from shared.settings import environment_variables, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in environment_variables(EnricherSettings):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KLADANA_TOKEN", "app-token-123")


def test_defaults() -> None:
    settings = load_settings(EnricherSettings)
    assert settings.kladana_api_url == "https://api.kladana.com/api/remap/1.2"
    assert settings.kladana_token.get_secret_value() == "app-token-123"
    assert settings.kladana_timezone == ZoneInfo("Europe/Moscow")
    assert settings.kladana_timeout_s == 30.0
    assert settings.enricher_group_id == "enricher"
    production = settings.transaction_types().by_name("ProductionTask")
    assert production is not None
    assert production.entity == "productiontask"


def test_environment_variables_read() -> None:
    assert environment_variables(EnricherSettings) >= {
        "KLADANA_API_URL",
        "KLADANA_TOKEN",
        "KLADANA_TIMEZONE",
        "KLADANA_TIMEOUT_S",
        "KLADANA_ENTITY_OVERRIDES",
        "ENRICHER_GROUP_ID",
        "RAW_TOPIC",
        "ENRICHED_TOPIC",
        "DEAD_LETTER_TOPIC",
    }


@pytest.mark.parametrize("value", [None, ""])
def test_missing_token_fails_naming_it(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    if value is None:
        monkeypatch.delenv("KLADANA_TOKEN")
    else:
        monkeypatch.setenv("KLADANA_TOKEN", value)
    with pytest.raises(SettingsError, match="KLADANA_TOKEN"):
        load_settings(EnricherSettings)


def test_token_never_shows_in_the_settings_repr() -> None:
    assert "app-token-123" not in repr(load_settings(EnricherSettings))


def test_configured_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KLADANA_API_URL", "http://127.0.0.1:8081/api/remap/1.2/")
    monkeypatch.setenv("KLADANA_TIMEZONE", "Asia/Kolkata")
    monkeypatch.setenv("KLADANA_TIMEOUT_S", "2.5")
    monkeypatch.setenv("KLADANA_ENTITY_OVERRIDES", " ProductionTask = processingorder , Move=move")
    monkeypatch.setenv("ENRICHER_GROUP_ID", "enricher-blue")
    settings = load_settings(EnricherSettings)
    assert settings.kladana_api_url == "http://127.0.0.1:8081/api/remap/1.2"
    assert settings.kladana_timezone == ZoneInfo("Asia/Kolkata")
    assert settings.kladana_timeout_s == 2.5
    assert settings.enricher_group_id == "enricher-blue"
    types = settings.transaction_types()
    assert types.by_entity("processingorder") == types.by_name("ProductionTask")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("KLADANA_TIMEZONE", "Mars/Olympus_Mons"),
        ("KLADANA_TIMEOUT_S", "0"),
        ("KLADANA_TIMEOUT_S", "soon"),
        ("KLADANA_API_URL", "api.kladana.com/api/remap/1.2"),
        ("KLADANA_API_URL", "ftp://api.kladana.com"),
        ("KLADANA_ENTITY_OVERRIDES", "Invoice=invoice"),
        ("KLADANA_ENTITY_OVERRIDES", "ProductionTask"),
        ("KLADANA_ENTITY_OVERRIDES", "ProductionTask=../counterparty"),
    ],
)
def test_bad_values_fail_start_up_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=variable):
        load_settings(EnricherSettings)


def test_unknown_override_names_the_type() -> None:
    with pytest.raises(ValueError, match="Invoice"):
        parse_entity_overrides("ProductionTask=processingorder,Invoice=invoice")


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("", {}),
        (" , ", {}),
        ("ProductionTask=processingorder", {"ProductionTask": "processingorder"}),
        ("Move=move,CashIn=cashin", {"Move": "move", "CashIn": "cashin"}),
    ],
)
def test_overrides_parse(text: str, parsed: dict[str, str]) -> None:
    assert parse_entity_overrides(text) == parsed
