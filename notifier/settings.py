"""The notifier's settings, read from the environment at start-up."""

from email.utils import parseaddr
from pathlib import Path
from typing import Annotated, Literal, Self
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, Field, SecretStr, model_validator
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from notifier.addresses import first_email_address
from notifier.email_channel import parse_smtp_url
from notifier.phones import is_known_region
from shared.settings import ConsumerSettings, HttpUrl, ServiceSettings


def _region(value: str) -> str:
    region = value.strip().upper()
    if not is_known_region(region):
        raise ValueError("must be a region code phonenumbers knows, e.g. IN")
    return region


def _database_url(value: str) -> str:
    try:
        backend = make_url(value).get_backend_name()
    except ArgumentError:
        raise ValueError("must be a database URL, e.g. sqlite:///notifier-ledger.db") from None
    if backend not in ("sqlite", "postgresql"):
        raise ValueError("must name a sqlite:// or postgresql:// database")
    return value


DatabaseUrl = Annotated[str, AfterValidator(_database_url)]


class LedgerSettings(ServiceSettings):
    """What the delivery ledger and opt-outs need: the service and its operator commands
    (``ledger``, ``resolve``, ``optout``) read these."""

    notifier_database_url: DatabaseUrl = "sqlite:///notifier-ledger.db"
    notifier_stuck_after_s: float = Field(default=300.0, ge=0)
    """A row still ``sending`` after this long is stuck: its sender died mid-send."""
    default_phone_region: Annotated[str, AfterValidator(_region)] = "IN"
    notifier_opt_out_attribute: str = "SMS opt-out"
    """The counterparty attribute that, when set (yes, true, a ticked flag), stops SMS to it."""


