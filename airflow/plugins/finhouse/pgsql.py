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
