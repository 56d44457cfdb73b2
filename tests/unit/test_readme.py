"""README.md is the newcomer's map: it must name every variable the code reads."""

from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from enricher.settings import EnricherSettings
from ingest.settings import IngestSettings
from notifier.settings import NotifierSettings
from ops.pipeline_status import StatusSettings
from sandbox.settings import SandboxSettings
from shared.settings import environment_variables
from shared.topics import TopicSettings

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "settings_class",
    [
        IngestSettings,
        EnricherSettings,
        NotifierSettings,
        SandboxSettings,
        TopicSettings,
        StatusSettings,
    ],
)
def test_every_variable_is_documented(settings_class: type[BaseSettings]) -> None:
    readme = (ROOT / "README.md").read_text()
    missing = sorted(
        name for name in environment_variables(settings_class) if f"`{name}`" not in readme
    )
    assert not missing, f"README.md does not document {missing}"


def test_ci_runs_the_readme_test_command() -> None:
    assert "make test" in (ROOT / "README.md").read_text()
    assert "make test" in (ROOT / ".ci" / "run").read_text()
