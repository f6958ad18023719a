"""Exactly-once ingestion into RAW, on real PostgreSQL: one behaviour per test."""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal

import psycopg
import pytest
from psycopg.types.json import Jsonb

from finhouse import pipeline
from finhouse.errors import ConfigError, SchemaDriftError, WindowError
from finhouse.tables import TABLES, TableSpec
from tests.integration.ingest.conftest import Pipeline
from tests.support.raw import assert_raw_equals_oltp, versions

pytestmark = pytest.mark.integration


def _watermark(pipe: Pipeline, table: str) -> dt.datetime | None:
    mark = pipe.target.watermark(table)
    return mark.at if mark else None


def test_first_and_second_runs_load_everything_once(pipe: Pipeline) -> None:
    first = pipe.ingest_all()
    assert all(s.rows_extracted == s.rows_loaded for s in first)
    with pipe.oltp() as oltp, pipe.warehouse() as wh:
        assert_raw_equals_oltp(oltp, wh)
        before = {s.table: versions(wh, s.table) for s in first}
    second = pipe.ingest_all()
    assert [s.rows_extracted for s in second] == [0] * 6
    with pipe.warehouse() as wh:
        assert {t: versions(wh, t) for t in before} == before
        runs = wh.execute("select status, count(*) from finhouse_meta.load_runs group by 1")
        assert dict(runs.fetchall()) == {"success": 12}


def test_updates_add_versions_and_keep_history(pipe: Pipeline) -> None:
    pipe.ingest("loans")
    with pipe.oltp() as oltp:
        oltp.execute(
            "update loans set status = 'closed', closed_at = now(), "
            "updated_at = clock_timestamp() where id = (select min(id) from loans "
            "where status = 'active')"
        )
    run = pipe.ingest("loans")
    assert (run.rows_extracted, run.rows_loaded) == (1, 1)
    with pipe.oltp() as oltp, pipe.warehouse() as wh:
        assert_raw_equals_oltp(oltp, wh, ["loans"])
        history = wh.execute(
            "select count(*) from raw.loans group by id order by 1 desc limit 1"
        ).fetchone()
        assert history == (2,)


def test_ties_at_the_window_boundary_are_neither_lost_nor_duplicated(pipe: Pipeline) -> None:
    pipe.ingest("users")
    watermark = _watermark(pipe, "users")
    assert watermark is not None
    with pipe.oltp() as oltp:
        # a row stamped exactly at the watermark belongs to the next window [W, ...)
        oltp.execute(
            "update users set phone = '+254700000001', updated_at = %s "
            "where id = (select min(id) from users)",
            (watermark,),
        )
    run = pipe.ingest("users")
    assert run.rows_extracted == 1
    with pipe.warehouse() as wh:
        assert wh.execute(
            "select count(*) from raw.users where updated_at = %s", (watermark,)
        ).fetchone() == (1,)
    # adjacent backfill windows [a, W) and [W, b): the row at W is in exactly one of them
    first = pipe.ingest(
        "users", mode="window", since=watermark - dt.timedelta(days=3650), until=watermark
    )
    second = pipe.ingest(
        "users", mode="window", since=watermark, until=watermark + dt.timedelta(microseconds=1)
    )
    assert second.rows_extracted == 1
    assert first.rows_loaded == second.rows_loaded == 0
    with pipe.oltp() as oltp, pipe.warehouse() as wh:
        assert_raw_equals_oltp(oltp, wh, ["users"])
        assert wh.execute(
            "select count(*) from raw.users where updated_at = %s", (watermark,)
        ).fetchone() == (1,)


def test_late_committing_long_transaction_is_loaded_by_the_next_run(pipe: Pipeline) -> None:
    """A transaction stamps a row, stays open past a run, then commits: the run loads what
    committed meanwhile (nothing is held back), the next one loads the late row."""
    pipe.ingest("payments")
    with pipe.oltp() as app, pipe.oltp() as late:
        late.autocommit = False
        stamp = dt.datetime.now(dt.UTC)  # the app's clock at save time, as Django does
        late_id = late.execute(
            "update payments set status = 'reversed', updated_at = %s "
            "where id = (select min(id) from payments where status = 'completed') returning id",
            (stamp,),
        ).fetchone()[0]  # type: ignore[index]
        # meanwhile the app commits a newer row
        time.sleep(0.2)
        app.execute(
            "update payments set updated_at = clock_timestamp() "
            "where id = (select max(id) from payments)"
        )
        during = pipe.ingest("payments")
        assert during.rows_extracted == 1  # the committed newer row, not the open one
        with pipe.warehouse() as wh:
            raw_status = wh.execute(
                "select status from raw.payments where id = %s order by _loaded_at desc limit 1",
                (late_id,),
            ).fetchone()
            assert raw_status != ("reversed",)
        late.commit()
    caught = pipe.ingest("payments")
    assert caught.rows_extracted >= 1
    with pipe.oltp() as oltp, pipe.warehouse() as wh:
        assert_raw_equals_oltp(oltp, wh, ["payments"])


