"""One role matrix on both warehouses (docs/architecture.md, principle 6).

The matrix below is the single statement of it; the PostgreSQL warehouse that `finhouse db
up` builds must enforce it (checked with real statements as each role), and the Snowflake
setup scripts must grant exactly its schema-level privileges (checked on their text).
snowflake/README.md documents the mapping."""

from __future__ import annotations

import re

import psycopg
import pytest

from finhouse.targets import snowflake_setup
from tests.conftest import Databases

pytestmark = pytest.mark.integration

#: role -> schema -> what it may do ("write" includes reading)
MATRIX: dict[str, dict[str, str]] = {
    "loader": {"raw": "write", "finhouse_meta": "write"},
    "transformer": {
        "raw": "read",
        "finhouse_meta": "read",
        "staging": "write",
        "intermediate": "write",
        "marts": "write",
    },
    "reporter": {"marts": "read"},
}
SCHEMAS = ("raw", "finhouse_meta", "staging", "intermediate", "marts")


def _allowed(conn: psycopg.Connection, statement: str) -> bool:
    """Whether ``statement`` is permitted (it is rolled back either way)."""
    try:
        with conn.transaction(force_rollback=True):
            conn.execute(statement)
    except psycopg.errors.InsufficientPrivilege:
        return False
    return True


def test_postgres_warehouse_enforces_the_matrix(dbs: Databases) -> None:
    # one table per schema, made by the schema's owner, as ingestion and dbt would
    owners = {"raw": "loader", "finhouse_meta": "loader"}
    for schema in SCHEMAS:
        owner = owners.get(schema, "transformer")
        with psycopg.connect(dbs.warehouse_dsn(owner), autocommit=True) as conn:
            conn.execute(f"create table {schema}.probe (x int)")
            conn.execute(f"insert into {schema}.probe values (1)")
            if schema == "marts":
                conn.execute("grant select on marts.probe to reporter")  # dbt's grants config
    found: dict[str, dict[str, str]] = {}
    for role in MATRIX:
        with psycopg.connect(dbs.warehouse_dsn(role)) as conn:
            for schema in SCHEMAS:
                table = f"{schema}.probe"
                if _allowed(conn, f"insert into {table} values (2)") and _allowed(
                    conn, f"create table {schema}.probe_{role} (x int)"
                ):
                    found.setdefault(role, {})[schema] = "write"
                elif _allowed(conn, f"select * from {table}"):
                    found.setdefault(role, {})[schema] = "read"
                else:
                    # nothing at all: neither write (update, delete, truncate, drop) nor read
                    for statement in (
                        f"update {table} set x = 3",
                        f"delete from {table}",
                        f"truncate {table}",
                        f"drop table {table}",
                    ):
                        assert not _allowed(conn, statement), f"{role}: {statement}"
    assert found == MATRIX


def test_loader_cannot_write_marts(dbs: Databases) -> None:
    with psycopg.connect(dbs.warehouse_dsn("transformer"), autocommit=True) as conn:
        conn.execute("create table marts.portfolio_probe (x int)")
    with psycopg.connect(dbs.warehouse_dsn("loader")) as conn:
        for statement in (
            "insert into marts.portfolio_probe values (1)",
            "update marts.portfolio_probe set x = 1",
            "delete from marts.portfolio_probe",
            "create table marts.loader_table (x int)",
            "drop table marts.portfolio_probe",
        ):
            assert not _allowed(conn, statement), statement


def test_snowflake_scripts_grant_the_same_matrix() -> None:
    granted: dict[str, dict[str, str]] = {}
    for st in snowflake_setup.statements():
        text = " ".join(st.sql.lower().split())
        if m := re.match(r"grant ownership on schema \w+\.(\w+) to role (\w+)", text):
            granted.setdefault(m.group(2), {})[m.group(1)] = "write"
        elif m := re.match(
            r"grant select on (?:all|future) tables in schema \w+\.(\w+) to role (\w+)", text
        ):
            granted.setdefault(m.group(2), {}).setdefault(m.group(1), "read")
    assert granted == MATRIX
