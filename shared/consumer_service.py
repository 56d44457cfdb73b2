"""A consumer service around the runtime: its wiring (:func:`open_runtime`) and its ``main``
(:func:`run_until_signalled`), the same for the enricher and the notifier."""

import logging
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from kafka.errors import KafkaError

from shared.consumer_runtime import ConsumerRuntime, ReportsReadiness
from shared.kafka import Publisher, create_consumer, create_producer
from shared.lifecycle import stop_on_signals
from shared.metrics import ConsumerMetrics, default_consumer_metrics
from shared.retry_topic import RetryPolicy
from shared.settling import Destinations, Handler, Settler

log = logging.getLogger(__name__)

PUBLISH_ACK_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class RuntimeConfig:
    """Where a consumer reads, how it retries and how many keys it settles at once."""

    bootstrap_servers: str
    group_id: str
    topics: tuple[str, ...]
    dead_letter_topic: str
    policy: RetryPolicy
    keys_in_flight: int
    halt_recheck_s: float = 0.0


@contextmanager
def open_runtime(
    config: RuntimeConfig,
    make_handler: Callable[[Publisher], Handler],
    stop: threading.Event,
    readiness: ReportsReadiness,
    *,
    metrics: ConsumerMetrics | None = None,
) -> Iterator[ConsumerRuntime]:
    """A runtime ready to ``run()`` until ``stop`` is set; closes what it opened.

    ``make_handler`` receives the runtime's publisher, for handlers that publish beside
    their outputs. The retry topic, when the policy names one, is consumed too.
    """
    metrics = metrics or default_consumer_metrics()
    publisher = Publisher(
        create_producer(config.bootstrap_servers), ack_timeout_s=PUBLISH_ACK_TIMEOUT_S
    )
    pool = ThreadPoolExecutor(max_workers=config.keys_in_flight, thread_name_prefix="consumer")
    retry_topic = config.policy.retry_topic
    try:
        settler = Settler(
            config.policy,
            Destinations(config.dead_letter_topic, config.group_id),
            metrics,
            wait=stop.wait,
        )
        consumer = create_consumer(
            config.bootstrap_servers,
            group_id=config.group_id,
            topic=[*config.topics, *([retry_topic] if retry_topic else [])],
        )
        yield ConsumerRuntime(
            consumer,
            make_handler(publisher),
            settler,
            publisher,
            pool,
            readiness,
            stop,
            policy=config.policy,
            halt_recheck_s=config.halt_recheck_s,
            metrics=metrics,
        )
    finally:
        pool.shutdown(wait=True)
        publisher.close()


class Runnable(Protocol):
    def run(self) -> None: ...


def run_until_signalled(
    service: str,
    bootstrap_servers: str,
    open_loop: Callable[[threading.Event], AbstractContextManager[Runnable]],
    details: dict[str, Any],
    *,
    shutdown_timeout_s: float,
) -> None:
    """A consumer service's ``main``: run until SIGTERM or SIGINT, then return (exit 0).

    After the signal the runtime finishes, publishes and commits the records in hand and
    leaves the group; if that outlasts ``shutdown_timeout_s`` the process exits with
    :data:`~shared.lifecycle.SHUTDOWN_TIMED_OUT` instead. A broker that cannot be reached
    at all ends the process with a one-line message (no traceback) and a non-zero status,
    for the supervisor to restart it.
    """
    stop = stop_on_signals(shutdown_timeout_s)
    try:
        with open_loop(stop) as loop:
            log.info(f"{service} started", extra=details)
            loop.run()
    except KafkaError as error:
        sys.exit(f"{service}: Kafka at {bootstrap_servers} failed: {type(error).__name__}")
    log.info(f"{service} stopped")
