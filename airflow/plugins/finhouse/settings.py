"""Every ``FINHOUSE_*`` setting, read and validated in one place.

* **Typed readers** (:func:`integer_setting`, :func:`seconds_setting`, :func:`port_setting`,
  :func:`choice_setting`, :func:`boolean_setting`, :func:`cron_setting`,
  :func:`path_setting`, :func:`url_setting`, :func:`dsn_setting`, …) read one variable when
  called. Unset or blank gives the default (compose files pass ``${X:-}`` on as ""); a bad
  value raises :class:`~finhouse.errors.ConfigError` with one line naming the variable and
  what it expects, never a secret (a DSN's password, a webhook URL).
* **The registry** (:data:`REGISTRY`): every known setting with its kind, default and
  meaning, and the reader that validates it. Modules read their settings through it
  (``settings.DBT_THREADS.read()``), so what is documented is what is enforced.
* :func:`validate_all` checks every ``FINHOUSE_*`` variable of the environment at once and
  returns warnings about names it does not know or that have no effect.

Nothing is read at import. The CLI reads inside its commands, where its handler prints a
``FinhouseError`` as one line; DAG files read while Airflow imports them, so a bad value is
that file's import error (see ``airflow/dags/``).
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar, overload
from urllib.parse import parse_qsl, urlsplit

from finhouse.connections import (
    MASK,
    POSTGRES_SCHEMES,
    dsn_scheme,
    postgres_fields,
    redact,
    secrets_of,
)
from finhouse.errors import ConfigError

T = TypeVar("T")
Scope = Literal["operator", "internal", "test", "retired"]

#: airflow/plugins/finhouse/settings.py -> the repository root (as finhouse.config has it)
REPO_ROOT = Path(__file__).resolve().parents[3]
#: the source tables (finhouse.tables.TABLES; a unit test keeps the two equal), for the
#: per-table settings ``FINHOUSE_<TABLE>_…``
TABLE_NAMES = ("users", "accounts", "loans", "payments", "transactions", "investments")
#: the presets Airflow's cron timetables accept besides five-field expressions
CRON_PRESETS = ("@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly")
WAREHOUSE_SCHEMES = (*POSTGRES_SCHEMES, "snowflake")
#: a bad value is quoted in messages up to this length
_SHOWN_CHARS = 80


# ------------------------------------------------------------------------------ readers
def raw_setting(name: str) -> str | None:
    """The variable's text; None when it is unset or blank."""
    raw = os.environ.get(name)
    return None if raw is None or not raw.strip() else raw


def _shown(raw: str) -> str:
    """A bad value as a message shows it: quoted, escaped onto one line, bounded."""
    return repr(raw if len(raw) <= _SHOWN_CHARS else raw[:_SHOWN_CHARS] + "…")