def test_changes_the_stamp_never_saw_are_loaded(pipe: Pipeline) -> None:
    """QuerySet.update() without updated_at, a row stamped hours before the watermark (a
    bulk_create built before its transaction began, an app clock behind), a row stamped in
    the future and then changed again, a row with no stamp at all: all committed changes, all
    in RAW after the next run, RAW's current version the one loaded last."""
    pipe.ingest_all()
    watermark = _watermark(pipe, "loans")
    assert watermark is not None
    with pipe.oltp() as oltp:
        # QuerySet.update(): status changes, updated_at does not
        oltp.execute(
            "update loans set status = 'written_off', written_off_at = now(), "
            "written_off_amount = principal where id = (select min(id) from loans "
            "where status = 'active')"
        )
        # a ledger row stamped three hours before the last load (bulk_create, skewed clock)
        oltp.execute(
            "insert into transactions (account_id, txn_type, amount, balance_after, reference, "
            "description, metadata, occurred_at, created_at) select min(id), 'interest', 1.00, "
            "1.00, 'EOM-1', 'month-end interest', '{}', %s, %s from accounts",
            (watermark - dt.timedelta(hours=3), watermark - dt.timedelta(hours=3)),
        )
        # an app server whose clock runs a day ahead stamps a save...
        future = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
        oltp.execute(
            "update users set phone = '+254700000002', updated_at = %s "
            "where id = (select min(id) from users)",
            (future,),
        )
        # ... and a user without any stamp
        oltp.execute("alter table users alter column updated_at drop not null")
        oltp.execute(
            "update users set updated_at = null, kyc_status = 'rejected' "
            "where id = (select max(id) from users)"
        )
    pipe.ingest_all()
    with pipe.oltp() as oltp:
        # the row stamped in the future changes again, stamped by a correct clock: the new
        # version is current although its stamp is older
        oltp.execute(
            "update users set phone = '+254700000003', updated_at = now() "
            "where id = (select min(id) from users)"
        )
        oltp.execute("update users set first_name = 'Again' where id = (select max(id) from users)")
    pipe.ingest_all()
    with pipe.oltp() as oltp, pipe.warehouse() as wh:
        assert_raw_equals_oltp(oltp, wh)
        assert wh.execute("select count(*) from raw.users where updated_at is null").fetchone() == (
            1,
        )
    for table in ("users", "loans", "transactions"):
        assert pipe.reconcile(table).clean  # type: ignore[attr-defined]


def test_hard_deletes_are_marked(pipe: Pipeline) -> None:
    pipe.ingest_all()
    with pipe.oltp() as oltp:
        gone_payment = oltp.execute(
            "delete from payments where id = (select max(id) from payments) returning id"
        ).fetchone()[0]  # type: ignore[index]
        gone_loan = oltp.execute(
            "delete from loans where status in ('pending', 'rejected') and not exists "
            "(select 1 from payments p where p.loan_id = loans.id) "
            "and id = (select min(id) from loans where status in ('pending', 'rejected')) "
            "returning id"
        ).fetchone()[0]  # type: ignore[index]
    report = pipe.reconcile("payments")
    assert report.deleted_marked == 1  # type: ignore[attr-defined]
    assert pipe.reconcile("loans").deleted_marked == 1  # type: ignore[attr-defined]
    assert pipe.reconcile("loans").deleted_marked == 0  # type: ignore[attr-defined]
    with pipe.oltp() as oltp, pipe.warehouse() as wh:
        assert_raw_equals_oltp(oltp, wh)
        marked = wh.execute(
            "select count(*) filter (where _deleted_at is null) from raw.payments where id = %s",
            (gone_payment,),
        ).fetchone()
        assert marked == (0,)
        assert wh.execute(
            "select _deleted_at is not null from raw.loans where id = %s", (gone_loan,)
        ).fetchone() == (True,)


