"""The Snowflake loader (Parquet + PUT + COPY INTO + MERGE) against the emulator: the
behaviours the loader promises on Snowflake as on PostgreSQL, each proved on the real code
path (connector, stage, transactions). Every test runs under the watchdog of this folder's
conftest."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from finhouse import pipeline
from finhouse.errors import LoadError, LockTimeoutError
from finhouse.tables import TABLES
from finhouse.targets.snowflake import SnowflakeSession, SnowflakeTarget
from tests.integration.snowflake.conftest import SnowPipeline
from tests.support.raw import oltp_state, source_columns

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:Arrow output on a DB-API result:UserWarning"),
]


def _normalise(value: Any) -> Any:
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC)
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return value


def _variant(value: Any) -> Any:
    return json.dumps(json.loads(value), sort_keys=True) if isinstance(value, str) else value


def raw_current(snow: SnowPipeline, table: str, columns: list[str]) -> dict[Any, tuple]:
    """Per key the version RAW's latest load saw (docs/interfaces.md §2), unless marked deleted."""
    spec = TABLES[table]
    cols = ", ".join(c.upper() for c in columns)
    rows = snow.query(
        f"""select * from (
            select {spec.primary_key.upper()}, {cols}, _deleted_at from FINHOUSE.RAW.{table.upper()}
            qualify row_number() over (partition by {spec.primary_key.upper()}
                                       order by _loaded_at desc, {spec.cursor.upper()} desc
                                       nulls last) = 1)
            where _deleted_at is null"""
    )
    json_cols = {i for i, c in enumerate(columns) if c == "metadata"}
    return {
        int(r[0]): tuple(
            _variant(v) if i in json_cols else _normalise(v) for i, v in enumerate(r[1:-1])
        )
        for r in rows
    }


def assert_raw_equals_oltp(snow: SnowPipeline, tables: list[str] | None = None) -> None:
    with snow.oltp() as oltp:
        for table in tables or list(TABLES):
            columns = source_columns(oltp, table)
            expected = {
                k: tuple(_normalise(v) for v in row)
                for k, row in oltp_state(oltp, table, columns).items()
            }
            actual = raw_current(snow, table, columns)
            missing = expected.keys() - actual.keys()
            extra = actual.keys() - expected.keys()
            changed = [k for k in expected.keys() & actual.keys() if expected[k] != actual[k]]
            assert not (missing or extra or changed), (  # noqa: PT018 - one message for all
                f"{table}: {len(missing)} missing in RAW (e.g. {sorted(missing)[:5]}), "
                f"{len(extra)} extra (e.g. {sorted(extra)[:5]}), {len(changed)} differ "
                f"(e.g. {[(k, expected[k], actual[k]) for k in changed[:2]]})"
            )


def versions(snow: SnowPipeline, table: str) -> int:
    return int(snow.query(f"select count(*) from FINHOUSE.RAW.{table.upper()}")[0][0])


def staged_files(snow: SnowPipeline) -> list[str]:
    return [r[0] for r in snow.query("list @FINHOUSE.FINHOUSE_META.LOAD_STAGE")]


# ---------------------------------------------------------------------- the tests
def test_loads_everything_once_and_a_rerun_changes_nothing(snow: SnowPipeline) -> None:
    first = snow.ingest_all()
    assert all(s.rows_extracted == s.rows_loaded > 0 for s in first)
    assert_raw_equals_oltp(snow)
    before = {t: versions(snow, t) for t in TABLES}
    second = snow.ingest_all()
    assert [s.rows_extracted for s in second] == [0] * 6
    # a window over everything already loaded: reprocessed idempotently, nothing duplicated
    start = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    again = snow.ingest("payments", mode="window", since=start, until=dt.datetime.now(dt.UTC))
    assert again.rows_extracted == before["payments"]
    assert (again.rows_loaded, again.rows_replaced) == (0, 0)
    assert {t: versions(snow, t) for t in TABLES} == before
    runs = snow.query("select status, count(*) from FINHOUSE.FINHOUSE_META.LOAD_RUNS group by 1")
    assert dict(runs) == {"success": 13}
    assert staged_files(snow) == []  # every run removed its files after success
    types = dict(
        snow.query(
            "select column_name, data_type from FINHOUSE.information_schema.columns "
            "where table_schema = 'RAW' and table_name = 'PAYMENTS'"
        )
    )
    assert types["AMOUNT"] == "NUMBER"
    assert types["PAID_AT"] == "TIMESTAMP_TZ"
    assert {"_LOADED_AT", "_BATCH_ID", "_DELETED_AT"} <= types.keys()


