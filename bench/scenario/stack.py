"""The whole pipeline on this machine, as the scenario runs it.

The embedded broker (in memory: it is paused, never killed), the topics, the Kladana
sandbox serving the scenario's documents and the recording SMS provider (both real HTTP
servers in this process, so their knobs and records are at hand), ingest under
gunicorn, two enrichers and two notifiers sharing one SQLite ledger file.
"""

import logging
import signal
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from bench.scenario.provider import RecordingProvider
from bench.scenario.services import ManagedService
from devstack.broker import EmbeddedBroker, free_port
from devstack.http_server import BackgroundServer
from sandbox.app import API_PREFIX
from sandbox.app import create_app as create_sandbox
from sandbox.documents import SandboxDocuments
from sandbox.faults import Faults
from sandbox.limits import RateLimits
from sandbox.remote import SandboxControl
from shared.topics import ensure_topics

INGEST_TOKEN = "scenario-ingest-token"  # noqa: S105 - a local run's throwaway secret
KLADANA_TOKEN = "scenario-kladana-token"  # noqa: S105 - the sandbox's token
PARTITIONS = 6
# Named explicitly (not left to the services' defaults) so that a RAW_TOPIC or similar
# in the developer's shell cannot point a service elsewhere than the reconciliation.
RAW_TOPIC = "kladana.webhooks.raw"
ENRICHED_TOPIC = "kladana.documents.enriched"
DEAD_LETTER_TOPIC = "kladana.deadletter"
RETRY_TOPIC = "kladana.webhooks.retry"
RULES_PATH = Path(__file__).with_name("rules.toml")
NOTIFY_TIMEZONE = "Asia/Kolkata"
PHONE_REGION = "IN"
KLADANA_TIMEZONE = "Europe/Moscow"
OPT_OUT_ATTRIBUTE = "SMS opt-out"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StackSettings:
    run_dir: Path
    documents: SandboxDocuments
    """What the sandbox serves: any other id is a document Kladana does not have (404)."""
    kladana_units: int = 150
    """The sandbox's bucket per 3 s window, split between the two enrichers. Larger than
    Kladana's 45 so that a run's drain stays bounded; the limiter itself is measured by
    ``python -m bench.enricher_load``."""
    kladana_parallel: int = 8


