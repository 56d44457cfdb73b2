"""Ingest's settings and how they become gunicorn's configuration."""

from pathlib import Path

import pytest
from gunicorn.workers.gthread import ThreadWorker

from ingest.server import IngestServer, JsonLogger, gunicorn_options
from ingest.settings import (
    ANSWER_DEADLINE_MS,
    ANSWER_MARGIN_MS,
    SPOOL_WRITE_RESERVE_MS,
    IngestSettings,
)
from ingest.worker import JsonErrorWorker
from shared.errors import SettingsError
from shared.settings import environment_variables, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in environment_variables(IngestSettings):
        monkeypatch.delenv(name, raising=False)


def test_defaults() -> None:
    settings = load_settings(IngestSettings)
    assert settings.ingest_port == 8000
    assert settings.ingest_token is None
    assert settings.ingest_publish_budget_ms == 500
    assert settings.publish_budget_s == 0.5
    assert settings.ingest_spool_dir == Path(".ingest-spool")
    assert settings.drain_interval_s == 1.0
    assert settings.ingest_workers == 2
    assert settings.ingest_threads == 32
    assert settings.raw_topic == "kladana.webhooks.raw"


def test_environment_variables_read() -> None:
    assert environment_variables(IngestSettings) >= {
        "INGEST_PORT",
        "INGEST_TOKEN",
        "INGEST_PUBLISH_BUDGET_MS",
        "INGEST_SPOOL_DIR",
        "INGEST_DRAIN_INTERVAL_MS",
        "INGEST_WORKERS",
        "INGEST_THREADS",
        "KAFKA_BOOTSTRAP_SERVERS",
        "RAW_TOPIC",
    }


def test_configured_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INGEST_PORT", "9000")
    monkeypatch.setenv("INGEST_TOKEN", "s3cret")
    monkeypatch.setenv("INGEST_PUBLISH_BUDGET_MS", "250")
    monkeypatch.setenv("INGEST_SPOOL_DIR", "/var/lib/ingest/spool")
    monkeypatch.setenv("INGEST_DRAIN_INTERVAL_MS", "200")
    monkeypatch.setenv("INGEST_WORKERS", "3")
    monkeypatch.setenv("INGEST_THREADS", "8")
    settings = load_settings(IngestSettings)
    assert settings.ingest_port == 9000
    assert settings.ingest_token is not None
    assert settings.ingest_token.get_secret_value() == "s3cret"
    assert settings.publish_budget_s == 0.25
    assert settings.ingest_spool_dir == Path("/var/lib/ingest/spool")
    assert settings.drain_interval_s == 0.2
    assert (settings.ingest_workers, settings.ingest_threads) == (3, 8)
    assert "s3cret" not in repr(settings)


def test_an_empty_token_means_no_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INGEST_TOKEN", "")
    assert load_settings(IngestSettings).ingest_token is None


def test_an_empty_token_cannot_be_configured_directly() -> None:
    with pytest.raises(ValueError, match="ingest_token"):
        IngestSettings(ingest_token="")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("INGEST_PORT", "abc"),
        ("INGEST_PORT", "0"),
        ("INGEST_PORT", "65536"),
        ("INGEST_PORT", "-1"),
        ("INGEST_PUBLISH_BUDGET_MS", "0"),
        ("INGEST_PUBLISH_BUDGET_MS", "soon"),
        ("INGEST_PUBLISH_BUDGET_MS", "1001"),
        ("INGEST_DRAIN_INTERVAL_MS", "0"),
        ("INGEST_WORKERS", "0"),
        ("INGEST_THREADS", "-2"),
    ],
)
def test_malformed_values_fail_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=variable) as caught:
        load_settings(IngestSettings)
    assert f"'{value}'" not in str(caught.value)


@pytest.mark.parametrize("budget_ms", [50, 500, 1000])
def test_the_budget_leaves_the_spool_its_time_within_kladanas_deadline(budget_ms: int) -> None:
    settings = IngestSettings(ingest_publish_budget_ms=budget_ms)
    spool_ms = settings.spool_write_timeout_s * 1000
    assert spool_ms >= SPOOL_WRITE_RESERVE_MS - ANSWER_MARGIN_MS
    assert budget_ms + spool_ms + ANSWER_MARGIN_MS == pytest.approx(ANSWER_DEADLINE_MS)
    assert ANSWER_DEADLINE_MS == 1500


@pytest.mark.parametrize("budget_ms", [49, 1001])
def test_a_budget_outside_its_bounds_is_refused(budget_ms: int) -> None:
    with pytest.raises(ValueError, match="ingest_publish_budget_ms"):
        IngestSettings(ingest_publish_budget_ms=budget_ms)


@pytest.mark.parametrize("port", ["1", "65535"])
def test_port_bounds_are_inclusive(monkeypatch: pytest.MonkeyPatch, port: str) -> None:
    monkeypatch.setenv("INGEST_PORT", port)
    assert load_settings(IngestSettings).ingest_port == int(port)


def test_gunicorn_runs_gthread_workers_from_the_settings() -> None:
    settings = IngestSettings(ingest_port=9123, ingest_workers=3, ingest_threads=5)
    options = gunicorn_options(settings)
    assert options["bind"] == ["0.0.0.0:9123"]
    assert issubclass(options["worker_class"], ThreadWorker)
    assert (options["workers"], options["threads"]) == (3, 5)
    # Each worker must build its Kafka producer after the fork.
    assert options["preload_app"] is False


def test_gunicorn_accepts_the_configuration() -> None:
    settings = IngestSettings(
        ingest_port=9123, ingest_workers=3, ingest_threads=5, log_level="debug"
    )
    config = IngestServer(settings).cfg
    assert config.bind == ["0.0.0.0:9123"]
    assert config.worker_class is JsonErrorWorker
    assert (config.workers, config.threads) == (3, 5)
    assert config.preload_app is False
    assert config.loglevel == "debug"
    assert config.logger_class is JsonLogger
    # On, as JSON lines through JsonLogger.access, which masks the tokens.
    assert config.accesslog == "-"