def test_full_refresh_marks_deletes_keeps_history_and_versions_once(pipe: Pipeline) -> None:
    pipe.ingest("accounts")
    with pipe.oltp() as oltp:
        oltp.execute(
            "update accounts set status = 'dormant', updated_at = clock_timestamp() "
            "where id = (select min(id) from accounts)"
        )
        # an account with no ledger rows and no loans can be deleted
        oltp.execute(
            "insert into accounts (user_id, account_number, account_type, currency, "
            "status, balance, interest_rate, opened_at, created_at, updated_at) "
            "select min(id), 'ACCTEMP', 'wallet', 'KES', 'active', 0, 0, now(), now(), "
            "clock_timestamp() from users"
        )
    pipe.ingest("accounts")
    with pipe.oltp() as oltp:
        oltp.execute("delete from accounts where account_number = 'ACCTEMP'")
    with pipe.warehouse() as wh:
        before = versions(wh, "accounts")
    full = pipe.ingest("accounts", mode="full")
    assert full.rows_deleted == 1
    assert full.rows_loaded == 0  # every version was already there
    again = pipe.ingest("accounts", mode="full")
    assert (again.rows_loaded, again.rows_replaced, again.rows_deleted) == (0, 0, 0)
    with pipe.oltp() as oltp, pipe.warehouse() as wh:
        assert versions(wh, "accounts") == before
        assert_raw_equals_oltp(oltp, wh, ["accounts"])


def test_full_refresh_as_a_tables_first_load(pipe: Pipeline) -> None:
    # the direct first-load path (COPY straight into the new RAW table) with full refresh:
    # nothing in an empty RAW can be absent from the source
    first = pipe.ingest("loans", mode="full")
    assert first.rows_loaded > 0
    assert first.rows_deleted == 0
    with pipe.oltp() as oltp, pipe.warehouse() as wh:
        assert_raw_equals_oltp(oltp, wh, ["loans"])


def test_new_source_column_arrives_in_raw(pipe: Pipeline) -> None:
    pipe.ingest("users")
    with pipe.oltp() as oltp:
        oltp.execute("alter table users add column preferred_language varchar(8)")
        oltp.execute('alter table users add column "Odd; drop table raw.users --" text')
        oltp.execute(
            "update users set preferred_language = 'sw', "
            "\"Odd; drop table raw.users --\" = 'x', updated_at = clock_timestamp() "
            "where id = (select min(id) from users)"
        )
    run = pipe.ingest("users")
    assert run.rows_loaded == 1
    with pipe.oltp() as oltp, pipe.warehouse() as wh:
        assert_raw_equals_oltp(oltp, wh, ["users"])
        counts = wh.execute("select count(preferred_language), count(*) from raw.users")
        assert counts.fetchone() == (1, 101)


@pytest.mark.parametrize(
    ("ddl", "column"),
    [
        ("alter table loans alter column installments type smallint", "installments"),
        ("alter table loans alter column product type varchar(12)", "product"),
        ("alter table loans drop column written_off_amount", "written_off_amount"),
    ],
)
def test_incompatible_change_fails_cleanly_and_loads_nothing(
    pipe: Pipeline, ddl: str, column: str
) -> None:
    pipe.ingest("loans")
    watermark = _watermark(pipe, "loans")
    with pipe.oltp() as oltp:
        oltp.execute(ddl)
        oltp.execute(
            "update loans set updated_at = clock_timestamp() where id = (select min(id) from loans)"
        )
    with pipe.warehouse() as wh:
        before = versions(wh, "loans")
    with pytest.raises(SchemaDriftError, match=f"in loans: column '{column}'"):
        pipe.ingest("loans")
    with pipe.warehouse() as wh:
        assert versions(wh, "loans") == before
        assert _watermark(pipe, "loans") == watermark
        status = wh.execute(
            "select status, error from finhouse_meta.load_runs order by load_id desc limit 1"
        ).fetchone()
        assert status is not None
        assert status[0] == "failed"
        assert column in status[1]


