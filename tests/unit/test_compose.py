"""docker-compose.yml cannot run here (no Docker engine), so check it against the code:
every command exists, every variable it sets is one its service reads, topics agree."""

import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from enricher.settings import EnricherSettings
from ingest.settings import IngestSettings
from notifier.settings import NotifierSettings
from sandbox.settings import SandboxSettings
from shared.settings import environment_variables
from shared.topics import TopicSettings

ROOT = Path(__file__).resolve().parents[2]
SETTINGS_BY_MODULE: dict[str, type[BaseSettings]] = {
    "ingest": IngestSettings,
    "enricher": EnricherSettings,
    "notifier": NotifierSettings,
    "sandbox": SandboxSettings,
    "shared.topics": TopicSettings,
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def _our_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: spec for name, spec in compose["services"].items() if "build" in spec}


def _module(spec: dict[str, Any]) -> str:
    command = spec["command"]
    assert command[:2] == ["python", "-m"], command
    return str(command[2])


def test_kafka_is_the_official_image_in_kraft_mode(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert "controller" in kafka["environment"]["KAFKA_PROCESS_ROLES"]


def test_every_command_is_a_runnable_module(compose: dict[str, Any]) -> None:
    modules = {_module(spec) for spec in _our_services(compose).values()}
    assert modules == set(SETTINGS_BY_MODULE)
    for module in modules:
        main = module if "." in module else f"{module}.__main__"
        assert importlib.util.find_spec(main) is not None, module


def test_every_variable_set_is_read_by_its_service(compose: dict[str, Any]) -> None:
    for name, spec in _our_services(compose).items():
        settings_class = SETTINGS_BY_MODULE[_module(spec)]
        unknown = set(spec.get("environment", {})) - environment_variables(settings_class)
        assert not unknown, f"{name} sets variables it never reads: {sorted(unknown)}"


def test_topic_names_agree_across_services(compose: dict[str, Any]) -> None:
    for variable in ("RAW_TOPIC", "ENRICHED_TOPIC", "DEAD_LETTER_TOPIC"):
        values = {
            spec["environment"][variable]
            for spec in _our_services(compose).values()
            if variable in spec.get("environment", {})
        }
        assert len(values) == 1, (variable, values)


def test_consumers_can_be_scaled(compose: dict[str, Any]) -> None:
    for name in ("enricher", "notifier"):
        spec = compose["services"][name]
        assert "container_name" not in spec
        assert "ports" not in spec


def test_the_image_contains_every_package_the_commands_run() -> None:
    copied = set(re.findall(r"^COPY (\w+) \./\1$", (ROOT / "Dockerfile").read_text(), re.M))
    assert {module.split(".")[0] for module in SETTINGS_BY_MODULE} <= copied
