"""One typed Settings object, read once from the environment (12-factor).

Variable names follow PLATFORM.md (the seed's names) plus a few of ours with defaults.
`Settings.from_environ` validates everything at once and raises `ConfigError` whose
message names every bad or missing variable, so `penvoice serve` can fail fast.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from email.utils import parseaddr
from typing import Annotated, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

LogLevel = Literal["debug", "info", "warning", "error"]
SmtpSecurity = Literal["starttls", "tls", "none"]


class ConfigError(Exception):
    """Configuration is missing or malformed; the message lists every offending variable."""


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    db_url: SecretStr
    kc_issuer: str
    kc_audience: Annotated[str, Field(min_length=1)]
    kc_api_client_secret: SecretStr | None = None
    kc_api_client_id: Annotated[str, Field(min_length=1)] = "penvoice-api"
    kc_api_client_auth_method: Literal["client_secret_post", "client_secret_basic"] = (
        "client_secret_post"
    )
    cors_origins: tuple[str, ...] = ()
    host: str = "0.0.0.0"  # noqa: S104 - a container listens on all interfaces
    port: Annotated[int, Field(ge=1, le=65535)] = 8080
    log_level: LogLevel = "info"
    db_pool_max_size: Annotated[int, Field(ge=1, le=100)] = 10
    db_pool_timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 2.0
    db_statement_timeout_ms: Annotated[int, Field(ge=100, le=600_000)] = 5_000
    # A request's transaction only waits on its own statements (it commits before the response
    # is sent); an export or render never holds one at the client's pace. A session idle in a
    # transaction this long is ended by PostgreSQL: its locks and snapshot go with it. Between
    # two statements a handler waits only for the event loop, but that wait can reach seconds
    # on a starved CPU: at 5 s, a test of 108 concurrent finalizations lost sessions
    # mid-transaction twice on a 2-core machine at load ~9 (docs/reliability.md), hence 15 s.
    db_idle_in_transaction_timeout_ms: Annotated[int, Field(ge=100, le=600_000)] = 15_000
    readiness_check_timeout_seconds: Annotated[float, Field(gt=0, le=5)] = 0.5
    shutdown_drain_seconds: Annotated[float, Field(ge=0, le=120)] = 5.0
    shutdown_timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 20.0
    token_leeway_seconds: Annotated[int, Field(ge=0, le=300)] = 10
    # The largest valid invoice (250 lines of 2000 characters, \u-escaped) is about 3.1 MB.
    max_body_bytes: Annotated[int, Field(ge=1024, le=64 * 1024 * 1024)] = 4 * 1024 * 1024
    # Bodies without lists (everything but an invoice's lines) are small: 64 KiB is plenty.
    max_small_body_bytes: Annotated[int, Field(ge=1024, le=64 * 1024 * 1024)] = 64 * 1024
    # Requests a second per principal and per organisation, per pod (0: no limit), and the
    # burst each may take at once (web/ratelimit.py).
    rate_limit_per_principal: Annotated[float, Field(ge=0, le=1_000_000)] = 50.0
    rate_limit_principal_burst: Annotated[float, Field(ge=1, le=1_000_000)] = 200.0
    rate_limit_per_org: Annotated[float, Field(ge=0, le=1_000_000)] = 100.0
    rate_limit_org_burst: Annotated[float, Field(ge=1, le=1_000_000)] = 400.0
    # Peers whose X-Forwarded-For/-Proto uvicorn believes: addresses or networks (CIDR),
    # comma-separated. Only the ingress's; by default loopback only. "*" is refused.
    forwarded_allow_ips: tuple[str, ...] = ("127.0.0.1", "::1")
    # CSV exports (documents/csv_export.py): concurrent per pod and per organisation (in this
    # process; a Rollout runs 2-3 pods), the longest a whole response may take, and the
    # longest one write may wait on a client that does not read. An export holds a pooled
    # connection only while it reads one page, never while it sends.
    export_max_per_pod: Annotated[int, Field(ge=1, le=100)] = 4
    export_max_per_org: Annotated[int, Field(ge=1, le=100)] = 2
    export_deadline_seconds: Annotated[float, Field(gt=0, le=3600)] = 300.0
    export_send_timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 15.0
    # PDF renders (documents/render.py), in a worker process: the page cap, the longest a
    # render may run before the worker is killed (both a 422 pdf-too-large), the longest a
    # request waits for its turn (then a 503), and the cache of rendered documents by version.
    # A 200-line invoice renders in about 0.25 s (1 s with the CJK font). The wait exceeds the
    # render budget, so one refused render ahead of a request never turns it into a 503.
    pdf_max_pages: Annotated[int, Field(ge=1, le=10_000)] = 100
    pdf_render_timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 5.0
    pdf_render_wait_seconds: Annotated[float, Field(gt=0, le=60)] = 6.0
    pdf_cache_max_bytes: Annotated[int, Field(ge=0, le=1024 * 1024 * 1024)] = 64 * 1024 * 1024
    # Quotas (quotas/): what one user and one organisation may store. Sized so that no
    # single account fills the 5 GiB database volume; each has its own problem type.
    quota_orgs_per_user: Annotated[int, Field(ge=1, le=10_000)] = 10
    quota_invoices_per_org: Annotated[int, Field(ge=1, le=10_000_000)] = 50_000
    quota_lines_per_invoice: Annotated[int, Field(ge=1, le=250)] = 250
    quota_lines_per_org: Annotated[int, Field(ge=1, le=100_000_000)] = 500_000
    # The payment list returns every payment of an invoice, so this is also its length bound.
    quota_payments_per_invoice: Annotated[int, Field(ge=1, le=1000)] = 100
    quota_idempotency_keys_per_user: Annotated[int, Field(ge=1, le=1_000_000)] = 5_000
    quota_idempotency_bytes_per_user: Annotated[int, Field(ge=1024, le=1024**3)] = 64 * 1024**2
    # Both lists return every row (`LIMIT` 100 for endpoints, byte-bounded pages for schedules).
    quota_webhook_endpoints_per_org: Annotated[int, Field(ge=1, le=100)] = 20
    quota_recurring_schedules_per_org: Annotated[int, Field(ge=1, le=10_000)] = 100
    # The credit-note and invitation lists return every row (`LIMIT` 1,000 above these).
    quota_credit_notes_per_invoice: Annotated[int, Field(ge=1, le=1000)] = 100
    quota_invitations_per_org: Annotated[int, Field(ge=1, le=1000)] = 100
    quota_tax_rates_per_org: Annotated[int, Field(ge=1, le=100_000)] = 1_000
    quota_customers_per_org: Annotated[int, Field(ge=1, le=1_000_000)] = 10_000
    # A bearer token may be 8 KiB (auth.MAX_TOKEN_LENGTH), so the head needs room beyond it.
    max_header_bytes: Annotated[int, Field(ge=16 * 1024, le=1024 * 1024)] = 32 * 1024
    # Webhook endpoints may point at loopback, private or link-local addresses (tests and
    # on-premises receivers only: otherwise a server-side request forgery hole).
    webhook_allow_private_targets: bool = False

    @field_validator("db_url")
    @classmethod
    def _postgres_url(cls, value: SecretStr) -> SecretStr:
        return _check_postgres_url(value)

    @field_validator("kc_issuer")
    @classmethod
    def _issuer_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError(
                "must be an http(s) URL of the realm, e.g. https://auth.example/realms/x"
            )
        if parts.query or parts.fragment:
            raise ValueError("must not carry a query or fragment")
        return value.rstrip("/")

    @field_validator("forwarded_allow_ips", "cors_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(item.strip() for item in value.split(",") if item.strip())
        return value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _peers_are_addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for peer in value:
            if peer == "*":
                raise ValueError("'*' is not allowed: list the ingress's addresses or networks")
            try:
                ipaddress.ip_network(peer)  # strict, as uvicorn parses it
            except ValueError:
                raise ValueError(f"{peer!r} is not an IP address or network") from None
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins_are_origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            parts = urlsplit(origin)
            if origin == "*":
                raise ValueError("'*' is not allowed: list the exact origins")
            if parts.scheme not in {"http", "https"} or not parts.hostname or parts.path:
                raise ValueError(f"{origin!r} is not an origin like https://app.example")
        return value

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        """Build from environment variables named like the fields, upper-cased."""
        return _from_environ(cls, environ)


class WorkerSettings(BaseModel):
    """`penvoice worker`: the job runner. Only the database is required; the API's token
    settings are not read (a worker serves no API), so the same ConfigMap can feed both."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    db_url: SecretStr
    log_level: LogLevel = "info"
    worker_host: str = "0.0.0.0"  # noqa: S104 - probes and metrics from the kubelet/Prometheus
    worker_port: Annotated[int, Field(ge=0, le=65535)] = 8081
    worker_concurrency: Annotated[int, Field(ge=1, le=100)] = 4
    # Besides LISTEN/NOTIFY, look for jobs that became due (retries, delayed jobs) this often.
    worker_poll_seconds: Annotated[float, Field(ge=0.05, le=60)] = 5.0
    # A job whose worker stopped sending heartbeats this long ago (SIGKILL, node loss) is
    # picked again by another worker.
    worker_heartbeat_timeout_seconds: Annotated[float, Field(ge=1, le=3600)] = 30.0
    # A failed job is retried with exponential backoff (first delay, doubled, capped) until
    # it has run JOB_MAX_ATTEMPTS times; then it is kept as `failed`, never deleted.
    job_max_attempts: Annotated[int, Field(ge=1, le=100)] = 8
    job_retry_first_delay_seconds: Annotated[float, Field(gt=0, le=3600)] = 5.0
    job_retry_max_delay_seconds: Annotated[float, Field(gt=0, le=86_400)] = 900.0
    # A send job holds two connections (its lock, its steps): 2 × WORKER_CONCURRENCY + 2.
    db_pool_max_size: Annotated[int, Field(ge=1, le=100)] = 10
    db_pool_timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 5.0
    db_statement_timeout_ms: Annotated[int, Field(ge=100, le=600_000)] = 30_000
    # A job's transaction waits on its own statements only (the SMTP and HTTP sends happen
    # outside it), so an idle one is a stuck worker: ended by the server, locks released.
    db_idle_in_transaction_timeout_ms: Annotated[int, Field(ge=1000, le=3_600_000)] = 60_000
    readiness_check_timeout_seconds: Annotated[float, Field(gt=0, le=5)] = 0.5
    shutdown_timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 20.0
    # The invoice PDF a send job mails is rendered as the API renders it (documents/render.py:
    # one render process per worker, the same page cap and time budget; a refusal fails the
    # delivery at once). The worker's jobs take turns on that process, so a job may wait for
    # WORKER_CONCURRENCY - 1 renders of up to PDF_RENDER_TIMEOUT_SECONDS each, hence 30 s;
    # the cache spares a retried send its render.
    pdf_max_pages: Annotated[int, Field(ge=1, le=10_000)] = 100
    pdf_render_timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 5.0
    pdf_render_wait_seconds: Annotated[float, Field(gt=0, le=600)] = 30.0
    pdf_cache_max_bytes: Annotated[int, Field(ge=0, le=1024 * 1024 * 1024)] = 16 * 1024 * 1024
    # Email (docs/email.md). Without SMTP_HOST, send jobs wait (retried) for configuration.
    smtp_host: str | None = None
    smtp_port: Annotated[int, Field(ge=1, le=65535)] | None = None  # 465 for tls, else 587
    # starttls: plain connect, then STARTTLS (required); tls: TLS from the first byte
    # (port 465); none: no encryption (loopback test servers only).
    smtp_security: SmtpSecurity = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str | None = None  # "Penvoice <invoices@example.com>"
    smtp_timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 30.0
    smtp_ca_file: str | None = None  # a CA bundle to trust instead of the system's
    # Webhooks (docs/webhooks.md).
    webhook_allow_private_targets: bool = False
    webhook_timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 10.0
    # A delivery job ends once it has run this long (after the message in hand); the sweep
    # queues the endpoint again, behind the others, so a slow receiver cannot keep a slot.
    webhook_job_budget_seconds: Annotated[float, Field(gt=0, le=3600)] = 60.0
    webhook_max_attempts: Annotated[int, Field(ge=1, le=100)] = 15
    webhook_retry_first_delay_seconds: Annotated[float, Field(gt=0, le=3600)] = 30.0
    webhook_retry_max_delay_seconds: Annotated[float, Field(gt=0, le=86_400)] = 6 * 3600.0
    # An endpoint failing without a single success for this long is disabled.
    webhook_disable_after_seconds: Annotated[float, Field(gt=0, le=30 * 86_400)] = 3 * 86_400.0

    @field_validator("db_url")
    @classmethod
    def _postgres_url(cls, value: SecretStr) -> SecretStr:
        return _check_postgres_url(value)

    @field_validator("smtp_from")
    @classmethod
    def _sender(cls, value: str | None) -> str | None:
        if value is not None:
            _, address = parseaddr(value)
            if "@" not in address:
                raise ValueError("must be an address, e.g. Penvoice <invoices@example.com>")
        return value

    @property
    def smtp_effective_port(self) -> int:
        if self.smtp_port is not None:
            return self.smtp_port
        return 465 if self.smtp_security == "tls" else 587

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> WorkerSettings:
        settings = _from_environ(cls, environ)
        if settings.smtp_host and not settings.smtp_from:
            raise ConfigError("invalid configuration:\n  SMTP_FROM: is required with SMTP_HOST")
        if (settings.smtp_username is None) != (settings.smtp_password is None):
            raise ConfigError(
                "invalid configuration:\n  SMTP_USERNAME, SMTP_PASSWORD: set both or neither"
            )
        return settings


def _check_postgres_url(value: SecretStr) -> SecretStr:
    parts = urlsplit(value.get_secret_value())
    if parts.scheme not in {"postgres", "postgresql"}:
        raise ValueError("must be a postgres:// or postgresql:// URL")
    if not parts.hostname and "host=" not in parts.query:
        raise ValueError("must name a host")
    return value


_Model = TypeVar("_Model", bound=BaseModel)


def _from_environ(model: type[_Model], environ: Mapping[str, str]) -> _Model:
    """The model from environment variables named like its fields, upper-cased; invalid
    values are a `ConfigError` naming each variable."""
    values = {name: environ[name.upper()] for name in model.model_fields if name.upper() in environ}
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors(include_url=False, include_input=False):
        name = str(error["loc"][0]).upper() if error["loc"] else "?"
        reason = "is required" if error["type"] == "missing" else error["msg"]
        lines.append(f"  {name}: {reason}")
    return "invalid configuration:\n" + "\n".join(lines)
