"""Settings from `CITYHUB_*` environment variables: the one place configuration is read."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import os
import re
import secrets
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Well-known values that only a demo or a test may run with.
DEFAULT_SECRET_KEY = "insecure-demo-secret-key-change-me-0000000000"
DEFAULT_DATA_KEY = "Y2l0eWh1Yi1kZW1vLWRhdGEta2V5LW5vdC1zZWNyZXQ="  # base64 of 32 bytes
DEFAULT_HASH_KEY = "insecure-demo-hash-key-change-me"
# Beside a hub on port P: its provider simulators on P + 100, its worker's metrics on P + 200.
SIMULATOR_PORT_OFFSET = 100
WORKER_METRICS_PORT_OFFSET = 200


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

    # The database connection pool of each process (PostgreSQL; SQLite too, where only one
    # writer runs at a time anyway). See docs/operations.md#several-processes.
    db_pool_size: int = Field(default=10, ge=1, description="connections each process keeps")
    db_max_overflow: int = Field(
        default=10, ge=0, description="connections opened beyond the pool under a peak"
    )
    db_pool_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="how long a request waits for a free connection before it is answered 503",
    )
    db_pool_recycle_seconds: float = Field(
        default=1800.0, gt=0, description="connections older than this are replaced"
    )

    token_ttl_seconds: int = 900
    session_ttl_seconds: int = 8 * 3600
    max_body_bytes: int = 1_000_000
    embedded_worker: bool = Field(
        default=True, description="run the outbox dispatcher inside `cityhub serve`"
    )
    cache_listen: bool = Field(
        default=True,
        description="PostgreSQL: `cityhub serve` hears cache changes (LISTEN) instead of "
        "reading the cache version on every request",
    )
    outbox_poll_seconds: float = 0.5
    outbox_max_attempts: int = 12
    outbox_lease_seconds: float = Field(
        default=30.0, description="how long a dispatcher holds an event; above the webhook timeout"
    )
    outbox_batch_size: int = Field(default=50, ge=1, description="events claimed per round")
    webhook_timeout_seconds: float = 5.0
    scheduler_poll_seconds: float = Field(
        default=30.0, gt=0, description="how often `cityhub worker` looks for due jobs"
    )
    job_lease_seconds: float = Field(
        default=300.0, gt=0, description="how long a job run is held before another may take it"
    )
    hub_timezone: str = Field(
        default="Asia/Shanghai", description="the zone of the hub-wide jobs' schedules"
    )
    outbox_keep_days: int = Field(
        default=30, ge=0, description="days a carried-out outbox event is kept before pruning"
    )
    worker_metrics_port: int | None = Field(
        default=None,
        description="where `cityhub worker` serves /metrics; unset: CITYHUB_PORT + 200; 0: off",
    )
    nats_url: str | None = Field(
        default=None, description="NATS server to publish outbox events to; unset: no publishing"
    )
    nats_stream: str = Field(default="CITYHUB", description="the JetStream stream of events")
    nats_subject_prefix: str = Field(
        default="cityhub", description="events go to <prefix>.<city or hub>.<topic>"
    )
    nats_topics: str = Field(
        default="payment.*,refund.*,grant.*,lottery.drawn,appointment.offered,query.answered",
        description="comma-separated topics (a trailing * matches a prefix) that are published",
    )
    nats_timeout_seconds: float = Field(default=5.0, gt=0, description="publish ack timeout")
    log_level: str = "INFO"
    log_json: bool = True

    # Connectors to providers (see docs/connectors.md).
    simulator_port: int | None = Field(
        default=None,
        description="the port of the provider simulators; unset: CITYHUB_PORT + 100",
    )
    simulator_url: str | None = Field(
        default=None,
        description="where the provider simulators answer; unset: 127.0.0.1 on simulator_port",
    )
    sandbox_url: str | None = Field(
        default=None,
        description="where the sandbox's provider simulators answer (test credentials reach "
        "only these); unset: the simulator_url",
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

    # Guessing secrets and telling who is asking (see docs/security.md).
    trusted_proxies: str = Field(
        default="",
        description="comma-separated IP addresses or networks of the reverse proxies whose "
        "X-Forwarded-For is believed; unset: nobody's (the peer's own address counts)",
    )
    redis_url: str | None = Field(
        default=None,
        description="redis://... where attempt counters and rate-limit counters are kept; "
        "unset: in the database (attempts) and in each process (rate limits)",
    )
    sign_in_attempts: int = Field(
        default=5, ge=1, description="wrong secrets per client id or username before back-off"
    )
    sign_in_attempts_per_address: int = Field(
        default=20, ge=1, description="wrong secrets per client address before back-off"
    )
    sign_in_max_wait_seconds: int = Field(
        default=900, ge=1, description="the longest back-off; the wait doubles up to it"
    )
    # Rate limits per channel (platform/ratelimit.py): `limits` strings, e.g. 100/second;5000/hour.
    rate_limits: bool = Field(default=True, description="false: no rate limit at all")
    rate_limit: str = Field(
        default="6000/minute", description="every call of a channel (empty: none)"
    )
    rate_limit_expensive: str = Field(
        default="1200/minute",
        description="a channel's expensive calls, besides: payment confirmations, bill look-ups",
    )
    rate_limit_token: str = Field(
        default="120/minute", description="token requests per client id (or address)"
    )
    rate_limit_prefix: str = Field(
        default="cityhub-rl", max_length=60, description="the counters' key prefix in Redis"
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: str) -> str:
        for entry in _entries(value):
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"CITYHUB_TRUSTED_PROXIES: {entry!r} is not an IP address or network"
                ) from None
        return value

    @field_validator("rate_limit", "rate_limit_expensive", "rate_limit_token")
    @classmethod
    def _rate(cls, value: str) -> str:
        from limits import parse_many  # imported when a limit is set, not by every command

        if value.strip():
            try:
                parse_many(value)
            except ValueError:
                raise ValueError(
                    f"{value!r} is not a rate limit such as 6000/minute or 10/second;500/hour"
                ) from None
        return value

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

    @field_validator("hub_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @property
    def simulators_port(self) -> int:
        """The simulators' port: CITYHUB_SIMULATOR_PORT, else the hub's port + 100."""
        return self.simulator_port or self.port + SIMULATOR_PORT_OFFSET

    @property
    def sandbox_simulators_url(self) -> str:
        """Where test-mode traffic reaches the sandbox's simulators (never a live provider)."""
        return self.sandbox_url or self.simulators_url

    @property
    def simulators_url(self) -> str:
        """Where `simulator:*` connectors reach the provider simulators."""
        return self.simulator_url or f"http://127.0.0.1:{self.simulators_port}"

    @property
    def worker_metrics_listen_port(self) -> int:
        """The port of the worker's /metrics (0: none)."""
        if self.worker_metrics_port is not None:
            return self.worker_metrics_port
        return self.port + WORKER_METRICS_PORT_OFFSET

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
    def trusted_proxy_list(self) -> list[str]:
        """The addresses and networks whose X-Forwarded-For is believed."""
        return _entries(self.trusted_proxies)

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


