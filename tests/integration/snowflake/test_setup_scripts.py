"""snowflake/scripts/: every statement parses as Snowflake SQL and the whole setup runs, twice
(idempotent), against the emulator; `finhouse snowflake apply` drives it."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import sqlglot
from click.testing import CliRunner
from sqlglot import exp
from sqlglot.errors import ErrorLevel

from finhouse.cli import cli
from finhouse.targets import snowflake_setup
from tests.integration.snowflake.emulator import NOP_REGEXES, emulated

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:Arrow output on a DB-API result:UserWarning"),
]

KEYS = {
    f"{r}_rsa_public_key": "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"
    for r in ("loader", "transformer", "reporter")
}
#: statements sqlglot keeps as an opaque Command (it has no grammar for them): account-level
#: and governance objects only; everything else must parse into a real expression
OPAQUE_OK = re.compile(
    r"^(grant|revoke|create role|alter warehouse|create user|alter user|create masking policy"
    r"|alter masking policy|alter tag|create tag)\b",
    re.IGNORECASE,
)


@pytest.fixture
def emulator() -> Iterator[None]:
    with emulated():
        yield


def test_every_statement_parses_as_snowflake_sql() -> None:
    values = snowflake_setup.variables(KEYS)
    statements = list(snowflake_setup.statements(values=values))
    assert len(statements) > 60
    assert not [s for s in statements if s.missing]
    opaque = []
    for st in statements:
        tree = sqlglot.parse_one(st.sql, read="snowflake", error_level=ErrorLevel.RAISE)
        if isinstance(tree, exp.Command) and not OPAQUE_OK.match(st.summary):
            opaque.append(f"{st.script} #{st.number}: {st.summary}")
    assert not opaque, "statements sqlglot could not parse:\n" + "\n".join(opaque)
    scripts = [p.name for p in snowflake_setup.scripts()]
    assert scripts == sorted(scripts)
    assert scripts[0].startswith("01_")


def test_variables_are_validated_before_reaching_sql() -> None:
    with pytest.raises(Exception, match="not a valid size"):
        snowflake_setup.variables({"loading_warehouse_size": "XSMALL'; drop database x; --"})
    with pytest.raises(Exception, match="not a valid key"):
        snowflake_setup.variables({"loader_rsa_public_key": "abc' or 1=1"})


def test_dry_run_prints_each_statement_and_connects_to_nothing() -> None:
    out = CliRunner().invoke(
        cli, ["snowflake", "apply", "--dry-run"], env={"SNOWFLAKE_ACCOUNT": ""}
    )
    assert out.exit_code == 0, out.output
    assert "create database if not exists FINHOUSE" in out.output
    assert "warehouse_size = 'SMALL'" in out.output  # transforming's default size
    # public keys not given: those statements are shown as skipped, not run
    assert "-- skipped (set loader_rsa_public_key)" in out.output
    assert re.search(r"-- dry run: \d+ statements would run", out.output)
    sized = CliRunner().invoke(
        cli, ["snowflake", "apply", "--dry-run", "--var", "transforming_warehouse_size=MEDIUM"]
    )
    assert "warehouse_size = 'MEDIUM'" in sized.output


def test_setup_runs_on_the_emulator_twice(emulator: None) -> None:
    import snowflake.connector  # noqa: PLC0415

    conn = snowflake.connector.connect(session_parameters={"nop_regexes": NOP_REGEXES})
    try:
        for _ in range(2):  # idempotent: the second run changes nothing and fails on nothing
            executed, skipped = snowflake_setup.apply(
                conn, values=snowflake_setup.variables(KEYS), echo=lambda _line: None
            )
            assert (executed > 60, skipped) == (True, 0)
        cur = conn.cursor()
        schemas = {r[1] for r in cur.execute("show schemas in database finhouse").fetchall()}
        assert {"RAW", "STAGING", "INTERMEDIATE", "MARTS", "FINHOUSE_META"} <= schemas
        stages = cur.execute("show stages in schema finhouse.finhouse_meta").fetchall()
        assert [s[1] for s in stages] == ["LOAD_STAGE"]
    finally:
        conn.close()


def test_apply_command_on_the_emulator(emulator: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINHOUSE_SNOWFLAKE_VAR_REPORTING_WAREHOUSE_SIZE", "SMALL")
    out = CliRunner().invoke(
        cli,
        ["snowflake", "apply", "--dsn", "snowflake://admin@emulator/?role=ACCOUNTADMIN"],
    )
    assert out.exit_code == 0, out.output
    assert "ok 02_database_and_schemas.sql" in out.output
    assert re.search(
        r"applied on admin@emulator \(role ACCOUNTADMIN\): \d+ statements, 3 skipped", out.output
    )
