"""``python -m sandbox``: serve the Kladana sandbox until SIGTERM or Ctrl-C."""

import logging
import sys

from devstack.http_server import BackgroundServer
from sandbox.app import API_PREFIX, create_app
from sandbox.settings import SandboxSettings
from shared.lifecycle import stop_on_signals
from shared.logs import configure_logging
from shared.settings import load_settings_or_exit

log = logging.getLogger("sandbox")


def main() -> None:
    settings = load_settings_or_exit(SandboxSettings)
    configure_logging("sandbox", settings.log_level)
    stop = stop_on_signals()
    user_token = settings.sandbox_user_token
    app = create_app(
        token=settings.sandbox_token.get_secret_value(),
        user_token=user_token.get_secret_value() if user_token is not None else None,
        limits=settings.rate_limits(),
        faults=settings.faults(),
        msg91_webhook_url=settings.sandbox_msg91_webhook_url,
        whatsapp=settings.whatsapp(),
    )
    address = f"{settings.sandbox_host}:{settings.sandbox_port}"
    try:
        server = BackgroundServer(app, host=settings.sandbox_host, port=settings.sandbox_port)
    except OSError as error:
        sys.exit(f"sandbox: cannot listen on {address}: {error}")
    with server:
        log.info(
            "Kladana sandbox listening",
            extra={"api_url": server.url + API_PREFIX, "faults": settings.faults().model_dump()},
        )
        stop.wait()
    log.info("Kladana sandbox stopped")


if __name__ == "__main__":
    main()
