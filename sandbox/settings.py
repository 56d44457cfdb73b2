"""The sandbox's settings: where it listens, the tokens it accepts, its limits and knobs.

The knobs (``SANDBOX_LATENCY_MS`` ...) are only where the sandbox starts from: the
control endpoint ``PUT /__sandbox/faults`` changes them while it runs.
"""

from pydantic import Field, SecretStr, model_validator

from sandbox.app import DEFAULT_TOKEN
from sandbox.faults import Faults, Fraction, Milliseconds
from sandbox.limits import RateLimits
from sandbox.whatsapp import DEFAULT_APP_SECRET, DEFAULT_WHATSAPP_TOKEN, WhatsAppFake
from shared.settings import LogLevel, ServiceSettings


class SandboxSettings(ServiceSettings):
    sandbox_host: str = "127.0.0.1"
    sandbox_port: int = Field(default=8081, ge=0, le=65535)
    sandbox_token: SecretStr = SecretStr(DEFAULT_TOKEN)
    """An application token: each request costs SANDBOX_APPLICATION_TOKEN_COST units."""
    sandbox_user_token: SecretStr | None = None
    """A user token: each request costs SANDBOX_USER_TOKEN_COST units."""
    sandbox_rate_limit_units: int = Field(default=45, ge=1)
    sandbox_rate_limit_window_ms: int = Field(default=3000, ge=1)
    sandbox_application_token_cost: int = Field(default=1, ge=1)
    sandbox_user_token_cost: int = Field(default=4, ge=1)
    sandbox_max_parallel: int = Field(default=5, ge=1)
    sandbox_latency_ms: Milliseconds = 0.0
    sandbox_latency_jitter_ms: Milliseconds = 0.0
    sandbox_error_rate: Fraction = 0.0
    sandbox_timeout_rate: Fraction = 0.0
    sandbox_hang_ms: Milliseconds = 10_000.0
    sandbox_outage: bool = False
    sandbox_rate_limit_storm: bool = False
    sandbox_synthesize: bool = False
    sandbox_seed: int | None = None
    sandbox_forbidden_entities: list[str] = Field(default_factory=list)
    """A JSON list: ``SANDBOX_FORBIDDEN_ENTITIES='["cashout"]'``."""
    sandbox_msg91_webhook_url: str | None = None
    """Where the fake MSG91 posts delivery reports (the notifier's /msg91/report/<token>)."""
    sandbox_whatsapp_token: SecretStr = SecretStr(DEFAULT_WHATSAPP_TOKEN)
    """The bearer token the fake WhatsApp Cloud API accepts (the notifier's WHATSAPP_TOKEN)."""
    sandbox_whatsapp_app_secret: SecretStr = SecretStr(DEFAULT_APP_SECRET)
    """What the fake signs WhatsApp statuses with, as Meta does with the app's secret."""
    sandbox_whatsapp_webhook_url: str | None = None
    """Where the fake posts WhatsApp statuses (the notifier's /whatsapp/webhook)."""
    log_level: LogLevel = "INFO"

    @model_validator(mode="after")
    def _check_limits(self) -> "SandboxSettings":
        if max(self.sandbox_application_token_cost, self.sandbox_user_token_cost) > (
            self.sandbox_rate_limit_units
        ):
            raise ValueError(
                "SANDBOX_APPLICATION_TOKEN_COST and SANDBOX_USER_TOKEN_COST must not exceed "
                "SANDBOX_RATE_LIMIT_UNITS"
            )
        user_token = self.sandbox_user_token
        if user_token is not None and user_token == self.sandbox_token:
            raise ValueError("SANDBOX_USER_TOKEN must differ from SANDBOX_TOKEN")
        return self

    def rate_limits(self) -> RateLimits:
        return RateLimits(
            units=self.sandbox_rate_limit_units,
            window_ms=self.sandbox_rate_limit_window_ms,
            max_parallel=self.sandbox_max_parallel,
            application_cost=self.sandbox_application_token_cost,
            user_cost=self.sandbox_user_token_cost,
        )

    def whatsapp(self) -> WhatsAppFake:
        return WhatsAppFake(
            token=self.sandbox_whatsapp_token.get_secret_value(),
            app_secret=self.sandbox_whatsapp_app_secret.get_secret_value(),
            webhook_url=self.sandbox_whatsapp_webhook_url,
        )

    def faults(self) -> Faults:
        return Faults(
            latency_ms=self.sandbox_latency_ms,
            latency_jitter_ms=self.sandbox_latency_jitter_ms,
            error_rate=self.sandbox_error_rate,
            timeout_rate=self.sandbox_timeout_rate,
            hang_ms=self.sandbox_hang_ms,
            outage=self.sandbox_outage,
            rate_limit_storm=self.sandbox_rate_limit_storm,
            synthesize=self.sandbox_synthesize,
            seed=self.sandbox_seed,
            forbidden_entities=self.sandbox_forbidden_entities,
        )
