"""``finhouse snowflake apply``: run ``snowflake/scripts/*.sql`` in order (idempotent setup).

The scripts use SnowSQL's variable syntax, ``&{name}``, so they also run unchanged with
``snowsql -o variable_substitution=true -D name=value -f …``. Values come from, in order:
``--var name=value``, the environment (``FINHOUSE_SNOWFLAKE_VAR_<NAME>``), the defaults
below. A statement whose variables have no value (e.g. a service user's public key not given
yet) is skipped with a message; everything else runs. Statements are split with the
connector's own splitter (quotes, comments and ``$$`` bodies handled) and executed one by
one; ``--dry-run`` prints them, after substitution, without connecting.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finhouse import settings
from finhouse.errors import ConfigError, FinhouseError

SCRIPTS_DIR = settings.SNOWFLAKE_SCRIPTS_DIR
VARIABLE = settings.SNOWFLAKE_SCRIPT_VARIABLE
#: values the scripts need that have a sensible default (sizes are Snowflake's names)
DEFAULTS: dict[str, str] = {
    "database": "FINHOUSE",
    "loading_warehouse_size": "XSMALL",
    "loading_auto_suspend": "60",
    "transforming_warehouse_size": "SMALL",
    "transforming_auto_suspend": "120",
    "reporting_warehouse_size": "XSMALL",
    "reporting_auto_suspend": "60",
}
_SAFE_VALUE = {
    "database": re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,254}$"),
    "size": re.compile(r"^(X{0,5}SMALL|MEDIUM|X{0,5}LARGE|[2-6]XLARGE)$", re.IGNORECASE),
    "number": re.compile(r"^\d{1,7}$"),
    "key": re.compile(r"^[A-Za-z0-9+/=]{1,4096}$"),
}


def _validate(name: str, value: str) -> str:
    """Values are spliced into SQL text: each kind of variable has a strict shape."""
    kind = (
        "database"
        if name == "database"
        else "size"
        if name.endswith("_size")
        else "number"
        if name.endswith("_auto_suspend")
        else "key"
        if name.endswith("_public_key")
        else None
    )
    if kind is None:
        if not re.match(r"^[A-Za-z0-9_.\-]{1,255}$", value):
            raise ConfigError(f"Snowflake script variable {name}: unexpected characters")
        return value
    if not _SAFE_VALUE[kind].match(value):
        raise ConfigError(f"Snowflake script variable {name}={value!r} is not a valid {kind}")
    return value


def variables(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """The defaults, then ``FINHOUSE_SNOWFLAKE_VAR_*``, then ``overrides``; all validated."""
    values = dict(DEFAULTS)
    values.update(settings.load().snowflake_vars)
    values.update(overrides or {})
    return {name: _validate(name, value) for name, value in values.items()}


@dataclass(frozen=True)
class Statement:
    script: str
    number: int
    sql: str
    #: variables the statement needs that have no value: it is skipped
    missing: tuple[str, ...] = ()

    @property
    def summary(self) -> str:
        first = " ".join(self.sql.split())
        return first if len(first) <= 100 else first[:97] + "..."


def scripts(directory: Path = SCRIPTS_DIR) -> list[Path]:
    found = sorted(directory.glob("*.sql"))
    if not found:
        raise ConfigError(f"no Snowflake setup scripts in {directory}")
    return found


def split(text: str) -> list[str]:
    """Statements of a script, comments removed, each ending with ``;``."""
    from snowflake.connector.util_text import split_statements  # noqa: PLC0415

    return [s for s, _is_put in split_statements(io.StringIO(text), remove_comments=True)]


def substitute(sql: str, values: Mapping[str, str]) -> tuple[str, tuple[str, ...]]:
    missing = tuple(dict.fromkeys(n for n in VARIABLE.findall(sql) if n not in values))
    if missing:
        return sql, missing
    return VARIABLE.sub(lambda m: values[m.group(1)], sql), ()


def statements(
    directory: Path = SCRIPTS_DIR, values: Mapping[str, str] | None = None
) -> Iterator[Statement]:
    """Every statement of every script, in order, with variables substituted."""
    values = variables() if values is None else values
    for path in scripts(directory):
        for number, raw in enumerate(split(path.read_text()), start=1):
            sql, missing = substitute(raw, values)
            yield Statement(path.name, number, sql, missing)


class ApplyError(FinhouseError):
    """A setup statement failed on Snowflake."""


def apply(
    connection: Any,
    *,
    directory: Path = SCRIPTS_DIR,
    values: Mapping[str, str] | None = None,
    echo: Callable[[str], None] = print,
) -> tuple[int, int]:
    """Execute every statement in order on ``connection``; (executed, skipped)."""
    import snowflake.connector  # noqa: PLC0415 - heavy; only when Snowflake is used

    executed = skipped = 0
    cursor = connection.cursor()
    try:
        for st in statements(directory, values):
            if st.missing:
                skipped += 1
                echo(f"-- {st.script} #{st.number}: skipped, set {', '.join(st.missing)}")
                continue
            try:
                cursor.execute(st.sql)
            except snowflake.connector.errors.Error as exc:
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                raise ApplyError(
                    f"{st.script} statement {st.number} failed ({st.summary}): {reason}"
                ) from None
            executed += 1
            echo(f"ok {st.script} #{st.number}: {st.summary}")
    finally:
        cursor.close()
    return executed, skipped


def dry_run(
    *,
    directory: Path = SCRIPTS_DIR,
    values: Mapping[str, str] | None = None,
    echo: Callable[[str], None] = print,
) -> int:
    """Print every statement as it would run (skipped ones as comments); no connection."""
    count = 0
    current = None
    for st in statements(directory, values):
        if st.script != current:
            echo(f"-- ===== {st.script}")
            current = st.script
        if st.missing:
            echo(f"-- skipped (set {', '.join(st.missing)}):")
            echo("-- " + st.sql.replace("\n", "\n-- "))
        else:
            echo(st.sql)
            count += 1
    return count
