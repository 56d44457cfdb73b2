"""The scenario runner's short run as a test: a minute of webhooks with every fault on,
then the exact ledger. It runs ``python -m bench.scenario`` as a process, as a user does,
with a broker of its own (the runner pauses it, so it cannot be the session's)."""

import json
import subprocess
import sys

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.e2e

COMMAND = [
    sys.executable,
    "-m",
    "bench.scenario",
    "--duration",
    "60",
    "--rate",
    "20",
    "--seed",
    "7",
    "--all-faults",
    "--drain-timeout",
    "90",
    "--json",
]


@pytest.mark.timeout(290)
def test_a_minute_of_webhooks_under_every_fault_loses_and_duplicates_nothing() -> None:
    finished = subprocess.run(
        COMMAND, cwd=ROOT, capture_output=True, text=True, timeout=280, check=False
    )
    assert finished.returncode == 0, finished.stdout[-6000:] + finished.stderr[-6000:]
    result = json.loads(finished.stdout)
    ledger, summary = result["ledger"], result["summary"]
    assert ledger["ok"]
    assert ledger["raw_missing"] == []
    assert ledger["enrich_missing"] == []
    # The SMS are held to what the runner declared, not to what the notifier computes.
    assert ledger["sms_missing"] == {}
    assert ledger["sms_unexpected"] == []
    assert ledger["sms_duplicates"] == 0
    # The run proved something: webhooks of every kind went through, SMS went out, and
    # the faults really happened.
    assert ledger["accepted_events"] > 500
    assert sum(ledger["rejected"].values()) > 20
    assert ledger["sms_sent"] > 100
    assert ledger["sms_sent"] + len(ledger["sms_stuck"]) == ledger["sms_expected"]
    assert sum(ledger["dead_lettered"].values()) > 0  # ids Kladana does not know
    faults = summary["faults"]
    assert faults.get("kill", 0) >= 2
    assert faults.get("kill:ingest", 0) >= 1
    for kind in ("stall", "broker-pause", "sms-outage", "kladana-outage", "kladana-storm"):
        assert faults.get(kind, 0) >= 1, kind
    assert summary["fault_errors"] == []