def _environment(
    bootstrap: str, settings: StackSettings, sandbox_url: str, sms_url: str
) -> dict[str, str]:
    """What every service reads. Retries are quicker than the defaults so that a run
    recovers from its faults within the drain timeout, never at the cost of a loss: the
    budgets (attempts) are raised to outlast the longest fault the schedule plans."""
    return {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "LOG_LEVEL": "INFO",
        "RAW_TOPIC": RAW_TOPIC,
        "ENRICHED_TOPIC": ENRICHED_TOPIC,
        "DEAD_LETTER_TOPIC": DEAD_LETTER_TOPIC,
        "ENRICHER_RETRY_TOPIC": RETRY_TOPIC,
        "ENRICHER_GROUP_ID": "enricher",
        "NOTIFIER_GROUP_ID": "notifier",
        "RETRY_BACKOFF_BASE_S": "0.2",
        "RETRY_BACKOFF_CAP_S": "2",
        "SHUTDOWN_TIMEOUT_S": "15",
        # ingest
        "INGEST_TOKEN": INGEST_TOKEN,
        "INGEST_SPOOL_DIR": str(settings.run_dir / "ingest-spool"),
        "INGEST_WORKERS": "2",
        "INGEST_THREADS": "16",
        # enricher
        "KLADANA_API_URL": sandbox_url + API_PREFIX,
        "KLADANA_TOKEN": KLADANA_TOKEN,
        "KLADANA_RATE_UNITS": str(settings.kladana_units // 2),
        "KLADANA_MAX_PARALLEL": str(max(1, settings.kladana_parallel // 2)),
        "KLADANA_TIMEOUT_S": "5",
        "KLADANA_TIMEZONE": KLADANA_TIMEZONE,
        "ENRICHER_RETRY_DELAY_S": "1",
        "ENRICHER_RETRY_DELAY_CAP_S": "4",
        "ENRICHER_MAX_ATTEMPTS": "12",
        "ENRICHER_AUTH_RECHECK_S": "5",
        # notifier
        "NOTIFIER_DATABASE_URL": f"sqlite:///{settings.run_dir / 'notifier-ledger.db'}",
        "NOTIFIER_RULES": str(RULES_PATH),
        "NOTIFY_TIMEZONE": NOTIFY_TIMEZONE,
        "DEFAULT_PHONE_REGION": PHONE_REGION,
        "NOTIFIER_OPT_OUT_ATTRIBUTE": OPT_OUT_ATTRIBUTE,
        "SMS_PROVIDER": "http",
        "SMS_HTTP_URL": sms_url,
        "SMS_TIMEOUT_S": "5",
        # Full jitter can make 12 tries take under 7 s (seen in a run: a row `failed` in an
        # 8 s outage); 25 tries with a 3 s cap take ~30 s on average, far past 8 s.
        "NOTIFIER_SEND_ATTEMPTS": "25",
        "NOTIFIER_SEND_BACKOFF_BASE_S": "0.5",
        "NOTIFIER_SEND_BACKOFF_CAP_S": "3",
        "NOTIFIER_RELEASE_INTERVAL_S": "1",
    }


class Pipeline:
    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings
        self.broker = EmbeddedBroker(log_path=settings.run_dir / "broker.log")
        self.provider = RecordingProvider()
        self.ingest_port = free_port()
        self.services: dict[str, ManagedService] = {}
        self._servers: list[BackgroundServer] = []
        self._sandbox: BackgroundServer | None = None

    @property
    def bootstrap(self) -> str:
        return self.broker.bootstrap_servers

    @property
    def ingest_url(self) -> str:
        return f"http://127.0.0.1:{self.ingest_port}"

    @property
    def sandbox_url(self) -> str:
        assert self._sandbox is not None
        return self._sandbox.url

    def start(self) -> None:
        self.settings.run_dir.mkdir(parents=True, exist_ok=True)
        bootstrap = self.broker.start()
        topics = [RAW_TOPIC, ENRICHED_TOPIC, DEAD_LETTER_TOPIC, RETRY_TOPIC]
        ensure_topics(bootstrap, topics, partitions=PARTITIONS)
        limits = RateLimits(
            units=self.settings.kladana_units, max_parallel=self.settings.kladana_parallel
        )
        sandbox_app = create_sandbox(
            self.settings.documents, token=KLADANA_TOKEN, limits=limits, faults=Faults()
        )
        self._sandbox = BackgroundServer(sandbox_app).start()
        sms = BackgroundServer(self.provider.app()).start()
        self._servers = [self._sandbox, sms]
        environment = _environment(
            bootstrap, self.settings, self._sandbox.url, f"{sms.url}/messages"
        )
        log_dir = self.settings.run_dir / "logs"
        self.services["ingest"] = ManagedService(
            "ingest",
            "ingest",
            {**environment, "INGEST_PORT": str(self.ingest_port)},
            log_dir=log_dir,
            ready_port=lambda env: int(env["INGEST_PORT"]),
        )
        for module in ("enricher", "notifier"):
            for number in (1, 2):
                name = f"{module}-{number}"
                self.services[name] = ManagedService(name, module, environment, log_dir=log_dir)
        for service in self.services.values():
            service.start()
        for service in self.services.values():
            service.wait_ready()

    def set_kladana_faults(self, **knobs: object) -> None:
        """Change the sandbox's knobs through its control endpoint, as an operator would."""
        SandboxControl(self.sandbox_url, KLADANA_TOKEN).set_faults(**knobs)

    def pause_broker(self) -> None:
        self.broker.signal(signal.SIGSTOP)

    def resume_broker(self) -> None:
        self.broker.signal(signal.SIGCONT)

    def dead_services(self) -> list[str]:
        return [name for name, s in self.services.items() if s.exit_code() is not None]

    def stop(self) -> dict[str, int | None]:
        """Everything down, the broker last (the services commit and leave their groups)."""
        with suppress(Exception):
            self.resume_broker()
        exit_codes = {name: service.stop() for name, service in self.services.items()}
        for server in self._servers:
            with suppress(Exception):
                server.stop()
        self.broker.stop()
        return exit_codes
