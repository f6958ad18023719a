"""Least privilege and no direct PII in the marts (architecture.md role matrix, principle 6).

The ``reporter`` role (Superset) reads every mart and nothing else; every mart column is
approved in ``dbt/finhouse/marts_columns_allowlist.yml``, which may list no PII column of the
staging YAML (``meta: {pii: true}``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from psycopg import sql

from tests.conftest import REPO

pytestmark = pytest.mark.integration

DBT_PROJECT = REPO / "dbt" / "finhouse"
ALLOWLIST = DBT_PROJECT / "marts_columns_allowlist.yml"
FORBIDDEN_SCHEMAS = ("raw", "staging", "intermediate", "finhouse_meta")


def _relations(dsn: str, schema: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "select table_name from information_schema.tables where table_schema = %s "
            "order by table_name",
            (schema,),
        ).fetchall()
    return [row[0] for row in rows]


def _mart_columns(dsn: str) -> dict[str, set[str]]:
    columns: dict[str, set[str]] = {}
    with psycopg.connect(dsn) as conn:
        for table, column in conn.execute(
            "select table_name, column_name from information_schema.columns "
            "where table_schema = 'marts' order by table_name, ordinal_position"
        ):
            columns.setdefault(table, set()).add(column)
    return columns


def _pii_columns() -> set[str]:
    pii: set[str] = set()
    for path in sorted((DBT_PROJECT / "models" / "staging").rglob("*.yml")):
        document: dict[str, Any] = yaml.safe_load(path.read_text()) or {}
        for model in document.get("models", []):
            for column in model.get("columns", []):
                meta = {
                    **(column.get("meta") or {}),
                    **(column.get("config", {}).get("meta") or {}),
                }
                if meta.get("pii"):
                    pii.add(column["name"].lower())
    return pii


def _allowlist(path: Path = ALLOWLIST) -> dict[str, set[str]]:
    document = yaml.safe_load(path.read_text())
    return {mart: {c.lower() for c in columns} for mart, columns in document["marts"].items()}


def test_reporter_reads_every_mart(built: Any) -> None:
    marts = _relations(built.dsn(), "marts")
    assert marts, "the build produced no mart"
    with psycopg.connect(built.dsn("reporter"), autocommit=True) as conn:
        for mart in marts:
            conn.execute(sql.SQL("select * from {} limit 1").format(sql.Identifier("marts", mart)))


@pytest.mark.parametrize("schema", FORBIDDEN_SCHEMAS)
def test_reporter_is_refused_outside_marts(built: Any, schema: str) -> None:
    relations = _relations(built.dsn(), schema)
    assert relations, f"schema {schema} has no relation to probe"
    with psycopg.connect(built.dsn("reporter"), autocommit=True) as conn:
        for relation in relations:
            query = sql.SQL("select * from {} limit 1").format(sql.Identifier(schema, relation))
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(query)


def test_pii_columns_are_declared() -> None:
    # the PII list of the staging YAML is what the allowlist check relies on
    assert {"email", "first_name", "last_name", "phone", "national_id", "date_of_birth"} <= (
        _pii_columns()
    )


def test_allowlist_lists_no_pii_column() -> None:
    pii = _pii_columns()
    offending = {
        f"{mart}.{column}"
        for mart, columns in _allowlist().items()
        for column in columns
        if column in pii
    }
    assert not offending, f"PII columns in the marts allowlist: {sorted(offending)}"


def test_every_mart_column_is_allowlisted(built: Any) -> None:
    allowed = _allowlist()
    unapproved = {
        f"{mart}.{column}"
        for mart, columns in _mart_columns(built.dsn()).items()
        for column in columns
        if column.lower() not in allowed.get(mart, set())
    }
    assert not unapproved, (
        f"mart columns not in {ALLOWLIST.relative_to(REPO)}: {sorted(unapproved)}"
    )


def test_marts_are_granted_to_the_quoted_role(built: Any) -> None:
    with psycopg.connect(built.dsn(), autocommit=True) as conn:
        granted = conn.execute(
            "select count(*) from information_schema.role_table_grants "
            "where table_schema = 'marts' and grantee = 'reporter' and privilege_type = 'SELECT'"
        ).fetchone()
        marts = len(_relations(built.dsn(), "marts"))
    assert granted == (marts,)


@pytest.mark.parametrize(
    "role", ["reporter; drop schema marts cascade", "public", "pg_read_all_data"]
)
def test_dbt_itself_refuses_a_bad_reporter_role_before_any_model(built: Any, role: str) -> None:
    """dbt reads FINHOUSE_REPORTER_ROLE from the environment whoever runs it (a shell, Cosmos):
    its own on-run-start check stops the run before a model is built or a grant is made."""
    dbt_env = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json; from finhouse_local.dbt_env import dbt_environment;"
            " print(json.dumps(dbt_environment()))",
        ],
        env=built.env(),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    env = {**built.env(), **json.loads(dbt_env.stdout), "FINHOUSE_REPORTER_ROLE": role}
    with psycopg.connect(built.dsn(), autocommit=True) as conn:
        before = conn.execute(
            "select oid from pg_class where relname = 'stg_oltp__users'"
        ).fetchall()
    out = subprocess.run(
        [str(REPO / ".venv-dbt" / "bin" / "dbt"), "run", "--select", "stg_oltp__users"],
        cwd=DBT_PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode != 0
    assert "FINHOUSE_REPORTER_ROLE must be one plain role name" in out.stdout
    assert "drop schema" not in out.stdout  # the value is not echoed
    with psycopg.connect(built.dsn(), autocommit=True) as conn:
        after = conn.execute(
            "select oid from pg_class where relname = 'stg_oltp__users'"
        ).fetchall()
        assert after == before  # the view was not rebuilt
        assert conn.execute(
            "select count(*) from information_schema.schemata where schema_name = 'marts'"
        ).fetchone() == (1,)
