"""Every ``FINHOUSE_*`` setting in one typed object: :class:`FinhouseSettings`
(pydantic-settings).

* **One declaration per setting**: a field with its type (which validates), default, one-line
  description, and what the documentation shows (kind, group, who sets it, whether it is a
  secret). ``docs/settings.md`` is generated from it (``python -m finhouse.settings``); a test
  keeps the committed file equal to the generated text.
* **One line naming the variable.** A bad value is a :class:`~finhouse.errors.ConfigError`
  such as ``FINHOUSE_DBT_THREADS must be a whole number at least 1 and at most 64, got
  'zero'`` - pydantic's own multi-line reports never reach a user - and never shows a secret
  (a DSN's password, a webhook URL). Unset or blank is the default (compose files pass
  ``${X:-}`` on as "").
* **Read when used.** :func:`load` reads the environment as it is when called (nothing is read
  at import). It never fails itself: reading an attribute whose variable is bad raises that
  variable's error. So a bad variable fails only what reads it - the CLI checks every one
  before any command (:func:`validate_all`); a DAG file fails to import, naming it, only if it
  reads it (see ``airflow/dags/``).
* **Families**: one setting per source table (``FINHOUSE_<TABLE>_SCHEDULE``…, read with
  :meth:`FinhouseSettings.table`) and per Snowflake script variable
  (``FINHOUSE_SNOWFLAKE_VAR_<NAME>``).
* :func:`validate_all` checks every ``FINHOUSE_*`` variable of the environment at once and
  returns warnings about names it does not know or that have no effect.
"""

from __future__ import annotations

import contextvars
import difflib
import json
import math
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import UnionType
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar, Union, get_args, get_origin
from urllib.parse import parse_qsl, urlsplit

