"""SQL shared by both PostgreSQL ends (the source and the PostgreSQL warehouse).

The row hash must come out identical on both servers for identical values, so both sessions
render values the same way (``SESSION_OPTIONS``) and both build the hash with ``row_hash``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from psycopg import sql

from finhouse.compare import BUCKET_SHIFT

#: fixed text forms: times in UTC, ISO dates, shortest exact floats, hex bytea
SESSION_OPTIONS = (
    "-c TimeZone=UTC -c DateStyle=ISO -c IntervalStyle=postgres "
    "-c extra_float_digits=1 -c bytea_output=hex"
)


def row_hash(columns: Sequence[str], alias: str | None = None) -> sql.Composed:
    """A 64-bit hash of the row's text form (PostgreSQL's own text hash, the one hash
    partitioning uses: about half the cost of md5 here, 5M ledger rows measured). Both ends
    must compute it alike: :data:`HASH_PROBE` is compared first, and a pair of servers that
    disagree (a different byte order) compares in the portable form instead."""
    cols = sql.SQL(", ").join(
        sql.Identifier(alias, c) if alias else sql.Identifier(c) for c in columns
    )
    return sql.SQL("hashtextextended(row({})::text, 0)").format(cols)


#: what both ends of a ``postgres``-flavor comparison must answer alike
HASH_PROBE = "select hashtextextended('finhouse: 1.50, 2026-12-03 10:00:00+00, ✓', 0)"


def hashed_aggregate(conn: Any) -> AbstractContextManager[None]:
    """Group the bucket sums by hashing: PostgreSQL cannot estimate ``key >> 12`` and plans a
    sort of every row (spilling 800 MB at 5M rows) for what are ~1,200 groups."""
    return _setting(conn, "enable_sort", "off", "on")


@contextmanager
def _setting(conn: Any, name: str, value: str, back: str) -> Iterator[None]:
    conn.execute(f"set local {name} = {value}")
    try:
        yield
    finally:
        if not conn.closed and not conn.broken:
            conn.execute(f"set local {name} = {back}")


def bucket(key: str, alias: str | None = None) -> sql.Composed:
    ident = sql.Identifier(alias, key) if alias else sql.Identifier(key)
    return sql.SQL("({} >> {})").format(ident, sql.Literal(BUCKET_SHIFT))


#: the null marker and separator of the portable row text (characters no value here holds)
NULL_MARK = "chr(30)"
SEPARATOR = "chr(31)"


def canonical(column: str, source_type: str, alias: str) -> sql.Composed:
    """A value's text in the form both PostgreSQL and Snowflake can render (the *portable*
    flavor): times as epoch microseconds, dates as days since 1970, fixed-length text without
    its padding, JSON by presence only (the two databases print JSON differently), anything
    else as PostgreSQL's text (integers, numerics with their scale, booleans, strings)."""
    ident = sql.Identifier(alias, column)
    if source_type in ("json", "jsonb"):
        return sql.SQL("case when {} is null then null else 'J' end").format(ident)
    if source_type.startswith("timestamp"):
        return sql.SQL(
            "(extract(epoch from date_trunc('second', {c}))::bigint * 1000000"
            " + mod(extract(microseconds from {c})::bigint, 1000000))::text"
        ).format(c=ident)
    if source_type == "date":
        return sql.SQL("({} - date '1970-01-01')::text").format(ident)
    if source_type.startswith("character(") or source_type == "character":
        return sql.SQL("rtrim({}::text)").format(ident)
    return sql.SQL("{}::text").format(ident)


def portable_row_hash(columns: Sequence[tuple[str, str]], alias: str) -> sql.Composed:
    """md5 (hex) of the row's portable text: ``(name, source type)`` pairs in order."""
    parts = sql.SQL(", ").join(
        sql.SQL("coalesce({}, {})").format(canonical(name, type_, alias), sql.SQL(NULL_MARK))
        for name, type_ in columns
    )
    return sql.SQL("md5(concat_ws({}, {}))").format(sql.SQL(SEPARATOR), parts)
