"""``make run``: the whole pipeline on this machine, SMS printed on the console.

Starts the embedded broker, creates the topics, starts the Kladana sandbox (unless
KLADANA_TOKEN is set, in which case the enricher talks to the real Kladana API; with
SMS_PROVIDER=msg91 or exotel and no API URL of theirs, the sandbox runs anyway for its
fake of that gateway: :mod:`devstack.sms_fakes`) and
the three services, prints the curl command that triggers the seed example, and runs
until Ctrl-C (or SIGTERM) stops everything.

A service that dies is restarted (see :mod:`devstack.supervisor`): the broker keeps every
event in memory, so stopping the stack would lose the webhooks ingest already accepted.
The broker dying loses them anyway, and a new broker would be an empty cluster without
the topics: then the stack stops.
"""

import os
import socket
import sys
from pathlib import Path

from devstack.broker import EmbeddedBroker, free_port, wait_for_port
from devstack.channel_fakes import email_sink, whatsapp_fake_environment
from devstack.processes import ServiceProcess, describe_exit
from devstack.restart_policy import RestartPolicy
from devstack.sms_fakes import sms_fake, sms_fake_environment
from devstack.smtp_sink import DEFAULT_PORT as DEFAULT_SINK_PORT
from devstack.supervisor import Supervisor
from shared.lifecycle import stop_on_signals
from shared.settings import load_settings_or_exit
from shared.topics import TopicSettings, ensure_topics, pipeline_topics

SEED_DOCUMENT_ID = "34efe2ee-015e-11e6-9464-e4de0000006b"
SANDBOX_TOKEN = "sandbox-token"  # noqa: S105 - the sandbox's public demo token
LOG_DIR = Path(".devstack")
LOOPBACK = "127.0.0.1"
EVERY_INTERFACE = "0.0.0.0"  # noqa: S104 - ingest binds it only when INGEST_HOST says so


def _port(variable: str, preferred: int) -> int:
    """The port the user asked for, else ``preferred`` when free, else any free one."""
    if variable in os.environ:
        return int(os.environ[variable])
    with socket.socket() as probe:
        try:
            probe.bind((LOOPBACK, preferred))
        except OSError:
            return free_port()
    return preferred


def _local_address(host: str) -> str:
    """Where this machine reaches a server that listens on ``host``."""
    return LOOPBACK if host == EVERY_INTERFACE else host


def _say(message: str) -> None:
    print(f"devstack: {message}", file=sys.stderr, flush=True)


def _sms_line(fake: str | None, sandbox_port: int) -> str:
    if fake is None:
        return "The SMS is printed here.\n"
    status = "DELIVERED" if fake == "msg91" else "delivered"
    return (
        f"SMS go to the sandbox's fake {fake}: list them with\n\n"
        f'  curl -H "Authorization: Bearer {SANDBOX_TOKEN}" '
        f"http://{LOOPBACK}:{sandbox_port}/__sandbox/sms/{fake}/messages\n\n"
        "and have one reported delivered with\n\n"
        f'  curl -X POST -H "Authorization: Bearer {SANDBOX_TOKEN}" '
        "-H 'Content-Type: application/json' "
        f"""-d '{{"message_id": "<message_id>", "status": "{status}"}}' """
        f"http://{LOOPBACK}:{sandbox_port}/__sandbox/sms/{fake}/reports\n\n"
    )


def _channels_line(*, whatsapp_fake: bool, email_sink: bool, sandbox_port: int) -> str:
    """How to see the WhatsApp and email channels, with the fakes this run started."""
    lines = []
    if whatsapp_fake:
        control = f"http://{LOOPBACK}:{sandbox_port}/__sandbox/whatsapp"
        auth = f'-H "Authorization: Bearer {SANDBOX_TOKEN}"'
        lines.append(
            "WhatsApp messages go to the sandbox's fake Cloud API: list them with\n\n"
            f"  curl {auth} {control}/messages\n\n"
            'and make a number "not on WhatsApp" (its message fails and falls back to the'
            " rule's next channel) with\n\n"
            f"  curl -X PUT {auth} {control}/not-on-whatsapp/+919876543210\n\n"
        )
    if email_sink:
        lines.append("Emails are printed here. ")
    if lines:
        lines.append(
            "The bundled rules send SMS only; NOTIFIER_RULES=examples/rules/"
            "customer-messages.toml make run sends WhatsApp (falling back to SMS) and email.\n"
        )
    return "".join(lines)


