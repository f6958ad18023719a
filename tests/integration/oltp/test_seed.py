"""The generator's invariants on a real, seeded scale-1 OLTP."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import psycopg
import pytest
from psycopg import sql

from finhouse.oltp import schema
from finhouse.oltp.schedule import schedule
from finhouse.oltp.seed import seed
from tests.conftest import Databases, run_cli
from tests.support.contract import ENUMS
from tests.support.invariants import assert_invariants
from tests.support.kpi_reference import loan_states, portfolio_summary

pytestmark = pytest.mark.integration

AS_OF = dt.date(2026, 6, 30)
SEED = 11


@pytest.fixture(scope="module")
def seeded(module_dbs: Databases) -> Iterator[psycopg.Connection]:
    schema.init(module_dbs.oltp_dsn)
    seed(module_dbs.oltp_dsn, scale=1, seed=SEED, as_of=AS_OF)
    with psycopg.connect(module_dbs.oltp_dsn, autocommit=True) as conn:
        yield conn


def _one(conn: psycopg.Connection, query: str) -> object:
    row = conn.execute(query).fetchone()
    assert row is not None
    return row[0]


def test_sizes_follow_the_scale(seeded: psycopg.Connection) -> None:
    counts = {t: _one(seeded, f"select count(*) from {t}") for t in schema.TABLES}
    assert counts["users"] == 2000
    assert 2_400 <= counts["loans"] <= 3_600
    assert 80_000 <= counts["transactions"] <= 130_000
    assert counts["accounts"] >= 1_900
    assert counts["investments"] >= 150
    assert _one(seeded, "select count(*) from users where role = 'loan_officer'") >= 20
    assert _one(seeded, "select count(distinct branch_code) from users") >= 8
    assert _one(seeded, "select count(distinct region) from users") >= 3


def test_enumerations_stay_within_the_contract(seeded: psycopg.Connection) -> None:
    for (table, column), allowed in ENUMS.items():
        seen = {
            r[0]
            for r in seeded.execute(
                sql.SQL("select distinct {} from {}").format(
                    sql.Identifier(column), sql.Identifier(table)
                )
            )
        }
        assert seen <= allowed, f"{table}.{column}: {seen - allowed}"
    # Every status of the lifecycle appears, so downstream models meet them all.
    assert {r[0] for r in seeded.execute("select distinct status from loans")} >= {
        "active",
        "closed",
        "written_off",
        "rejected",
    }
    assert {r[0] for r in seeded.execute("select distinct status from payments")} >= {
        "completed",
        "reversed",
    }


def test_foreign_keys_and_roles_are_consistent(seeded: psycopg.Connection) -> None:
    assert (
        _one(
            seeded,
            """
        select count(*) from loans l
        join users b on b.id = l.borrower_id join users o on o.id = l.loan_officer_id
        join accounts a on a.id = l.account_id
        where b.role <> 'customer' or o.role <> 'loan_officer' or a.user_id <> l.borrower_id
           or o.branch_code <> b.branch_code""",
        )
        == 0
    )
    assert (
        _one(
            seeded,
            "select count(*) from accounts a left join users u on u.id = a.user_id "
            "where u.id is null",
        )
        == 0
    )
    assert (
        _one(
            seeded,
            "select count(*) from payments p left join loans l on l.id = p.loan_id "
            "where l.id is null or l.disbursed_at is null "
            "or p.paid_at < l.disbursed_at",
        )
        == 0
    )


def test_ledger_balances_are_running_sums(seeded: psycopg.Connection) -> None:
    assert (
        _one(
            seeded,
            """
        with signed as (
            select account_id, id, balance_after,
                   sum(case when txn_type in ('deposit', 'transfer_in', 'interest',
                                              'loan_disbursement') then amount else -amount end)
                       over (partition by account_id order by id) as running
            from transactions)
        select count(*) from signed where running <> balance_after""",
        )
        == 0
    )
    assert (
        _one(
            seeded,
            """
        select count(*) from accounts a
        left join lateral (select balance_after from transactions t where t.account_id = a.id
                           order by id desc limit 1) last on true
        where a.balance <> coalesce(last.balance_after, 0)""",
        )
        == 0
    )
    assert _one(seeded, "select count(*) from transactions where balance_after < 0") == 0
    assert _one(seeded, "select count(*) from transactions where amount <= 0") == 0
    # ids follow time, as an append-only ledger's do
    assert (
        _one(
            seeded,
            """select count(*) from (select occurred_at, lag(occurred_at) over
                           (order by id) as prev from transactions) t
                           where occurred_at < prev""",
        )
        == 0
    )


def test_payments_follow_the_schedule(seeded: psycopg.Connection) -> None:
    loans = seeded.execute("""
        select l.id, l.principal, l.annual_interest_rate, l.interest_method,
               l.repayment_frequency, l.installments, l.first_due_date, l.status,
               coalesce(sum(p.principal_paid) filter (where p.status = 'completed'), 0),
               coalesce(sum(p.interest_paid) filter (where p.status = 'completed'), 0)
        from loans l left join payments p on p.loan_id = l.id
        where l.disbursed_at is not null group by l.id""").fetchall()
    assert len(loans) > 2000
    fully_paid = 0
    for _id, principal, rate, method, freq, n, first_due, status, paid_p, paid_i in loans:
        plan = schedule(principal, rate, method, freq, n, first_due)
        assert sum(i.principal_due for i in plan) == principal
        assert paid_p <= principal
        if status == "closed":
            assert paid_p == principal
        if paid_p == principal and status == "closed" and method == "flat":
            # an on-schedule flat loan pays exactly the scheduled interest
            fully_paid += paid_i == sum(i.interest_due for i in plan)
    assert fully_paid > 100
    assert (
        _one(
            seeded,
            "select count(*) from payments "
            "where amount <> principal_paid + interest_paid + penalty_paid",
        )
        == 0
    )


def test_loan_lifecycle_timestamps_are_ordered(seeded: psycopg.Connection) -> None:
    assert (
        _one(
            seeded,
            """
        select count(*) from loans where not (
            applied_at <= coalesce(approved_at, applied_at)
            and coalesce(approved_at, applied_at) <= coalesce(disbursed_at, 'infinity')
            and coalesce(disbursed_at, '-infinity') <= coalesce(closed_at, 'infinity')
            and updated_at >= applied_at
            and (status in ('active', 'closed', 'written_off')) = (disbursed_at is not null)
            and (status = 'closed') = (closed_at is not null)
            and (status = 'written_off') = (written_off_at is not null)
            and (status = 'written_off') = (written_off_amount is not null))""",
        )
        == 0
    )


def test_history_ends_before_the_as_of_date(seeded: psycopg.Connection) -> None:
    cutoff = dt.datetime.combine(AS_OF, dt.time(), dt.UTC)
    for table in schema.TABLES:
        column = "created_at" if table == "transactions" else "updated_at"
        latest = _one(seeded, f"select max({column}) from {table}")
        assert isinstance(latest, dt.datetime)
        assert latest < cutoff
        assert latest > cutoff - dt.timedelta(days=3), f"{table} has no recent activity"
    first = _one(seeded, "select min(disbursed_at) from loans")
    assert isinstance(first, dt.datetime)
    assert cutoff - first > dt.timedelta(days=900)


def test_portfolio_at_risk_is_realistic(seeded: psycopg.Connection) -> None:
    for as_of in (AS_OF - dt.timedelta(days=1), AS_OF - dt.timedelta(days=180)):
        summary = portfolio_summary(loan_states(seeded, as_of))
        glp = summary["gross_loan_portfolio"]
        assert isinstance(glp, Decimal)
        assert glp > 0
        par30 = summary["par30_amount"] / glp  # type: ignore[operator]
        assert Decimal("0.03") <= par30 <= Decimal("0.15"), f"PAR30 {par30:.3f} at {as_of}"
        assert (
            summary["par90_amount"]
            <= summary["par60_amount"]
            <= summary["par30_amount"]
            <= summary["par1_amount"]
            <= glp
        )  # type: ignore[operator]
        assert summary["active_borrowers"] <= summary["active_loans"]  # type: ignore[operator]


def _fingerprint(dsn: str) -> dict[str, str]:
    with psycopg.connect(dsn) as conn:
        return {
            t: str(_one(conn, f"select md5(string_agg(t::text, '|' order by id)) from {t} t"))
            for t in schema.TABLES
        }


def test_top_up_before_a_movement_early_on_the_first_follows_the_month_end_interest(
    dbs: Databases,
) -> None:
    """Seed 21 at scale 0.1 as of 2026-12-01 has a transfer at 00:13 on 1 June that needs a
    top-up deposit: drawn 2-30 minutes earlier, it landed before the 31 May interest row
    already posted from the balance without it, so the ledger's running balance broke in id
    (= time) order. The top-up now never precedes a row already posted."""
    schema.init(dbs.oltp_dsn)
    seed(dbs.oltp_dsn, scale=0.1, seed=21, as_of=dt.date(2026, 12, 1))
    with psycopg.connect(dbs.oltp_dsn) as conn:
        assert_invariants(conn)  # among them: balance_after is the running balance
        top_ups = _one(
            conn,
            """select count(*) from transactions as top_up
               inner join transactions as interest
                   on top_up.account_id = interest.account_id
                   and top_up.occurred_at = interest.occurred_at
                   and interest.txn_type = 'interest'
               where top_up.metadata ->> 'kind' = 'top_up' and top_up.id > interest.id""",
        )
    assert top_ups > 0  # the case is in the data: a top-up held back to the interest row


def test_same_seed_and_date_give_identical_data(
    seeded: psycopg.Connection, dbs: Databases, module_dbs: Databases
) -> None:
    assert seeded  # the module's database is seeded with SEED at AS_OF
    schema.init(dbs.oltp_dsn)
    seed(dbs.oltp_dsn, scale=1, seed=SEED, as_of=AS_OF)
    assert _fingerprint(dbs.oltp_dsn) == _fingerprint(module_dbs.oltp_dsn)
    seed(dbs.oltp_dsn, scale=1, seed=SEED + 1, as_of=AS_OF, replace=True)
    other = _fingerprint(dbs.oltp_dsn)
    assert all(other[t] != v for t, v in _fingerprint(module_dbs.oltp_dsn).items())


def test_seed_refuses_a_filled_oltp_and_changes_nothing(
    seeded: psycopg.Connection, module_dbs: Databases
) -> None:
    before = _fingerprint(module_dbs.oltp_dsn)
    env = {**module_dbs.env()}
    out = run_cli("oltp", "seed", "--scale", "0.1", "--as-of", "2026-01-01", env=env)
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1
    assert "already holds data" in out.stderr
    assert _fingerprint(module_dbs.oltp_dsn) == before
    assert seeded.execute(
        "select count(*) from pg_tables where tablename like '_seed_%'"
    ).fetchone() == (0,)


def test_seed_via_cli_shows_progress_and_summary(dbs: Databases) -> None:
    run_cli("oltp", "init", env=dbs.env(), check=True)
    out = run_cli(
        "oltp",
        "seed",
        "--scale",
        "0.1",
        "--seed",
        "3",
        "--as-of",
        "2026-01-15",
        env=dbs.env(),
        check=True,
    )
    assert "customers" in out.stderr  # the progress bar
    assert "seeded scale 0.1" in out.stdout
    assert "200 users" in out.stdout
