"""docker-compose.yml against the code, without a Docker engine: every command exists,
every variable it sets is one its service reads, topics agree, consumers scale, every
service has a healthcheck (that it works, against a served port:
tests/integration/test_compose_healthchecks.py). `make compose-smoke` runs the stack for
real (deploy/smoke/, tests/unit/test_compose_smoke.py)."""

import importlib.util
import re
from ipaddress import IPv4Address, ip_network
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from enricher.settings import EnricherSettings
from ingest.server import gunicorn_options
from ingest.settings import IngestSettings
from notifier.settings import NotifierSettings
from sandbox.settings import SandboxSettings
from shared.settings import ConsumerSettings, environment_variables
from shared.topics import TopicSettings

ROOT = Path(__file__).resolve().parents[2]
SETTINGS_BY_MODULE: dict[str, type[BaseSettings]] = {
    "ingest": IngestSettings,
    "enricher": EnricherSettings,
    "notifier": NotifierSettings,
    "sandbox": SandboxSettings,
    "shared.topics": TopicSettings,
}
NOT_READ_YET: set[tuple[str, str]] = set()
"""(service, variable) set in compose ahead of the code that reads it; a test below says
when an entry can go."""
TOPIC_VARIABLES = ("RAW_TOPIC", "ENRICHED_TOPIC", "DEAD_LETTER_TOPIC", "ENRICHER_RETRY_TOPIC")
CONSUMERS = ("enricher", "notifier")
_DEFAULTED = re.compile(r"^\$\{(\w+):-(.*)\}$")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def our_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services built from this repository (the others are upstream images)."""
    return {name: spec for name, spec in compose["services"].items() if "build" in spec}


def module_of(spec: dict[str, Any]) -> str:
    command = spec["command"]
    assert command[:2] == ["python", "-m"], command
    return str(command[2])


def value_of(setting: object) -> str:
    """What a service gets when the variable is not set on the host: ``${X:-d}`` -> ``d``."""
    text = str(setting)
    defaulted = _DEFAULTED.match(text)
    return defaulted.group(2) if defaulted else text


def test_kafka_is_the_official_image_in_kraft_mode_and_keeps_its_data(
    compose: dict[str, Any],
) -> None:
    kafka = compose["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert "controller" in kafka["environment"]["KAFKA_PROCESS_ROLES"]
    log_dirs = kafka["environment"]["KAFKA_LOG_DIRS"]
    assert any(volume.endswith(f":{log_dirs}") for volume in kafka["volumes"])


def test_every_command_is_a_runnable_module(compose: dict[str, Any]) -> None:
    modules = {module_of(spec) for spec in our_services(compose).values()}
    assert modules == set(SETTINGS_BY_MODULE)
    for module in modules:
        main = module if "." in module else f"{module}.__main__"
        assert importlib.util.find_spec(main) is not None, module


def test_every_variable_set_is_read_by_its_service(compose: dict[str, Any]) -> None:
    for name, spec in our_services(compose).items():
        read = environment_variables(SETTINGS_BY_MODULE[module_of(spec)])
        unknown = {variable for variable in spec.get("environment", {}) if variable not in read}
        unknown -= {variable for service, variable in NOT_READ_YET if service == name}
        assert not unknown, f"{name} sets variables it never reads: {sorted(unknown)}"


def test_variables_set_ahead_of_the_code_are_still_unread(compose: dict[str, Any]) -> None:
    for name, variable in NOT_READ_YET:
        spec = compose["services"][name]
        assert variable in spec["environment"]
        assert variable not in environment_variables(SETTINGS_BY_MODULE[module_of(spec)]), (
            f"{name} now reads {variable}: remove it from NOT_READ_YET"
        )


def test_topic_names_agree_across_services_and_with_the_code(compose: dict[str, Any]) -> None:
    for variable in TOPIC_VARIABLES:
        values = {
            value_of(spec["environment"][variable])
            for spec in our_services(compose).values()
            if variable in spec.get("environment", {})
        }
        assert values == {TopicSettings.model_fields[variable.lower()].default}, variable


def test_the_topics_job_creates_what_the_consumers_read(compose: dict[str, Any]) -> None:
    job = compose["services"]["topics"]["environment"]
    assert set(TOPIC_VARIABLES) <= set(job)
    assert value_of(job["TOPIC_PARTITIONS"]) == "6"
    for variable in ("RAW", "ENRICHED", "RETRY", "DEAD_LETTER"):
        field = TopicSettings.model_fields[f"{variable.lower()}_retention_hours"]
        assert value_of(job[f"{variable}_RETENTION_HOURS"]) == str(field.default)


def test_consumers_run_two_replicas_and_can_be_scaled(compose: dict[str, Any]) -> None:
    for name, spec in compose["services"].items():
        assert "container_name" not in spec, f"{name}: a fixed name stops --scale"
    for name in CONSUMERS:
        spec = compose["services"][name]
        assert spec["deploy"]["replicas"] == 2
        assert "ports" not in spec


def test_the_replicas_share_one_kladana_budget_in_the_stacks_redis(
    compose: dict[str, Any],
) -> None:
    enricher = compose["services"]["enricher"]
    environment = {name: value_of(value) for name, value in enricher["environment"].items()}
    # Each replica is given the whole budget: the bucket in Redis is what they share.
    assert (environment["KLADANA_RATE_UNITS"], environment["KLADANA_MAX_PARALLEL"]) == ("45", "5")
    url = environment["KLADANA_LIMITER_URL"]
    assert url.startswith("redis://redis:6379/")
    EnricherSettings(kladana_token="token", kladana_limiter_url=url)  # type: ignore[arg-type]
    assert enricher["depends_on"]["redis"]["condition"] == "service_healthy"
    assert compose["services"]["redis"]["image"].startswith("redis:")
    # Should Redis go down, the replicas the stack starts fall back to shares that fit.
    assert int(environment["KLADANA_LIMITER_FALLBACK_REPLICAS"]) >= enricher["deploy"]["replicas"]


def _seconds(duration: str) -> float:
    """A compose duration as this file writes them: ``30s``."""
    assert re.fullmatch(r"\d+s", duration), duration
    return float(duration[:-1])


def test_services_get_longer_to_stop_than_their_own_shutdown_bound(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    ingest_graceful_s = gunicorn_options(IngestSettings())["graceful_timeout"]
    assert _seconds(services["ingest"]["stop_grace_period"]) > ingest_graceful_s
    for name in CONSUMERS:
        bound = value_of(services[name]["environment"]["SHUTDOWN_TIMEOUT_S"])
        assert float(bound) == ConsumerSettings.model_fields["shutdown_timeout_s"].default
        assert _seconds(services[name]["stop_grace_period"]) > float(bound), name


def _address_on(spec: dict[str, Any], network: str) -> IPv4Address:
    return IPv4Address(spec["networks"][network]["ipv4_address"])


def test_ingest_is_reached_only_through_the_proxy(compose: dict[str, Any]) -> None:
    services = compose["services"]
    ingest, proxy = services["ingest"], services["proxy"]
    assert "ports" not in ingest
    (published,) = proxy["ports"]
    assert published == f"${{INGEST_HOST_PORT:-8000}}:{proxy['environment']['INGEST_PROXY_PORT']}"
    assert set(proxy["networks"]) == {"ingest-proxy"}
    assert set(ingest["networks"]) == {"default", "ingest-proxy"}
    subnet = ip_network(compose["networks"]["ingest-proxy"]["ipam"]["config"][0]["subnet"])
    ingest_address = _address_on(ingest, "ingest-proxy")
    proxy_address = _address_on(proxy, "ingest-proxy")
    assert {ingest_address, proxy_address} <= set(subnet.hosts())
    upstream = f"{ingest_address}:{value_of(ingest['environment']['INGEST_PORT'])}"
    assert proxy["environment"]["INGEST_UPSTREAM"] == upstream
    # Ingest believes the X-Forwarded-For of the proxy, and of nothing else.
    trusted = IngestSettings(ingest_trusted_proxies=ingest["environment"]["INGEST_TRUSTED_PROXIES"])
    assert trusted.ingest_trusted_proxies == (ip_network(proxy_address),)


def test_the_proxy_refuses_the_bodies_ingest_would(compose: dict[str, Any]) -> None:
    limits = {
        value_of(compose["services"][name]["environment"]["INGEST_MAX_BODY_BYTES"])
        for name in ("ingest", "proxy")
    }
    assert limits == {str(IngestSettings.model_fields["ingest_max_body_bytes"].default)}


def test_the_proxy_fills_in_every_variable_of_its_template(compose: dict[str, Any]) -> None:
    proxy = compose["services"]["proxy"]
    (mount,) = proxy["volumes"]
    source, target, mode = mount.split(":")
    template = ROOT / source
    assert target == f"/etc/nginx/templates/{template.name}"
    assert mode == "ro"
    used = set(re.findall(r"\$\{(\w+)\}", template.read_text()))
    given = set(proxy["environment"])
    assert used == {name for name in given if name.startswith("INGEST_")}
    assert all(re.match(proxy["environment"]["NGINX_ENVSUBST_FILTER"], name) for name in used)


def test_the_notifiers_share_one_postgresql_ledger(compose: dict[str, Any]) -> None:
    notifier = compose["services"]["notifier"]
    url = value_of(notifier["environment"]["NOTIFIER_DATABASE_URL"])
    assert url.startswith("postgresql+psycopg://")
    assert "@postgres:5432/" in url
    assert compose["services"]["postgres"]["image"].startswith("postgres:")
    assert notifier["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_the_profiles_hold_the_optional_services(compose: dict[str, Any]) -> None:
    profiles = {name: spec.get("profiles", []) for name, spec in compose["services"].items()}
    assert profiles.pop("sandbox") == ["demo"]
    assert profiles.pop("prometheus") == profiles.pop("grafana") == ["observability"]
    assert not any(profiles.values()), profiles


def _one_shot_jobs(compose: dict[str, Any]) -> set[str]:
    """Services others wait on to finish: a healthcheck means nothing for them."""
    return {
        dependency
        for spec in compose["services"].values()
        for dependency, condition in spec.get("depends_on", {}).items()
        if condition["condition"] == "service_completed_successfully"
    }


def test_every_long_running_service_has_a_healthcheck(compose: dict[str, Any]) -> None:
    assert _one_shot_jobs(compose) == {"topics"}
    for name, spec in compose["services"].items():
        if name not in _one_shot_jobs(compose):
            assert spec.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"


def test_the_services_stop_before_the_broker_they_publish_to(compose: dict[str, Any]) -> None:
    # Compose stops a service before what it depends on. Through the topics job alone (long
    # exited), docker-compose 1.29 stopped Kafka while ingest was still publishing (the
    # compose smoke run, deploy/smoke/, checks the order the containers stopped in).
    for name, spec in our_services(compose).items():
        if name in _one_shot_jobs(compose) or "KAFKA_BOOTSTRAP_SERVERS" not in spec.get(
            "environment", {}
        ):
            continue
        assert spec["depends_on"]["kafka"]["condition"] == "service_healthy", name


def test_postgres_is_healthy_only_once_it_answers_over_tcp(compose: dict[str, Any]) -> None:
    # On its socket, the server the image starts alone to create the user and database
    # answers ready, then stops again; the notifiers connect over TCP.
    kind, command = compose["services"]["postgres"]["healthcheck"]["test"]
    assert kind == "CMD-SHELL"
    assert re.search(r"\bpg_isready -h localhost\b", command), command