def _banner(
    bootstrap: str, *, real_kladana: bool, ingest_host: str, ingest_url: str, sms: str
) -> str:
    if os.environ.get("INGEST_TOKEN"):
        query_end = "&token=<INGEST_TOKEN>"
        access = "requires one of the INGEST_TOKEN secrets as &token=<secret>"
    else:
        query_end = ""
        access = (
            "takes webhooks without a token (start with INGEST_TOKEN=<secret> make run "
            "to require &token=<secret> in the URL)"
        )
    reach = (
        f" only (start with INGEST_HOST={EVERY_INTERFACE} make run to take webhooks from "
        "other machines)"
        if ingest_host == LOOPBACK
        else ""
    )
    return (
        f"\nkladana-pipeline is running (broker {bootstrap}, "
        f"{'real Kladana API' if real_kladana else 'Kladana sandbox'}); "
        f"logs in {LOG_DIR}/. Trigger the seed example with:\n\n"
        f'  curl -X POST "{ingest_url}/webhook'
        f'?id={SEED_DOCUMENT_ID}&type=CustomerOrder{query_end}"\n\n'
        f"Ingest listens on {ingest_host}{reach} and {access}.\n"
        f"{sms} A service that dies is restarted. "
        "Ctrl-C stops everything.\n"
    )


def main() -> int:
    stop = stop_on_signals()
    real_kladana = bool(os.environ.get("KLADANA_TOKEN"))
    fake = sms_fake(os.environ)
    ingest_host = os.environ.get("INGEST_HOST", LOOPBACK)
    ingest_port = _port("INGEST_PORT", 8000)
    broker = EmbeddedBroker(port=_port("BROKER_PORT", 9092), log_path=LOG_DIR / "broker.log")
    LOG_DIR.mkdir(exist_ok=True)
    services = Supervisor(RestartPolicy(), say=_say)
    try:
        bootstrap = broker.start()
        _say(f"broker started (pid {broker.pid})")
        environment = {
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "INGEST_HOST": ingest_host,
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
        sandbox_port = _port("SANDBOX_PORT", 8081)
        sandbox_url = f"http://{LOOPBACK}:{sandbox_port}"
        if not real_kladana:
            environment |= {
                "KLADANA_API_URL": f"{sandbox_url}/api/remap/1.2",
                "KLADANA_TOKEN": SANDBOX_TOKEN,
            }
        notifier_port = int(os.environ.get("METRICS_PORT") or free_port())
        notifier_url = f"http://{LOOPBACK}:{notifier_port}"
        sms_fake_env = (
            sms_fake_environment(fake, sandbox_url, lambda: notifier_port) if fake else None
        )
        whatsapp_fake = whatsapp_fake_environment(os.environ, sandbox_url, notifier_url)
        fakes = [env for env in (sms_fake_env, whatsapp_fake) if env is not None]
        own: dict[str, dict[str, str]] = {"sandbox": {}, "notifier": {}}
        for fake_environment in fakes:
            own["sandbox"] |= fake_environment.sandbox
            own["notifier"] |= fake_environment.notifier | {"METRICS_PORT": str(notifier_port)}
        sink = email_sink(os.environ, _port("SMTP_SINK_PORT", DEFAULT_SINK_PORT))
        if sink is not None:
            own["notifier"] |= sink.notifier_environment(os.environ)
            services.start(
                ServiceProcess("devstack.smtp_sink", sink.environment(), log_dir=LOG_DIR)
            )
        if not real_kladana or fakes:
            environment |= {"SANDBOX_PORT": str(sandbox_port), "SANDBOX_TOKEN": SANDBOX_TOKEN}
            sandbox_environment = environment | own["sandbox"]
            services.start(ServiceProcess("sandbox", sandbox_environment, log_dir=LOG_DIR))
        for module in ("ingest", "enricher", "notifier"):
            module_environment = environment | own.get(module, {})
            services.start(ServiceProcess(module, module_environment, log_dir=LOG_DIR))
        ingest_address = _local_address(ingest_host)
        wait_for_port(ingest_address, ingest_port, timeout_s=30)
        print(
            _banner(
                bootstrap,
                real_kladana=real_kladana,
                ingest_host=ingest_host,
                ingest_url=f"http://{ingest_address}:{ingest_port}",
                sms=_sms_line(fake, sandbox_port)
                + _channels_line(
                    whatsapp_fake=whatsapp_fake is not None,
                    email_sink=sink is not None,
                    sandbox_port=sandbox_port,
                ),
            ),
            flush=True,
        )
        while not stop.is_set():
            # The broker first: services that lost it die too, and are not to be restarted.
            broker_exit = broker.exit_code()
            if broker_exit is not None:
                _say(
                    f"the broker (pid {broker.pid}) {describe_exit(broker_exit)}. It kept "
                    "every event in memory, so they are lost, and a new broker would be an "
                    "empty cluster: stopping everything; make run starts afresh."
                )
                return 1
            services.check()
            stop.wait(0.5)
        return 0
    finally:
        services.stop()
        broker.stop()


if __name__ == "__main__":
    sys.exit(main())
