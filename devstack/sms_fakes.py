"""``SMS_PROVIDER=msg91 make run`` (or ``exotel``) without the provider's API URL: the
notifier sends to the sandbox's fake of that gateway, and the fake posts delivery reports
back to the notifier's port on demand (docs/sandbox.md, "SMS gateways").

Values the user set win; the rest are the sandbox's public demo credentials, a made-up DLT
registration and a report token drawn afresh for this run.
"""

import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sandbox.sms_gateways import (
    DEFAULT_EXOTEL_ACCOUNT,
    DEFAULT_MSG91_AUTH_KEY,
    EXOTEL_PREFIX,
    MSG91_PREFIX,
)

DEMO_HEADER = "KLDANA"
DEMO_ENTITY_ID = "1201100000000000001"
"""A made-up principal entity ID, shaped like the 19 digits DLT portals issue."""
API_URL_VARIABLES = {"msg91": "MSG91_API_URL", "exotel": "EXOTEL_API_URL"}


@dataclass(frozen=True)
class FakeEnvironment:
    notifier: dict[str, str]
    """Only the notifier's: its METRICS_PORT would clash with the enricher's."""
    sandbox: dict[str, str]


def sms_fake(environ: Mapping[str, str]) -> str | None:
    """The gateway whose sandbox fake this run uses; None for the others (console...)."""
    provider = environ.get("SMS_PROVIDER", "")
    variable = API_URL_VARIABLES.get(provider)
    return provider if variable is not None and not environ.get(variable) else None


def sms_fake_environment(
    provider: str, sandbox_url: str, free_port: Callable[[], int]
) -> FakeEnvironment:
    """What the notifier and the sandbox need for ``provider``'s fake."""
    given = os.environ.get
    metrics_port = given("METRICS_PORT") or str(free_port())
    token = given("SMS_REPORT_TOKEN") or secrets.token_urlsafe(24)
    notifier_url = f"http://127.0.0.1:{metrics_port}"
    environment = {
        "SMS_SENDER": given("SMS_SENDER") or DEMO_HEADER,
        "DLT_ENTITY_ID": given("DLT_ENTITY_ID") or DEMO_ENTITY_ID,
        "METRICS_PORT": metrics_port,
        "SMS_REPORT_TOKEN": token,
    }
    if provider == "msg91":
        return FakeEnvironment(
            notifier=environment
            | {
                "MSG91_API_URL": sandbox_url + MSG91_PREFIX,
                "MSG91_AUTH_KEY": given("MSG91_AUTH_KEY") or DEFAULT_MSG91_AUTH_KEY,
            },
            sandbox={"SANDBOX_MSG91_WEBHOOK_URL": f"{notifier_url}/msg91/report/{token}"},
        )
    account_sid, api_key, api_token = DEFAULT_EXOTEL_ACCOUNT
    return FakeEnvironment(
        notifier=environment
        | {
            "EXOTEL_API_URL": sandbox_url + EXOTEL_PREFIX,
            "EXOTEL_ACCOUNT_SID": given("EXOTEL_ACCOUNT_SID") or account_sid,
            "EXOTEL_API_KEY": given("EXOTEL_API_KEY") or api_key,
            "EXOTEL_API_TOKEN": given("EXOTEL_API_TOKEN") or api_token,
            "NOTIFIER_PUBLIC_URL": given("NOTIFIER_PUBLIC_URL") or notifier_url,
        },
        sandbox={},
    )
