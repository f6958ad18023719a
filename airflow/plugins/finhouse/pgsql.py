"""SQL shared by both PostgreSQL ends (the source and the PostgreSQL warehouse).

The row hash must come out identical on both servers for identical values, so both sessions
render values the same way (``SESSION_OPTIONS``) and both build the hash with ``row_hash``.
"""

from __future__ import annotations

from collections.abc import Sequence

from psycopg import sql

from finhouse.compare import BUCKET_SHIFT

#: fixed text forms: times in UTC, ISO dates, shortest exact floats, hex bytea
SESSION_OPTIONS = (
    "-c TimeZone=UTC -c DateStyle=ISO -c IntervalStyle=postgres "
    "-c extra_float_digits=1 -c bytea_output=hex"
)


def row_hash(columns: Sequence[str], alias: str | None = None) -> sql.Composed:
    """The first 60 bits of md5(record text) as a non-negative bigint."""
    cols = sql.SQL(", ").join(
        sql.Identifier(alias, c) if alias else sql.Identifier(c) for c in columns
    )
    return sql.SQL("('x' || left(md5(row({})::text), 15))::bit(60)::bigint").format(cols)


def bucket(key: str, alias: str | None = None) -> sql.Composed:
    ident = sql.Identifier(alias, key) if alias else sql.Identifier(key)
    return sql.SQL("({} >> {})").format(ident, sql.Literal(BUCKET_SHIFT))
