"""Settings, read from the environment and an optional `.env` file.

Every knob an operator may turn lives here, documented in `.env.example`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEVELOPMENT_SECRET = "development-only-secret-change-me-before-going-live!"  # noqa: S105
MIN_SECRET_LENGTH = 32


class InsecureSettingsError(RuntimeError):
    """Raised at start-up when settings are unsafe for the chosen environment."""


class Settings(BaseSettings):
    # An empty variable (DATABASE_URL=) means "not set", not an empty value.
    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", env_file_encoding="utf-8", env_ignore_empty=True
    )

    environment: Literal["development", "test", "production"] = "development"

    # Database: DATABASE_URL is the owner's connection (runs migrations). Unset means the
    # bundled embedded PostgreSQL in DATA_DIR. The app itself always works as
    # DATABASE_APP_ROLE, a role without BYPASSRLS that owns no table, so row-level security
    # applies to every query it makes; APP_DATABASE_URL lets it log in as that role directly.
    database_url: str | None = None
    app_database_url: str | None = None
    # Used in DDL and connection options, so it must be a plain identifier.
    database_app_role: str = Field("studioloop_app", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    # A fixed pool: overflow connections are closed as soon as they are returned, so under
    # sustained load they were opened and closed again all the time, each one a new
    # PostgreSQL backend with cold caches. Measured (docs/benchmarks.md): 20 + 0 booked
    # 8-13% more per second than 10 + 10, with the same peak of 20 connections.
    database_pool_size: int = 20
    database_max_overflow: int = 0
    # While the database cannot be reached, requests answer 503 instead of waiting: a
    # request waits at most this long for a pooled connection (all in use), and a new
    # connection at most DATABASE_CONNECT_TIMEOUT (libpq's connect_timeout; one given in
    # the URL wins). A refused connection fails at once either way.
    database_pool_timeout: float = Field(10.0, gt=0)
    database_connect_timeout: int = Field(5, ge=2)
    # A streaming read replica (hot standby) of that database, for public reads that may be
    # a little stale: marketplace search and the public timetables (docs/scaling.md).
    # DATABASE_REPLICA_URL has the owner's credentials at the replica (the app switches to
    # DATABASE_APP_ROLE there too); APP_DATABASE_REPLICA_URL logs in as the app role instead.
    # Reads go back to the primary while the replica is more than REPLICA_MAX_LAG_SECONDS
    # behind (checked at most once a second per process) or unreachable.
    database_replica_url: str | None = None
    app_database_replica_url: str | None = None
    replica_max_lag_seconds: float = Field(5.0, gt=0)

    # Backups (docs/backups.md): `studioloop backup` writes to BACKUP_DIR (default
    # DATA_DIR/backups), then keeps the newest BACKUP_KEEP and none older than
    # BACKUP_KEEP_DAYS (unset: all). PG_BIN_DIR holds pg_dump/pg_restore for an external
    # server (default: PATH, then the embedded wheel's). WAL_ARCHIVE_DIR (embedded only)
    # switches on continuous WAL archiving into that directory, with a segment switch at
    # least every WAL_ARCHIVE_TIMEOUT seconds (0: when a 16 MiB segment is full).
    backup_dir: Path | None = None
    backup_keep: int | None = Field(None, ge=1)
    backup_keep_days: int | None = Field(None, ge=1)
    pg_bin_dir: Path | None = None
    wal_archive_dir: Path | None = None
    wal_archive_timeout: int = Field(0, ge=0, le=86_400)

    redis_url: str | None = None

    secret_key: SecretStr = SecretStr(DEVELOPMENT_SECRET)
    base_url: str = "http://127.0.0.1:8000"
    base_domain: str = "studioloop.localhost"
    # The operator's own terms of use and privacy notice; without them /terms and /privacy
    # show the ones that ship with StudioLoop.
    terms_url: str | None = Field(default=None, pattern=r"^https?://")
    privacy_url: str | None = Field(default=None, pattern=r"^https?://")
    data_dir: Path = Path(".data")
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Email. With no SMTP_HOST, messages are only recorded (see /dev/outbox).
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    smtp_use_tls: bool = False
    email_from: str = "StudioLoop <no-reply@studioloop.localhost>"

    # WhatsApp Cloud API (the platform's WhatsApp Business number). Offered as a channel once
    # the token and phone number id are set; the app secret checks the status webhooks.
    whatsapp_api_base: str = "https://graph.facebook.com/v21.0"
    whatsapp_access_token: SecretStr | None = None
    whatsapp_phone_number_id: str | None = None
    whatsapp_app_secret: SecretStr | None = None
    whatsapp_verify_token: SecretStr | None = None
    # SMS through a Clickatell-style HTTP gateway (POST {base}/messages, API key header).
    sms_api_base: str = "https://platform.clickatell.com"
    sms_api_key: SecretStr | None = None
    # Translations and platform wording of messages, found before the built-in templates
    # (same layout: email/<event>.txt, text/<event>.txt, <locale>/email/...).
    notification_templates_dir: Path | None = None
    # Web Push. Without VAPID_PRIVATE_KEY (PEM or base64url), a key pair is derived from
    # SECRET_KEY, so push works with no set-up and survives restarts.
    vapid_private_key: SecretStr | None = None

    # Payments. Stripe is offered to studios once STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET
    # are set (the platform's account; studios connect theirs via Stripe Connect).
    stripe_secret_key: SecretStr | None = None
    stripe_webhook_secret: SecretStr | None = None
    stripe_api_base: str = "https://api.stripe.com"
    # Files (studio logos): DATA_DIR/files, or an S3-compatible bucket when S3_BUCKET is
    # set (S3_ENDPOINT_URL for MinIO, R2 and the like; keys, or the usual AWS chain).
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None

    # Yoco (South Africa): each studio enters its own keys (stored encrypted); this is only
    # where its API is, so the tests can point it at a local fake.
    yoco_api_base: str = "https://payments.yoco.com"
    # The platform's fee on Stripe payments to connected studios, in basis points (1% = 100).
    platform_fee_basis_points: int = Field(default=0, ge=0, le=10_000)
    # The marketplace: what one universal credit pays a studio (minor units of its
    # currency) and the platform's commission on it, unless the studio's terms say
    # otherwise (docs/marketplace.md).
    marketplace_payout_rate: int = Field(default=5_000, gt=0)
    marketplace_commission_basis_points: int = Field(default=1_500, ge=0, le=9_999)
    # A Nominatim-compatible geocoder (e.g. https://nominatim.openstreetmap.org) to fill in
    # the coordinates of locations saved with an address only. Off when unset: nothing
    # needs the internet.
    geocoder_url: str | None = None
    geocoder_user_agent: str = "StudioLoop"

    # Auth.
    access_token_ttl_seconds: int = 15 * 60
    refresh_token_ttl_days: int = 30
    verification_code_ttl_minutes: int = 15
    verification_code_max_attempts: int = 5
    web_session_ttl_hours: int = 12
    invitation_ttl_days: int = 7
    # Tests switch this on: argon2's default cost (~300 ms a hash here) would dominate the
    # suite. Never enable it in production.
    password_hash_cheap: bool = False

    # Rate limits in `limits` notation.
    rate_limit_enabled: bool = True
    rate_limit_authenticated: str = "1000/hour"
    rate_limit_anonymous: str = "100/hour"
    rate_limit_sensitive: str = "10/minute;30/hour"
    # Per API key (api_keys/dependencies.py): a studio's server sends in batches, often.
    rate_limit_api_key: str = "6000/minute"

    max_request_body_bytes: int = 1_048_576
    # Chat messages one sender may send in a minute (abuse limit; the benchmark lifts it).
    chat_messages_per_minute: int = Field(30, ge=1)
    # Usage events (and their ids, which make retries harmless) are kept this many months;
    # older monthly partitions are dropped by the daily `keep_usage_partitions` job.
    usage_events_retention_months: int = Field(25, ge=2, le=1200)
    # Where a studio's usage events go when it forwards them to PostHog (tenant settings
    # `posthog_api_key` and `posthog_region`): the operator's list, never a studio's URL.
    posthog_us_host: str = "https://us.i.posthog.com"
    posthog_eu_host: str = "https://eu.i.posthog.com"
    tenant_cache_ttl_seconds: int = 300
    worker_concurrency: int = 4
    # A worker writes a heartbeat every third of this; a job still `doing` under a worker
    # whose heartbeat is older than this is stalled (its worker was killed) and is run
    # again by the `retry_stalled_jobs` periodic job (jobs/recovery.py), which runs every
    # half of this.
    job_stalled_after_seconds: int = Field(30, ge=3, le=3600)
    # Recurring classes exist as rows this many weeks ahead (a daily job extends them).
    schedule_horizon_weeks: int = Field(12, ge=1, le=104)

    # Hosts this installation answers for (comma-separated; `*.example.com` is any
    # subdomain). Unset: everything in development and test; in production the host of
    # BASE_URL, BASE_DOMAIN and its subdomains. Studios' verified custom domains are
    # always answered, whatever the list (docs/operations.md).
    allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Error reporting to Sentry (or a compatible service): off unless a DSN is set.
    sentry_dsn: str | None = None
    # Share of requests traced for performance; 0 sends errors only.
    sentry_traces_sample_rate: float = Field(0.0, ge=0.0, le=1.0)

    # A port for `studioloop worker` to serve its own /metrics on (off when unset).
    worker_metrics_port: int | None = Field(None, ge=1, le=65535)
    worker_metrics_host: str = "127.0.0.1"

    log_level: str = "INFO"
    # json: one JSON object a line; console: coloured lines for a person; auto: console
    # when stderr is a terminal, JSON otherwise. LOG_JSON (true/false) is the older form.
    log_format: Literal["auto", "json", "console"] = "auto"
    log_json: bool | None = None

    @field_validator("cors_origins", "allowed_hosts", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("base_domain")
    @classmethod
    def _normalise_domain(cls, value: str) -> str:
        return value.strip().lower().strip(".")

    @model_validator(mode="after")
    def _refuse_weak_secret(self) -> Settings:
        if self.environment == "development":
            return self
        secret = self.secret_key.get_secret_value()
        if secret == DEVELOPMENT_SECRET or len(secret) < MIN_SECRET_LENGTH:
            raise InsecureSettingsError(
                f"SECRET_KEY must be set to a random value of at least {MIN_SECRET_LENGTH} "
                f"characters when ENVIRONMENT={self.environment}; "
                'generate one with: python -c "import secrets; print(secrets.token_urlsafe(48))"'
            )
        if self.password_hash_cheap and self.environment == "production":
            raise InsecureSettingsError("PASSWORD_HASH_CHEAP must not be used in production")
        return self

    @property
    def is_development(self) -> bool:
        return self.environment == "development"

    @property
    def uses_embedded_database(self) -> bool:
        return self.database_url is None

    @property
    def log_renderer(self) -> str:
        """LOG_FORMAT if set, else what the older LOG_JSON asked for, else auto."""
        if "log_format" not in self.model_fields_set and self.log_json is not None:
            return "json" if self.log_json else "console"
        return self.log_format

    @property
    def host_patterns(self) -> list[str]:
        """ALLOWED_HOSTS, or the default for the environment (see the field)."""
        if self.allowed_hosts:
            return [host.lower() for host in self.allowed_hosts]
        if self.environment != "production":
            return ["*"]
        hosts = [self.base_domain, f"*.{self.base_domain}"]
        base_host = urlsplit(self.base_url).hostname
        if base_host and base_host not in hosts:
            hosts.insert(0, base_host.lower())
        return hosts

    @property
    def backups_dir(self) -> Path:
        return self.backup_dir or self.data_dir / "backups"

    @property
    def cookies_secure(self) -> bool:
        return not self.base_url.startswith(("http://127.0.0.1", "http://localhost"))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
