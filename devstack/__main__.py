"""``make run``: the whole pipeline on this machine, SMS printed on the console.

Starts the embedded broker, creates the topics, starts the Kladana sandbox (unless
KLADANA_TOKEN is set, in which case the enricher talks to the real Kladana API) and
the three services, prints the curl command that triggers the seed example, and
stops everything on Ctrl-C or when any service exits.
"""

import os
import socket
import sys
from pathlib import Path

from devstack.broker import EmbeddedBroker, free_port, wait_for_port
from devstack.processes import ServiceProcess
from shared.lifecycle import stop_on_signals
from shared.settings import load_settings_or_exit
from shared.topics import TopicSettings, ensure_topics, pipeline_topics

SEED_DOCUMENT_ID = "34efe2ee-015e-11e6-9464-e4de0000006b"
SANDBOX_TOKEN = "sandbox-token"  # noqa: S105 - the sandbox's public demo token
LOG_DIR = Path(".devstack")


def _port(variable: str, preferred: int) -> int:
    """The port the user asked for, else ``preferred`` when free, else any free one."""
    if variable in os.environ:
        return int(os.environ[variable])
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", preferred))
        except OSError:
            return free_port()
    return preferred


def main() -> int:
    stop = stop_on_signals()
    real_kladana = bool(os.environ.get("KLADANA_TOKEN"))
    ingest_port = _port("INGEST_PORT", 8000)
    broker = EmbeddedBroker(port=_port("BROKER_PORT", 9092), log_path=LOG_DIR / "broker.log")
    LOG_DIR.mkdir(exist_ok=True)
    services: list[ServiceProcess] = []
    try:
        bootstrap = broker.start()
        environment = {
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "INGEST_PORT": str(ingest_port),
            "INGEST_SPOOL_DIR": os.environ.get("INGEST_SPOOL_DIR", str(LOG_DIR / "ingest-spool")),
            "NOTIFIER_DATABASE_URL": os.environ.get(
                "NOTIFIER_DATABASE_URL", f"sqlite:///{LOG_DIR / 'notifier-ledger.db'}"
            ),
        }
        topic_settings = load_settings_or_exit(TopicSettings)
        ensure_topics(
            bootstrap,
            pipeline_topics(topic_settings),
            partitions=topic_settings.topic_partitions,
        )
        if not real_kladana:
            sandbox_port = _port("SANDBOX_PORT", 8081)
            environment |= {
                "SANDBOX_PORT": str(sandbox_port),
                "SANDBOX_TOKEN": SANDBOX_TOKEN,
                "KLADANA_API_URL": f"http://127.0.0.1:{sandbox_port}/api/remap/1.2",
                "KLADANA_TOKEN": SANDBOX_TOKEN,
            }
            services.append(ServiceProcess("sandbox", environment, log_dir=LOG_DIR).start())
        for module in ("ingest", "enricher", "notifier"):
            services.append(ServiceProcess(module, environment, log_dir=LOG_DIR).start())
        wait_for_port("127.0.0.1", ingest_port, timeout_s=30)
        print(
            f"\nkladana-pipeline is running (broker {bootstrap}, "
            f"{'real Kladana API' if real_kladana else 'Kladana sandbox'}); "
            f"logs in {LOG_DIR}/. Trigger the seed example with:\n\n"
            f'  curl -X POST "http://127.0.0.1:{ingest_port}/webhook'
            f'?id={SEED_DOCUMENT_ID}&type=CustomerOrder"\n\n'
            "The SMS is printed here. Ctrl-C stops everything.\n",
            flush=True,
        )
        while not stop.is_set():
            exited = [s for s in services if s.exit_code() is not None]
            if exited:
                for service in exited:
                    print(
                        f"{service.module} exited with {service.exit_code()}; "
                        f"see {service.log_path}",
                        file=sys.stderr,
                    )
                return 1
            stop.wait(0.5)
        return 0
    finally:
        for service in reversed(services):
            service.stop()
        broker.stop()


if __name__ == "__main__":
    sys.exit(main())