def test_updates_add_versions_and_keep_history(snow: SnowPipeline) -> None:
    snow.ingest("loans")
    with snow.oltp() as oltp:
        oltp.execute(
            "update loans set status = 'closed', closed_at = now(), "
            "updated_at = clock_timestamp() where id = (select min(id) from loans "
            "where status = 'active')"
        )
    run = snow.ingest("loans")
    assert (run.rows_extracted, run.rows_loaded) == (1, 1)
    assert_raw_equals_oltp(snow, ["loans"])
    history = snow.query(
        "select count(*) from FINHOUSE.RAW.LOANS group by id order by 1 desc limit 1"
    )
    assert history == [(2,)]


def test_a_retry_after_a_failure_between_put_and_merge_loads_once(
    snow: SnowPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    original = SnowflakeTarget._publish

    def fail_before_merge(self: SnowflakeTarget, *args: Any, **kwargs: Any) -> None:
        # the files are PUT and COPied into the landing table; the MERGE never happens
        calls.append(str(staged_files(snow)))
        raise ConnectionError("network lost between PUT and MERGE")

    monkeypatch.setattr(SnowflakeTarget, "_publish", fail_before_merge)
    with pytest.raises(LoadError, match="network lost between PUT and MERGE"):
        snow.ingest("transactions", run_id="retried-run")
    assert "transactions/" in calls[0]  # files were on the stage when it failed
    assert snow.target.watermark("transactions") is None
    assert not snow.query(
        "select count(*) from FINHOUSE.information_schema.tables "
        "where table_schema = 'FINHOUSE_META' and table_name like '_LAND_%'"
    )[0][0]
    monkeypatch.setattr(SnowflakeTarget, "_publish", original)
    # Airflow retries a task with the same run id: the same file names must load again
    # (a fresh landing table has no load history), once
    retry = snow.ingest("transactions", run_id="retried-run")
    assert retry.rows_loaded == retry.rows_extracted > 0
    # and a new run loads nothing twice either
    assert snow.ingest("transactions").rows_loaded == 0
    assert_raw_equals_oltp(snow, ["transactions"])
    with snow.oltp() as oltp:
        assert (
            versions(snow, "transactions")
            == oltp.execute("select count(*) from transactions").fetchone()[0]
        )
    statuses = snow.query(
        "select status from FINHOUSE.FINHOUSE_META.LOAD_RUNS order by started_at, load_id"
    )
    assert [s[0] for s in statuses] == ["failed", "success", "success"]
    assert staged_files(snow) == []


def test_new_source_column_arrives_in_raw(snow: SnowPipeline) -> None:
    snow.ingest("users")
    with snow.oltp() as oltp:
        oltp.execute("alter table users add column nickname varchar(40)")
        oltp.execute("alter table users alter column region type varchar(200)")
        oltp.execute(
            "update users set nickname = 'Nakato ✓', updated_at = clock_timestamp() "
            "where id = (select min(id) from users)"
        )
    run = snow.ingest("users")
    assert run.rows_loaded == 1
    assert_raw_equals_oltp(snow, ["users"])
    nicknames = snow.query(
        "select count(*), count(nickname) from FINHOUSE.RAW.USERS"
    )  # older versions null
    assert nicknames[0][1] == 1
    assert nicknames[0][0] > 1
    recorded = {c.name: c.type for c in snow.target.recorded_columns("users")}
    assert recorded["nickname"] == "character varying(40)"
    assert recorded["region"] == "character varying(200)"


def test_exact_numerics_unicode_and_json_round_trip(snow: SnowPipeline) -> None:
    tricky = 'Wanjirũ «Ṁ» 张伟 — "quoted", comma; new\nline 🙂 \\ back\\slash'
    metadata = {"channel": "mpesa", "nested": {"ü": [1, 2.5, None, True]}, "emoji": "🙂"}
    with snow.oltp() as oltp:
        oltp.execute(
            "update users set first_name = %s, monthly_income = 9999999999999999.99, "
            "updated_at = clock_timestamp() where id = (select min(id) from users)",
            (tricky,),
        )
        oltp.execute(
            "update users set last_name = '', risk_appetite = null, monthly_income = 0.01, "
            "updated_at = clock_timestamp() where id = (select max(id) from users)"
        )
        oltp.execute(
            "update transactions set description = %s, metadata = %s, amount = 1234567890123.45 "
            "where id = (select min(id) from transactions)",
            (tricky, psycopg.types.json.Jsonb(metadata)),
        )
    snow.ingest("users")
    snow.ingest("transactions")
    assert_raw_equals_oltp(snow, ["users", "transactions"])
    first = snow.query(
        "select first_name, monthly_income from FINHOUSE.RAW.USERS order by id limit 1"
    )[0]
    assert first == (tricky, Decimal("9999999999999999.99"))
    last = snow.query(
        "select last_name, risk_appetite, monthly_income from FINHOUSE.RAW.USERS "
        "order by id desc limit 1"
    )[0]
    assert last == ("", None, Decimal("0.01"))  # empty string and NULL stay apart
    txn = snow.query(
        "select description, metadata, amount, metadata:nested from FINHOUSE.RAW.TRANSACTIONS "
        "order by id limit 1"
    )[0]
    assert txn[0] == tricky
    assert json.loads(txn[1]) == metadata  # a VARIANT, queried by path below
    assert json.loads(txn[3]) == metadata["nested"]
    assert txn[2] == Decimal("1234567890123.45")
    assert snow.query(
        "select data_type from FINHOUSE.information_schema.columns where table_schema = 'RAW' "
        "and table_name = 'TRANSACTIONS' and column_name = 'METADATA'"
    ) == [("VARIANT",)]


def test_watermark_rows_audit_and_lock_commit_together(
    snow: SnowPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    snow.ingest("payments")
    watermark = snow.target.watermark("payments")
    before = versions(snow, "payments")
    with snow.oltp() as oltp:
        oltp.execute("update payments set updated_at = clock_timestamp() where id % 7 = 0")

    # the run's lease is taken over after its files are landed, before it publishes: its
    # MERGE (which runs first in the transaction), watermark and audit must all roll back
    # when the lock check at the end of the transaction fails
    original = SnowflakeTarget.copy_into
    merged: list[tuple[int, int]] = []
    original_merge = SnowflakeSession.merge

    def land_then_lose_the_lock(self: SnowflakeTarget, conn: Any, *args: Any) -> int:
        out = original(self, conn, *args)
        other = snow.snowflake()
        other.cursor().execute(
            "update FINHOUSE.FINHOUSE_META.LOCKS set run_id = 'intruder' "
            "where table_name = 'payments'"
        )
        other.close()
        return out

    def merge(self: SnowflakeSession) -> tuple[int, int]:
        merged.append(original_merge(self))
        return merged[-1]

    monkeypatch.setattr(SnowflakeTarget, "copy_into", land_then_lose_the_lock)
    monkeypatch.setattr(SnowflakeSession, "merge", merge)
    with pytest.raises(LockTimeoutError, match="lost its lock"):
        snow.ingest("payments")
    monkeypatch.undo()
    assert sum(merged[0]) > 0  # the merge did write versions, inside the rolled-back transaction
    assert versions(snow, "payments") == before
    assert snow.target.watermark("payments") == watermark
    audit = snow.query(
        "select status, watermark_after from FINHOUSE.FINHOUSE_META.LOAD_RUNS "
        "order by load_id desc limit 1"
    )[0]
    assert audit == ("failed", None)
    snow.query("delete from FINHOUSE.FINHOUSE_META.LOCKS")
    # the next run loads the changes; the audit row's watermark is the table's
    run = snow.ingest("payments")
    assert run.rows_loaded > 0
    assert_raw_equals_oltp(snow, ["payments"])
    audit = snow.query(
        "select r.watermark_after = w.watermark from FINHOUSE.FINHOUSE_META.LOAD_RUNS r "
        "join FINHOUSE.FINHOUSE_META.WATERMARKS w on w.table_name = r.table_name "
        "where r.run_id = %s",
        (run.run_id,),
    )
    assert audit == [(True,)]


def test_deletion_marks_by_reconcile_and_full_refresh(snow: SnowPipeline) -> None:
    snow.ingest("payments")
    snow.ingest("investments")
    with snow.oltp() as oltp:
        gone_payment = oltp.execute(
            "delete from payments where id = (select max(id) from payments "
            "where status = 'completed') returning id"
        ).fetchone()[0]
        gone_investment = oltp.execute(
            "delete from investments where id = (select min(id) from investments) returning id"
        ).fetchone()[0]
    report = snow.reconcile("payments")
    assert report.deleted_marked == 1
    assert report.clean, report.describe()
    marked = snow.query(
        "select distinct id from FINHOUSE.RAW.PAYMENTS where _deleted_at is not null"
    )
    assert marked == [(gone_payment,)]
    full = snow.ingest("investments", mode="full")
    assert full.rows_deleted == 1
    assert snow.query(
        "select distinct id from FINHOUSE.RAW.INVESTMENTS where _deleted_at is not null"
    ) == [(gone_investment,)]
    assert_raw_equals_oltp(snow, ["payments", "investments"])


def test_a_second_run_waits_for_the_lock_then_fails_clearly(snow: SnowPipeline) -> None:
    snow.target.setup()
    with (
        snow.target.lock("users", "holder-run", 5),
        pytest.raises(LockTimeoutError, match="users is being loaded by run holder-run"),
    ):
        snow.ingest("users", lock_wait=0.5)
    assert snow.query("select count(*) from FINHOUSE.FINHOUSE_META.LOCKS") == [(0,)]


def test_staged_parallel_first_load_publishes_once(snow: SnowPipeline) -> None:
    """A big table's first load, staged in key ranges read in snapshots of their own: rows
    changed after a range was read are read again at the publish and win."""
    spec = TABLES["payments"]
    plan = pipeline.plan_full_refresh(spec, snow.source, snow.target, "staged-run", parts=3)
    assert len(plan.ranges) == 3
    staged = [
        pipeline.extract_range(spec, snow.source, snow.target, plan, tuple(r))  # type: ignore[arg-type]
        for r in plan.ranges
    ]
    # a mapped task retried: its range's files are replaced, not added
    pipeline.extract_range(spec, snow.source, snow.target, plan, tuple(plan.ranges[0]))  # type: ignore[arg-type]
    with snow.oltp() as oltp:
        # after the ranges were read, before the publish: a change without a new stamp
        changed = oltp.execute(
            "update payments set channel = 'bank_transfer' where id = (select min(id) "
            "from payments where channel <> 'bank_transfer') returning id"
        ).fetchone()[0]
    run = pipeline.publish_full_refresh(spec, snow.source, snow.target, plan)
    assert run.rows_extracted == sum(staged)
    assert run.rows_loaded == sum(staged)
    assert snow.query("select channel from FINHOUSE.RAW.PAYMENTS where id = %s", (changed,)) == [
        ("bank_transfer",)
    ]
    assert_raw_equals_oltp(snow, ["payments"])
    assert staged_files(snow) == []
    assert snow.reconcile("payments").clean


def test_cli_ingest_to_a_snowflake_dsn(snow: SnowPipeline) -> None:
    """`finhouse ingest` picks the Snowflake target from FINHOUSE_WAREHOUSE_DSN."""
    from click.testing import CliRunner  # noqa: PLC0415

    from finhouse.cli import cli  # noqa: PLC0415

    env = {
        "FINHOUSE_OLTP_DSN": snow.dbs.oltp_dsn,
        "FINHOUSE_OLTP_EXTRACT_DSN": snow.dbs.extract_dsn,
        "FINHOUSE_WAREHOUSE_DSN": "snowflake://finhouse_loader@emulator/FINHOUSE?role=LOADER",
    }
    out = CliRunner().invoke(cli, ["ingest", "investments"], env=env)
    assert out.exit_code == 0, out.output
    assert "investments: incremental" in out.output
    assert_raw_equals_oltp(snow, ["investments"])


def test_reconcile_compares_every_column_and_repairs(snow: SnowPipeline) -> None:
    """Row hashes in the portable form agree between PostgreSQL and Snowflake for every type
    the six tables use (times, dates, money, text, booleans, JSON by presence), so a clean
    RAW reconciles clean, and damage is found by key and repaired."""
    snow.ingest_all()
    for table in TABLES:
        report = snow.reconcile(table)
        assert report.clean, report.describe()
        assert report.source_rows == report.raw_current_rows > 0
    snow.query(
        "update FINHOUSE.RAW.USERS set KYC_STATUS = 'rejected' "
        "where ID = (select min(ID) from FINHOUSE.RAW.USERS)"
    )
    snow.query(
        "delete from FINHOUSE.RAW.TRANSACTIONS where ID = (select max(ID) from "
        "FINHOUSE.RAW.TRANSACTIONS)"
    )
    users = snow.reconcile("users")
    assert (users.changed_in_raw, users.missing_in_raw, users.clean) == (1, 0, False)
    ledger = snow.reconcile("transactions", repair=True)
    assert (ledger.missing_in_raw, ledger.repaired, ledger.clean) == (1, 1, True)
    assert snow.reconcile("users", repair=True).repaired == 1
    assert_raw_equals_oltp(snow, ["users", "transactions"])
    assert snow.reconcile("users").clean


def test_spreadsheet_files_load_replace_and_quarantine_on_snowflake(
    snow: SnowPipeline, tmp_path: Any
) -> None:
    """The spreadsheet loader (finhouse.files) on the Snowflake target: typed rows, a changed
    file replacing its rows, a deleted file marked, a malformed file quarantined."""
    from finhouse import files  # noqa: PLC0415
    from finhouse.oltp.spreadsheets import write_csv  # noqa: PLC0415

    header = ["month", "branch_code", "disbursement_target", "par30_ceiling"]
    folder = tmp_path / "drop"
    write_csv(folder / "branch_targets" / "a.csv", header, [["2026-05", "NBO01", "5000.5", "5%"]])
    write_csv(folder / "branch_targets" / "b.csv", header, [["2026-05", "MSA01", "7000", "0.08"]])
    result = files.load_dataset(snow.target, "branch_targets", run_id="r1", folder=folder)
    assert result.count("loaded") == 2
    rows = snow.query(
        "select month, branch_code, disbursement_target, par30_ceiling, _file "
        "from file_branch_targets where _deleted_at is null order by branch_code"
    )
    assert rows == [
        (dt.date(2026, 5, 1), "MSA01", Decimal("7000.00"), Decimal("0.0800"), "b.csv"),
        (dt.date(2026, 5, 1), "NBO01", Decimal("5000.50"), Decimal("0.0500"), "a.csv"),
    ]
    write_csv(folder / "branch_targets" / "a.csv", header, [["2026-06", "NBO01", "6000", "5%"]])
    (folder / "branch_targets" / "b.csv").unlink()
    write_csv(folder / "branch_targets" / "c.csv", header, [["2026-06", "NBO01", "1", "5%"]])
    result = files.load_dataset(snow.target, "branch_targets", run_id="r2", folder=folder)
    assert {f.path: f.status for f in result.files} == {
        "a.csv": "loaded",
        "b.csv": "deleted",
        "c.csv": "quarantined",
    }
    assert "already given by a.csv" in result.files[-1].error
    current = snow.query(
        "select month, branch_code from file_branch_targets where _deleted_at is null"
    )
    assert current == [(dt.date(2026, 6, 1), "NBO01")]
