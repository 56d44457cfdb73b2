"""The compose smoke run's judgements on what the stack reports (deploy/smoke/compose-smoke.sh
collects it): each subcommand reads it, prints what it found and exits 1 when the stack is
not as it should be. The standard library and PyYAML only: it runs with the project's
virtualenv on the host, never in the images.

    services < merged compose config        name, image and origin (built or upstream)
    partition-split GROUP STATUS_JSON < lines
        each line "<replica>\\t<its last 'partitions assigned' log line>"
    caught-up GROUP STATUS_JSON              the group has consumed all its topics hold
    no-dead-letters STATUS_JSON
    scrape-targets JOB=COUNT... < targets    Prometheus' /api/v1/targets answer
    stop-order COMPOSE_CONFIG < lines        each line "<service> <container's FinishedAt>"

STATUS_JSON is what ``python -m ops.status --json`` printed.
"""

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml


class Failed(Exception):
    """The stack is not as it should be; the message says how."""


def services(compose_config: str) -> list[str]:
    """One line per service: its name, its image and whether this repository builds it."""
    specs: dict[str, dict[str, Any]] = yaml.safe_load(compose_config)["services"]
    return [
        f"{name}\t{spec.get('image', '-')}\t{'built' if 'build' in spec else 'upstream'}"
        for name, spec in sorted(specs.items())
    ]


def _status(path: str) -> dict[str, Any]:
    status: dict[str, Any] = json.loads(Path(path).read_text())
    return status


def _partitions_of(group: str, status: dict[str, Any]) -> set[str]:
    """Every partition of every topic ``group`` reads, as ``topic/partition``."""
    return {
        f"{lag['topic']}/{partition['partition']}"
        for lag in status["groups"]
        if lag["group"] == group
        for partition in lag["partitions"]
    }


def partition_split(group: str, status_path: str, assignment_lines: list[str]) -> list[str]:
    """Each replica holds some partitions, none holds one another holds, and together they
    hold every partition of the group's topics: the group split the work."""
    expected = _partitions_of(group, _status(status_path))
    if not expected:
        raise Failed(f"the status shows no partitions for group {group}")
    held: dict[str, set[str]] = {}
    for line in assignment_lines:
        replica, _, logged = line.rstrip("\n").partition("\t")
        if not logged.strip():
            raise Failed(f"{replica} has logged no assignment yet")
        held[replica] = set(json.loads(logged)["partitions"])
    owners: dict[str, list[str]] = {}
    for replica, partitions in held.items():
        if not partitions:
            raise Failed(f"{replica} holds no partition")
        for partition in partitions:
            owners.setdefault(partition, []).append(replica)
    shared = {partition: names for partition, names in owners.items() if len(names) > 1}
    if shared:
        raise Failed(f"partitions held by more than one replica: {shared}")
    if set(owners) != expected:
        raise Failed(
            f"held {sorted(owners)}, the topics have {sorted(expected)}"
            f" (missing {sorted(expected - set(owners))})"
        )
    return [f"{replica}: {', '.join(sorted(held[replica]))}" for replica in sorted(held)]


def caught_up(group: str, status_path: str) -> list[str]:
    lags = [lag for lag in _status(status_path)["groups"] if lag["group"] == group]
    if not lags:
        raise Failed(f"the status shows no group {group}")
    behind = {lag["topic"]: lag["lag"] for lag in lags if lag["lag"]}
    if behind:
        raise Failed(f"{group} is behind: {behind}")
    return [f"{group}: lag 0 on {', '.join(lag['topic'] for lag in lags)}"]


def no_dead_letters(status_path: str) -> list[str]:
    letters = _status(status_path)["dead_letters"]
    if letters:
        raise Failed(f"dead letters: {letters}")
    return ["no dead letters"]


def scrape_targets(expected_counts: list[str], targets_answer: str) -> list[str]:
    """Prometheus scrapes, and finds up, as many targets of each job as expected."""
    expected = {job: int(count) for job, count in (item.split("=") for item in expected_counts)}
    active = json.loads(targets_answer)["data"]["activeTargets"]
    up: dict[str, int] = {}
    for target in active:
        if target["health"] == "up":
            job = target["labels"]["job"]
            up[job] = up.get(job, 0) + 1
    if up != expected:
        seen = [(t["labels"]["job"], t["scrapeUrl"], t["health"], t["lastError"]) for t in active]
        raise Failed(f"targets up by job {up}, expected {expected}; all: {seen}")
    return [f"{job}: {count} up" for job, count in sorted(up.items())]


def _nanoseconds(moment: str) -> int:
    """Docker's RFC 3339 time in UTC ("2026-12-04T16:49:47.1234Z") as nanoseconds: its
    fraction has no fixed width, so the text does not sort."""
    whole, _, fraction = moment.removesuffix("Z").partition(".")
    seconds = int(datetime.fromisoformat(whole).replace(tzinfo=UTC).timestamp())
    return seconds * 10**9 + int(fraction.ljust(9, "0")[:9])


def stop_order(compose_config: str, finished_lines: list[str]) -> list[str]:
    """Every service stopped before what it depends on, directly or through a one-shot job
    (the topics job): a broker gone first would fail the services' last publishes and
    commits."""
    specs: dict[str, dict[str, Any]] = yaml.safe_load(compose_config)["services"]
    needs = {name: set(spec.get("depends_on", {})) for name, spec in specs.items()}
    one_shots = {
        dependency
        for spec in specs.values()
        for dependency, condition in spec.get("depends_on", {}).items()
        if condition.get("condition") == "service_completed_successfully"
    }
    finished: dict[str, list[int]] = {}
    for line in finished_lines:
        service, moment = line.split()
        finished.setdefault(service, []).append(_nanoseconds(moment))

    def upstream(service: str) -> set[str]:
        found: set[str] = set()
        waiting = list(needs.get(service, ()))
        while waiting:
            dependency = waiting.pop()
            if dependency not in found:
                found.add(dependency)
                waiting.extend(needs.get(dependency, ()))
        return found

    early = sorted(
        f"{dependency} before {service}"
        for service in finished.keys() - one_shots
        for dependency in upstream(service) - one_shots
        if dependency in finished and min(finished[dependency]) < max(finished[service])
    )
    if early:
        raise Failed(f"stopped before the services that depend on them: {', '.join(early)}")
    return ["every service stopped before what it depends on"]


def main(argv: list[str]) -> int:
    command, arguments = argv[0], argv[1:]
    stdin: Callable[[], str] = sys.stdin.read
    checks: dict[str, Callable[[], list[str]]] = {
        "services": lambda: services(stdin()),
        "partition-split": lambda: partition_split(
            arguments[0], arguments[1], stdin().splitlines()
        ),
        "caught-up": lambda: caught_up(arguments[0], arguments[1]),
        "no-dead-letters": lambda: no_dead_letters(arguments[0]),
        "scrape-targets": lambda: scrape_targets(arguments, stdin()),
        "stop-order": lambda: stop_order(Path(arguments[0]).read_text(), stdin().splitlines()),
    }
    try:
        lines = checks[command]()
    except Failed as failure:
        print(failure, file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
