"""What differs between warehouses, as a few small hooks (the way dlt's destinations share
their SQL and override a capability here and there).

Both DB-API drivers in use (psycopg 3, snowflake-connector-python) take ``%s`` /
``%(name)s`` parameters, so statements are written once; a dialect names its types, quotes
identifiers, wraps parameters that need a cast, and runs statements.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any, Protocol


class Dialect(Protocol):
    name: str
    #: the warehouse's spelling of these generic column types
    text: str
    bigint: str
    timestamp: str
    seconds: str  # numeric(12, 3)
    json: str
    identity: str  # an auto-numbered bigint primary key column's type and clause
    now: str

    def ident(self, name: str) -> str: ...

    def qualified(self, schema: str, name: str) -> str: ...

    def ts(self) -> str:
        """A placeholder for a timestamptz parameter (see ``ts_value``)."""
        ...

    def ts_value(self, value: dt.datetime | None) -> Any: ...

    def json_placeholder(self) -> str: ...

    def json_value(self, value: Any) -> Any: ...

    def check(self, expression: str) -> str:
        """A CHECK clause, or nothing where the warehouse does not enforce them."""
        ...

    def execute(self, conn: Any, statement: str, params: Any = None) -> int: ...

    def rows(self, conn: Any, statement: str, params: Any = None) -> list[tuple[Any, ...]]: ...

    def one(self, conn: Any, statement: str, params: Any = None) -> Any:
        """The first column of the first row, or None."""
        ...

    def transaction(self, conn: Any) -> Any: ...

    def utc(self, value: Any) -> dt.datetime | None: ...


class DialectBase:
    """Shared behaviour of the dialects (both drivers are DB-API 2)."""

    name = "sql"

    def ts(self) -> str:
        return "%s"

    def ts_value(self, value: dt.datetime | None) -> Any:
        return value

    def json_placeholder(self) -> str:
        return "%s"

    def json_value(self, value: Any) -> Any:
        return json.dumps(value, sort_keys=True, default=str)

    def check(self, expression: str) -> str:
        return f"check ({expression})"

    def qualified(self, schema: str, name: str) -> str:
        return f"{self.ident(schema)}.{self.ident(name)}"

    def ident(self, name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    def execute(self, conn: Any, statement: str, params: Any = None) -> int:
        cur = conn.cursor()
        try:
            cur.execute(statement, params)
            return int(cur.rowcount or 0) if cur.rowcount and cur.rowcount > 0 else 0
        finally:
            cur.close()

    def rows(self, conn: Any, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
        cur = conn.cursor()
        try:
            cur.execute(statement, params)
            return [tuple(r) for r in cur.fetchall()]
        finally:
            cur.close()

    def one(self, conn: Any, statement: str, params: Any = None) -> Any:
        found = self.rows(conn, statement, params)
        return found[0][0] if found else None

    @contextmanager
    def transaction(self, conn: Any) -> Iterator[None]:
        """An explicit transaction on an autocommit connection: committed when the block
        ends, rolled back if it raises (the rollback's own failure is not what matters)."""
        self.execute(conn, "begin")
        committed = False
        try:
            yield
            self.execute(conn, "commit")
            committed = True
        finally:
            if not committed:
                with suppress(Exception):
                    self.execute(conn, "rollback")

    def utc(self, value: Any) -> dt.datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        if not isinstance(value, dt.datetime):
            raise TypeError(f"not a timestamp: {type(value).__name__}")
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def column_list(dialect: Dialect, names: Sequence[str], alias: str | None = None) -> str:
    prefix = f"{alias}." if alias else ""
    return ", ".join(prefix + dialect.ident(n) for n in names)
