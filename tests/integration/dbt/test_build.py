"""The dbt project builds cleanly: no errors, no warnings, docs, and the incremental path."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from finhouse import endpoints, pipeline
from finhouse.oltp import schema
from finhouse.oltp.seed import seed
from finhouse.oltp.simulate import simulate
from finhouse.tables import TABLES
from finhouse_local.cluster import Provisioner
from tests.integration.dbt.conftest import AS_OF, SCALE, Warehouse

pytestmark = pytest.mark.integration


def _summary(output: str) -> dict[str, int]:
    match = re.findall(r"Done\. PASS=(\d+) WARN=(\d+) ERROR=(\d+) SKIP=(\d+)", output)
    assert match, output[-2000:]
    passed, warned, errors, skipped = map(int, match[-1])
    return {"pass": passed, "warn": warned, "error": errors, "skip": skipped}


def _assert_clean(output: str) -> None:
    summary = _summary(output)
    assert summary["error"] == 0, output[-4000:]
    assert summary["warn"] == 0, output[-4000:]
    assert summary["skip"] == 0, output[-4000:]
    assert summary["pass"] > 150
    # deprecations and other warnings dbt prints outside the summary
    warnings = [line for line in output.splitlines() if "[WARNING]" in line or "Deprecat" in line]
    assert not warnings, warnings


def test_full_build_has_no_errors_and_no_warnings(built: Warehouse) -> None:
    _assert_clean(built.build_output)


def test_incremental_build_after_simulated_activity_is_clean(built: Warehouse) -> None:
    with psycopg.connect(built.dsn()) as wh:
        before = wh.execute(
            "select count(*), max(source_changed_at) from intermediate.int_loans__daily_delinquency"
        ).fetchone()
    stats = simulate(built.oltp_dsn, ticks=3, seed=99)
    assert stats.operations > 0
    built.ingest()
    out = built.dbt("build")
    _assert_clean(out.stdout)
    assert "int_loans__daily_delinquency" in out.stdout
    with psycopg.connect(built.dsn()) as wh:
        after = wh.execute(
            "select count(*), max(source_changed_at) from intermediate.int_loans__daily_delinquency"
        ).fetchone()
        # the incremental model took in the changed loans (their RAW change time moved)
        assert after is not None
        assert before is not None
        assert after[1] > before[1]
        runs = wh.execute("select count(*) from marts.pipeline_health").fetchone()
        assert runs == (6,)


#: the incremental models and the columns that carry their content (not their watermarks)
INCREMENTAL = {
    "intermediate.int_loans__month_boundary_days": (
        "loan_id, as_of_date, outstanding_principal, days_past_due, dpd_bucket, is_active,"
        " par1_amount, par30_amount, par60_amount, par90_amount"
    ),
    "intermediate.int_accounts__monthly_branch_flows": (
        "month_start, branch_code, deposits, withdrawals, loan_disbursements, loan_repayments,"
        " fees, interest_paid, transfers_in, transfers_out, transaction_count,"
        " accounts_with_movement"
    ),
    "intermediate.int_accounts__daily_balances": (
        "account_id, balance_date, end_of_day_balance, transaction_count, has_movement"
    ),
    "intermediate.int_loans__daily_delinquency": (
        "loan_id, as_of_date, principal_paid, outstanding_principal, days_past_due, dpd_bucket,"
        " is_active, par1_amount, par30_amount, par60_amount, par90_amount"
    ),
    "intermediate.int_portfolio__segment_days": (
        "as_of_date, branch_code, product, loan_officer_id, active_loans, active_borrowers,"
        " gross_loan_portfolio, par1_amount, par30_amount, par60_amount, par90_amount,"
        " current_amount, dpd_1_30_amount, dpd_31_60_amount, dpd_61_90_amount,"
        " dpd_91_180_amount, dpd_181_plus_amount, loans_disbursed, disbursed_amount,"
        " segment_loans, segment_loan_checksum"
    ),
    "intermediate.int_loans__schedule": (
        "loan_id, installment_no, due_date, principal_due, interest_due, outstanding_before,"
        " cumulative_principal_due, cumulative_total_due"
    ),
    "intermediate.int_loans__repayment_steps": (
        "loan_id, step_date, next_step_date, principal_paid_to_date, first_unpaid_due_date,"
        " principal, disbursed_date, closed_date, written_off_date"
    ),
    "intermediate.int_loans__installment_payments": (
        "loan_id, installment_no, due_date, principal_due, interest_due, total_due,"
        " paid_on_time, paid_total_by_as_of, fully_paid_date"
    ),
    "intermediate.int_accounts__savings_interest": (
        "account_id, month_start, account_type, interest_rate, days_accrued,"
        " average_daily_balance, accrued_interest_unrounded, accrued_interest, interest_posted"
    ),
    "intermediate.int_customers__loan_features_at_disbursement": (
        "loan_id, borrower_id, disbursed_at, disbursed_date, product, principal,"
        " annual_interest_rate, interest_method, repayment_frequency, installments, branch_code,"
        " region, kyc_status, monthly_income, risk_appetite, borrower_tenure_days, previous_loans,"
        " previous_loans_active, previous_loans_outstanding, previous_loans_worst_dpd,"
        " funded_accounts, deposit_balance, savings_balance, profile_valid_from,"
        " borrower_joined_at, ledger_observed_through, previous_loans_observed_through,"
        " delinquency_observed_through"
    ),
    "intermediate.int_customers__loan_default_labels": (
        "loan_id, disbursed_date, label_window_end_date, is_label_known,"
        " max_days_past_due_in_window, is_default_within_6_months"
    ),
}


def _contents(built: Warehouse) -> dict[str, list[tuple[object, ...]]]:
    with psycopg.connect(built.dsn()) as wh:
        return {
            table: wh.execute(f"select {cols} from {table} order by {cols}").fetchall()
            for table, cols in INCREMENTAL.items()
        }


def _make_old_changes(built: Warehouse) -> None:
    """Changes the incremental models must restate history for: a borrower moves branch, a
    loan moves to another officer, a ledger row arrives 40 days late and another the day
    before a disbursement of its account holder's loan, an account's first
    ledger row and another account's only one are deleted, an account's interest rate
    changes and another's stops, a payment of 60 days ago is reversed and so is the first
    payment of a loan whose default label window closed, and a loan turns out to have been
    closed on the day it was disbursed."""
    with psycopg.connect(built.oltp_dsn, autocommit=True) as oltp:
        oltp.execute(
            """update users set branch_code = case when branch_code = 'NBO01' then 'MSA01'
                                                  else 'NBO01' end,
                                updated_at = clock_timestamp()
               where id = (select borrower_id from loans where disbursed_at is not null
                           order by id limit 1 offset 7)"""
        )
        oltp.execute(
            """update loans set loan_officer_id = (select max(loan_officer_id) from loans),
                                updated_at = clock_timestamp()
               where id = (select id from loans where disbursed_at is not null
                           and loan_officer_id <> (select max(loan_officer_id) from loans)
                           order by id limit 1 offset 3)"""
        )
        oltp.execute(
            """insert into transactions (account_id, txn_type, amount, balance_after, reference,
                                         description, occurred_at, created_at)
               select account_id, 'deposit', 10.00, balance_after + 10.00, 'LATE-LEDGER-1',
                      'arrives 40 days late', %s, clock_timestamp()
               from transactions where occurred_at < %s order by id desc limit 1""",
            (dt.datetime.combine(AS_OF, dt.time(9), dt.UTC) - dt.timedelta(days=40),) * 2,
        )
        # a deposit booked late, the day before a loan of its account holder was disbursed:
        # the loan's deposit features at disbursement change
        oltp.execute(
            """insert into transactions (account_id, txn_type, amount, balance_after, reference,
                                         description, occurred_at, created_at)
               select accounts.id, 'deposit', 25.00, 1025.00, 'LATE-LEDGER-2',
                      'arrives late, before a disbursement',
                      loans.disbursed_at - interval '1 day', clock_timestamp()
               from loans join accounts on accounts.user_id = loans.borrower_id
               where loans.disbursed_at < %s
               order by loans.disbursed_at desc limit 1""",
            (dt.datetime.combine(AS_OF, dt.time(9), dt.UTC) - dt.timedelta(days=30),),
        )
        oltp.execute(
            """delete from transactions where id = (
                   select min(id) from transactions where account_id in (
                       select account_id from transactions group by 1 having count(*) > 3))"""
        )
        oltp.execute(
            """delete from transactions where account_id = (
                   select account_id from transactions group by 1 having count(*) = 1
                   order by 1 limit 1)"""
        )
        oltp.execute(
            """update payments set status = 'reversed', updated_at = clock_timestamp()
               where id = (select id from payments where status = 'completed' and paid_at < %s
                           order by paid_at desc limit 1)""",
            (dt.datetime.combine(AS_OF, dt.time(9), dt.UTC) - dt.timedelta(days=60),),
        )
        # the first payment of a loan whose 6-month label window closed long ago is reversed:
        # its worst days past due in that window change
        oltp.execute(
            """update payments set status = 'reversed', updated_at = clock_timestamp()
               where id = (select payments.id from payments
                           join loans on loans.id = payments.loan_id
                           where payments.status = 'completed' and loans.disbursed_at < %s
                           order by loans.disbursed_at desc, payments.paid_at limit 1)""",
            (dt.datetime.combine(AS_OF, dt.time(9), dt.UTC) - dt.timedelta(days=300),),
        )
        for rate, offset in (("interest_rate + 0.0125", 0), ("0", 1)):
            oltp.execute(
                f"""update accounts set interest_rate = {rate}, updated_at = clock_timestamp()
                    where id = (select id from accounts where interest_rate > 0
                                and id in (select account_id from transactions)
                                order by id limit 1 offset {offset})"""
            )
    _close_a_loan_on_its_disbursement_day(built, offset=11)
    source = endpoints.source(built.server.dsn(built.oltp, "oltp_extract"))
    target = endpoints.target(built.dsn("loader"))
    report = pipeline.reconcile(TABLES["transactions"], source, target)
    assert report.clean, report.describe()


def _close_a_loan_on_its_disbursement_day(built: Warehouse, offset: int) -> None:
    """An active loan turns out to have been closed on the day it was disbursed (a same-day
    repayment recorded late): its portfolio window is empty, so the per-loan models have no
    row left to restate its earlier ones with. Then RAW takes it in."""
    with psycopg.connect(built.oltp_dsn, autocommit=True) as oltp:
        oltp.execute(
            """update loans set status = 'closed', closed_at = disbursed_at + interval '1 minute',
                                updated_at = clock_timestamp()
               where id = (select id from loans where status = 'active' and disbursed_at < %s
                           order by id limit 1 offset %s)""",
            (dt.datetime.combine(AS_OF, dt.time(9), dt.UTC) - dt.timedelta(days=60), offset),
        )
    built.ingest()


@pytest.fixture
def scratch(pg_server: Provisioner) -> Iterator[Warehouse]:
    """A warehouse of its own (seeded like `built`, nothing built yet): the changes made here
    would otherwise reach the shared warehouse that later tests compare with the OLTP."""
    wh = Warehouse(
        pg_server, "oltp_dbt_inc", "warehouse_dbt_inc", Path(tempfile.mkdtemp(prefix="dbt-inc-"))
    )
    for name in (wh.oltp, wh.warehouse):
        pg_server.drop_database(name)
    pg_server.create_database(wh.oltp, "oltp")
    pg_server.create_database(wh.warehouse, "warehouse")
    schema.init(wh.oltp_dsn)
    seed(wh.oltp_dsn, scale=SCALE, seed=11, as_of=AS_OF)
    wh.ingest()
    yield wh
    for name in (wh.oltp, wh.warehouse):
        pg_server.drop_database(name)
    shutil.rmtree(wh.target_path, ignore_errors=True)


def test_incremental_models_equal_a_full_rebuild(scratch: Warehouse) -> None:
    models = [name.split(".")[1] for name in INCREMENTAL]
    # built 12 days earlier: the incremental run must also append the new days
    scratch.dbt(
        "run",
        "--select",
        *(f"+{m}" for m in models),
        "--full-refresh",
        as_of=AS_OF - dt.timedelta(days=12),
    )
    _make_old_changes(scratch)
    # with their parents, as a scheduled build runs them: int_loans__source_changes, the
    # per-loan change times the loan models compare with, is a table rebuilt every run
    scratch.dbt("run", "--select", *(f"+{m}" for m in models))
    # and again on the same as-of date, after another loan turned out to be closed on the
    # day it was disbursed (what a soak of the platform met: its portfolio kept the loan)
    _close_a_loan_on_its_disbursement_day(scratch, offset=23)
    scratch.dbt("run", "--select", *(f"+{m}" for m in models))
    incremental = _contents(scratch)
    # with the delinquency view the loan models read: PostgreSQL drops a view with the table
    # it reads, and a full rebuild replaces the repayment steps that view reads
    scratch.dbt("run", "--select", *models, "int_loans__delinquency", "--full-refresh")
    full = _contents(scratch)
    for table in INCREMENTAL:
        # (a month-branch model is smaller: some 48 months of a few branches)
        minimum = 100 if table.endswith("monthly_branch_flows") else 400
        assert len(incremental[table]) == len(full[table]) > minimum, table
        assert incremental[table] == full[table], table


def test_docs_generate_and_every_mart_column_is_described(built: Warehouse) -> None:
    built.dbt("docs", "generate")
    catalog = json.loads((built.target_path / "catalog.json").read_text())
    manifest = json.loads((built.target_path / "manifest.json").read_text())
    marts = [
        n
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model" and n["schema"] == "marts"
    ]
    assert len(marts) >= 15
    for node in marts:
        assert node["description"].strip(), node["name"]
        built_columns = catalog["nodes"][node["unique_id"]]["columns"]
        for column in built_columns:
            documented = node["columns"].get(column, {}).get("description", "").strip()
            assert documented, f"{node['name']}.{column} has no description"
