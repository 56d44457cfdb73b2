"""``python -m bench.scenario``: the whole pipeline under load and faults, then an exact
ledger. Exit status 0 only when nothing accepted was lost and no SMS was sent twice.

    python -m bench.scenario --rate 20 --duration 60 --all-faults
    python -m bench.scenario --duration 600 --rate 30 --all-faults --report docs/benchmarks.md

See docs/scenarios.md.
"""

import argparse
import json
import logging
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.scenario.documents import ScenarioDocuments
from bench.scenario.driver import Driver, Outcome
from bench.scenario.faults import FaultRunner
from bench.scenario.mix import plan_webhooks
from bench.scenario.observe import ledger_rows, overcommitted, read_topic, wait_until_quiet
from bench.scenario.reconcile import DeadLetter, reconcile
from bench.scenario.report import RunSummary, count_faults, latency, markdown, text_table
from bench.scenario.schedule import FAULT_FLAGS, fault_kinds, plan_faults
from bench.scenario.stack import (
    DEAD_LETTER_TOPIC,
    ENRICHED_TOPIC,
    INGEST_TOKEN,
    RAW_TOPIC,
    Pipeline,
    StackSettings,
)
from shared.kafka import SESSION_TIMEOUT_MS

REPORT_BEGIN = "<!-- scenario-run:begin -->"
REPORT_END = "<!-- scenario-run:end -->"


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scenario", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--rate", type=float, default=20.0, help="webhook requests per second")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of driving")
    parser.add_argument("--seed", type=int, default=1, help="seed of the mix and the faults")
    for flag in FAULT_FLAGS:
        parser.add_argument(f"--{flag}", action="store_true", help=f"inject {flag} faults")
    parser.add_argument("--all-faults", action="store_true", help="every fault above")
    parser.add_argument(
        "--drain-timeout", type=float, default=300.0, help="seconds to wait for quiet"
    )
    parser.add_argument("--kladana-units", type=int, default=150, help="sandbox units per 3 s")
    parser.add_argument("--json", action="store_true", help="print the ledger as JSON")
    parser.add_argument("--report", type=Path, help="write the numbers into this markdown file")
    parser.add_argument("--run-dir", type=Path, help="logs, spool and ledger (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary run directory")
    arguments = parser.parse_args(argv)
    if arguments.rate <= 0 or arguments.duration <= 0:
        parser.error("--rate and --duration must be positive")
    return arguments


def write_report(path: Path, section: str) -> None:
    """Replace the scenario section between its markers, or append one."""
    block = f"{REPORT_BEGIN}\n{section}\n{REPORT_END}"
    text = path.read_text() if path.exists() else ""
    if REPORT_BEGIN in text and REPORT_END in text:
        before, rest = text.split(REPORT_BEGIN, 1)
        after = rest.split(REPORT_END, 1)[1]
        path.write_text(before + block + after)
    else:
        path.write_text(text.rstrip("\n") + "\n\n" + block + "\n")


def write_outcomes(path: Path, outcomes: list[Outcome]) -> None:
    """Every request and its answer, one JSON line each, for looking into a failed run
    (the token is left out: no secret in a file)."""
    with path.open("w") as lines:
        for outcome in outcomes:
            request = outcome.request
            params = {k: v for k, v in request.params.items() if k != "token"}
            line = {
                "at_s": request.at_s,
                "label": request.label,
                "method": request.method,
                "params": params,
                "documents": request.documents,
                "sent_at": outcome.sent_at,
                "status": outcome.status,
                "reason": outcome.reason,
                "event_ids": outcome.event_ids,
                "attempts": outcome.attempts,
            }
            lines.write(json.dumps(line) + "\n")