def test_values_round_trip_exactly(pipe: Pipeline) -> None:
    weird = 'Ledger «ñandú» — 入金 ✓ 🧾\n2nd line, "quoted", tab\there, back\\slash, comma, ;semi'
    meta = {
        "ünïcode": "値",
        "nested": {"list": [1, 2.5, None, True], "empty": ""},
        "quote": "\"'",
        "big": 12345678901234567890,
    }
    with pipe.oltp() as oltp:
        account = oltp.execute("select id, balance from accounts order by id limit 1").fetchone()
        assert account is not None
        oltp.execute(
            "insert into transactions (account_id, txn_type, amount, balance_after, reference,"
            " description, metadata, occurred_at, created_at) values "
            "(%s, 'deposit', 9999999999999999.99, -0.01, 'REF-ÆØÅ', %s, %s, "
            "'2024-02-29 23:59:59.999999+03:00', clock_timestamp()),"
            "(%s, 'fee', 0.01, 0, '', '', '{}', '1970-01-01 00:00:00+00', clock_timestamp())",
            (account[0], weird, Jsonb(meta), account[0]),
        )
        oltp.execute(
            "update users set monthly_income = null, risk_appetite = null, "
            "gender = null, email = '', updated_at = clock_timestamp() "
            "where id = (select min(id) from users)"
        )
    pipe.ingest_all()
    with pipe.oltp() as oltp, pipe.warehouse() as wh:
        assert_raw_equals_oltp(oltp, wh)
        row = wh.execute(
            "select amount, balance_after, description, metadata, occurred_at "
            "from raw.transactions where reference = 'REF-ÆØÅ'"
        ).fetchone()
        assert row is not None
        assert row[0] == Decimal("9999999999999999.99")
        assert row[1] == Decimal("-0.01")
        assert row[2] == weird
        assert row[3] == meta
        assert row[4] == dt.datetime(2024, 2, 29, 20, 59, 59, 999999, tzinfo=dt.UTC)
        types = dict(
            wh.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'raw' and table_name = 'transactions'"
            ).fetchall()
        )
        assert types["amount"] == "numeric"
        assert types["occurred_at"] == "timestamp with time zone"
        assert types["metadata"] == "jsonb"
        nulls = wh.execute(
            "select monthly_income, risk_appetite, gender, email from raw.users "
            "order by id, updated_at desc limit 1"
        ).fetchone()
        assert nulls == (None, None, None, "")


def test_rerunning_any_window_or_the_whole_history_changes_nothing(pipe: Pipeline) -> None:
    pipe.ingest_all()

    def snapshot() -> dict[str, str]:
        with pipe.warehouse() as wh:
            return {
                t: wh.execute(
                    f"select md5(string_agg(r::text, '|' order by r::text)) from "
                    f"(select {cols} from raw.{t}) r"
                ).fetchone()[0]
                for t, cols in (
                    ("users", "id, updated_at, email, _deleted_at"),
                    ("payments", "id, updated_at, amount, status, _deleted_at"),
                    ("transactions", "id, created_at, amount, description"),
                )
            }

    before = snapshot()
    now = dt.datetime.now(dt.UTC)
    for table in ("users", "payments", "transactions"):
        pipe.ingest(table, mode="window", since=now - dt.timedelta(days=30), until=now)
        pipe.ingest(table, mode="window", since=now - dt.timedelta(days=4000), until=now)
        pipe.ingest(table, mode="full")
    assert snapshot() == before


def test_window_runs_never_move_the_watermark(pipe: Pipeline) -> None:
    pipe.ingest("loans")
    watermark = _watermark(pipe, "loans")
    assert watermark is not None
    pipe.ingest(
        "loans",
        mode="window",
        since=watermark - dt.timedelta(days=400),
        until=watermark - dt.timedelta(days=300),
    )
    assert _watermark(pipe, "loans") == watermark
    pipe.ingest(
        "loans",
        mode="window",
        since=watermark - dt.timedelta(days=1),
        until=watermark + dt.timedelta(days=1),
    )
    assert _watermark(pipe, "loans") == watermark


def test_impossible_windows_are_refused_and_change_nothing(pipe: Pipeline) -> None:
    pipe.ingest("users")
    now = dt.datetime.now(dt.UTC)
    with pipe.warehouse() as wh:
        runs = wh.execute("select count(*) from finhouse_meta.load_runs").fetchone()
    for since, until, message in (
        (now, now - dt.timedelta(hours=1), "is not before"),
        (now, now, "is not before"),
        (now + dt.timedelta(days=1), now + dt.timedelta(days=2), "after the source's current"),
    ):
        with pytest.raises(WindowError, match=message):
            pipe.ingest("users", mode="window", since=since, until=until)
    with pipe.warehouse() as wh:
        assert wh.execute("select count(*) from finhouse_meta.load_runs").fetchone() == runs