def _number(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


def _bounds(minimum: float | None, maximum: float | None, greater_than: float | None = None) -> str:
    parts = []
    if greater_than is not None:
        parts.append(f"greater than {_number(greater_than)}")
    if minimum is not None and (greater_than is None or minimum > greater_than):
        parts.append(f"at least {_number(minimum)}")
    if maximum is not None:
        parts.append(f"at most {_number(maximum)}")
    return " " + " and ".join(parts) if parts else ""


def _either(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def integer_setting(
    name: str, default: int, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    """A whole number (no sign but ``-``, no exponent, no underscores)."""
    raw = raw_setting(name)
    if raw is None:
        return default
    problem = ConfigError(
        f"{name} must be a whole number{_bounds(minimum, maximum)}, got {_shown(raw)}"
    )
    if not re.fullmatch(r"-?[0-9]+", raw.strip()):
        raise problem
    value = int(raw)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise problem
    return value


def number_setting(
    name: str,
    default: float,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    greater_than: float | None = None,
    unit: str = "",
) -> float:
    """A finite number (``nan`` and ``inf`` are refused), e.g. a size in MB."""
    raw = raw_setting(name)
    if raw is None:
        return default
    what = f"a number of {unit}" if unit else "a number"
    problem = ConfigError(
        f"{name} must be {what}{_bounds(minimum, maximum, greater_than)}, got {_shown(raw)}"
    )
    if "_" in raw:  # float() takes 1_000; a setting written so is more likely a typo
        raise problem
    try:
        value = float(raw)
    except ValueError:
        raise problem from None
    if (
        not math.isfinite(value)
        or (minimum is not None and value < minimum)
        or (maximum is not None and value > maximum)
        or (greater_than is not None and value <= greater_than)
    ):
        raise problem
    return value


def seconds_setting(
    name: str,
    default: float,
    *,
    minimum: float = 0.0,
    maximum: float | None = None,
    greater_than: float | None = None,
) -> float:
    """A finite number of seconds from the environment variable ``name``."""
    return number_setting(
        name,
        default,
        minimum=minimum,
        maximum=maximum,
        greater_than=greater_than,
        unit="seconds",
    )


def interval_setting(name: str, default: float | None) -> float | None:
    """Seconds greater than 0, or ``off`` (also ``none``, ``false``) for None."""
    raw = raw_setting(name)
    if raw is None:
        return default
    if raw.strip().lower() in ("off", "none", "false"):
        return None
    try:
        return seconds_setting(name, 0.0, greater_than=0)
    except ConfigError:
        raise ConfigError(
            f"{name} must be a number of seconds greater than 0, or off, got {_shown(raw)}"
        ) from None


def port_setting(name: str, default: int, *, minimum: int = 1024) -> int:
    """A TCP port to listen on or connect to (below 1024 only where ``minimum`` allows)."""
    raw = raw_setting(name)
    if raw is None:
        return default
    if not re.fullmatch(r"[0-9]+", raw.strip()) or not minimum <= int(raw) <= 65535:
        raise ConfigError(
            f"{name} must be a port number from {minimum} to 65535, got {_shown(raw)}"
        )
    return int(raw)


def choice_setting(name: str, default: str, choices: Sequence[str]) -> str:
    """One of ``choices`` (lower case; the value's case does not matter)."""
    raw = raw_setting(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value not in choices:
        raise ConfigError(f"{name} must be {_either(choices)}, got {_shown(raw)}")
    return value


def boolean_setting(name: str, default: bool) -> bool:
    """``1/true/yes/on`` or ``0/false/no/off``."""
    raw = raw_setting(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false (1/0, yes/no, on/off), got {_shown(raw)}")


def cron_setting(name: str, default: str) -> str:
    """A cron expression Airflow's cron timetables take: five fields (minute, hour,
    day of month, month, day of week), checked by croniter as Airflow does, or a preset."""
    raw = raw_setting(name)
    if raw is None:
        return default
    value = " ".join(raw.split())
    if value in CRON_PRESETS:
        return value
    from croniter import croniter  # noqa: PLC0415 - only when a schedule is overridden

    # five fields exactly: croniter also takes a seconds field, which Airflow's timetables
    # would accept and then describe as nothing
    if len(value.split()) != 5 or not croniter.is_valid(value):
        raise ConfigError(
            f"{name} must be a cron expression of 5 fields (minute hour day-of-month month "
            f"day-of-week, e.g. '*/15 * * * *') or one of {', '.join(CRON_PRESETS)}, "
            f"got {_shown(raw)}"
        )
    return value


PathKind = Literal["directory", "file", "path"]


@overload
def path_setting(
    name: str, default: Path, *, kind: PathKind = ..., must_exist: bool = ...
) -> Path: ...
@overload
def path_setting(
    name: str, default: None = ..., *, kind: PathKind = ..., must_exist: bool = ...
) -> Path | None: ...
def path_setting(
    name: str,
    default: Path | None = None,
    *,
    kind: PathKind = "path",
    must_exist: bool = False,
) -> Path | None:
    """A file system path (``~`` expanded). What exists must be of ``kind``; with
    ``must_exist``, it must exist."""
    raw = raw_setting(name)
    if raw is None:
        return default
    if "\0" in raw:
        raise ConfigError(f"{name} must be a {kind} path, got {_shown(raw)}")
    path = Path(raw.strip()).expanduser()
    exists = path.exists()
    if must_exist and not exists:
        raise ConfigError(f"{name} must be an existing {kind}, got {_shown(raw)} (not found)")
    if exists and kind == "directory" and not path.is_dir():
        raise ConfigError(f"{name} must be a directory, got {_shown(raw)} (a file)")
    if exists and kind == "file" and path.is_dir():
        raise ConfigError(f"{name} must be a file, got {_shown(raw)} (a directory)")
    return path


def url_setting(name: str, *, schemes: Sequence[str] = ("https", "http")) -> str | None:
    """A URL with a host. Never shown in messages: such URLs carry their secret (a webhook's
    token is part of its path)."""
    raw = raw_setting(name)
    if raw is None:
        return None
    value = raw.strip()
    parts = urlsplit(value)
    expected = f"{name} must be an {_either([s + '://' for s in schemes])} URL with a host"
    if parts.scheme.lower() not in schemes:
        raise ConfigError(f"{expected} (got scheme {parts.scheme or 'none'!r}; value not shown)")
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when asked
    except ValueError:
        raise ConfigError(f"{expected} and a numeric port (value not shown)") from None
    if not parts.hostname or any(c.isspace() for c in value):
        raise ConfigError(f"{expected} (value not shown)")
    return value


def email_list_setting(name: str) -> list[str]:
    """Comma-separated e-mail addresses (blank items are skipped)."""
    raw = raw_setting(name)
    if raw is None:
        return []
    addresses = [a.strip() for a in raw.split(",") if a.strip()]
    for address in addresses:
        if not re.fullmatch(r"[^@\s,;<>\"']+@[^@\s,;<>\"']+", address):
            raise ConfigError(
                f"{name} must be e-mail addresses separated by commas, got {_shown(address)}"
            )
    return addresses


#: a dbt node selector: methods (``path:``, ``tag:``), graph operators (``+``, ``@``, ``n+``),
#: wildcards, unions and intersections (``,``)
_DBT_SELECTOR = re.compile(r"[A-Za-z0-9_.:+*@/,\-]+")


def selectors_setting(name: str) -> list[str]:
    """dbt node selectors separated by spaces."""
    raw = raw_setting(name)
    if raw is None:
        return []
    words = raw.split()
    for word in words:
        if not _DBT_SELECTOR.fullmatch(word):
            raise ConfigError(
                f"{name} must be dbt selectors separated by spaces (e.g. "
                f"'path:models/staging tag:daily'), got {_shown(word)}"
            )
    return words


def identifier_setting(name: str, default: str) -> str:
    """A plain SQL identifier (a role name)."""
    raw = raw_setting(name)
    if raw is None:
        return default
    value = raw.strip()
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", value):
        raise ConfigError(
            f"{name} must be an identifier (letters, digits and _, at most 63), got {_shown(raw)}"
        )
    return value


def text_setting(name: str, default: str | None = None) -> str | None:
    """Free text: any value is valid (for what finhouse sets itself, or passes through)."""
    raw = raw_setting(name)
    return default if raw is None else raw


def unix_time_setting(name: str) -> float | None:
    """Seconds since the epoch (``date +%s``)."""
    raw = raw_setting(name)
    if raw is None:
        return None
    return number_setting(name, 0.0, minimum=0, unit="seconds since 1970 (date +%s)")


# ------------------------------------------------------------------------------ DSNs
_EXPECTED_POSTGRES = (
    "expected postgresql://USER:PASSWORD@HOST:PORT/DBNAME or 'host=… port=… dbname=… user=…'"
)
_EXPECTED_SNOWFLAKE = "expected snowflake://USER:PASSWORD@ACCOUNT/DATABASE?warehouse=…&role=…"


def _shown_dsn(value: str) -> str:
    """The DSN as a message may show it: redacted, and any secret read from it masked again
    should the redaction have missed a malformed one."""
    shown = redact(value)
    for secret in sorted(secrets_of(value), key=len, reverse=True):
        shown = shown.replace(secret, MASK)
    return shown


def _check_postgres(value: str, *, require_database: bool) -> None:
    try:
        fields = postgres_fields(value)
    except ConfigError as exc:
        raise ConfigError(f"is {exc} ({_EXPECTED_POSTGRES})") from None
    if not (fields.get("host") or fields.get("hostaddr")):
        raise ConfigError(f"names no host ({_shown_dsn(value)}): {_EXPECTED_POSTGRES}")
    for port in (fields.get("port") or "").split(","):
        # the port is not quoted: a password with a raw "/" makes libpq read part of it
        # as the port
        if port and not (port.isdigit() and 1 <= int(port) <= 65535):
            hint = (
                "; characters such as / ? # @ : in a password must be percent-encoded"
                if dsn_scheme(value)
                else ""
            )
            raise ConfigError(
                f"has a port that is not a number from 1 to 65535 ({_shown_dsn(value)}){hint}"
            )
    if require_database and not fields.get("dbname"):
        raise ConfigError(f"names no database ({_shown_dsn(value)}): {_EXPECTED_POSTGRES}")


def _check_snowflake(value: str, *, require_database: bool) -> None:
    parts = urlsplit(value)
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when asked
    except ValueError:
        raise ConfigError(f"has a port that is not a number ({_shown_dsn(value)})") from None
    query = dict(parse_qsl(parts.query))
    extra: Any = {}
    if "__extra__" in query:  # an Airflow Snowflake connection's URI keeps extras as JSON
        try:
            extra = json.loads(query["__extra__"])
        except ValueError:
            extra = None
        if not isinstance(extra, dict):
            raise ConfigError(f"has an __extra__ that is not a JSON object ({_shown_dsn(value)})")

    def given(key: str) -> Any:
        return query.get(key) or extra.get(key) or extra.get(f"extra__snowflake__{key}")

    if not (given("account") or parts.hostname):
        raise ConfigError(
            f"names no Snowflake account ({_shown_dsn(value)}): {_EXPECTED_SNOWFLAKE}"
        )
    if require_database and not (given("database") or parts.path.strip("/")):
        raise ConfigError(f"names no database ({_shown_dsn(value)}): {_EXPECTED_SNOWFLAKE}")


def _check_dsn(
    value: str, schemes: Sequence[str], *, require_database: bool, keyword_form: bool
) -> None:
    scheme = dsn_scheme(value)
    keywords = keyword_form and any(s in POSTGRES_SCHEMES for s in schemes)
    if (scheme is None and not keywords) or (scheme is not None and scheme not in schemes):
        also = ", or libpq key=value pairs" if keywords else ""
        raise ConfigError(
            f"must be a URL starting with {' or '.join(s + '://' for s in schemes)}{also}"
            f" (got scheme {scheme or 'none'!r})"
        )
    if scheme == "snowflake":
        _check_snowflake(value, require_database=require_database)
    else:
        _check_postgres(value, require_database=require_database)


def dsn_setting(
    name: str,
    schemes: Sequence[str],
    *,
    require_database: bool = True,
    keyword_form: bool = True,
) -> str | None:
    """A connection string of one of ``schemes``: ``postgresql``/``postgres`` ones are read
    by psycopg (``conninfo_to_dict``), so libpq's keyword/value form is accepted too (unless
    ``keyword_form`` is False); each needs a host and a database name (unless
    ``require_database`` is False); ``snowflake`` ones an account. Messages never show the
    password."""
    raw = raw_setting(name)
    if raw is None:
        return None
    value = raw.strip()
    try:
        _check_dsn(value, schemes, require_database=require_database, keyword_form=keyword_form)
    except ConfigError as exc:
        raise ConfigError(f"{name} {exc}") from None
    return value


# ------------------------------------------------------------------------------ registry
@dataclass(frozen=True)
class Setting(Generic[T]):
    """One ``FINHOUSE_*`` setting: what it is, and the reader that validates it. A name with
    ``<TABLE>`` (one per source table) or ``<NAME>`` stands for a family of variables."""

    name: str
    #: what the value is, for people: "cron", "seconds", "DSN (PostgreSQL)"…
    kind: str
    #: the default as documentation shows it ("" = unset)
    default: str
    #: one line: what it does
    meaning: str
    #: reads and validates the variable of the given name
    reader: Callable[[str], T] = field(repr=False, compare=False)
    #: who sets it: operators; finhouse itself, for its child processes; the test suite;
    #: nobody any more (``retired``: still known, so setting it warns instead of failing)
    scope: Scope = "operator"
    #: never shown in messages or docs (DSNs, URLs with tokens, passwords)
    secret: bool = False

    @property
    def family(self) -> bool:
        return "<" in self.name

    @property
    def pattern(self) -> re.Pattern[str]:
        tables = "|".join(t.upper() for t in TABLE_NAMES)
        text = re.escape(self.name).replace("<TABLE>", f"(?:{tables})")
        return re.compile(text.replace("<NAME>", "[A-Z0-9_]+") + "$")

    def matches(self, variable: str) -> bool:
        return bool(self.pattern.match(variable))

    def read(self) -> T:
        """The value of the (single) variable; a family is read with :meth:`read_for`."""
        if self.family:
            raise TypeError(f"{self.name} is a family of settings: use read_for()")
        return self.reader(self.name)

    def variable(self, part: str) -> str:
        """The variable of a family for one table (or name): ``users`` -> FINHOUSE_USERS_…"""
        return re.sub(r"<[A-Z]+>", part.upper(), self.name)

    def read_for(self, part: str) -> T:
        return self.reader(self.variable(part))


REGISTRY: list[Setting[Any]] = []


def _register(setting: Setting[T]) -> Setting[T]:
    if any(s.name == setting.name for s in REGISTRY):
        raise ValueError(f"{setting.name} registered twice")
    REGISTRY.append(setting)
    return setting


def _retired(name: str, why: str) -> None:
    _register(Setting(name, "retired", "", why, lambda _name: None, scope="retired"))


# --- connections (contracts.md §3); unset: the embedded cluster, a role per purpose
OLTP_DSN = _register(
    Setting(
        "FINHOUSE_OLTP_DSN",
        "DSN (PostgreSQL)",
        "",
        "the source system (the Django app's database); unset: the embedded cluster",
        lambda name: dsn_setting(name, POSTGRES_SCHEMES),
        secret=True,
    )
)
OLTP_EXTRACT_DSN = _register(
    Setting(
        "FINHOUSE_OLTP_EXTRACT_DSN",
        "DSN (PostgreSQL)",
        "",
        "a read-only account for extracts, on FINHOUSE_OLTP_DSN's server (default: that DSN)",
        lambda name: dsn_setting(name, POSTGRES_SCHEMES),
        secret=True,
    )
)
WAREHOUSE_DSN = _register(
    Setting(
        "FINHOUSE_WAREHOUSE_DSN",
        "DSN (PostgreSQL or Snowflake)",
        "",
        "the warehouse, as the loader; unset: the embedded cluster",
        lambda name: dsn_setting(name, WAREHOUSE_SCHEMES),
        secret=True,
    )
)
TRANSFORMER_DSN = _register(
    Setting(
        "FINHOUSE_TRANSFORMER_DSN",
        "DSN (PostgreSQL or Snowflake)",
        "",
        "the warehouse as the transformer role, for dbt (default: the warehouse's DSN)",
        lambda name: dsn_setting(name, WAREHOUSE_SCHEMES),
        secret=True,
    )
)
REPORTER_DSN = _register(
    Setting(
        "FINHOUSE_REPORTER_DSN",
        "DSN (PostgreSQL or Snowflake)",
        "",
        "the warehouse as the read-only reporter role, for `finhouse report`",
        lambda name: dsn_setting(name, WAREHOUSE_SCHEMES),
        secret=True,
    )
)
SNOWFLAKE_ADMIN_DSN = _register(
    Setting(
        "FINHOUSE_SNOWFLAKE_ADMIN_DSN",
        "DSN (Snowflake)",
        "",
        "the account `finhouse snowflake apply` runs the setup scripts as (e.g. ACCOUNTADMIN)",
        lambda name: dsn_setting(name, ("snowflake",), require_database=False),
        secret=True,
    )
)

# --- ingestion
TABLE_SCHEDULE = _register(
    Setting(
        "FINHOUSE_<TABLE>_SCHEDULE",
        "cron",
        "*/15 * * * *",
        "when the table's ingestion DAG runs (UTC)",
        lambda name: cron_setting(name, "*/15 * * * *"),
    )
)
TABLE_RECONCILE_SCHEDULE = _register(
    Setting(
        "FINHOUSE_<TABLE>_RECONCILE_SCHEDULE",
        "cron",
        "7 * * * *",
        "when the table's reconcile DAG runs (UTC)",
        lambda name: cron_setting(name, "7 * * * *"),
    )
)
TABLE_PARALLEL_THRESHOLD = _register(
    Setting(
        "FINHOUSE_<TABLE>_PARALLEL_THRESHOLD",
        "rows",
        "2000000",
        "a first full load of more rows than this runs in parallel key ranges (0: always)",
        lambda name: integer_setting(name, 2_000_000, minimum=0),
    )
)
RETRY_DELAY_SECONDS = _register(
    Setting(
        "FINHOUSE_RETRY_DELAY_SECONDS",
        "seconds",
        "30",
        "a failed task's first retry delay, then doubling up to Airflow's max_retry_delay",
        # more than max_retry_delay (10 min) would be capped to it: refused, not ignored
        lambda name: seconds_setting(name, 30.0, minimum=0, maximum=600),
    )
)
REPLICA_WAIT_SECONDS = _register(
    Setting(
        "FINHOUSE_REPLICA_WAIT_SECONDS",
        "seconds",
        "60",
        "how long a run waits for a replica source to replay what the previous run read",
        lambda name: seconds_setting(name, 60.0, minimum=0),
    )
)
STAGE_LEASE_SECONDS = _register(
    Setting(
        "FINHOUSE_STAGE_LEASE_SECONDS",
        "seconds",
        "1800",
        "a staged parallel full refresh idle this long is taken for killed by the next run",
        lambda name: seconds_setting(name, 1800.0, minimum=1),
    )
)

# --- dbt
DBT_TARGET = _register(
    Setting(
        "FINHOUSE_DBT_TARGET",
        "choice",
        "dev",
        "dbt's target: dev (PostgreSQL, connection finhouse_dbt) or prod (Snowflake)",
        lambda name: choice_setting(name, "dev", ("dev", "prod")),
    )
)
DBT_THREADS = _register(
    Setting(
        "FINHOUSE_DBT_THREADS",
        "integer",
        "2",
        "dbt threads of the dev profile the dbt DAG renders",
        lambda name: integer_setting(name, 2, minimum=1, maximum=64),
    )
)
DBT_EXECUTION_MODE = _register(
    Setting(
        "FINHOUSE_DBT_EXECUTION_MODE",
        "choice",
        "watcher",
        "watcher: one dbt build per run, reported model by model; local: a dbt call per model",
        lambda name: choice_setting(name, "watcher", ("watcher", "local")),
    )
)
DBT_FALLBACK_SCHEDULE = _register(
    Setting(
        "FINHOUSE_DBT_FALLBACK_SCHEDULE",
        "cron",
        "30 */2 * * *",
        "the dbt DAG also runs at these times (UTC) when the RAW tables did not all load",
        lambda name: cron_setting(name, "30 */2 * * *"),
    )
)
DBT_SELECT = _register(
    Setting(
        "FINHOUSE_DBT_SELECT",
        "dbt selectors",
        "",
        "render only these nodes in the dbt DAG (development and tests; unset in production)",
        selectors_setting,
    )
)
DBT_PROJECT_DIR = _register(
    Setting(
        "FINHOUSE_DBT_PROJECT_DIR",
        "directory",
        "dbt/finhouse",
        "the dbt project, with its parsed target/manifest.json (the images copy it)",
        lambda name: path_setting(
            name, REPO_ROOT / "dbt" / "finhouse", kind="directory", must_exist=True
        ),
    )
)
DBT_EXECUTABLE = _register(
    Setting(
        "FINHOUSE_DBT_EXECUTABLE",
        "file",
        ".venv-dbt/bin/dbt",
        "dbt, in its own virtual environment (checked when dbt runs, not when DAGs parse)",
        lambda name: path_setting(name, REPO_ROOT / ".venv-dbt" / "bin" / "dbt", kind="file"),
    )
)
REPORTER_ROLE = _register(
    Setting(
        "FINHOUSE_REPORTER_ROLE",
        "identifier",
        "reporter",
        "the warehouse role dbt grants the marts to",
        lambda name: identifier_setting(name, "reporter"),
    )
)
SNOWFLAKE_AUTH = _register(
    Setting(
        "FINHOUSE_SNOWFLAKE_AUTH",
        "choice",
        "password",
        "how the dbt DAG's prod profile logs in to Snowflake: password or keypair",
        lambda name: choice_setting(name, "password", ("password", "keypair")),
    )
)

# --- alerts
ALERT_WEBHOOK_URL = _register(
    Setting(
        "FINHOUSE_ALERT_WEBHOOK_URL",
        "URL",
        "",
        "receives a JSON POST (Slack-compatible) on a task's final failure; never logged",
        url_setting,
        secret=True,
    )
)
ALERT_EMAIL = _register(
    Setting(
        "FINHOUSE_ALERT_EMAIL",
        "e-mail addresses",
        "",
        "comma-separated addresses mailed on a task's final failure (Airflow's SMTP)",
        email_list_setting,
    )
)

# --- Snowflake (read by the Snowflake target and `finhouse snowflake apply`)
SNOWFLAKE_FILE_MB = _register(
    Setting(
        "FINHOUSE_SNOWFLAKE_FILE_MB",
        "MB",
        "128",
        "size of the Parquet files a Snowflake load PUTs to its stage",
        lambda name: number_setting(name, 128.0, minimum=1, unit="MB"),
    )
)
SNOWFLAKE_LOCK_LEASE_SECONDS = _register(
    Setting(
        "FINHOUSE_SNOWFLAKE_LOCK_LEASE_SECONDS",
        "seconds",
        "300",
        "a killed Snowflake run's lock on its table expires after this",
        lambda name: seconds_setting(name, 300.0, minimum=5),
    )
)


def snowflake_variable_setting(name: str) -> str | None:
    """A value for a setup script's ``&{variable}``: the variable must be one the scripts
    use; the value one token (its exact shape, per variable, is checked by `finhouse
    snowflake apply`, which splices it into SQL)."""
    raw = raw_setting(name)
    if raw is None:
        return None
    from finhouse.targets import snowflake_setup  # noqa: PLC0415

    variable = name.removeprefix("FINHOUSE_SNOWFLAKE_VAR_").lower()
    if snowflake_setup.SCRIPTS_DIR.is_dir():  # the images do not copy the scripts
        used = {
            v
            for script in snowflake_setup.SCRIPTS_DIR.glob("*.sql")
            for line in script.read_text().splitlines()
            if not line.lstrip().startswith("--")  # a comment explains the &{name} syntax
            for v in snowflake_setup.VARIABLE.findall(line)
        }
        if variable not in used:
            raise ConfigError(
                f"{name} sets &{{{variable}}}, which no Snowflake setup script uses "
                f"(they use {', '.join(sorted(used))})"
            )
    if not re.fullmatch(r"[A-Za-z0-9_.$+/=\-]{1,4096}", raw.strip()):
        raise ConfigError(f"{name} must be one word (letters, digits, _ . $ + / = -)")
    return raw.strip()


SNOWFLAKE_VARIABLE = _register(
    Setting(
        "FINHOUSE_SNOWFLAKE_VAR_<NAME>",
        "script variable",
        "",
        "a value for &{name} in snowflake/scripts (sizes, auto-suspend, public keys)",
        snowflake_variable_setting,
    )
)

# --- the local platform (`make up`, `finhouse db|platform`)
STATE_DIR = _register(
    Setting(
        "FINHOUSE_STATE_DIR",
        "directory",
        ".finhouse",
        "where the embedded PostgreSQL, AIRFLOW_HOME, logs and PID files live",
        lambda name: path_setting(name, REPO_ROOT / ".finhouse", kind="directory"),
    )
)
PG_PORT = _register(
    Setting(
        "FINHOUSE_PG_PORT",
        "port",
        "54329",
        "the embedded PostgreSQL's port (127.0.0.1)",
        lambda name: port_setting(name, 54329),
    )
)
PG_BINARIES = _register(
    Setting(
        "FINHOUSE_PG_BINARIES",
        "choice",
        "auto",
        "the embedded PostgreSQL's server binaries: auto, system or pgserver (the wheel's)",
        lambda name: choice_setting(name, "auto", ("auto", "system", "pgserver")),
    )
)
PG_BINDIR = _register(
    Setting(
        "FINHOUSE_PG_BINDIR",
        "directory",
        "",
        "a folder holding initdb and pg_ctl, tried first",
        lambda name: path_setting(name, kind="directory", must_exist=True),
    )
)
AIRFLOW_PORT = _register(
    Setting(
        "FINHOUSE_AIRFLOW_PORT",
        "port",
        "8080",
        "the local Airflow's API server and UI (127.0.0.1)",
        lambda name: port_setting(name, 8080),
    )
)
AIRFLOW_START_TIMEOUT = _register(
    Setting(
        "FINHOUSE_AIRFLOW_START_TIMEOUT",
        "seconds",
        "300",
        "how long `platform up` waits for Airflow to become healthy",
        lambda name: seconds_setting(name, 300.0, greater_than=0),
    )
)
SIMULATE_INTERVAL = _register(
    Setting(
        "FINHOUSE_SIMULATE_INTERVAL",
        "seconds or off",
        "60",
        "seconds between the OLTP simulator's ticks under `platform up`; off: no simulator",
        lambda name: interval_setting(name, 60.0),
    )
)

# --- set by finhouse for its own child processes
for _name, _meaning in (
    ("HOST", "host"),
    ("USER", "user"),
    ("DBNAME", "database"),
):
    _register(
        Setting(
            f"FINHOUSE_DBT_{_name}",
            "text",
            "",
            f"the dev profile's {_meaning}, from the transformer DSN (set by `finhouse dbt`)",
            text_setting,
            scope="internal",
        )
    )
_register(
    Setting(
        "FINHOUSE_DBT_PASSWORD",
        "text",
        "",
        "the dev profile's password, from the transformer DSN (set by `finhouse dbt`)",
        text_setting,
        scope="internal",
        secret=True,
    )
)
_register(
    Setting(
        "FINHOUSE_DBT_PORT",
        "port",
        "5432",
        "the dev profile's port, from the transformer DSN (set by `finhouse dbt`)",
        lambda name: port_setting(name, 5432, minimum=1),
        scope="internal",
    )
)
_register(
    Setting(
        "FINHOUSE_PLATFORM_STATE",
        "text",
        "",
        "marks the processes `platform up` started: its state folder",
        text_setting,
        scope="internal",
    )
)
_register(
    Setting(
        "FINHOUSE_PLATFORM_SERVICE",
        "choice",
        "",
        "marks the processes `platform up` started: which service",
        lambda name: choice_setting(name, "", ("airflow", "simulator", "superset")),
        scope="internal",
    )
)
UP_SINCE = _register(
    Setting(
        "FINHOUSE_UP_SINCE",
        "unix time",
        "",
        "when `make up` began: a PostgreSQL started since then counts as started by it",
        unix_time_setting,
        scope="internal",
    )
)

# --- the test suite, benchmarks and smoke scripts
_register(
    Setting(
        "FINHOUSE_DJANGO_DSN",
        "DSN (PostgreSQL URL)",
        "",
        "the database of the test-only Django client",
        lambda name: dsn_setting(name, POSTGRES_SCHEMES, keyword_form=False),
        scope="test",
        secret=True,
    )
)
_register(
    Setting(
        "FINHOUSE_TEST_DOCKER",
        "choice",
        "auto",
        "off: the tests' PostgreSQL never runs in a container",
        lambda name: choice_setting(name, "auto", ("auto", "off")),
        scope="test",
    )
)
_register(
    Setting(
        "FINHOUSE_DBT_TEST_SELECT",
        "dbt selectors",
        "",
        "narrows the dbt build of the integration tests",
        selectors_setting,
        scope="test",
    )
)
for _name, _meaning in (
    ("FINHOUSE_SOAK", "1: run the Django client's soak test (`make soak`)"),
    ("FINHOUSE_SNOWFLAKE_DBT", "0: skip the dbt build on the Snowflake emulator"),
    ("FINHOUSE_SNOWFLAKE_DBT_FULL", "1: build every dbt model on the Snowflake emulator"),
    ("FINHOUSE_SNOWFLAKE_SMOKE_APPLY", "1: snowflake/smoke.sh runs the setup scripts first"),
):
    # read as exactly "0" / "1" by the tests and scripts
    _register(
        Setting(
            _name,
            "0 or 1",
            "",
            _meaning,
            lambda name: choice_setting(name, "", ("0", "1")),
            scope="test",
        )
    )
_register(
    Setting(
        "FINHOUSE_SOAK_SECONDS",
        "seconds",
        "300",
        "how long the soak test runs",
        lambda name: seconds_setting(name, 300.0, greater_than=0),
        scope="test",
    )
)
_register(
    Setting(
        "FINHOUSE_SNOWFLAKE_TEST_TIMEOUT",
        "whole seconds",
        "180",
        "the Snowflake tests' per-test watchdog",
        lambda name: integer_setting(name, 180, minimum=1),
        scope="test",
    )
)
_register(
    Setting(
        "FINHOUSE_SNOWFLAKE_DBT_TIMEOUT",
        "whole seconds",
        "900",
        "the Snowflake emulator's dbt build time limit",
        lambda name: integer_setting(name, 900, minimum=1),
        scope="test",
    )
)
_register(
    Setting(
        "FINHOUSE_EMULATOR_PORT",
        "port",
        "",
        "the Snowflake emulator's port, for its dbt profile (set by the tests)",
        lambda name: port_setting(name, 0, minimum=1) or None,
        scope="test",
    )
)
_register(
    Setting(
        "FINHOUSE_SNOWFLAKE_SMOKE_DBT_ARGS",
        "text",
        "",
        "extra arguments for snowflake/smoke.sh's dbt build",
        text_setting,
        scope="test",
    )
)

# --- no longer read
_retired("FINHOUSE_EXTRACT_LAG_SECONDS", "the extraction by commit order has no lag")
_retired("FINHOUSE_EXTRACT_SKEW_SECONDS", "the extraction by commit order has no clock skew")


# ------------------------------------------------------------------------------ validation
def lookup(variable: str) -> Setting[Any] | None:
    """The registry's entry for a variable (a family's for ``FINHOUSE_USERS_SCHEDULE``)."""
    for setting in REGISTRY:
        if setting.name == variable or (setting.family and setting.matches(variable)):
            return setting
    return None


def known_names() -> list[str]:
    """Every variable name the registry knows, families expanded over the tables."""
    names = []
    for setting in REGISTRY:
        if "<TABLE>" in setting.name:
            names += [setting.variable(t) for t in TABLE_NAMES]
        elif not setting.family:
            names.append(setting.name)
    return names


def validate_all() -> list[str]:
    """Check every ``FINHOUSE_*`` variable of the environment. Bad values: one
    ``ConfigError`` naming each (its message one line, "; " between them). Returned:
    warnings, one line each, about names that are not settings (a typo is otherwise silently
    ignored), retired ones, and settings that have no effect as set."""
    errors: list[str] = []
    warnings: list[str] = []
    for variable in sorted(v for v in os.environ if v.startswith("FINHOUSE_")):
        setting = lookup(variable)
        if setting is None:
            close = difflib.get_close_matches(variable, known_names(), n=1, cutoff=0.85)
            hint = f" (did you mean {close[0]}?)" if close else ""
            warnings.append(f"{variable} is not a finhouse setting{hint}; it is ignored")
        elif setting.scope == "retired":
            warnings.append(f"{variable} is no longer read ({setting.meaning}); it is ignored")
        else:
            try:
                setting.reader(variable)
            except ConfigError as exc:
                errors.append(str(exc))
    if errors:
        raise ConfigError("; ".join(errors))
    if raw_setting(OLTP_EXTRACT_DSN.name) and not raw_setting(OLTP_DSN.name):
        warnings.append(
            f"{OLTP_EXTRACT_DSN.name} is set but {OLTP_DSN.name} is not; it is ignored "
            "(the embedded OLTP is read through its own extract role)"
        )
    return warnings
