"""What a demanding operator expects of bad input: one clear line, nothing changed, nothing
leaked (no row values in errors, logs or the audit)."""

from __future__ import annotations

import datetime as dt
import subprocess
import time

import psycopg
import pytest
from psycopg import sql

from finhouse import pipeline
from finhouse.tables import TABLES
from tests.conftest import run_cli
from tests.integration.ingest.conftest import Pipeline
from tests.support.raw import assert_raw_equals_oltp

pytestmark = pytest.mark.integration


def _one_line(out: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert out.returncode != 0
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert all(line.startswith("finhouse: error: ") for line in lines), out.stderr
    assert "Traceback" not in out.stderr
    for needle in needles:
        assert needle in out.stderr, out.stderr


def test_a_missing_raw_schema_is_created_when_the_loader_may(pipe: Pipeline) -> None:
    with pipe.warehouse() as wh:
        wh.execute("drop schema raw cascade")
    pipe.ingest("users")
    with pipe.oltp() as oltp, pipe.warehouse() as wh:
        assert_raw_equals_oltp(oltp, wh, ["users"])
        assert wh.execute(
            "select nspowner::regrole::text from pg_namespace where nspname = 'raw'"
        ).fetchone() == ("loader",)
    # the transformer (dbt) can read what the loader made
    with psycopg.connect(pipe.dbs.warehouse_dsn("transformer")) as conn:
        assert conn.execute("select count(*) > 0 from raw.users").fetchone() == (True,)


def test_a_missing_raw_schema_the_loader_may_not_create_is_one_line(pipe: Pipeline) -> None:
    with pipe.warehouse() as wh:
        wh.execute("drop schema raw cascade")
        wh.execute(
            sql.SQL("revoke create on database {} from loader").format(
                sql.Identifier(pipe.dbs.warehouse)
            )
        )
    _one_line(
        run_cli("ingest", "users", env=pipe.env()),
        "has no schema",
        "may not create it",
    )
    with pipe.warehouse() as wh:
        assert wh.execute("select to_regnamespace('raw')").fetchone() == (None,)


def test_a_warehouse_dsn_pointing_at_the_oltp_is_refused(pipe: Pipeline) -> None:
    env = {**pipe.env(), "FINHOUSE_WAREHOUSE_DSN": pipe.dbs.oltp_dsn}
    _one_line(run_cli("ingest", "users", env=env), "points at the OLTP")
    with pipe.oltp() as oltp:
        schemas = oltp.execute(
            "select count(*) from pg_namespace where nspname in ('raw', 'finhouse_meta')"
        ).fetchone()
        assert schemas == (0,)


def test_a_source_column_named_like_raws_own_fails_that_table_only(pipe: Pipeline) -> None:
    with pipe.oltp() as oltp:
        oltp.execute("alter table users add column _loaded_at timestamptz")
    out = run_cli("ingest", "--all", env=pipe.env())
    assert out.returncode == 1
    assert "users" in out.stderr
    assert "'_loaded_at'" in out.stderr
    assert "Traceback" not in out.stderr
    assert "loans: incremental" in out.stdout  # --all went on with the other tables
    with pipe.oltp() as oltp, pipe.warehouse() as wh:
        assert wh.execute("select to_regclass('raw.users')").fetchone() == (None,)
        assert_raw_equals_oltp(oltp, wh, [t for t in TABLES if t != "users"])


def test_errors_carry_no_row_values(pipe: Pipeline) -> None:
    """PostgreSQL puts the failing row in its DETAIL ("Failing row contains (…)"): a
    customer's email, phone and national id must reach neither the CLI's output nor the
    audit table that pipeline_health (which the reporter role reads) shows."""
    pipe.ingest("users")
    secrets = ("secret.person@example.com", "+254799999999", "NID-SECRET-77")
    with pipe.warehouse() as wh:
        # a constraint someone added to RAW by hand, which the next version breaks
        wh.execute(
            "alter table raw.users add constraint no_such_phone "
            "check (phone <> '+254799999999') not valid"
        )
    with pipe.oltp() as oltp:
        oltp.execute(
            "update users set email = %s, phone = %s, national_id = %s "
            "where id = (select min(id) from users)",
            secrets,
        )
    out = run_cli("ingest", "users", env=pipe.env())
    _one_line(out, "users", "check constraint")
    for value in secrets:
        assert value not in out.stderr + out.stdout
    with pipe.warehouse() as wh:
        error = wh.execute(
            "select error from finhouse_meta.load_runs where status = 'failed'"
        ).fetchone()
        assert error is not None
        assert "check constraint" in error[0]
        for value in secrets:
            assert value not in error[0]
    with pytest.raises(Exception) as raised:  # noqa: PT011 - any type; its text is checked
        pipe.ingest("users")
    for value in secrets:
        assert value not in str(raised.value)
        assert value not in repr(raised.value.__cause__ or "")


def test_stages_of_a_killed_parallel_refresh_are_dropped_by_the_next_run(
    pipe: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = TABLES["transactions"]
    monkeypatch.setenv("FINHOUSE_STAGE_LEASE_SECONDS", "1")
    plan = pipeline.plan_full_refresh(spec, pipe.source, pipe.target, "killed-refresh", parts=2)
    pipeline.extract_range(spec, pipe.source, pipe.target, plan, tuple(plan.ranges[0]))  # type: ignore[arg-type]
    # ... and the refresh dies before its publish
    live = pipeline.plan_full_refresh(spec, pipe.source, pipe.target, "live-refresh", parts=2)

    def stages() -> set[str]:
        with pipe.warehouse() as wh:
            return {
                r[0]
                for r in wh.execute(
                    "select tablename from pg_tables where schemaname = 'finhouse_meta' "
                    "and tablename like '\\_stage\\_%%'"
                ).fetchall()
            }

    assert len(stages()) == 2
    time.sleep(1.2)
    monkeypatch.setenv("FINHOUSE_STAGE_LEASE_SECONDS", "600")
    pipeline.extract_range(spec, pipe.source, pipe.target, live, tuple(live.ranges[0]))  # type: ignore[arg-type]
    pipe.ingest("transactions")  # the next run of the table
    assert stages() == {pipe.target.stage_name(live.request(spec))}
    with pipe.warehouse() as wh:
        assert wh.execute("select count(*) from finhouse_meta.stages").fetchone() == (1,)


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "soon"])
def test_lock_wait_must_be_a_finite_number(pipe: Pipeline, value: str) -> None:
    _one_line(run_cli("ingest", "users", "--lock-wait", value, env=pipe.env()), "--lock-wait")
    with pipe.warehouse() as wh:
        assert wh.execute("select to_regclass('raw.users')").fetchone() == (None,)


def test_a_first_load_leaves_raw_analyzed(pipe: Pipeline) -> None:
    """dbt's first build after the first loads must not plan over RAW without statistics."""
    pipe.ingest_all()
    with pipe.warehouse() as wh:
        for table in TABLES:
            stats = wh.execute(
                "select count(*) from pg_stats where schemaname = 'raw' and tablename = %s",
                (table,),
            ).fetchone()
            assert stats is not None
            assert stats[0] > 0, table
    watermark = pipe.target.watermark("users")
    assert watermark is not None
    assert watermark.at <= dt.datetime.now(dt.UTC)
