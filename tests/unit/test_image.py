"""The Dockerfile builds from the lock file, and the lock cannot fall behind pyproject.toml."""

import importlib.metadata
import re
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.unit.test_compose import ROOT, SETTINGS_BY_MODULE

DOCKERFILE = (ROOT / "Dockerfile").read_text()
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", re.M)


def _locked() -> dict[str, str]:
    text = (ROOT / "requirements.lock").read_text()
    return {canonicalize_name(name): version for name, version in _PIN.findall(text)}


def _runtime_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(line) for line in project["dependencies"]]


def _extra_requirements(requirement: Requirement) -> list[Requirement]:
    """What ``package[extra]`` adds, from the installed package's metadata."""
    added = []
    for line in importlib.metadata.requires(requirement.name) or []:
        needed = Requirement(line)
        marker = needed.marker
        if marker is None or marker.evaluate({"extra": ""}):
            continue  # needed without any extra: not what the extras add
        if any(marker.evaluate({"extra": extra}) for extra in requirement.extras):
            added.append(needed)
    return added


def test_every_runtime_dependency_is_pinned_within_its_range() -> None:
    locked = _locked()
    for requirement in _runtime_requirements():
        for needed in [requirement, *_extra_requirements(requirement)]:
            version = locked.get(canonicalize_name(needed.name))
            assert version is not None, f"{needed.name} is not in requirements.lock"
            assert needed.specifier.contains(version, prereleases=True), (
                f"requirements.lock pins {needed.name}=={version} outside {needed.specifier}:"
                " regenerate it (README.md, 'Running with docker compose')"
            )


def test_every_pin_carries_its_hashes() -> None:
    entries = re.split(r"\n(?=[A-Za-z0-9])", (ROOT / "requirements.lock").read_text())
    pinned = [entry for entry in entries if _PIN.match(entry)]
    assert pinned
    assert all("--hash=sha256:" in entry for entry in pinned)


def test_the_image_installs_the_lock_alone_then_the_project_without_resolving() -> None:
    assert "pip install --require-hashes --no-deps -r requirements.lock" in DOCKERFILE
    assert "pip install --no-deps ." in DOCKERFILE


def test_the_image_runs_as_a_user_other_than_root() -> None:
    final_stage = DOCKERFILE.rsplit("\nFROM ", 1)[1]
    (user,) = re.findall(r"^USER (\S+)$", final_stage, re.M)
    assert user not in ("root", "0")


def test_the_image_contains_every_package_the_commands_run() -> None:
    copied = set(re.findall(r"^COPY (\w+) \./\1$", DOCKERFILE, re.M))
    assert {module.split(".")[0] for module in SETTINGS_BY_MODULE} <= copied


def test_the_build_context_lets_through_what_the_dockerfile_copies() -> None:
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    sources = re.findall(r"^COPY (?!--)(\S+) ", DOCKERFILE, re.M)
    assert sources
    for source in sources:
        assert f"!{source}" in ignore[ignore.index("*") :], source


def test_both_stages_start_from_python_image_which_is_the_slim_python_by_default() -> None:
    # `make compose-smoke` builds on a local Python 3.11 (deploy/smoke/); what users build
    # stays python:3.11-slim.
    assert re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", DOCKERFILE, re.M) == ["python:3.11-slim"]
    assert re.findall(r"^FROM (\S+) AS", DOCKERFILE, re.M) == ["${PYTHON_IMAGE}"] * 2


def test_pip_reads_pypi_unless_a_build_offers_it_a_wheelhouse() -> None:
    build_stage = DOCKERFILE.split("\nFROM ")[1]
    # Declared without a value: unset in every build that does not pass them.
    for argument in ("PIP_FIND_LINKS", "PIP_NO_INDEX"):
        assert re.search(rf"^ARG {argument}$", build_stage, re.M), argument
    assert "PIP_CERT" not in DOCKERFILE  # no CA bundle or credential is ever baked in


def test_the_dockerfile_builds_without_buildkit() -> None:
    # docker-compose 1.29 builds with the engine's classic builder, which knows no
    # `RUN --mount` (build secrets, caches) and fetches no `# syntax=` frontend.
    assert "--mount" not in DOCKERFILE
    assert not re.search(r"^#\s*syntax=", DOCKERFILE, re.M)
