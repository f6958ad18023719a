"""Reading RAW's current state (docs/interfaces.md §2) and comparing it with the OLTP."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from finhouse.tables import TABLES


def source_columns(conn: psycopg.Connection, table: str) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            "select column_name from information_schema.columns where table_schema = 'public' "
            "and table_name = %s order by ordinal_position",
            (table,),
        )
    ]


def oltp_state(conn: psycopg.Connection, table: str, columns: list[str]) -> dict[Any, tuple]:
    spec = TABLES[table]
    rows = conn.execute(
        sql.SQL("select {}, {} from {}").format(
            sql.Identifier(spec.primary_key),
            sql.SQL(", ").join(map(sql.Identifier, columns)),
            sql.Identifier(table),
        )
    ).fetchall()
    return {r[0]: tuple(r[1:]) for r in rows}


def raw_current(conn: psycopg.Connection, table: str, columns: list[str]) -> dict[Any, tuple]:
    """Per key the version the latest load saw (greatest ``_loaded_at``, then cursor:
    docs/interfaces.md §2), if not marked deleted."""
    spec = TABLES[table]
    key, cursor = sql.Identifier(spec.primary_key), sql.Identifier(spec.cursor)
    rows = conn.execute(
        sql.SQL("""
        select * from (
            select distinct on ({key}) {key}, {cols}, _deleted_at from raw.{table}
            order by {key}, _loaded_at desc, {cursor} desc nulls last) latest
        where _deleted_at is null""").format(
            key=key,
            cursor=cursor,
            table=sql.Identifier(table),
            cols=sql.SQL(", ").join(map(sql.Identifier, columns)),
        )
    ).fetchall()
    return {r[0]: tuple(r[1:-1]) for r in rows}


def versions(conn: psycopg.Connection, table: str) -> int:
    row = conn.execute(sql.SQL("select count(*) from raw.{}").format(sql.Identifier(table)))
    return int(row.fetchone()[0])  # type: ignore[index]


def assert_raw_equals_oltp(
    oltp: psycopg.Connection, warehouse: psycopg.Connection, tables: list[str] | None = None
) -> None:
    for table in tables or list(TABLES):
        columns = source_columns(oltp, table)
        expected = oltp_state(oltp, table, columns)
        actual = raw_current(warehouse, table, columns)
        missing = expected.keys() - actual.keys()
        extra = actual.keys() - expected.keys()
        changed = [k for k in expected.keys() & actual.keys() if expected[k] != actual[k]]
        assert not (missing or extra or changed), (  # noqa: PT018 - one message for all three
            f"{table}: {len(missing)} missing in RAW (e.g. {sorted(missing)[:5]}), "
            f"{len(extra)} extra (e.g. {sorted(extra)[:5]}), {len(changed)} differ "
            f"(e.g. {[(k, expected[k], actual[k]) for k in changed[:2]]})"
        )
