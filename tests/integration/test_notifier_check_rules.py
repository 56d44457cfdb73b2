"""``python -m notifier check-rules`` as a process: it needs no broker and no settings."""

import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT
from tests.unit.test_notifier_check_rules import BAD


def _check_rules(path: str) -> "subprocess.CompletedProcess[str]":
    """``python -m notifier check-rules PATH`` with nothing but PATH in its environment."""
    return subprocess.run(
        [sys.executable, "-m", "notifier", "check-rules", path],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_python_m_notifier_check_rules_needs_no_broker_or_settings(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(BAD)
    bad = _check_rules(str(path))
    assert bad.returncode == 1
    assert "rule 'big-order': unknown field {summ}" in bad.stderr
    assert "Traceback" not in bad.stderr
    good = _check_rules("examples/rules/staff-alerts.toml")
    assert (good.returncode, good.stderr) == (0, "")
    assert "staff-vip-return" in good.stdout


def test_check_rules_shows_whatsapp_and_email_without_their_settings() -> None:
    shown = _check_rules("examples/rules/customer-messages.toml")
    assert (shown.returncode, shown.stderr) == (0, "")
    assert '  whatsapp: order_shipped (en) parameters: "5643", "10.06.2024", "50,000"\n' in (
        shown.stdout
    )
    assert '  email: to counterparty email (r***@k.in), subject "Acme Traders: order 5643' in (
        shown.stdout
    )
