"""What the topics job creates: partitions and retention from the environment."""

import pytest

from shared.errors import SettingsError
from shared.settings import environment_variables, load_settings
from shared.topics import TopicSettings, pipeline_topic_configs, pipeline_topics

DAY_MS = 24 * 3_600_000


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in environment_variables(TopicSettings):
        monkeypatch.delenv(name, raising=False)


def test_each_topic_keeps_what_docs_events_asks_for_and_is_never_compacted() -> None:
    configs = pipeline_topic_configs(load_settings(TopicSettings))
    assert {name: config["retention.ms"] for name, config in configs.items()} == {
        "kladana.webhooks.raw": str(7 * DAY_MS),
        "kladana.documents.enriched": str(7 * DAY_MS),
        "kladana.webhooks.retry": str(DAY_MS),
        "kladana.deadletter": str(30 * DAY_MS),
    }
    assert {config["cleanup.policy"] for config in configs.values()} == {"delete"}


def test_retention_and_partitions_follow_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETRY_RETENTION_HOURS", "48")
    monkeypatch.setenv("DEAD_LETTER_TOPIC", "my.dlq")
    monkeypatch.setenv("DEAD_LETTER_RETENTION_HOURS", "1")
    monkeypatch.setenv("TOPIC_PARTITIONS", "12")
    settings = load_settings(TopicSettings)
    configs = pipeline_topic_configs(settings)
    assert configs["kladana.webhooks.retry"]["retention.ms"] == str(2 * DAY_MS)
    assert configs["my.dlq"]["retention.ms"] == "3600000"
    assert settings.topic_partitions == 12
    assert sorted(pipeline_topics(settings)) == sorted(configs)


@pytest.mark.parametrize(
    ("variable", "value"),
    [("TOPIC_PARTITIONS", "0"), ("RAW_RETENTION_HOURS", "0"), ("ENRICHED_RETENTION_HOURS", "x")],
)
def test_a_bad_value_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=variable):
        load_settings(TopicSettings)