class NotifierSettings(ConsumerSettings, LedgerSettings):
    sms_provider: Literal["console", "http", "twilio", "msg91", "exotel"] = "console"
    sms_http_url: HttpUrl | None = None
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from: str | None = None
    twilio_api_url: HttpUrl = "https://api.twilio.com"
    msg91_auth_key: SecretStr | None = None
    msg91_api_url: HttpUrl = "https://api.msg91.com"
    msg91_route: str = "4"
    """MSG91's route: 4 is transactional (service messages), 1 promotional."""
    exotel_account_sid: str | None = None
    exotel_api_key: str | None = None
    exotel_api_token: SecretStr | None = None
    exotel_api_url: HttpUrl = "https://api.exotel.com"
    """Exotel's Singapore cluster; its Mumbai cluster is https://api.in.exotel.com."""
    sms_report_token: SecretStr | None = Field(default=None, min_length=16)
    """The secret in MSG91's and Exotel's report URLs (they sign nothing); unset: no
    reports from them are taken."""
    notifier_public_url: HttpUrl | None = None
    """Where providers reach this service (METRICS_PORT, through a proxy): with it, Twilio
    is asked for status callbacks at ``<url>/twilio/status`` and Exotel at
    ``<url>/exotel/report/<SMS_REPORT_TOKEN>``; without it, none."""
    sms_timeout_s: float = Field(default=10.0, gt=0)
    """How long a call to any channel's provider (SMS gateway, WhatsApp, SMTP) may take."""
    dlt_entity_id: str | None = None
    """The shop's DLT principal entity ID (TRAI), sent with every SMS by the Indian gateways."""
    sms_sender: str | None = None
    """The DLT-registered header (sender ID) of every SMS whose rule names no ``sender``."""
    whatsapp_api_url: HttpUrl = "https://graph.facebook.com/v21.0"
    whatsapp_token: SecretStr | None = None
    """A system user's access token for the WhatsApp Business Cloud API; unset: no WhatsApp."""
    whatsapp_phone_number_id: str | None = None
    """The business phone number's id in WhatsApp Manager (not the number itself)."""
    whatsapp_app_secret: SecretStr | None = None
    """The Meta app's secret, which signs the status webhooks (X-Hub-Signature-256)."""
    whatsapp_verify_token: SecretStr | None = None
    """What the App Dashboard's webhook setup sends in ``hub.verify_token``."""
    smtp_url: SecretStr | None = None
    """``smtp://user:password@host:port`` (STARTTLS when offered) or ``smtps://...``;
    unset: no email. Secret, since it carries the password."""
    email_from: str | None = None
    """The sender of every email, e.g. ``Ganesh Traders <orders@ganeshtraders.in>``."""
    notifier_language_attribute: str = "Language"
    """The counterparty attribute that picks a rule's template language (e.g. ``hi``)."""
    notifier_rules: Path | None = None
    notify_timezone: ZoneInfo = ZoneInfo("Asia/Kolkata")
    """The zone dates are shown in to customers."""
    notifier_group_id: str = "notifier"
    notifier_send_attempts: int = Field(default=3, ge=1)
    """Provider calls per message when it answers 429/5xx or times out."""
    notifier_send_backoff_base_s: float = Field(default=0.5, gt=0)
    notifier_send_backoff_cap_s: float = Field(default=5.0, gt=0)
    notifier_documents_in_flight: int = Field(default=4, ge=1)
    """Documents handled at once per process (a slow SMS provider holds only its own)."""
    notifier_quick_retries: int = Field(default=2, ge=0)
    """In-process retries of an event whose ledger did not answer, before it is held."""
    notifier_release_interval_s: float = Field(default=5.0, gt=0)
    """How often held messages whose time has come are looked for."""
    metrics_port: int = Field(default=0, ge=0, le=65535)
    """Port of /healthz, /readyz, /metrics and providers' status callbacks; 0 serves none."""

    @model_validator(mode="after")
    def _provider_is_configured(self) -> Self:
        required: dict[str, object] = {}
        if self.sms_provider == "http":
            required = {"SMS_HTTP_URL": self.sms_http_url}
        elif self.sms_provider == "twilio":
            required = {
                "TWILIO_ACCOUNT_SID": self.twilio_account_sid,
                "TWILIO_AUTH_TOKEN": self.twilio_auth_token,
                "TWILIO_FROM": self.twilio_from,
            }
        elif self.sms_provider == "msg91":
            required = {"MSG91_AUTH_KEY": self.msg91_auth_key, "SMS_SENDER": self.sms_sender}
        elif self.sms_provider == "exotel":
            required = {
                "EXOTEL_ACCOUNT_SID": self.exotel_account_sid,
                "EXOTEL_API_KEY": self.exotel_api_key,
                "EXOTEL_API_TOKEN": self.exotel_api_token,
                "DLT_ENTITY_ID": self.dlt_entity_id,
                "SMS_SENDER": self.sms_sender,
            }
        missing = [name for name, value in required.items() if not value]
        if missing:
            raise ValueError(
                f"SMS_PROVIDER={self.sms_provider} requires {', '.join(missing)} to be set"
            )
        if self.sms_provider in ("msg91", "exotel") and len(self.sms_sender or "") != 6:
            raise ValueError("SMS_SENDER must be the 6-character header registered on DLT")
        self._channels_are_configured()
        if self.notifier_public_url and not self.metrics_port:
            raise ValueError("NOTIFIER_PUBLIC_URL requires METRICS_PORT: callbacks arrive there")
        if self.sms_report_token and not self.metrics_port:
            raise ValueError("SMS_REPORT_TOKEN requires METRICS_PORT: reports arrive there")
        if self.sms_provider == "exotel" and self.notifier_public_url and not self.sms_report_token:
            raise ValueError(
                "SMS_PROVIDER=exotel with NOTIFIER_PUBLIC_URL requires SMS_REPORT_TOKEN: "
                "it guards the status callback URL"
            )
        return self

    def _channels_are_configured(self) -> None:
        whatsapp = {
            "WHATSAPP_TOKEN": self.whatsapp_token,
            "WHATSAPP_PHONE_NUMBER_ID": self.whatsapp_phone_number_id,
            "WHATSAPP_APP_SECRET": self.whatsapp_app_secret,
            "WHATSAPP_VERIFY_TOKEN": self.whatsapp_verify_token,
        }
        given = [name for name, value in whatsapp.items() if value]
        if given and len(given) < len(whatsapp):
            # Without the webhook's two secrets no status arrives, so a number that is not on
            # WhatsApp would never fall back to the next channel.
            missing = [name for name in whatsapp if name not in given]
            raise ValueError(f"{given[0]} requires {', '.join(missing)} to be set as well")
        if given and not self.metrics_port:
            raise ValueError("WHATSAPP_TOKEN requires METRICS_PORT: status webhooks arrive there")
        if bool(self.smtp_url) != bool(self.email_from):
            raise ValueError("SMTP_URL and EMAIL_FROM are set together, or neither")
        if self.smtp_url:
            try:
                parse_smtp_url(self.smtp_url.get_secret_value())
            except ValueError as error:
                raise ValueError(f"SMTP_URL {error}") from None
        if self.email_from and not first_email_address(parseaddr(self.email_from)[1]):
            raise ValueError("EMAIL_FROM must be an address, e.g. Shop <orders@example.in>")

    @property
    def whatsapp_configured(self) -> bool:
        return self.whatsapp_token is not None

    @property
    def email_configured(self) -> bool:
        return self.smtp_url is not None
