import pytest
from pydantic import SecretStr

from shared.errors import SettingsError
from shared.settings import KafkaSettings, ServiceSettings, environment_variables, load_settings


class _WithSecret(ServiceSettings):
    api_token: SecretStr
    retries: int = 3


def test_defaults_when_the_environment_is_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in environment_variables(KafkaSettings):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(KafkaSettings)
    assert settings.kafka_bootstrap_servers == "localhost:9092"
    assert settings.raw_topic == "kladana.webhooks.raw"
    assert settings.enriched_topic == "kladana.documents.enriched"


def test_reads_upper_case_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka-1:9092, kafka-2:9093")
    monkeypatch.setenv("RAW_TOPIC", "raw")
    settings = load_settings(KafkaSettings)
    assert settings.kafka_bootstrap_servers == "kafka-1:9092,kafka-2:9093"
    assert settings.raw_topic == "raw"


def test_settings_are_frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(KafkaSettings)
    with pytest.raises(ValueError, match="frozen"):
        settings.raw_topic = "other"  # type: ignore[misc]


def test_malformed_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "no port here")
    with pytest.raises(SettingsError, match="KAFKA_BOOTSTRAP_SERVERS"):
        load_settings(KafkaSettings)


def test_missing_required_setting_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("API_TOKEN", raising=False)
    with pytest.raises(SettingsError, match="API_TOKEN: Field required"):
        load_settings(_WithSecret)


def test_error_never_echoes_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_TOKEN", "s3cr3t-value")
    monkeypatch.setenv("RETRIES", "s3cr3t-value")
    with pytest.raises(SettingsError) as raised:
        load_settings(_WithSecret)
    assert "RETRIES" in str(raised.value)
    assert "s3cr3t-value" not in str(raised.value)


def test_environment_variables_lists_every_field() -> None:
    assert environment_variables(_WithSecret) == {"API_TOKEN", "RETRIES"}


def test_an_empty_variable_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAW_TOPIC", "")
    assert load_settings(KafkaSettings).raw_topic == "kladana.webhooks.raw"


def test_log_level_is_checked_and_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_LEVEL", "debug")
    assert load_settings(KafkaSettings).log_level == "DEBUG"
    monkeypatch.setenv("LOG_LEVEL", "LOUD")
    with pytest.raises(SettingsError, match="LOG_LEVEL"):
        load_settings(KafkaSettings)
