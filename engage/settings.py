"""Settings: one typed, frozen object, loaded once at start-up.

Sources, later ones winning:

1. the defaults declared below (the embedded default of DESIGN.md);
2. a TOML file (``settings.toml`` in the working directory, or ``--config PATH``);
3. environment variables ``ENGAGE_<SECTION>__<KEY>``, e.g.
   ``ENGAGE_DATABASE__URL=postgres://u:p@db/engage`` or ``ENGAGE_SMTP__PORT=2525``.

Usage::

    settings = load_settings(config_path=None)   # raises SettingsError
    app = create_app(settings)

Any problem (unknown key, wrong type, bad URL or time zone) raises
:class:`SettingsError` whose message is one line naming the key; the CLI prints it
and exits with status 2.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import tomllib
import zoneinfo
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

ENV_PREFIX = "ENGAGE_"
DEFAULT_CONFIG_FILE = "settings.toml"


class SettingsError(Exception):
    """A setting is missing, unknown or invalid. ``str(err)`` is one line naming it."""


def _valid_timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA time zone {value!r}") from None
    return value


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


class AppSettings(_Section):
    #: Public address of the site, used in every link in an email.
    base_url: str = "http://127.0.0.1:8000"
    #: HMAC key for link tokens, sessions and CSRF. Empty on the embedded default:
    #: generated once into ``<var_dir>/secret_key``.
    secret_key: str = ""
    #: Where the embedded default keeps its database, secret and Maildir.
    var_dir: Path = Path("var")
    #: Shown to people who have not chosen a zone, and used by the scheduler.
    default_timezone: str = "UTC"
    default_language: str = "en"
    #: Name shown in page titles and email footers.
    site_name: str = "Engage"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    #: Log format: "json" (one object a line, for machines) or "text".
    log_format: Literal["json", "text"] = "json"
    #: Folder of event kind files (``*.toml``); empty: the ``events/`` shipped with Engage.
    events_dir: Path | None = None

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {value!r}")
        return value.rstrip("/")

    @field_validator("default_timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        return _valid_timezone(value)

    @field_validator("events_dir", mode="before")
    @classmethod
    def _empty_events_dir(cls, value: object) -> object:
        return None if value == "" else value


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)


class DatabaseSettings(_Section):
    #: ``sqlite://var/engage.sqlite3`` (embedded default) or
    #: ``postgres://user:password@host:5432/name``.
    url: str = "sqlite://var/engage.sqlite3"
    #: asyncpg pool bounds, per process.
    pool_min: int = Field(default=1, ge=1)
    pool_max: int = Field(default=10, ge=1)
    #: SQLite waits this long for the write lock before failing.
    busy_timeout_ms: int = Field(default=5000, ge=0)

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme == "sqlite":
            if not (parts.netloc + parts.path):
                raise ValueError("sqlite URL needs a file path, e.g. sqlite://var/engage.sqlite3")
            return value
        if parts.scheme in ("postgres", "postgresql", "asyncpg"):
            if not parts.hostname or not parts.path.strip("/"):
                raise ValueError("postgres URL needs a host and a database name")
            return value
        raise ValueError(f"unsupported database URL scheme {parts.scheme!r} (sqlite or postgres)")

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite:")


class SmtpSettings(_Section):
    #: "embedded" starts an SMTP server on loopback that keeps every message in a
    #: Maildir readable at /admin/mailbox; anything else is a real relay.
    host: str = "embedded"
    #: For "embedded", 0 picks a free loopback port.
    port: int = Field(default=0, ge=0, le=65535)
    username: str = ""
    password: str = ""
    #: "starttls", "tls" (implicit, port 465) or "none".
    security: Literal["none", "starttls", "tls"] = "none"
    #: A CA bundle to trust for the relay's certificate (a private CA); empty: the
    #: system's trust store.
    ca_file: str = ""
    timeout_seconds: float = Field(default=30.0, gt=0)
    #: Parallel SMTP connections a worker keeps open.
    concurrency: int = Field(default=4, ge=1, le=100)
    #: Messages per second to the relay, shared by every worker process (held in the
    #: database, engage.mail.ratelimit); 0: unlimited.
    rate_per_second: float = Field(default=0.0, ge=0)
    #: Messages per hour to the relay across all workers; past it, rows wait for the
    #: next hour (deferred, not slept on). 0: unlimited.
    rate_per_hour: int = Field(default=0, ge=0)
    #: SMTP connections to the relay across all worker processes (leased slots in the
    #: database); 0: no limit beyond each worker's concurrency.
    max_connections: int = Field(default=0, ge=0)
    #: A connection is closed (QUIT) and a new one opened after this many messages;
    #: 0: no cap.
    messages_per_connection: int = Field(default=100, ge=0)

    @property
    def is_embedded(self) -> bool:
        return self.host == "embedded"


class MailSettings(_Section):
    from_address: str = "alumni@engage.localhost"
    from_name: str = "Engage"
    #: Domain used in Message-IDs and envelope senders (bounces+<token>@domain).
    domain: str = "engage.localhost"
    #: Rows a worker claims at a time.
    batch_size: int = Field(default=50, ge=1, le=1000)
    #: A claimed row is released to other workers when its lease expires.
    lease_seconds: int = Field(default=300, ge=5)
    #: Temporary failures are retried until a message is this old, then dead.
    max_age_hours: float = Field(default=48.0, gt=0)
    #: First retry delay; doubles each attempt (with jitter) up to retry_max_seconds.
    retry_base_seconds: float = Field(default=60.0, gt=0)
    retry_max_seconds: float = Field(default=3600.0, gt=0)
    #: How often an idle worker looks for due rows.
    poll_seconds: float = Field(default=1.0, gt=0)
    #: The bounce receiver (SMTP) for bounces+<token>@ and unsubscribe+<token>@
    #: mail.domain, run inside each worker and by `engage bounces`; port 0: off.
    bounce_host: str = "127.0.0.1"
    bounce_port: int = Field(default=0, ge=0, le=65535)
    #: This many soft bounces of an address within soft_bounce_days make a hard bounce.
    soft_bounce_limit: int = Field(default=3, ge=1)
    soft_bounce_days: float = Field(default=7.0, gt=0)
    #: DKIM signing (engage.mail.dkim): a PEM private key file; empty: mail is not
    #: signed. The public key is published at <dkim_selector>._domainkey.<dkim_domain>.
    dkim_key_file: str = ""
    dkim_selector: str = ""
    #: The signing domain (d=); empty: mail.domain.
    dkim_domain: str = ""

    @field_validator("from_address")
    @classmethod
    def _check_address(cls, value: str) -> str:
        if value.count("@") != 1 or not all(value.split("@")):
            raise ValueError(f"not an email address: {value!r}")
        return value


class SchedulerSettings(_Section):
    #: How often the scheduler (reminders) looks for due work, in seconds. It runs in
    #: every process that sends mail; on PostgreSQL one at a time takes each turn.
    interval_seconds: float = Field(default=60.0, gt=0)


class NewslettersSettings(_Section):
    #: Open (pixel) and click (signed redirect) tracking in newsletters; off: links
    #: go straight to their target and nothing is recorded.
    tracking: bool = False


class ProgrammeSettings(_Section):
    name: str = "International Military Education and Training"
    #: How a training place was paid for; another programme configures its own.
    funding_types: tuple[str, ...] = ("IMET", "FMS", "other")

    @field_validator("funding_types")
    @classmethod
    def _check_funding(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value or any(not item.strip() for item in value):
            raise ValueError("must be a non-empty list of non-empty names")
        if len(set(value)) != len(value):
            raise ValueError("names must be unique")
        return value


class SecuritySettings(_Section):
    #: Sign out after this long without a request, and after this long in any case.
    session_idle_minutes: int = Field(default=120, ge=5)
    session_absolute_hours: int = Field(default=24, ge=1)
    #: argon2id cost (RFC 9106's second recommended option by default).
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65536, ge=8)
    argon2_parallelism: int = Field(default=4, ge=1)
    #: Hashes computed at once (each takes memory_kib of RAM).
    hash_concurrency: int = Field(default=2, ge=1)
    #: Peers whose X-Forwarded-For is believed (a reverse proxy), e.g. ["127.0.0.1"].
    trusted_proxies: tuple[str, ...] = ()
    #: Attempts per address and per IP in a window, for login, registration,
    #: password reset and verification resend.
    throttle_per_account: int = Field(default=5, ge=1)
    throttle_per_ip: int = Field(default=30, ge=1)
    throttle_window_seconds: int = Field(default=900, ge=10)
    #: Reset and invitation links stop working after this long.
    reset_link_hours: int = Field(default=2, ge=1)
    invite_link_hours: int = Field(default=72, ge=1)

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"not an IP address or network: {item!r}") from None
        return value


class Settings(_Section):
    app: AppSettings = Field(default_factory=AppSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    mail: MailSettings = Field(default_factory=MailSettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    newsletters: NewslettersSettings = Field(default_factory=NewslettersSettings)
    programme: ProgrammeSettings = Field(default_factory=ProgrammeSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)

    @property
    def is_embedded(self) -> bool:
        """The embedded default: SQLite and the embedded mail sink, one process."""
        return self.database.is_sqlite and self.smtp.is_embedded

    @property
    def var_dir(self) -> Path:
        return self.app.var_dir


def load_settings(
    config_path: str | Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    read_file: bool = True,
) -> Settings:
    """Read the TOML file and the environment into a validated :class:`Settings`.

    ``overrides`` (section -> key -> value) win over both; tests use them, with
    ``environ={}`` and ``read_file=False`` to start from the built-in defaults.
    """
    environ = os.environ if environ is None else environ
    data = _read_toml(config_path) if read_file else {}
    for (section, key), raw in _env_overrides(environ).items():
        data.setdefault(section, {})
        if not isinstance(data[section], dict):
            raise SettingsError(f"{section}: must be a table")
        data[section][key] = _coerce_env(section, key, raw)
    for section, values in (overrides or {}).items():
        data.setdefault(section, {}).update(values)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise SettingsError(_first_error(exc)) from None
    _check_consistency(settings)
    return settings


def _read_toml(config_path: str | Path | None) -> dict[str, Any]:
    if config_path is None:
        path = Path(DEFAULT_CONFIG_FILE)
        if not path.exists():
            return {}
    else:
        path = Path(config_path)
        if not path.is_file():
            raise SettingsError(f"config file not found: {path}")
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: invalid TOML: {exc}") from None


def _env_overrides(environ: Mapping[str, str]) -> dict[tuple[str, str], str]:
    found: dict[tuple[str, str], str] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        section, _, key = name[len(ENV_PREFIX) :].partition("__")
        section, key = section.lower(), key.lower()
        if section not in Settings.model_fields:
            raise SettingsError(f"{name}: unknown settings section {section!r}")
        model = Settings.model_fields[section].annotation
        assert isinstance(model, type) and issubclass(model, BaseModel)
        if key not in model.model_fields:
            raise SettingsError(f"{name}: unknown setting {section}.{key}")
        found[(section, key)] = value
    return found


def _coerce_env(section: str, key: str, raw: str) -> Any:
    """Environment values are strings; lists are written as TOML arrays or a,b,c."""
    model = Settings.model_fields[section].annotation
    assert isinstance(model, type) and issubclass(model, BaseModel)
    annotation = str(model.model_fields[key].annotation)
    if annotation.startswith("tuple"):
        text = raw.strip()
        if text.startswith("["):
            try:
                return tomllib.loads(f"v = {text}")["v"]
            except tomllib.TOMLDecodeError:
                raise SettingsError(
                    f"{section}.{key}: not a TOML array: {raw!r} (from environment)"
                ) from None
        return [item.strip() for item in text.split(",") if item.strip()]
    return raw


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    location = ".".join(str(part) for part in error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown setting"
    elif "input" in error and error["type"] not in ("missing",):
        message = f"{message} (got {error['input']!r})"
    return f"{location}: {message}"


def _check_consistency(settings: Settings) -> None:
    if settings.database.pool_min > settings.database.pool_max:
        raise SettingsError("database.pool_min: must not exceed database.pool_max")
    if settings.smtp.ca_file and not Path(settings.smtp.ca_file).is_file():
        raise SettingsError(f"smtp.ca_file: no such file {settings.smtp.ca_file!r}")
    if settings.mail.dkim_key_file:
        if not Path(settings.mail.dkim_key_file).is_file():
            raise SettingsError(f"mail.dkim_key_file: no such file {settings.mail.dkim_key_file!r}")
        if not settings.mail.dkim_selector:
            raise SettingsError("mail.dkim_selector: required with mail.dkim_key_file")
    if not settings.smtp.is_embedded and settings.smtp.port == 0:
        raise SettingsError("smtp.port: a real relay needs a port (e.g. 587)")
    if not settings.is_embedded and not settings.app.secret_key:
        raise SettingsError(
            "app.secret_key: required outside the embedded default "
            "(set ENGAGE_APP__SECRET_KEY to a long random string)"
        )
    if settings.app.secret_key and len(settings.app.secret_key) < 32:
        raise SettingsError("app.secret_key: must be at least 32 characters")


def with_secret_key(settings: Settings) -> Settings:
    """``settings`` with ``app.secret_key`` filled in (see :func:`resolve_secret_key`)."""
    if settings.app.secret_key:
        return settings
    app = settings.app.model_copy(update={"secret_key": resolve_secret_key(settings)})
    return settings.model_copy(update={"app": app})


def resolve_secret_key(settings: Settings) -> str:
    """The configured secret, or on the embedded default one generated once into var/.

    The file is created with mode 0600 so only the service's user can read it.
    """
    if settings.app.secret_key:
        return settings.app.secret_key
    path = settings.var_dir / "secret_key"
    if path.exists():
        key = path.read_text(encoding="ascii").strip()
        if len(key) >= 32:
            return key
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key + "\n")
    os.chmod(path, 0o600)
    return key