def _entries(value: str) -> list[str]:
    return [entry.strip() for entry in value.split(",") if entry.strip()]


DEMO_KEYS_FILE = "demo-keys.json"
KEY_FIELDS = ("secret_key", "data_key", "hash_key")


def _new_demo_keys() -> dict[str, str]:
    return {
        "secret_key": secrets.token_urlsafe(48),
        "data_key": base64.b64encode(secrets.token_bytes(32)).decode(),
        "hash_key": secrets.token_urlsafe(32),
    }


def _read_or_create_keys(path: Path) -> dict[str, str]:
    """The keys in `path`, written there first (readable by its owner only) if it is absent.
    Two processes starting at once end up with the same file: the first link wins."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(_new_demo_keys(), out)
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    keys = json.loads(path.read_text())
    if not isinstance(keys, dict) or not all(isinstance(keys.get(k), str) for k in KEY_FIELDS):
        raise InsecureConfiguration(f"{path} does not hold the demo's keys; delete it")
    return {k: keys[k] for k in KEY_FIELDS}


def with_demo_keys(settings: Settings) -> Settings:
    """In demo mode, the keys that no environment variable sets come from the data folder's
    `demo-keys.json`, made of random values on the first start and reused on later ones, so
    that no two demos share a key. A data folder whose database was made before it had a key
    file keeps the well-known keys it was made with (its data is encrypted under them)."""
    if settings.env != "demo":
        return settings
    missing = [k for k in KEY_FIELDS if k not in settings.model_fields_set]
    path = settings.data / DEMO_KEYS_FILE
    legacy = (settings.data / "cityhub.sqlite3").exists() and not settings.database_url
    if not missing or (legacy and not path.exists()):
        return settings
    keys = _read_or_create_keys(path)
    return settings.model_copy(update={k: keys[k] for k in missing})


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once (with the demo's own keys in demo mode)."""
    return with_demo_keys(Settings())
