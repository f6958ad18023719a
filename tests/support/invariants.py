"""Invariants of the OLTP stand-in that must hold after seeding and after any simulation."""

from __future__ import annotations

import psycopg

from tests.support.contract import ENUMS

CHECKS = {
    "balance_after is the running balance": """
        with signed as (
            select balance_after,
                   sum(case when txn_type in ('deposit', 'transfer_in', 'interest',
                                              'loan_disbursement') then amount else -amount end)
                       over (partition by account_id order by id) as running
            from transactions)
        select count(*) from signed where running <> balance_after""",
    "balance is the last balance_after": """
        select count(*) from accounts a
        left join lateral (select balance_after from transactions t where t.account_id = a.id
                           order by id desc limit 1) last on true
        where a.balance <> coalesce(last.balance_after, 0)""",
    "no negative balance": "select count(*) from accounts where balance < 0",
    "payment parts sum to the amount": """
        select count(*) from payments
        where amount <> principal_paid + interest_paid + penalty_paid""",
    "no loan repaid beyond its principal": """
        select count(*) from loans l where l.principal < (
            select coalesce(sum(principal_paid), 0) from payments p
            where p.loan_id = l.id and p.status = 'completed')""",
    "closed loans are fully repaid": """
        select count(*) from loans l where l.status = 'closed' and l.principal <> (
            select coalesce(sum(principal_paid), 0) from payments p
            where p.loan_id = l.id and p.status = 'completed')""",
    "payments only on disbursed loans": """
        select count(*) from payments p join loans l on l.id = p.loan_id
        where l.disbursed_at is null""",
}


def assert_invariants(conn: psycopg.Connection) -> None:
    failures = {
        name: n for name, query in CHECKS.items() if (n := conn.execute(query).fetchone()[0])
    }  # type: ignore[index]
    assert not failures, failures
    for (table, column), allowed in ENUMS.items():
        seen = {r[0] for r in conn.execute(f"select distinct {column} from {table}")}
        assert seen <= allowed, f"{table}.{column}: {seen - allowed}"
