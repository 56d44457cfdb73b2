"""Carries out the fault schedule against the running pipeline, and logs what it did.

Each fault runs in a thread of its own (faults of different kinds overlap), starting at
its planned second of the drive. Every fault is undone by the end of its duration: the
killed service restarted, the stalled one continued, the knobs back to normal, the
broker resumed, so the drain phase starts from a healthy pipeline.
"""

import logging
import threading
import time
from dataclasses import dataclass

from bench.scenario.schedule import Fault
from bench.scenario.stack import Pipeline
from sandbox.faults import Faults

log = logging.getLogger(__name__)

KLADANA_KNOBS: dict[str, dict[str, object]] = {
    "kladana-outage": {"outage": True},
    "kladana-latency": {"latency_ms": 1500.0, "latency_jitter_ms": 1500.0},
    "kladana-storm": {"rate_limit_storm": True},
}
KLADANA_NORMAL: dict[str, object] = Faults().model_dump(
    include={knob for knobs in KLADANA_KNOBS.values() for knob in knobs}
)
"""The sandbox's defaults for every knob a Kladana fault turns."""


@dataclass(frozen=True)
class FaultRecord:
    fault: Fault
    started_at: float
    """Seconds after the drive started, as it really happened."""
    ended_at: float
    error: str | None = None


class FaultRunner:
    def __init__(self, pipeline: Pipeline, schedule: list[Fault]) -> None:
        self._pipeline = pipeline
        self._schedule = schedule
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.records: list[FaultRecord] = []
        self._started = 0.0

    def start(self) -> None:
        self._started = time.monotonic()
        for fault in self._schedule:
            thread = threading.Thread(target=self._run, args=(fault,), name=f"fault-{fault.kind}")
            thread.start()
            self._threads.append(thread)

    def join(self) -> None:
        for thread in self._threads:
            thread.join()

    def _now(self) -> float:
        return time.monotonic() - self._started

    def _run(self, fault: Fault) -> None:
        delay = fault.at_s - self._now()
        if delay > 0:
            time.sleep(delay)
        began = self._now()
        error = None
        try:
            self._inject(fault)
        except Exception as problem:  # a fault that could not be undone must be reported
            error = f"{type(problem).__name__}: {problem}"
            log.exception("fault %s failed", fault.kind)
        with self._lock:
            self.records.append(FaultRecord(fault, round(began, 2), round(self._now(), 2), error))

    def _inject(self, fault: Fault) -> None:
        pipeline = self._pipeline
        if fault.kind == "kill":
            assert fault.target is not None
            service = pipeline.services[fault.target]
            service.kill()
            time.sleep(fault.duration_s)
            service.start()
            service.wait_ready()
        elif fault.kind == "stall":
            assert fault.target is not None
            service = pipeline.services[fault.target]
            service.pause()
            try:
                time.sleep(fault.duration_s)
            finally:
                service.resume()
        elif fault.kind in KLADANA_KNOBS:
            pipeline.set_kladana_faults(**KLADANA_KNOBS[fault.kind])
            try:
                time.sleep(fault.duration_s)
            finally:
                pipeline.set_kladana_faults(
                    **{k: KLADANA_NORMAL[k] for k in KLADANA_KNOBS[fault.kind]}
                )
        elif fault.kind == "sms-outage":
            pipeline.provider.outage.set()
            try:
                time.sleep(fault.duration_s)
            finally:
                pipeline.provider.outage.clear()
        elif fault.kind == "broker-pause":
            pipeline.pause_broker()
            try:
                time.sleep(fault.duration_s)
            finally:
                pipeline.resume_broker()
        else:
            raise ValueError(f"unknown fault kind {fault.kind}")