def run(arguments: argparse.Namespace, command: str) -> int:
    flags = (
        FAULT_FLAGS
        if arguments.all_faults
        else [f for f in FAULT_FLAGS if getattr(arguments, f.replace("-", "_"))]
    )
    temporary = arguments.run_dir is None
    run_dir = arguments.run_dir or Path(tempfile.mkdtemp(prefix="kladana-scenario-"))
    print(f"scenario: run directory {run_dir}", file=sys.stderr)
    plan = plan_webhooks(
        seed=arguments.seed, rate=arguments.rate, duration_s=arguments.duration, token=INGEST_TOKEN
    )
    schedule = plan_faults(
        seed=arguments.seed,
        duration_s=arguments.duration,
        kinds=fault_kinds(flags),
        session_timeout_s=SESSION_TIMEOUT_MS / 1000,
    )
    settings = StackSettings(
        run_dir=run_dir,
        documents=ScenarioDocuments(plan.documents),
        kladana_units=arguments.kladana_units,
    )
    pipeline = Pipeline(settings)
    exit_codes: dict[str, int | None] = {}
    try:
        pipeline.start()
        print(
            f"scenario: pipeline up; {len(plan.requests)} requests, {len(schedule)} faults",
            file=sys.stderr,
        )
        faults = FaultRunner(pipeline, schedule)
        driver = Driver(pipeline.ingest_url)
        started = time.time()
        faults.start()
        outcomes = driver.drive(plan.requests)
        faults.join()
        drive_s = time.time() - started
        print("scenario: drive over, waiting for the pipeline to be quiet", file=sys.stderr)
        quiet, drain_s = wait_until_quiet(
            pipeline.bootstrap,
            pipeline.ingest_url,
            run_dir / "notifier-ledger.db",
            timeout_s=arguments.drain_timeout,
        )
        # Downstream first: should the pipeline still be moving (not quiet), an SMS is
        # then never read without the enriched event it came from.
        provider = pipeline.provider.requests
        rows = ledger_rows(run_dir / "notifier-ledger.db")
        ahead = overcommitted(pipeline.bootstrap)
        dead = [
            DeadLetter(r.value, r.headers)
            for r in read_topic(pipeline.bootstrap, DEAD_LETTER_TOPIC)
        ]
        enriched = [r.value for r in read_topic(pipeline.bootstrap, ENRICHED_TOPIC)]
        raw = [r.value for r in read_topic(pipeline.bootstrap, RAW_TOPIC)]
        died = pipeline.dead_services()
    finally:
        exit_codes = pipeline.stop()
    write_outcomes(run_dir / "requests.jsonl", outcomes)
    result = reconcile(outcomes, raw, enriched, dead, provider, rows, plan.sms)
    sent = [r.received_at for r in provider if r.status == 200]
    summary = RunSummary(
        command=command,
        seed=arguments.seed,
        rate=arguments.rate,
        duration_s=arguments.duration,
        drain_s=round(drain_s, 1),
        quiet=quiet,
        webhooks_per_s=round(result.accepted_requests / drive_s, 1),
        sms_per_s=round(len(sent) / (max(sent) - started), 2) if sent else 0.0,
        latency=latency(
            outcomes, provider, [sms for declared in plan.sms.values() for sms in declared]
        ),
        faults=count_faults(faults.records),
        fault_errors=[f"{r.fault.kind}: {r.error}" for r in faults.records if r.error],
    )
    if arguments.json:
        print(
            json.dumps(
                {
                    "ledger": result.as_dict(),
                    "summary": summary.as_dict(),
                    "exit_codes": exit_codes,
                    "overcommitted": ahead,
                    "died": died,
                },
                indent=2,
            )
        )
    else:
        print(text_table(result, summary))
    if arguments.report:
        write_report(arguments.report, markdown(result, summary))
    problems = []
    if not quiet:
        problems.append(f"the pipeline was not quiet after {arguments.drain_timeout:.0f} s")
    if died:
        problems.append(f"services exited on their own: {', '.join(died)}")
    if summary.fault_errors:
        problems.append(f"faults failed: {summary.fault_errors}")
    for problem in problems:
        print(f"scenario: {problem}", file=sys.stderr)
    if ahead:
        print(f"scenario: committed offsets past the end offsets: {ahead}", file=sys.stderr)
    unclean = {name: code for name, code in exit_codes.items() if code != 0}
    if unclean:
        # Reported, not failed: the ledger above is what the run proves.
        print(f"scenario: services that did not exit 0 on SIGTERM: {unclean}", file=sys.stderr)
    if temporary and not arguments.keep and result.ok and not problems:
        shutil.rmtree(run_dir, ignore_errors=True)
    else:
        print(f"scenario: logs kept in {run_dir}", file=sys.stderr)
    return 0 if result.ok and not problems else 1


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    command = shlex.join(["python", "-m", "bench.scenario", *argv])
    return run(parse_arguments(argv), command)


if __name__ == "__main__":
    sys.exit(main())
