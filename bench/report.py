"""The benchmark's table, the machine it ran on, and its section of docs/benchmarks.md."""

import os
import platform
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.stack import Measurement

DOCS_TITLE = "# Benchmarks\n"


@dataclass(frozen=True)
class Machine:
    cpus: int
    cpu_model: str
    kernel: str
    python: str
    wrk: str

    def lines(self) -> list[str]:
        return [
            f"- CPUs: {self.cpus} x {self.cpu_model}",
            f"- Linux {self.kernel}, Python {self.python}, load generator {self.wrk}",
        ]


def describe_machine() -> Machine:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    return Machine(
        cpus=os.cpu_count() or 0,
        cpu_model=model.group(1).strip() if model else platform.processor() or "unknown",
        kernel=platform.release(),
        python=platform.python_version(),
        wrk=_wrk_version(),
    )


def _wrk_version() -> str:
    try:
        completed = subprocess.run(["wrk", "--version"], capture_output=True, text=True, timeout=5)
    except OSError:
        return "bench.pygen (wrk not installed)"
    first_line = (completed.stdout or completed.stderr).splitlines()[:1]
    return " ".join(first_line[0].split()[:2]) if first_line else "wrk"


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def table(measurements: list[Measurement], baseline_per_s: float) -> str:
    rows = [
        "| run | load | 202/s | p50 ms | p99 ms | max ms | vs no-op | 202s | on topic | dup"
        " | late |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for item in measurements:
        result, load = item.result, item.load
        shape = f"{load.connections} conn, " + (
            f"{load.rate:.0f}/s fixed" if load.rate else "closed loop"
        )
        published = "-" if item.published is None else str(item.published)
        duplicates = "-" if item.duplicates is None else str(item.duplicates)
        ratio = result.accepted_per_s / baseline_per_s if baseline_per_s else 0.0
        late = f"{result.late} (max {result.max_lag_ms:.0f} ms)" if load.rate else "-"
        rows.append(
            f"| {item.label} | {shape} | {result.accepted_per_s:.0f} | {result.p50_ms:.1f} "
            f"| {result.p99_ms:.1f} | {result.max_ms:.0f} | {ratio:.0%} | {result.accepted} "
            f"| {published} | {duplicates} | {late} |"
        )
    return "\n".join(rows)


def write_section(path: Path, heading: str, body: str) -> None:
    """Put ``## heading`` with ``body`` into the markdown file, replacing that section
    if it is there and keeping every other section."""
    text = path.read_text() if path.exists() else DOCS_TITLE
    section = f"## {heading}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(heading)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + section
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