@pytest.mark.parametrize("field", ["name", "cursor", "primary_key", "source_schema"])
def test_hostile_identifiers_in_the_table_config_are_refused(field: str) -> None:
    values = {
        "name": "loans",
        "cursor": "updated_at",
        "primary_key": "id",
        "source_schema": "public",
        field: 'loans"; drop table raw.loans; --',
    }
    with pytest.raises(ConfigError, match="is not a valid identifier"):
        TableSpec(kind="updatable", required_columns=("id", "updated_at"), **values)  # type: ignore[arg-type]


def test_an_extract_user_needs_nothing_but_read_access(pipe: Pipeline) -> None:
    """Commit order comes from the snapshot: no pg_monitor, trigger or setting needed (the
    app role has none of pg_monitor's rights)."""
    from finhouse.extract.postgres import PostgresSource  # noqa: PLC0415

    app_as_extractor = PostgresSource(pipe.dbs.oltp_dsn)
    with pipe.oltp() as oltp:
        assert oltp.execute(
            "select pg_has_role(current_user, 'pg_read_all_stats', 'member')"
        ).fetchone() == (False,)
    run = pipeline.ingest(TABLES["loans"], app_as_extractor, pipe.target)
    assert run.rows_extracted > 0
    with pipe.oltp() as oltp, pipe.warehouse() as wh:
        assert_raw_equals_oltp(oltp, wh, ["loans"])


def test_loader_cannot_be_pointed_at_marts(pipe: Pipeline) -> None:
    """The role matrix holds for what ingestion connects as."""
    with (
        psycopg.connect(pipe.dbs.warehouse_dsn("loader")) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute("create table marts.nope (x int)")


def test_the_same_nan_on_both_sides_is_no_difference(pipe: Pipeline) -> None:
    """numeric holds NaN; a total over it is NaN on both sides, and that is agreement."""
    with pipe.oltp() as oltp:
        oltp.execute(
            "update investments set current_value = 'NaN' where id = (select min(id) "
            "from investments)"
        )
    pipe.ingest("investments")
    report = pipe.reconcile("investments")
    assert report.clean, report.describe()  # type: ignore[attr-defined]
    assert report.sum_differences == {}  # type: ignore[attr-defined]
    with pipe.warehouse() as wh:
        # a different value next to the NaN is still found
        wh.execute(
            "update raw.investments set principal = principal + 1 "
            "where id = (select max(id) from raw.investments)"
        )
    damaged = pipe.reconcile("investments")
    assert not damaged.clean  # type: ignore[attr-defined]
    assert damaged.changed_in_raw == 1  # type: ignore[attr-defined]


def test_a_window_into_an_empty_raw_then_incremental_runs(pipe: Pipeline) -> None:
    """A backfill window before any incremental run loads its window only; the first
    incremental run then compares the whole table and loads the rest."""
    now = dt.datetime.now(dt.UTC)
    window = pipe.ingest("payments", mode="window", since=now - dt.timedelta(days=90), until=now)
    with pipe.oltp() as oltp:
        in_window = oltp.execute(
            "select count(*) from payments where updated_at >= %s and updated_at < %s",
            (now - dt.timedelta(days=90), now),
        ).fetchone()
    assert window.rows_extracted == in_window[0]  # type: ignore[index]
    assert pipe.target.watermark("payments") is None
    first = pipe.ingest("payments")
    assert "compared in full" in first.detail or "no watermark" in first.detail
    with pipe.oltp() as oltp, pipe.warehouse() as wh:
        assert_raw_equals_oltp(oltp, wh, ["payments"])


def test_servers_that_hash_text_differently_compare_in_the_portable_form(
    pipe: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL's text hash depends on the byte order: a warehouse that answers the probe
    differently than the source is compared by md5 of the portable row text instead."""
    from finhouse.targets.postgres import PostgresSession  # noqa: PLC0415

    monkeypatch.setattr(PostgresSession, "hash_probe", lambda _self: "another byte order")
    pipe.ingest_all()
    for table in TABLES:
        assert pipe.reconcile(table).clean  # type: ignore[attr-defined]
    with pipe.warehouse() as wh:
        wh.execute(
            "update raw.transactions set occurred_at = occurred_at + interval '1 microsecond' "
            "where id = (select min(id) from raw.transactions)"
        )
        wh.execute(
            "update raw.accounts set currency = 'USD' where id = (select max(id) from raw.accounts)"
        )
    assert pipe.reconcile("transactions").changed_in_raw == 1  # type: ignore[attr-defined]
    assert pipe.reconcile("accounts", repair=True).repaired == 1  # type: ignore[attr-defined]
    with pipe.oltp() as oltp, pipe.warehouse() as wh:
        assert_raw_equals_oltp(oltp, wh, ["accounts"])