from pydantic import (
    AliasGenerator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    PrivateAttr,
    TypeAdapter,
    ValidationError,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

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

PREFIX = "FINHOUSE_"
#: airflow/plugins/finhouse/settings.py -> the repository root
REPO_ROOT = Path(__file__).resolve().parents[3]
#: the source tables (finhouse.tables.TABLES; a unit test keeps the two equal), for the
#: per-table settings ``FINHOUSE_<TABLE>_…``
TABLE_NAMES = ("users", "accounts", "loans", "payments", "transactions", "investments")
#: the presets Airflow's cron timetables accept besides five-field expressions
CRON_PRESETS = ("@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly")
WAREHOUSE_SCHEMES = (*POSTGRES_SCHEMES, "snowflake")
#: the Snowflake setup scripts and their SnowSQL variables, ``&{name}``
SNOWFLAKE_SCRIPTS_DIR = REPO_ROOT / "snowflake" / "scripts"
SNOWFLAKE_SCRIPT_VARIABLE = re.compile(r"&\{([A-Za-z_][A-Za-z0-9_]*)\}")
SNOWFLAKE_VAR_PREFIX = "FINHOUSE_SNOWFLAKE_VAR_"
#: a bad value is quoted in messages up to this length
_SHOWN_CHARS = 80


# ------------------------------------------------------------------------------ value checks
# Each check takes a variable's text and returns its value, or raises ValueError with the rest
# of the one-line message ("must be …, got '…'"): the settings object puts the variable's name
# in front (a message that starts with FINHOUSE_ names its variable itself).
def _shown(raw: str) -> str:
    """A bad value as a message shows it: quoted, escaped onto one line, bounded."""
    return repr(raw if len(raw) <= _SHOWN_CHARS else raw[:_SHOWN_CHARS] + "…")


def _number_text(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


def _bounds(minimum: float | None, maximum: float | None, greater_than: float | None = None) -> str:
    parts = []
    if greater_than is not None:
        parts.append(f"greater than {_number_text(greater_than)}")
    if minimum is not None and (greater_than is None or minimum > greater_than):
        parts.append(f"at least {_number_text(minimum)}")
    if maximum is not None:
        parts.append(f"at most {_number_text(maximum)}")
    return " " + " and ".join(parts) if parts else ""


def _either(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def _whole_number(raw: str, minimum: int | None, maximum: int | None) -> int:
    """No sign but ``-``, no exponent, no underscores."""
    problem = ValueError(f"must be a whole number{_bounds(minimum, maximum)}, got {_shown(raw)}")
    if not re.fullmatch(r"-?[0-9]+", raw.strip()):
        raise problem
    value = int(raw)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise problem
    return value


def _finite_number(
    raw: str,
    minimum: float | None,
    maximum: float | None,
    greater_than: float | None,
    unit: str,
) -> float:
    """A finite number (``nan`` and ``inf`` are refused), e.g. a size in MB."""
    what = f"a number of {unit}" if unit else "a number"
    problem = ValueError(
        f"must be {what}{_bounds(minimum, maximum, greater_than)}, got {_shown(raw)}"
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


def _interval(raw: str) -> float | None:
    """Seconds greater than 0, or ``off`` (also ``none``, ``false``) for None."""
    if raw.strip().lower() in ("off", "none", "false"):
        return None
    try:
        return _finite_number(raw, None, None, 0, "seconds")
    except ValueError:
        raise ValueError(
            f"must be a number of seconds greater than 0, or off, got {_shown(raw)}"
        ) from None


def _port(raw: str, minimum: int) -> int:
    if not re.fullmatch(r"[0-9]+", raw.strip()) or not minimum <= int(raw) <= 65535:
        raise ValueError(f"must be a port number from {minimum} to 65535, got {_shown(raw)}")
    return int(raw)


def _choice(raw: str, choices: Sequence[str]) -> str:
    """One of ``choices`` (lower case; the value's case does not matter)."""
    value = raw.strip().lower()
    if value not in choices:
        raise ValueError(f"must be {_either(choices)}, got {_shown(raw)}")
    return value


def _cron(raw: str) -> str:
    """A cron expression Airflow's cron timetables take: five fields (minute, hour, day of
    month, month, day of week), checked by croniter as Airflow does, or a preset."""
    value = " ".join(raw.split())
    if value in CRON_PRESETS:
        return value
    from croniter import croniter  # noqa: PLC0415 - only when a schedule is overridden

    # five fields exactly: croniter also takes a seconds field, which Airflow's timetables
    # would accept and then describe as nothing
    if len(value.split()) != 5 or not croniter.is_valid(value):
        raise ValueError(
            f"must be a cron expression of 5 fields (minute hour day-of-month month "
            f"day-of-week, e.g. '*/15 * * * *') or one of {', '.join(CRON_PRESETS)}, "
            f"got {_shown(raw)}"
        )
    return value


PathKind = Literal["directory", "file"]


def _path(raw: str, kind: PathKind, must_exist: bool) -> Path:
    """A file system path (``~`` expanded). What exists must be of ``kind``; with
    ``must_exist``, it must exist."""
    if "\0" in raw:
        raise ValueError(f"must be a {kind} path, got {_shown(raw)}")
    path = Path(raw.strip()).expanduser()
    exists = path.exists()
    if must_exist and not exists:
        raise ValueError(f"must be an existing {kind}, got {_shown(raw)} (not found)")
    if exists and kind == "directory" and not path.is_dir():
        raise ValueError(f"must be a directory, got {_shown(raw)} (a file)")
    if exists and kind == "file" and path.is_dir():
        raise ValueError(f"must be a file, got {_shown(raw)} (a directory)")
    return path


def _url(raw: str, schemes: Sequence[str] = ("https", "http")) -> str:
    """A URL with a host. Never shown in messages: such URLs carry their secret (a webhook's
    token is part of its path)."""
    value = raw.strip()
    parts = urlsplit(value)
    expected = f"must be an {_either([s + '://' for s in schemes])} URL with a host"
    if parts.scheme.lower() not in schemes:
        raise ValueError(f"{expected} (got scheme {parts.scheme or 'none'!r}; value not shown)")
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when asked
    except ValueError:
        raise ValueError(f"{expected} and a numeric port (value not shown)") from None
    if not parts.hostname or any(c.isspace() for c in value):
        raise ValueError(f"{expected} (value not shown)")
    return value


def _email_list(raw: str) -> list[str]:
    """Comma-separated e-mail addresses (blank items are skipped)."""
    addresses = [a.strip() for a in raw.split(",") if a.strip()]
    for address in addresses:
        if not re.fullmatch(r"[^@\s,;<>\"']+@[^@\s,;<>\"']+", address):
            raise ValueError(f"must be e-mail addresses separated by commas, got {_shown(address)}")
    return addresses


def _export_url(raw: str) -> str:
    """A folder or an fsspec URL (``s3://bucket/prefix``, ``gs://…``, ``file:///…``), with no
    credentials in it (the store's own configuration carries them); empty: the local state
    folder's ``exports``."""
    url = raw.strip()
    if not url:
        return ""
    scheme, sep, rest = url.partition("://")
    if sep and not re.fullmatch(r"[a-z][a-z0-9+.-]*", scheme):
        # the value is not shown: a malformed URL may still carry a secret
        raise ValueError("must be a folder or a URL such as s3://bucket/prefix")
    if sep and "@" in rest.split("/", 1)[0]:
        raise ValueError(
            "must not carry credentials: configure the store's own (environment, role)"
        )
    return url


def validate_export_url(raw: str) -> str:
    """:func:`_export_url` for a destination given on the command line (a ConfigError)."""
    try:
        return _export_url(raw)
    except ValueError as exc:
        raise ConfigError(f"--to: {exc}") from None


#: a dbt node selector: methods (``path:``, ``tag:``), graph operators (``+``, ``@``, ``n+``),
#: wildcards, unions and intersections (``,``)
_DBT_SELECTOR = re.compile(r"[A-Za-z0-9_.:+*@/,\-]+")


def _selectors(raw: str) -> list[str]:
    """dbt node selectors separated by spaces."""
    words = raw.split()
    for word in words:
        if not _DBT_SELECTOR.fullmatch(word):
            raise ValueError(
                "must be dbt selectors separated by spaces (e.g. "
                f"'path:models/staging tag:daily'), got {_shown(word)}"
            )
    return words


#: names a GRANT reads as something other than one role: PUBLIC (every role, on PostgreSQL
#: and Snowflake alike), PostgreSQL's CURRENT_ROLE/CURRENT_USER/SESSION_USER, and reserved
#: words no role is named unquoted
_NOT_ONE_ROLE = ("public", "current_role", "current_user", "session_user", "user", "none", "all")


def _role_name(raw: str) -> str:
    """One role, named as both warehouses read it unquoted (dbt pastes it into its grants):
    lower-case letters, digits and ``_`` (PostgreSQL folds an unquoted name to lower case,
    Snowflake to upper case, so only a lower-case name means the same role to both and to a
    quoted identifier on PostgreSQL); not PUBLIC or another word a GRANT reads as more than one
    role; not ``pg_…``, PostgreSQL's predefined roles (``pg_read_all_data``…)."""
    value = raw.strip()
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", value):
        raise ValueError(
            "must be a role name: lower-case letters, digits and _, starting with a letter or "
            f"_, at most 63, got {_shown(raw)}"
        )
    if value in _NOT_ONE_ROLE:
        raise ValueError(
            f"must name one role, got {_shown(raw)}, which a grant reads as "
            + ("every role" if value == "public" else "another role or no role")
        )
    if value.startswith("pg_"):
        raise ValueError(
            f"must not name one of PostgreSQL's predefined roles (pg_…), got {_shown(raw)}"
        )
    return value


# --- DSNs
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
        raise ValueError(f"is {exc} ({_EXPECTED_POSTGRES})") from None
    if not (fields.get("host") or fields.get("hostaddr")):
        raise ValueError(f"names no host ({_shown_dsn(value)}): {_EXPECTED_POSTGRES}")
    for port in (fields.get("port") or "").split(","):
        # the port is not quoted: a password with a raw "/" makes libpq read part of it
        # as the port
        if port and not (port.isdigit() and 1 <= int(port) <= 65535):
            hint = (
                "; characters such as / ? # @ : in a password must be percent-encoded"
                if dsn_scheme(value)
                else ""
            )
            raise ValueError(
                f"has a port that is not a number from 1 to 65535 ({_shown_dsn(value)}){hint}"
            )
    if require_database and not fields.get("dbname"):
        raise ValueError(f"names no database ({_shown_dsn(value)}): {_EXPECTED_POSTGRES}")


def _check_snowflake(value: str, *, require_database: bool) -> None:
    parts = urlsplit(value)
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when asked
    except ValueError:
        raise ValueError(f"has a port that is not a number ({_shown_dsn(value)})") from None
    query = dict(parse_qsl(parts.query))
    extra: Any = {}
    if "__extra__" in query:  # an Airflow Snowflake connection's URI keeps extras as JSON
        try:
            extra = json.loads(query["__extra__"])
        except ValueError:
            extra = None
        if not isinstance(extra, dict):
            raise ValueError(f"has an __extra__ that is not a JSON object ({_shown_dsn(value)})")

    def given(key: str) -> Any:
        return query.get(key) or extra.get(key) or extra.get(f"extra__snowflake__{key}")

    if not (given("account") or parts.hostname):
        raise ValueError(f"names no Snowflake account ({_shown_dsn(value)}): {_EXPECTED_SNOWFLAKE}")
    if require_database and not (given("database") or parts.path.strip("/")):
        raise ValueError(f"names no database ({_shown_dsn(value)}): {_EXPECTED_SNOWFLAKE}")


def _dsn(raw: str, schemes: Sequence[str], require_database: bool, keyword_form: bool) -> str:
    """A connection string of one of ``schemes``: ``postgresql``/``postgres`` ones are read
    by psycopg (``conninfo_to_dict``), so libpq's keyword/value form is accepted too (unless
    ``keyword_form`` is False); each needs a host and a database name (unless
    ``require_database`` is False); ``snowflake`` ones an account. Messages never show the
    password."""
    value = raw.strip()
    scheme = dsn_scheme(value)
    keywords = keyword_form and any(s in POSTGRES_SCHEMES for s in schemes)
    if (scheme is None and not keywords) or (scheme is not None and scheme not in schemes):
        also = ", or libpq key=value pairs" if keywords else ""
        raise ValueError(
            f"must be a URL starting with {' or '.join(s + '://' for s in schemes)}{also}"
            f" (got scheme {scheme or 'none'!r})"
        )
    if scheme == "snowflake":
        _check_snowflake(value, require_database=require_database)
    else:
        _check_postgres(value, require_database=require_database)
    return value


# --- Snowflake script variables
def snowflake_script_variables() -> set[str] | None:
    """The ``&{name}`` variables the setup scripts use; None where the scripts are not (the
    images do not copy them)."""
    if not SNOWFLAKE_SCRIPTS_DIR.is_dir():
        return None
    return {
        v
        for script in SNOWFLAKE_SCRIPTS_DIR.glob("*.sql")
        for line in script.read_text().splitlines()
        if not line.lstrip().startswith("--")  # a comment explains the &{name} syntax
        for v in SNOWFLAKE_SCRIPT_VARIABLE.findall(line)
    }


def _snowflake_vars(raw: dict[str, str]) -> dict[str, str]:
    """Values for the setup scripts' ``&{name}``: each variable one the scripts use, each value
    one token (its exact shape, per variable, is checked by `finhouse snowflake apply`, which
    splices it into SQL). Every bad one is named, "; " between them."""
    used = snowflake_script_variables()
    problems, values = [], {}
    for name, value in sorted(raw.items()):
        variable = SNOWFLAKE_VAR_PREFIX + name.upper()
        if used is not None and name not in used:
            problems.append(
                f"{variable} sets &{{{name}}}, which no Snowflake setup script uses "
                f"(they use {', '.join(sorted(used))})"
            )
        elif not re.fullmatch(r"[A-Za-z0-9_.$+/=\-]{1,4096}", value.strip()):
            problems.append(f"{variable} must be one word (letters, digits, _ . $ + / = -)")
        else:
            values[name] = value.strip()
    if problems:
        raise ValueError("; ".join(problems))
    return values


# ------------------------------------------------------------------------------ types
def checked(check: Callable[[str], Any]) -> PlainValidator:
    """A setting's validation: ``check`` reads the variable's text. Values come from the
    environment as text only (a Python value would bypass the check)."""

    def validate(value: Any) -> Any:
        if not isinstance(value, str):
            # a ValueError, not a TypeError: pydantic reports only those as the value's fault
            raise ValueError(f"must be given as text, not {type(value).__name__}")  # noqa: TRY004
        return check(value)

    return PlainValidator(validate)


def whole_number(minimum: int | None = None, maximum: int | None = None) -> PlainValidator:
    return checked(lambda raw: _whole_number(raw, minimum, maximum))


def number(
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    greater_than: float | None = None,
    unit: str = "",
) -> PlainValidator:
    return checked(lambda raw: _finite_number(raw, minimum, maximum, greater_than, unit))


def seconds(
    *, minimum: float = 0.0, maximum: float | None = None, greater_than: float | None = None
) -> PlainValidator:
    return number(minimum=minimum, maximum=maximum, greater_than=greater_than, unit="seconds")


def port(minimum: int = 1024) -> PlainValidator:
    """A TCP port to listen on or connect to (below 1024 only where ``minimum`` allows)."""
    return checked(lambda raw: _port(raw, minimum))


def one_of(choices: Any) -> PlainValidator:
    """One of a ``Literal``'s values."""
    return checked(lambda raw: _choice(raw, get_args(choices)))


def path(kind: PathKind, *, must_exist: bool = False) -> PlainValidator:
    return checked(lambda raw: _path(raw, kind, must_exist))


def dsn(
    schemes: Sequence[str], *, require_database: bool = True, keyword_form: bool = True
) -> PlainValidator:
    return checked(lambda raw: _dsn(raw, schemes, require_database, keyword_form))


Cron = Annotated[str, checked(_cron)]
Text = Annotated[str | None, checked(lambda raw: raw)]
ZeroOrOne = Literal["0", "1"]
DbtTarget = Literal["dev", "prod"]
DbtExecutionMode = Literal["watcher", "local"]
SnowflakeAuth = Literal["password", "keypair"]
PgBinaries = Literal["auto", "system", "pgserver"]
PlatformService = Literal["airflow", "simulator", "superset", "logkeeper"]
TestDocker = Literal["auto", "off"]

# --- documentation groups, in the order docs/settings.md lists them
CONNECTIONS = "Connections"
INGESTION = "Ingestion"
DBT = "dbt"
ALERTS = "Alerts"
MAINTENANCE = "Housekeeping: logs and Airflow's metadata (the finhouse_maintenance DAG)"
EXPORTS = "Mart exports (the finhouse_export DAG, `finhouse export`)"
CLOSES = "Month-end closes (the finhouse_close DAG, `finhouse close`)"
FILES = "Spreadsheet sources (the finhouse_files_* DAGs, `finhouse files`)"
ML = "Default prediction (the finhouse_ml_* DAGs, `finhouse ml`)"
SNOWFLAKE = "Snowflake"
LOCAL = "The local platform (`make up`, `finhouse db|platform`)"
INTERNAL = "Set by finhouse for its own child processes"
TESTS = "The test suite, benchmarks and smoke scripts"
RETIRED_GROUP = "No longer read (setting one warns)"
GROUPS = (
    CONNECTIONS,
    INGESTION,
    DBT,
    ALERTS,
    MAINTENANCE,
    EXPORTS,
    CLOSES,
    ML,
    FILES,
    SNOWFLAKE,
    LOCAL,
    INTERNAL,
    TESTS,
    RETIRED_GROUP,
)


def setting(
    default: Any,
    description: str,
    *,
    kind: str,
    group: str,
    scope: Scope = "operator",
    secret: bool = False,
) -> Any:
    """A field of the settings: its default, one-line description, and for the documentation
    what the value is (``kind``: "cron", "seconds", "DSN (PostgreSQL)"…), where it is listed,
    who sets it (operators; finhouse itself, for its child processes; the test suite), and
    whether it is a secret (never shown in messages or docs)."""
    return Field(
        default,
        description=description,
        json_schema_extra={"kind": kind, "group": group, "scope": scope, "secret": secret},
    )


# ------------------------------------------------------------------------------ the object
class TableSettings(BaseModel):
    """The settings of one source table: ``FINHOUSE_<TABLE>_<FIELD>``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schedule: Cron = setting(
        "*/15 * * * *",
        "when the table's ingestion DAG runs (UTC)",
        kind="cron",
        group=INGESTION,
    )
    reconcile_schedule: Cron = setting(
        "7 * * * *", "when the table's reconcile DAG runs (UTC)", kind="cron", group=INGESTION
    )
    parallel_threshold: Annotated[int, whole_number(minimum=0)] = setting(
        2_000_000,
        "a first full load of more rows than this runs in parallel key ranges (0: always)",
        kind="rows",
        group=INGESTION,
    )


#: the fields filled from a family of variables rather than one variable each
FAMILY_FIELDS = ("tables", "snowflake_vars")
#: variables the settings source leaves out in this context (those a first pass found bad)
_LEFT_OUT: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar(
    "finhouse_settings_left_out", default=frozenset()
)


def variable_of(field: str) -> str:
    """The environment variable of a (single-variable) field: ``dbt_threads`` ->
    ``FINHOUSE_DBT_THREADS``."""
    return PREFIX + field.upper()


def table_variable(table: str, field: str) -> str:
    """``FINHOUSE_<TABLE>_<FIELD>``: ``("users", "schedule")`` -> FINHOUSE_USERS_SCHEDULE."""
    return f"{PREFIX}{table.upper()}_{field.upper()}"


class _Environment(PydanticBaseSettingsSource):
    """The environment as the settings read it: each field from its own variable, exactly as
    named (no JSON decoding, no case folding); a family's members gathered into its field;
    blank the same as unset; the variables in :data:`_LEFT_OUT` left out."""

    def get_field_value(
        self,
        field: FieldInfo,  # noqa: ARG002 - the base class's signature
        field_name: str,
    ) -> tuple[Any, str, bool]:
        # unused: __call__ reads every field itself
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        left_out = _LEFT_OUT.get()

        def given(variable: str) -> str | None:
            raw = os.environ.get(variable)
            return None if raw is None or not raw.strip() or variable in left_out else raw

        data: dict[str, Any] = {}
        fields = self.settings_cls.model_fields
        for name in fields:
            if name not in FAMILY_FIELDS and (raw := given(variable_of(name))) is not None:
                data[variable_of(name)] = raw
        if "tables" in fields:
            tables = {
                table: members
                for table in TABLE_NAMES
                if (
                    members := {
                        name: raw
                        for name in TableSettings.model_fields
                        if (raw := given(table_variable(table, name))) is not None
                    }
                )
            }
            if tables:
                data["tables"] = tables
        if "snowflake_vars" in fields:
            variables = {
                variable.removeprefix(SNOWFLAKE_VAR_PREFIX).lower(): raw
                for variable in os.environ
                if variable.startswith(SNOWFLAKE_VAR_PREFIX)
                and (raw := given(variable)) is not None
            }
            if variables:
                data["snowflake_vars"] = variables
        return data


class FinhouseSettings(BaseSettings):
    """Every ``FINHOUSE_*`` variable: each field is ``FINHOUSE_<FIELD>`` (``dbt_threads`` is
    ``FINHOUSE_DBT_THREADS``), except the families. Build it with :func:`load`."""

    model_config = SettingsConfigDict(
        alias_generator=AliasGenerator(validation_alias=variable_of),
        validate_by_name=True,
        extra="ignore",
        frozen=True,
        # defaults are values, not text: they are what the documentation shows
        validate_default=False,
    )

    # --- connections (docs/interfaces.md §4)
    oltp_dsn: Annotated[str | None, dsn(POSTGRES_SCHEMES)] = setting(
        None,
        "the source system (the Django app's database); in Airflow the connection "
        "finhouse_oltp comes first; unset, the CLI uses the embedded cluster",
        kind="DSN (PostgreSQL)",
        group=CONNECTIONS,
        secret=True,
    )
    oltp_extract_dsn: Annotated[str | None, dsn(POSTGRES_SCHEMES)] = setting(
        None,
        "a read-only account for extracts, on FINHOUSE_OLTP_DSN's server (default: that DSN)",
        kind="DSN (PostgreSQL)",
        group=CONNECTIONS,
        secret=True,
    )
    warehouse_dsn: Annotated[str | None, dsn(WAREHOUSE_SCHEMES)] = setting(
        None,
        "the warehouse, as the loader; in Airflow the connection finhouse_warehouse comes "
        "first; unset, the CLI uses the embedded cluster",
        kind="DSN (PostgreSQL or Snowflake)",
        group=CONNECTIONS,
        secret=True,
    )
    transformer_dsn: Annotated[str | None, dsn(WAREHOUSE_SCHEMES)] = setting(
        None,
        "the warehouse as the transformer role, for `finhouse dbt` (default: the warehouse's DSN)",
        kind="DSN (PostgreSQL or Snowflake)",
        group=CONNECTIONS,
        secret=True,
    )
    reporter_dsn: Annotated[str | None, dsn(WAREHOUSE_SCHEMES)] = setting(
        None,
        "the warehouse as the read-only reporter role, for `finhouse report` and Superset",
        kind="DSN (PostgreSQL or Snowflake)",
        group=CONNECTIONS,
        secret=True,
    )
    snowflake_admin_dsn: Annotated[str | None, dsn(("snowflake",), require_database=False)] = (
        setting(
            None,
            "the account `finhouse snowflake apply` runs the setup scripts as (e.g. ACCOUNTADMIN)",
            kind="DSN (Snowflake)",
            group=CONNECTIONS,
            secret=True,
        )
    )

    # --- ingestion
    tables: dict[str, TableSettings] = Field(
        default_factory=dict,
        description="the per-table settings, FINHOUSE_<TABLE>_<FIELD> (see TableSettings)",
    )
    retry_delay_seconds: Annotated[float, seconds(minimum=0, maximum=600)] = setting(
        30.0,
        # more than Airflow's max_retry_delay (10 min) would be capped to it: refused
        "a failed task's first retry delay, then doubling up to 10 minutes",
        kind="seconds",
        group=INGESTION,
    )
    replica_wait_seconds: Annotated[float, seconds(minimum=0)] = setting(
        60.0,
        "how long a run waits for a replica source to replay what the previous run read",
        kind="seconds",
        group=INGESTION,
    )
    stage_lease_seconds: Annotated[float, seconds(minimum=1)] = setting(
        1800.0,
        "a staged parallel full refresh idle this long is taken for killed by the next run",
        kind="seconds",
        group=INGESTION,
    )

    # --- dbt
    dbt_target: Annotated[DbtTarget, one_of(DbtTarget)] = setting(
        "dev",
        "dbt's target: dev (PostgreSQL, connection finhouse_dbt) or prod (Snowflake)",
        kind="choice",
        group=DBT,
    )
    dbt_threads: Annotated[int, whole_number(minimum=1, maximum=64)] = setting(
        2, "dbt threads of the dev profile the dbt DAG renders", kind="integer", group=DBT
    )
    dbt_execution_mode: Annotated[DbtExecutionMode, one_of(DbtExecutionMode)] = setting(
        "watcher",
        "watcher: one dbt build per run, reported model by model; local: a dbt call per model",
        kind="choice",
        group=DBT,
    )
    dbt_test_tasks: Annotated[ZeroOrOne, one_of(ZeroOrOne)] = setting(
        "0",
        "1: the watcher renders a task per model's tests too (twice the dbt DAG's tasks and "
        "logs); 0: tests run in the build, their outcome in dbt_build_check and the record",
        kind="0 or 1",
        group=DBT,
    )
    dbt_fallback_schedule: Cron = setting(
        "30 */2 * * *",
        "the dbt DAG also runs at these times (UTC) when the RAW tables did not all load",
        kind="cron",
        group=DBT,
    )
    dbt_select: Annotated[list[str], checked(_selectors)] = setting(
        [],
        "render only these nodes in the dbt DAG (development and tests; unset in production)",
        kind="dbt selectors",
        group=DBT,
    )
    dbt_cut_refresh: Annotated[ZeroOrOne, one_of(ZeroOrOne)] = setting(
        "1",
        "1: the dbt DAG loads every table just before choosing the RAW cut its build reads "
        "(docs/transformation.md); 0: it chooses among the loads there are",
        kind="0 or 1",
        group=DBT,
    )
    dbt_project_dir: Annotated[Path, path("directory", must_exist=True)] = setting(
        REPO_ROOT / "dbt" / "finhouse",
        "the dbt project, with its parsed target/manifest.json (the images copy it)",
        kind="directory",
        group=DBT,
    )
    dbt_executable: Annotated[Path, path("file")] = setting(
        REPO_ROOT / ".venv-dbt" / "bin" / "dbt",
        "dbt, in its own virtual environment (checked when dbt runs, not when DAGs parse)",
        kind="file",
        group=DBT,
    )
    reporter_role: Annotated[str, checked(_role_name)] = setting(
        "reporter",
        "the warehouse role dbt grants the marts to (lower case; not public or pg_…)",
        kind="role name",
        group=DBT,
    )
    snowflake_auth: Annotated[SnowflakeAuth, one_of(SnowflakeAuth)] = setting(
        "password",
        "how the dbt DAG's prod profile logs in to Snowflake: password or keypair",
        kind="choice",
        group=DBT,
    )

    # --- alerts
    alert_webhook_url: Annotated[str | None, checked(_url)] = setting(
        None,
        "receives a JSON POST (Slack-compatible) on a task's final failure; never logged",
        kind="URL",
        group=ALERTS,
        secret=True,
    )
    alert_email: Annotated[list[str], checked(_email_list)] = setting(
        [],
        "comma-separated addresses mailed on a task's final failure (Airflow's SMTP)",
        kind="e-mail addresses",
        group=ALERTS,
    )

    # --- housekeeping (finhouse.housekeeping, the finhouse_maintenance DAG, `platform up`)
    log_retention_days: Annotated[float, number(greater_than=0, maximum=3650, unit="days")] = (
        setting(
            7.0,
            "Airflow's task and DAG-processor log files older than this are deleted",
            kind="days",
            group=MAINTENANCE,
        )
    )
    log_max_mb: Annotated[float, number(minimum=1, maximum=100_000, unit="MB")] = setting(
        50.0,
        "a log of the local platform (airflow.log, simulator.log…) larger than this is rotated",
        kind="MB",
        group=MAINTENANCE,
    )
    log_backups: Annotated[int, whole_number(minimum=1, maximum=100)] = setting(
        3,
        "rotated copies kept of each local platform log (airflow.log.1 … .N)",
        kind="integer",
        group=MAINTENANCE,
    )
    metadata_retention_days: Annotated[float, number(greater_than=0, maximum=3650, unit="days")] = (
        setting(
            14.0,
            "Airflow's metadata (DAG runs, task instances, XComs, event log…) older than this is "
            "deleted (`airflow db clean`)",
            kind="days",
            group=MAINTENANCE,
        )
    )
    maintenance_schedule: Cron = setting(
        "17 3 * * *",
        "when the finhouse_maintenance DAG cleans the metadata and the task logs (UTC)",
        kind="cron",
        group=MAINTENANCE,
    )

    # --- mart exports (finhouse.exports, the finhouse_export DAG, `finhouse export`)
    export_url: Annotated[str, checked(_export_url)] = setting(
        "",
        "where mart exports are written: a folder or an fsspec URL (s3://bucket/prefix…); "
        "empty: <state dir>/exports",
        kind="folder or URL",
        group=EXPORTS,
    )
    export_retention_days: Annotated[float, number(greater_than=0, maximum=3650, unit="days")] = (
        setting(
            30.0,
            "exports older than this are deleted (the current one of each mart always stays)",
            kind="days",
            group=EXPORTS,
        )
    )

    # --- month-end closes (finhouse.closes, the finhouse_close DAG, `finhouse close`)
    close_days_after_month_end: Annotated[int, whole_number(minimum=1, maximum=28)] = setting(
        5,
        "the finhouse_close DAG closes the previous month on this day of each month (06:00 "
        "UTC): late payments of the month's last days have this long to arrive",
        kind="integer",
        group=CLOSES,
    )
    report_retention_days: Annotated[float, number(greater_than=0, maximum=3650, unit="days")] = (
        setting(
            2557.0,
            "monthly report packs older than this are deleted from the exports' destination (the "
            "latest always stays); default 7 years, a common retention of financial records",
            kind="days",
            group=CLOSES,
        )
    )

    # --- default prediction (finhouse.ml, the finhouse_ml_* DAGs, `finhouse ml`)
    ml_dir: Annotated[Path | None, path("directory")] = setting(
        None,
        "where the default models are kept: a folder per version (the model, its model card) "
        "and serving.json naming the serving one; unset: <state dir>/ml",
        kind="directory",
        group=ML,
    )
    ml_train_schedule: Cron = setting(
        "0 4 2 * *",
        "when the finhouse_ml_train DAG trains a new default model (UTC); it serves only if it "
        "beats the serving model on the test set",
        kind="cron",
        group=ML,
    )
    ml_score_schedule: Cron = setting(
        "0 5 * * *",
        "when the finhouse_ml_score DAG scores every active loan with the serving model (UTC)",
        kind="cron",
        group=ML,
    )

    # --- spreadsheet sources (finhouse.files, the finhouse_files_* DAGs, `finhouse files`)
    files_dir: Annotated[Path | None, path("directory")] = setting(
        None,
        "the drop folder of the spreadsheet sources: one sub-folder per dataset (branches, "
        "branch_targets, officer_targets) holding .csv and .xlsx files; unset: <state dir>/files",
        kind="directory",
        group=FILES,
    )
    files_schedule: Cron = setting(
        "*/10 * * * *",
        "when each finhouse_files_* DAG looks for new, changed and deleted files (UTC)",
        kind="cron",
        group=FILES,
    )

    # --- Snowflake (read by the Snowflake target and `finhouse snowflake apply`)
    snowflake_file_mb: Annotated[float, number(minimum=1, unit="MB")] = setting(
        128.0,
        "size of the Parquet files a Snowflake load PUTs to its stage",
        kind="MB",
        group=SNOWFLAKE,
    )
    snowflake_lock_lease_seconds: Annotated[float, seconds(minimum=5)] = setting(
        300.0,
        "a killed Snowflake run's lock on its table expires after this",
        kind="seconds",
        group=SNOWFLAKE,
    )
    snowflake_vars: Annotated[dict[str, str], PlainValidator(_snowflake_vars)] = setting(
        {},
        "a value for &{name} in snowflake/scripts (sizes, auto-suspend, public keys)",
        kind="script variable",
        group=SNOWFLAKE,
    )

    # --- the local platform
    state_dir: Annotated[Path, path("directory")] = setting(
        REPO_ROOT / ".finhouse",
        "where the embedded PostgreSQL, AIRFLOW_HOME, logs and PID files live",
        kind="directory",
        group=LOCAL,
    )
    pg_port: Annotated[int, port()] = setting(
        54329, "the embedded PostgreSQL's port (127.0.0.1)", kind="port", group=LOCAL
    )
    pg_binaries: Annotated[PgBinaries, one_of(PgBinaries)] = setting(
        "auto",
        "the embedded PostgreSQL's server binaries: auto, system or pgserver (the wheel's)",
        kind="choice",
        group=LOCAL,
    )
    pg_bindir: Annotated[Path | None, path("directory", must_exist=True)] = setting(
        None, "a folder holding initdb and pg_ctl, tried first", kind="directory", group=LOCAL
    )
    airflow_port: Annotated[int, port()] = setting(
        8080, "the local Airflow's API server and UI (127.0.0.1)", kind="port", group=LOCAL
    )
    airflow_start_timeout: Annotated[float, seconds(greater_than=0)] = setting(
        300.0,
        "how long `platform up` waits for Airflow to become healthy",
        kind="seconds",
        group=LOCAL,
    )
    simulate_interval: Annotated[float | None, checked(_interval)] = setting(
        60.0,
        "seconds between the OLTP simulator's ticks under `platform up`; off: no simulator",
        kind="seconds or off",
        group=LOCAL,
    )

    # --- set by finhouse for its own child processes
    dbt_host: Text = setting(
        None,
        "the dev profile's host, from the transformer DSN (set by `finhouse dbt`)",
        kind="text",
        group=INTERNAL,
        scope="internal",
    )
    dbt_port: Annotated[int, port(minimum=1)] = setting(
        5432,
        "the dev profile's port, from the transformer DSN (set by `finhouse dbt`)",
        kind="port",
        group=INTERNAL,
        scope="internal",
    )
    dbt_user: Text = setting(
        None,
        "the dev profile's user, from the transformer DSN (set by `finhouse dbt`)",
        kind="text",
        group=INTERNAL,
        scope="internal",
    )
    dbt_password: Text = setting(
        None,
        "the dev profile's password, from the transformer DSN (set by `finhouse dbt`)",
        kind="text",
        group=INTERNAL,
        scope="internal",
        secret=True,
    )
    dbt_dbname: Text = setting(
        None,
        "the dev profile's database, from the transformer DSN (set by `finhouse dbt`)",
        kind="text",
        group=INTERNAL,
        scope="internal",
    )
    platform_state: Text = setting(
        None,
        "marks the processes `platform up` started: its state folder",
        kind="text",
        group=INTERNAL,
        scope="internal",
    )
    platform_service: Annotated[PlatformService | None, one_of(PlatformService)] = setting(
        None,
        "marks the processes `platform up` started: which service",
        kind="choice",
        group=INTERNAL,
        scope="internal",
    )
    up_since: Annotated[float | None, number(minimum=0, unit="seconds since 1970 (date +%s)")] = (
        setting(
            None,
            "when `make up` began: a PostgreSQL started since then counts as started by it",
            kind="unix time",
            group=INTERNAL,
            scope="internal",
        )
    )

    # --- the test suite, benchmarks and smoke scripts
    django_dsn: Annotated[str | None, dsn(POSTGRES_SCHEMES, keyword_form=False)] = setting(
        None,
        "the database of the test-only Django client",
        kind="DSN (PostgreSQL URL)",
        group=TESTS,
        scope="test",
        secret=True,
    )
    test_docker: Annotated[TestDocker, one_of(TestDocker)] = setting(
        "auto",
        "off: the tests' PostgreSQL never runs in a container",
        kind="choice",
        group=TESTS,
        scope="test",
    )
    dbt_test_select: Annotated[list[str], checked(_selectors)] = setting(
        [],
        "narrows the dbt build of the integration tests",
        kind="dbt selectors",
        group=TESTS,
        scope="test",
    )
    # read as exactly "0" / "1" by the tests and scripts
    soak: Annotated[ZeroOrOne | None, one_of(ZeroOrOne)] = setting(
        None,
        "1: run the Django client's soak test (`make soak-django`)",
        kind="0 or 1",
        group=TESTS,
        scope="test",
    )
    soak_seconds: Annotated[float, seconds(greater_than=0)] = setting(
        300.0, "how long the soak test runs", kind="seconds", group=TESTS, scope="test"
    )
    snowflake_dbt: Annotated[ZeroOrOne | None, one_of(ZeroOrOne)] = setting(
        None,
        "0: skip the dbt build on the Snowflake emulator",
        kind="0 or 1",
        group=TESTS,
        scope="test",
    )
    snowflake_dbt_full: Annotated[ZeroOrOne | None, one_of(ZeroOrOne)] = setting(
        None,
        "1: build every dbt model on the Snowflake emulator",
        kind="0 or 1",
        group=TESTS,
        scope="test",
    )
    snowflake_dbt_timeout: Annotated[int, whole_number(minimum=1)] = setting(
        900,
        "the Snowflake emulator's dbt build time limit",
        kind="whole seconds",
        group=TESTS,
        scope="test",
    )
    snowflake_test_timeout: Annotated[int, whole_number(minimum=1)] = setting(
        180,
        "the Snowflake tests' per-test watchdog",
        kind="whole seconds",
        group=TESTS,
        scope="test",
    )
    snowflake_smoke_apply: Annotated[ZeroOrOne | None, one_of(ZeroOrOne)] = setting(
        None,
        "1: snowflake/smoke.sh runs the setup scripts first",
        kind="0 or 1",
        group=TESTS,
        scope="test",
    )
    snowflake_smoke_dbt_args: Text = setting(
        None,
        "extra arguments for snowflake/smoke.sh's dbt build",
        kind="text",
        group=TESTS,
        scope="test",
    )
    emulator_port: Annotated[int | None, port(minimum=1)] = setting(
        None,
        "the Snowflake emulator's port, for its dbt profile (set by the tests)",
        kind="port",
        group=TESTS,
        scope="test",
    )

    #: (variable, one-line error) of each variable that is bad, by field: reading the field
    #: raises its errors
    _problems: dict[str, list[tuple[str, str]]] = PrivateAttr(default_factory=dict)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        # pydantic-settings passes every source by name
        env_settings: PydanticBaseSettingsSource,  # noqa: ARG003
        dotenv_settings: PydanticBaseSettingsSource,  # noqa: ARG003
        file_secret_settings: PydanticBaseSettingsSource,  # noqa: ARG003
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # only the process's environment: no .env or secrets files (docker compose and
        # Airflow put everything into the environment)
        return (init_settings, _Environment(settings_cls))

    if not TYPE_CHECKING:
        # hidden from type checkers, which would otherwise accept any attribute name
        def __getattr__(self, name: str) -> Any:
            problems = (self.__pydantic_private__ or {}).get("_problems") or {}
            if name in problems:
                raise ConfigError("; ".join(message for _, message in problems[name]))
            return super().__getattr__(name)

    @property
    def problems(self) -> list[str]:
        """The one-line error of each bad variable, by variable name."""
        found = (problem for problems in self._problems.values() for problem in problems)
        return [message for _, message in sorted(found)]

    def table(self, name: str) -> TableSettings:
        """The settings of one source table (``FINHOUSE_<TABLE>_…``)."""
        return self.tables.get(name) or TableSettings()


# ------------------------------------------------------------------------------ reading
def _one_line(error: Any, variable: str) -> str:
    """pydantic's error as our one line: the check's own message after the variable's name;
    anything else pydantic might say, without the value (it may be a secret)."""
    cause = (error.get("ctx") or {}).get("error")
    if error.get("type") == "value_error" and cause is not None:
        text = " ".join(str(cause).split())
        return text if text.startswith(PREFIX) else f"{variable} {text}"
    return f"{variable} is not valid ({error.get('msg', 'bad value')}; value not shown)"


def _variable_at(loc: tuple[Any, ...]) -> tuple[str, str]:
    """(field, variable) of a validation error's location (by alias or by name)."""
    head = str(loc[0]) if loc else ""
    field = head.removeprefix(PREFIX).lower() if head.startswith(PREFIX) else head
    if field == "tables" and len(loc) >= 3:
        return field, table_variable(str(loc[1]), str(loc[2]))
    if field == "snowflake_vars":
        return field, SNOWFLAKE_VAR_PREFIX + "<NAME>"
    return field, variable_of(field)


def load() -> FinhouseSettings:
    """The settings as the environment has them now. Never raises for a bad value: reading
    that field raises its one-line :class:`ConfigError`, and
    :attr:`FinhouseSettings.problems` lists them all."""
    try:
        return FinhouseSettings()
    except ValidationError as exc:
        errors = exc.errors()
    by_field: dict[str, list[tuple[str, str]]] = {}
    for error in errors:
        field, variable = _variable_at(tuple(error["loc"]))
        by_field.setdefault(field, []).append((variable, _one_line(error, variable)))
    # again without the bad variables: every other field is read as usual
    left_out = {v for problems in by_field.values() for v, _ in problems}
    if "snowflake_vars" in by_field:  # validated together: all of them
        left_out |= {v for v in os.environ if v.startswith(SNOWFLAKE_VAR_PREFIX)}
    token = _LEFT_OUT.set(frozenset(left_out))
    try:
        loaded = FinhouseSettings()
    finally:
        _LEFT_OUT.reset(token)
    loaded._problems.update({field: sorted(found) for field, found in by_field.items()})
    for field in by_field:
        loaded.__dict__.pop(field, None)  # so that reading it reaches __getattr__
    return loaded


def read_variable(variable: str, annotation: Any, default: T) -> T:
    """A variable outside ``FINHOUSE_*`` (e.g. ``SUPERSET_PORT``) read with one of these
    types, e.g. ``Annotated[int, port()]``: unset or blank gives ``default``; a bad value is
    one line naming it."""
    raw = os.environ.get(variable)
    if raw is None or not raw.strip():
        return default
    try:
        value: T = TypeAdapter(annotation).validate_python(raw)
    except ValidationError as exc:
        raise ConfigError(_one_line(exc.errors()[0], variable)) from None
    return value


# ------------------------------------------------------------------------------ what exists
#: settings no longer read, and why: setting one warns instead of failing
RETIRED: dict[str, str] = {
    "FINHOUSE_EXTRACT_LAG_SECONDS": "the extraction by commit order has no lag",
    "FINHOUSE_EXTRACT_SKEW_SECONDS": "the extraction by commit order has no clock skew",
}


@dataclass(frozen=True)
class Spec:
    """One documented setting: a variable, or a family (``FINHOUSE_<TABLE>_SCHEDULE``,
    ``FINHOUSE_SNOWFLAKE_VAR_<NAME>``)."""

    name: str
    #: where :class:`FinhouseSettings` keeps it: ``dbt_threads``, ``tables.schedule``
    field: str
    #: what the value is, for people: "cron", "seconds", "DSN (PostgreSQL)"…
    kind: str
    #: the default as documentation shows it ("" = unset)
    default: str
    #: one line: what it does
    description: str
    group: str
    scope: Scope = "operator"
    #: never shown in messages or docs (DSNs, URLs with tokens, passwords)
    secret: bool = False
    #: a choice's values
    choices: tuple[str, ...] = ()

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

    def variable(self, part: str) -> str:
        """The variable of a family for one table (or name): ``users`` -> FINHOUSE_USERS_…"""
        return re.sub(r"<[A-Z]+>", part.upper(), self.name)

    def read(self, variable: str | None = None) -> Any:
        """The value from the environment now (a family's: of ``variable``)."""
        if self.scope == "retired":
            return None
        loaded = load()
        if self.field.startswith("tables."):
            if variable is None:
                raise TypeError(f"{self.name} is a family of settings: name the variable")
            table = next(t for t in TABLE_NAMES if self.variable(t) == variable)
            return getattr(loaded.table(table), self.field.split(".", 1)[1])
        if self.field == "snowflake_vars":
            if variable is None:
                raise TypeError(f"{self.name} is a family of settings: name the variable")
            return loaded.snowflake_vars.get(variable.removeprefix(SNOWFLAKE_VAR_PREFIX).lower())
        return getattr(loaded, self.field)


def _shown_default(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Path):
        return str(value.relative_to(REPO_ROOT)) if value.is_relative_to(REPO_ROOT) else str(value)
    if isinstance(value, list | dict):
        return " ".join(map(str, value))
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _choices(annotation: Any) -> tuple[str, ...]:
    """A ``Literal``'s values, also inside ``… | None``."""
    if get_origin(annotation) is Literal:
        return tuple(map(str, get_args(annotation)))
    if get_origin(annotation) in (Union, UnionType):
        return next((found for arg in get_args(annotation) if (found := _choices(arg))), ())
    return ()


def _spec(name: str, field: str, info: FieldInfo) -> Spec:
    extra = info.json_schema_extra
    if not isinstance(extra, dict):
        raise TypeError(f"{name}: declared without setting()")
    scope: Scope = extra["scope"]  # type: ignore[assignment]
    return Spec(
        name=name,
        field=field,
        kind=str(extra["kind"]),
        default=_shown_default(info.get_default(call_default_factory=True)),
        description=info.description or "",
        group=str(extra["group"]),
        scope=scope,
        secret=bool(extra["secret"]),
        choices=_choices(info.annotation),
    )


@cache
def specs() -> tuple[Spec, ...]:
    """Every setting, as documented: the fields, a family once, and the retired names."""
    found = []
    for name, info in FinhouseSettings.model_fields.items():
        if name == "tables":
            found += [
                _spec(f"{PREFIX}<TABLE>_{sub.upper()}", f"tables.{sub}", sub_info)
                for sub, sub_info in TableSettings.model_fields.items()
            ]
        elif name == "snowflake_vars":
            found.append(_spec(SNOWFLAKE_VAR_PREFIX + "<NAME>", name, info))
        else:
            found.append(_spec(variable_of(name), name, info))
    found += [
        Spec(name, "", "retired", "", why, RETIRED_GROUP, scope="retired")
        for name, why in RETIRED.items()
    ]
    return tuple(found)


def lookup(variable: str) -> Spec | None:
    """The documented setting of a variable (a family's for ``FINHOUSE_USERS_SCHEDULE``)."""
    for spec in specs():
        if spec.name == variable or (spec.family and spec.matches(variable)):
            return spec
    return None


def known_names() -> list[str]:
    """Every variable name the settings know, families expanded over the tables."""
    names = []
    for spec in specs():
        if "<TABLE>" in spec.name:
            names += [spec.variable(t) for t in TABLE_NAMES]
        elif not spec.family:
            names.append(spec.name)
    return names


# ------------------------------------------------------------------------------ validation
def validate_all() -> list[str]:
    """Check every ``FINHOUSE_*`` variable of the environment. Bad values: one
    ``ConfigError`` naming each (its message one line, "; " between them, by variable).
    Returned: warnings, one line each, about names that are not settings (a typo is otherwise
    silently ignored), retired ones, and settings that have no effect as set."""
    problems = load().problems
    if problems:
        raise ConfigError("; ".join(problems))
    warnings: list[str] = []
    for variable in sorted(v for v in os.environ if v.startswith(PREFIX)):
        spec = lookup(variable)
        if spec is None:
            close = difflib.get_close_matches(variable, known_names(), n=1, cutoff=0.85)
            hint = f" (did you mean {close[0]}?)" if close else ""
            warnings.append(f"{variable} is not a finhouse setting{hint}; it is ignored")
        elif spec.scope == "retired":
            warnings.append(f"{variable} is no longer read ({spec.description}); it is ignored")
    given = {v for v in os.environ if os.environ[v].strip()}
    extract, oltp = variable_of("oltp_extract_dsn"), variable_of("oltp_dsn")
    if extract in given and oltp not in given:
        warnings.append(
            f"{extract} is set but {oltp} is not; it is ignored "
            "(the embedded OLTP is read through its own extract role)"
        )
    return warnings


# ------------------------------------------------------------------------------ docs
DOCS = REPO_ROOT / "docs" / "settings.md"
_SCOPES = {
    "internal": "finhouse sets these itself, for the processes it starts; not for operators.",
    "test": "Read by the test suite, the benchmarks and the smoke scripts only.",
}


def markdown() -> str:
    """docs/settings.md: every setting, grouped, as :class:`FinhouseSettings` declares it."""
    out = [
        "# Settings",
        "",
        "Every `FINHOUSE_*` environment variable finhouse reads, by what it configures. Unset "
        "or blank is the default; a bad value stops the CLI before any command, and fails the "
        "import of a DAG file that reads it, with one line naming the variable (never its "
        "secret). A `FINHOUSE_*` name that is no setting is a warning (`finhouse` prints it).",
        "",
        "Generated from `finhouse.settings.FinhouseSettings` by "
        "`python -m finhouse.settings > docs/settings.md`; `tests/unit/test_settings.py` keeps "
        "this file equal to what it generates.",
    ]
    for group in GROUPS:
        rows = [s for s in specs() if s.group == group]
        if not rows:
            continue
        out += ["", f"## {group}", ""]
        scopes = {s.scope for s in rows}
        out += [_SCOPES[scope] + "\n" for scope in sorted(scopes) if scope in _SCOPES]
        if group == RETIRED_GROUP:
            out += ["| variable | why |", "|---|---|"]
            out += [f"| `{s.name}` | {s.description} |" for s in rows]
            continue
        out += ["| variable | type | default | description |", "|---|---|---|---|"]
        for s in rows:
            kind = " or ".join(f"`{c}`" for c in s.choices) if s.choices else s.kind
            kind += ", secret" if s.secret else ""
            default = f"`{s.default}`" if s.default else "unset"
            description = s.description.replace("|", "\\|")
            out.append(f"| `{s.name}` | {kind} | {default} | {description} |")
    return "\n".join(out) + "\n"


def main(argv: Sequence[str] = ()) -> int:
    """``python -m finhouse.settings``: print docs/settings.md."""
    if argv:
        sys.stderr.write("usage: python -m finhouse.settings > docs/settings.md\n")
        return 2
    sys.stdout.write(markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
