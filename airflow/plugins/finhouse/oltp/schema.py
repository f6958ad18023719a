"""Create (or re-create) the OLTP schema of docs/interfaces.md §1."""

from __future__ import annotations

import datetime as dt
from importlib import resources

from psycopg import sql

from finhouse.connections import connect

#: in foreign-key order (parents first)
TABLES = ("users", "accounts", "loans", "payments", "transactions", "investments")


def ddl() -> str:
    return resources.files(__package__).joinpath("schema.sql").read_text()


def init(dsn: str, *, drop: bool = False) -> None:
    with connect(dsn) as conn:
        if drop:
            conn.execute(
                sql.SQL("drop table if exists {} cascade").format(
                    sql.SQL(", ").join(sql.Identifier(t) for t in reversed(TABLES))
                )
            )
        conn.execute(ddl())


def summary(dsn: str) -> list[tuple[str, int, dt.datetime | None]]:
    """(table, rows, latest change) for each table; the schema must exist."""
    rows = []
    with connect(dsn) as conn:
        for table in TABLES:
            cursor = "created_at" if table == "transactions" else "updated_at"
            count, latest = conn.execute(
                sql.SQL("select count(*), max({}) from {}").format(
                    sql.Identifier(cursor), sql.Identifier(table)
                )
            ).fetchone()  # type: ignore[misc]
            rows.append((table, count, latest))
    return rows
