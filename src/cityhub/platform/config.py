"""Settings from `CITYHUB_*` environment variables: the one place configuration is read."""

from __future__ import annotations

import base64
import binascii
import re
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Well-known values that only a demo or a test may run with.
DEFAULT_SECRET_KEY = "insecure-demo-secret-key-change-me-0000000000"
DEFAULT_DATA_KEY = "Y2l0eWh1Yi1kZW1vLWRhdGEta2V5LW5vdC1zZWNyZXQ="  # base64 of 32 bytes
DEFAULT_HASH_KEY = "insecure-demo-hash-key-change-me"


def _is_aes_key(value: str) -> bool:
    """Whether the value is base64 of exactly 32 bytes (an AES-256 key)."""
    try:
        return len(base64.b64decode(value, validate=True)) == 32
    except (binascii.Error, ValueError):
        return False


class InsecureConfiguration(RuntimeError):
    """The settings are unsafe for a production start; the message names what to set."""


class Settings(BaseSettings):
    """Everything the hub reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="CITYHUB_", extra="ignore")

    env: str = Field(default="demo", description="demo, test or production")
    data: Path = Field(default=Path("var"), description="folder for the embedded database")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy async URL; default: SQLite in the data folder"
    )
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = None

    secret_key: str = DEFAULT_SECRET_KEY
    data_key: str = Field(
        default=DEFAULT_DATA_KEY,
        description="base64 of 32 bytes: encrypts personal data at rest (AES-256-GCM)",
    )
    hash_key: str = Field(
        default=DEFAULT_HASH_KEY, description="keys the look-up hash of personal data"
    )

    token_ttl_seconds: int = 900
    session_ttl_seconds: int = 8 * 3600
    max_body_bytes: int = 1_000_000
    embedded_worker: bool = Field(
        default=True, description="run the outbox dispatcher inside `cityhub serve`"
    )
    outbox_poll_seconds: float = 0.5
    outbox_max_attempts: int = 12
    outbox_lease_seconds: float = Field(
        default=30.0, description="how long a dispatcher holds an event; above the webhook timeout"
    )
    outbox_batch_size: int = Field(default=50, ge=1, description="events claimed per round")
    webhook_timeout_seconds: float = 5.0
    log_level: str = "INFO"
    log_json: bool = True

    # Connectors to providers (see docs/connectors.md).
    simulator_url: str = Field(
        default="http://127.0.0.1:8100", description="where `cityhub simulate` answers"
    )
    sms_url: str | None = Field(
        default=None,
        description="the SMS gateway's messages endpoint base; unset: the simulator's gateway "
        "(`{simulator_url}/sms/sim-sms`)",
    )
    sms_api_key: str = Field(default="sim-sms-key", description="the SMS gateway's API key")
    sms_timeout_seconds: float = 5.0
    smtp_host: str | None = Field(
        default=None, description="the SMTP server notices are emailed through; unset: no email"
    )
    smtp_port: int = Field(default=587, description="the SMTP server's port")
    smtp_username: str | None = Field(default=None, description="SMTP login, if it needs one")
    smtp_password: str | None = Field(default=None, description="SMTP password")
    smtp_starttls: bool = Field(default=True, description="upgrade the connection with STARTTLS")
    smtp_from: str = Field(
        default="notices@cityhub.invalid", description="the From address of notice emails"
    )
    smtp_timeout_seconds: float = 10.0
    notice_fanout_chunk: int = Field(
        default=20_000, ge=1, description="inbox rows a notice's fan-out writes per transaction"
    )
    connector_allow_hosts: str = Field(
        default="",
        description="comma-separated hosts (or host:port) a connector may reach even though "
        "they resolve to loopback or private addresses, e.g. the demo's simulator",
    )
    connector_env_prefix: str = Field(
        default="CITYHUB_CONNECTOR_SECRET_",
        description="environment variables a city's connector may name as a secret start with "
        "this prefix and the city's slug: `{prefix}{CITY}__{NAME}`; no other variable is read",
    )
    connector_timeout_seconds: float = 5.0
    connector_retries: int = 2
    connector_failure_threshold: int = 5
    connector_reset_seconds: float = 30.0
    connector_max_in_flight: int = 20
    connector_max_response_bytes: int = 1_000_000
    query_cache_seconds: float = 60.0

    @field_validator("env")
    @classmethod
    def _known_env(cls, value: str) -> str:
        if value not in {"demo", "test", "production"}:
            raise ValueError("CITYHUB_ENV must be demo, test or production")
        return value

    @field_validator("connector_env_prefix")
    @classmethod
    def _env_prefix(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Z][A-Z0-9_]{3,}_", value) or value == "CITYHUB_":
            raise ValueError(
                "CITYHUB_CONNECTOR_ENV_PREFIX is upper-case letters, digits and _, ends with _ "
                "and is longer than CITYHUB_ (e.g. CITYHUB_CONNECTOR_SECRET_)"
            )
        return value

    @property
    def is_production(self) -> bool:
        """Whether unsafe defaults must be refused."""
        return self.env == "production"

    @property
    def url(self) -> str:
        """The database URL in use: the configured one or SQLite in the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data / 'cityhub.sqlite3').resolve()}"

    @property
    def connector_allowed_hosts(self) -> frozenset[str]:
        """The operator's allow-list of connector hosts, lower-cased."""
        return frozenset(
            h.strip().lower() for h in self.connector_allow_hosts.split(",") if h.strip()
        )

    @property
    def base_url(self) -> str:
        """The address people and channels reach the hub at."""
        return self.public_url or f"http://{self.host}:{self.port}"

    def check_safe(self) -> None:
        """Refuse a production start on demo secrets or the embedded database."""
        if not self.is_production:
            return
        problems = []
        if self.secret_key == DEFAULT_SECRET_KEY or len(self.secret_key) < 32:
            problems.append("CITYHUB_SECRET_KEY: set a random value of at least 32 characters")
        if self.data_key == DEFAULT_DATA_KEY or not _is_aes_key(self.data_key):
            problems.append("CITYHUB_DATA_KEY: set base64 of 32 random bytes")
        if self.hash_key == DEFAULT_HASH_KEY or len(self.hash_key) < 16:
            problems.append("CITYHUB_HASH_KEY: set a random value of at least 16 characters")
        if self.url.startswith("sqlite"):
            problems.append("CITYHUB_DATABASE_URL: set a PostgreSQL URL (postgresql+asyncpg://...)")
        if problems:
            raise InsecureConfiguration(
                "refusing to start with CITYHUB_ENV=production:\n  " + "\n  ".join(problems)
            )


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
