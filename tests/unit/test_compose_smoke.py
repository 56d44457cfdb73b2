"""The compose smoke run (make compose-smoke, deploy/smoke/) replaces only what no registry
here provides, each by a stand-in named as one that keeps what the stack relies on, and its
judgements on what the stack reports hold; CI runs it after the tests.

The run itself needs root and a Docker engine: these check its files, and its checks' logic
on made-up reports."""

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tests.helpers import SEED_DOCUMENT_ID, SEED_SMS
from tests.unit.test_compose import ROOT

SMOKE = ROOT / "deploy" / "smoke"
DRIVER = "".join(
    path.read_text() for path in (SMOKE / "compose-smoke.sh", *sorted((SMOKE / "lib").glob("*.sh")))
)
"""The driver and the parts it sources."""
STANDIN = re.compile(r"^kladana-smoke/(?P<directory>[a-z]+)-standin:[a-z0-9.]+$")
HEALTHCHECKS_REPLACED = {"kafka"}
"""Services whose healthcheck names a tool of the upstream image itself (apache/kafka's
kafka-topics.sh), so that the stand-in needs its own; every other healthcheck must run as
it is in the stand-in."""


def _yaml(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    loaded: dict[str, dict[str, Any]] = _yaml(ROOT / "docker-compose.yml")["services"]
    return loaded


@pytest.fixture(scope="module")
def override() -> dict[str, dict[str, Any]]:
    loaded: dict[str, dict[str, Any]] = _yaml(SMOKE / "compose.smoke.yml")["services"]
    return loaded


@pytest.fixture(scope="module")
def checks() -> ModuleType:
    """deploy/smoke/smoke_checks.py, which is no package."""
    spec = importlib.util.spec_from_file_location("smoke_checks", SMOKE / "smoke_checks.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_override_replaces_the_upstream_images_and_nothing_else(
    services: dict[str, dict[str, Any]], override: dict[str, dict[str, Any]]
) -> None:
    upstream = {name for name, spec in services.items() if "build" not in spec}
    # Grafana has no stand-in: the run leaves it out and says so.
    assert set(override) == upstream - {"grafana"}
    for name, spec in override.items():
        replaced = {"image", "healthcheck"} if name in HEALTHCHECKS_REPLACED else {"image"}
        assert set(spec) == replaced, name


def test_every_stand_in_is_named_as_one_and_built_from_its_own_directory(
    override: dict[str, dict[str, Any]],
) -> None:
    for name, spec in override.items():
        named = STANDIN.match(spec["image"])
        assert named, f"{name}: {spec['image']} does not say it is a stand-in"
        dockerfile = (SMOKE / "images" / named["directory"] / "Dockerfile").read_text()
        # On the debootstrapped base the driver makes: never an image from a registry.
        assert re.findall(r"^FROM (.+)$", dockerfile, re.M) == ["${DEBIAN_IMAGE}"], name


def test_the_kafka_stand_in_is_checked_over_the_kafka_protocol_where_it_listens(
    services: dict[str, dict[str, Any]], override: dict[str, dict[str, Any]]
) -> None:
    test = override["kafka"]["healthcheck"]["test"]
    assert test[:4] == ["CMD", "tansu", "topic", "list"]
    port = services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"].rsplit(":", 1)[1]
    assert test[test.index("--broker") + 1] == f"tcp://localhost:{port}"


def test_the_stand_ins_keep_the_paths_the_compose_file_mounts(
    services: dict[str, dict[str, Any]],
) -> None:
    images = SMOKE / "images"
    postgres_data = services["postgres"]["volumes"][0].split(":")[1]
    assert f"PGDATA={postgres_data}" in (images / "postgres" / "Dockerfile").read_text()
    template = services["proxy"]["volumes"][0].split(":")[1]
    nginx_entrypoint = (images / "nginx" / "entrypoint.sh").read_text()
    assert f"NGINX_ENVSUBST_TEMPLATE_DIR:-{Path(template).parent}" in nginx_entrypoint
    assert "NGINX_ENVSUBST_FILTER" in nginx_entrypoint
    prometheus = (images / "prometheus" / "Dockerfile").read_text()
    for volume in services["prometheus"]["volumes"]:
        target = volume.split(":")[1]
        assert target in prometheus, target


def test_the_driver_checks_the_seed_sms_the_tests_know(
    services: dict[str, dict[str, Any]],
) -> None:
    assert f"readonly SEED_DOCUMENT_ID={SEED_DOCUMENT_ID}\n" in DRIVER
    assert f'readonly SEED_SMS="{SEED_SMS}"\n' in DRIVER
    assert f"readonly PIPELINE_IMAGE={services['ingest']['image']} " in DRIVER


def test_the_driver_is_strict_and_never_reads_a_developers_environment() -> None:
    assert "set -euo pipefail" in DRIVER
    # A developer's .env or shell could hold real tokens or another SMS provider.
    assert '--env-file "$SMOKE_DIR/smoke.env"' in DRIVER
    assert "timeout 300 env -i " in DRIVER
    smoke_env = dict(
        line.split("=", 1)
        for line in (SMOKE / "smoke.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert smoke_env["SMS_PROVIDER"] == "console"
    assert smoke_env["KLADANA_API_URL"].startswith("http://sandbox:")


def test_make_compose_smoke_runs_the_driver_and_ci_runs_it_after_the_tests() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^compose-smoke: venv\n\t.*deploy/smoke/compose-smoke\.sh$", makefile, re.M)
    phony = re.search(r"^\.PHONY:(.*)$", makefile, re.M)
    assert phony is not None
    assert "compose-smoke" in phony[1].split()
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert ci.index("make compose-smoke") > ci.index("make test")


def _assignment(*partitions: str) -> str:
    return json.dumps({"message": "partitions assigned", "partitions": list(partitions)})


def _status(tmp_path: Path, groups: list[dict[str, Any]], dead_letters: Any = ()) -> str:
    path = tmp_path / "status.json"
    path.write_text(json.dumps({"groups": groups, "dead_letters": list(dead_letters)}))
    return str(path)


def _lag(group: str, topic: str, lags: list[int]) -> dict[str, Any]:
    partitions = [{"partition": p, "lag": lag} for p, lag in enumerate(lags)]
    return {"group": group, "topic": topic, "partitions": partitions, "lag": sum(lags)}


def test_the_split_check_wants_every_partition_held_once(
    checks: ModuleType, tmp_path: Path
) -> None:
    status = _status(tmp_path, [_lag("enricher", "raw", [0, 0, 0, 0])])
    split = checks.partition_split
    held = ["e1\t" + _assignment("raw/0", "raw/1"), "e2\t" + _assignment("raw/2", "raw/3")]
    assert split("enricher", status, held) == ["e1: raw/0, raw/1", "e2: raw/2, raw/3"]
    with pytest.raises(checks.Failed, match="more than one"):
        split("enricher", status, [*held, "e3\t" + _assignment("raw/3")])
    with pytest.raises(checks.Failed, match="missing"):
        split("enricher", status, held[:1])
    with pytest.raises(checks.Failed, match="no assignment"):
        split("enricher", status, [*held, "e3\t"])


def test_the_stop_order_check_wants_the_broker_stopped_last(checks: ModuleType) -> None:
    config = yaml.safe_dump(
        {
            "services": {
                "kafka": {},
                "topics": {"depends_on": {"kafka": {"condition": "service_healthy"}}},
                "ingest": {
                    "depends_on": {"topics": {"condition": "service_completed_successfully"}}
                },
            }
        }
    )
    in_order = [
        "topics 2026-12-04T16:00:00.5Z",
        "ingest 2026-12-04T16:49:47.9Z",
        "kafka 2026-12-04T16:49:48.05Z",
    ]
    assert checks.stop_order(config, in_order)
    kafka_first = [*in_order[:2], "kafka 2026-12-04T16:49:47.12345Z"]
    # Through the topics job, which stopped long before both: it is not what counts.
    with pytest.raises(checks.Failed, match="kafka before ingest"):
        checks.stop_order(config, kafka_first)


def test_the_scrape_check_counts_the_targets_up_by_job(checks: ModuleType) -> None:
    def target(job: str, health: str) -> dict[str, Any]:
        return {"labels": {"job": job}, "health": health, "scrapeUrl": "u", "lastError": ""}

    answer = {"data": {"activeTargets": [target("enricher", "up"), target("enricher", "up")]}}
    assert checks.scrape_targets(["enricher=2"], json.dumps(answer))
    answer["data"]["activeTargets"][1]["health"] = "down"
    with pytest.raises(checks.Failed, match="expected"):
        checks.scrape_targets(["enricher=2"], json.dumps(answer))


def test_the_catch_up_and_dead_letter_checks(checks: ModuleType, tmp_path: Path) -> None:
    behind = _status(tmp_path, [_lag("notifier", "enriched", [0, 2])], [{"error": "X"}])
    with pytest.raises(checks.Failed, match="behind"):
        checks.caught_up("notifier", behind)
    with pytest.raises(checks.Failed, match="dead letters"):
        checks.no_dead_letters(behind)
    assert checks.caught_up("notifier", _status(tmp_path, [_lag("notifier", "enriched", [0])]))
