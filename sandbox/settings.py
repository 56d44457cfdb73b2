"""The sandbox's settings: where it listens and the token it accepts."""

from pydantic import Field, SecretStr

from sandbox.app import DEFAULT_TOKEN
from shared.settings import LogLevel, ServiceSettings


class SandboxSettings(ServiceSettings):
    sandbox_host: str = "127.0.0.1"
    sandbox_port: int = Field(default=8081, ge=0, le=65535)
    sandbox_token: SecretStr = SecretStr(DEFAULT_TOKEN)
    log_level: LogLevel = "INFO"
