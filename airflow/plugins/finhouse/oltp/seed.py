"""Deterministic synthetic history for the OLTP stand-in (``finhouse oltp seed``).

Scale 1 is ~2,000 users (customers, loan officers, a few admins) in ~10 branches, ~3,000
loans over the ~3 years before the as-of date, ~100,000 ledger rows, savings accounts,
wallets and investments; everything grows linearly with the scale.

How it stays realistic and exact:

* Loans follow microfinance loan cycles: apply, approve (or reject), disburse, repay, and a
  next loan after closing. Installments come from :mod:`finhouse.oltp.schedule` (the rules
  of docs/metrics.md), so an on-time borrower is never a cent behind. Each loan has a
  behaviour: on time, late (some installments weeks late, sometimes in two parts), early
  payoff, or default (stops paying; written off past 180 days past due). Whether it defaults
  is drawn from the generator's credit risk (:class:`RiskModel`: leverage, declared income,
  risk appetite, product, the borrower's earlier loans, saving habit, officer and branch), kept
  per loan in ``seed_loan_default_risk`` so a default model can be judged against it.
* Every ledger row's ``balance_after`` is the running balance and each account's ``balance``
  its last ``balance_after``; repayments by mobile money or bank transfer debit the account
  (a deposit tops it up first when it is short), cash repayments do not touch the ledger.
* History ends strictly before the as-of date (00:00 UTC), so seeding "today" never writes a
  timestamp in the future. The same seed, scale and as-of date give identical data: every
  customer draws from its own random stream, and ids are assigned in time order.

How it stays fast with flat memory: each customer's rows are generated and streamed at once
through concurrent ``COPY`` streams into unlogged staging tables; one final transaction moves
them into the real tables with ids renumbered in time order, so the tables change atomically
(all or nothing) and Python never holds more than one customer's history.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import re
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar

import psycopg
from faker import Faker
from psycopg import sql
from psycopg.types.json import Jsonb

from finhouse.connections import connect
from finhouse.errors import ConfigError, FinhouseError
from finhouse.progress import progress_bar

from .schedule import add_months, cents, schedule
from .schema import TABLES

UTC = dt.UTC
CURRENCY = "KES"
HISTORY_DAYS = 3 * 365
USERS_PER_SCALE = 2000

# (code, name, region): branches are taken from the top of this list as the scale grows.
BRANCHES = [
    ("NBO01", "Nairobi Central", "Central"),
    ("MSA01", "Mombasa Old Town", "Coast"),
    ("KSM01", "Kisumu", "Western"),
    ("NKR01", "Nakuru", "Rift Valley"),
    ("ELD01", "Eldoret", "Rift Valley"),
    ("NYR01", "Nyeri", "Central"),
    ("MLD01", "Malindi", "Coast"),
    ("KKG01", "Kakamega", "Western"),
    ("MCK01", "Machakos", "Eastern"),
    ("EMB01", "Embu", "Eastern"),
    ("NBO02", "Nairobi Eastleigh", "Central"),
    ("THK01", "Thika", "Central"),
    ("KTL01", "Kitale", "Rift Valley"),
    ("GRS01", "Garissa", "North Eastern"),
    ("KRC01", "Kericho", "Rift Valley"),
    ("BSA01", "Busia", "Western"),
    ("MRU01", "Meru", "Eastern"),
    ("LAM01", "Lamu", "Coast"),
    ("NBO03", "Nairobi Kibera", "Central"),
    ("WJR01", "Wajir", "North Eastern"),
]

PRODUCTS = {
    # product: (weight, principal range, rate range, method weights, frequency, installments)
    "group": (
        30,
        (200, 1_500),
        (0.24, 0.36),
        {"flat": 0.8, "declining": 0.2},
        "weekly",
        (16, 24, 26),
    ),
    "individual": (
        30,
        (500, 5_000),
        (0.20, 0.30),
        {"flat": 0.3, "declining": 0.7},
        "monthly",
        (6, 9, 12, 18),
    ),
    "sme": (
        12,
        (3_000, 25_000),
        (0.16, 0.26),
        {"flat": 0.1, "declining": 0.9},
        "monthly",
        (12, 18, 24),
    ),
    "agriculture": (
        18,
        (500, 8_000),
        (0.15, 0.24),
        {"flat": 0.4, "declining": 0.6},
        "monthly",
        (6, 9, 12),
    ),
    "emergency": (10, (100, 800), (0.30, 0.48), {"flat": 1.0, "declining": 0.0}, "weekly", (8, 12)),
}
#: the behaviour of a loan that does not default (the default share comes from RISK); the
#: share of late payers rises with the loan's risk (late_profile_share)
PROFILES = {"on_time": 0.60, "early": 0.05}


@dataclass(frozen=True)
class RiskModel:
    """The generator's credit risk (docs/ml.md, "The generator's risk"): the probability that a
    loan follows the "default" behaviour (stops paying) is the logistic function of

    intercept + log_leverage x ln(principal / (12 x monthly income))
    + income_unknown (no declared income; leverage then uses 300.00 a month)
    + risk_appetite[the borrower's] + product[the loan's]
    + previous_good x min(previous loans repaid without trouble, 3)
    + previous_late (the borrower's previous loan was late or defaulted)
    + log_saver_activity x ln(saver activity: how much the borrower saves, 0.3 to 1.5)
    + the loan officer's effect + the branch's effect (normal, per officer and branch).

    A model sees most of it through the features (income, principal, risk appetite, product,
    previous loans and their worst DPD, savings balance, branch) but not the officer's effect
    nor the saving habit itself, and the outcome is a draw: a perfect model's AUC is that of
    :func:`default_probability` itself, reported beside the trained models'."""

    intercept: float = -2.1
    log_leverage: float = 0.7
    income_unknown: float = 0.4
    risk_appetite: tuple[tuple[str | None, float], ...] = (
        ("low", -0.5), ("medium", 0.0), ("high", 0.7), (None, 0.2)
    )  # fmt: skip
    product: tuple[tuple[str, float], ...] = (
        ("group", -0.3), ("individual", 0.0), ("sme", 0.1), ("agriculture", 0.4),
        ("emergency", 0.5),
    )  # fmt: skip
    previous_good: float = -0.35
    previous_late: float = 1.0
    log_saver_activity: float = -0.7
    officer_sd: float = 0.35
    branch_sd: float = 0.25

    def logit(
        self,
        *,
        principal_cents: int,
        income_cents: int | None,
        risk_appetite: str | None,
        product: str,
        previous_good: int,
        previous_late: bool,
        saver_activity: float,
        officer_effect: float,
        branch_effect: float,
    ) -> float:
        leverage = principal_cents / (12 * (income_cents or 30_000))
        return (
            self.intercept
            + self.log_leverage * math.log(leverage)
            + (self.income_unknown if not income_cents else 0.0)
            + dict(self.risk_appetite)[risk_appetite]
            + dict(self.product)[product]
            + self.previous_good * min(previous_good, 3)
            + (self.previous_late if previous_late else 0.0)
            + self.log_saver_activity * math.log(saver_activity)
            + officer_effect
            + branch_effect
        )


RISK = RiskModel()


def default_probability(logit: float) -> float:
    """The logistic function: a logit of RiskModel as a probability."""
    return 1 / (1 + math.exp(-logit))


def late_profile_share(probability: float) -> float:
    """Of the loans that do not default, the share paid late (weeks, never two months, late):
    12 % plus the loan's default probability, at most 45 %."""
    return min(0.45, 0.12 + probability)


CHANNELS = {"cash": 0.45, "mobile_money": 0.40, "bank_transfer": 0.15}
LEDGER_CHANNELS = frozenset({"mobile_money", "bank_transfer"})
CREDIT_TYPES = frozenset({"deposit", "transfer_in", "interest", "loan_disbursement"})
INVESTMENTS = {
    # product: (weight, term in months choices, rate range)
    "fixed_deposit": (45, (6, 12, 24), (0.07, 0.11)),
    "treasury_bill": (25, (3, 6, 12), (0.08, 0.13)),
    "money_market": (20, (12,), (0.06, 0.10)),
    "bond": (10, (24, 36, 60), (0.10, 0.14)),
}
DESCRIPTIONS = {
    "deposit": [
        "Cash deposit at branch",
        "Dépôt en agence",
        "M-Pesa deposit ✓",
        "Deposit — market day",
        "入金 (mobile)",
        "Amana ya akiba",
    ],
    "withdrawal": [
        "Cash withdrawal",
        "Retrait au guichet",
        "Agent withdrawal",
        "School fees withdrawal",
    ],
    "fee": ["Monthly account fee", "SMS alerts fee"],
    "interest": ["Savings interest"],
    "loan_disbursement": ["Loan disbursement"],
    "loan_repayment": ["Loan repayment"],
    "transfer_in": ["Investment payout", "Payment reversal"],
    "transfer_out": ["Investment purchase"],
}


def money(cents: int) -> str:
    """Integer cents as exact numeric text for COPY."""
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def to_cents(value: Decimal) -> int:
    return int(value * 100)


def pick(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


# ------------------------------------------------------------------------------- plan
@dataclass(slots=True)
class Customer:
    id: int
    branch: str
    region: str
    joined: dt.datetime
    kyc: str
    income_cents: int | None
    risk: str | None


@dataclass
class SeedSummary:
    scale: float
    seed: int
    as_of: dt.date
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def describe(self) -> str:
        parts = ", ".join(f"{self.counts.get(t, 0):,} {t}" for t in TABLES)
        return (
            f"seeded scale {self.scale:g} (seed {self.seed}, history before "
            f"{self.as_of.isoformat()}): {parts} in {self.seconds:.1f} s"
        )


@dataclass
class _Account:
    tmp_id: int
    kind: str
    opened: dt.datetime
    rate_e4: int
    events: list[tuple[dt.datetime, int, str, int, dict[str, Any]]] = field(default_factory=list)
    closed: dt.datetime | None = None

    def add(
        self, at: dt.datetime, txn_type: str, cents: int, meta: dict[str, Any], order: int = 1
    ) -> None:
        if cents > 0:
            self.events.append((at, order, txn_type, cents, meta))


@dataclass(slots=True)
class _History:
    """What the generator's risk knows of a borrower's loans so far (RiskModel)."""

    saver_activity: float
    officer_effect: float
    good: int = 0
    late: bool = False


class _Writers:
    """One COPY stream per staging table, each on its own connection."""

    COLUMNS: ClassVar[dict[str, tuple[str, ...]]] = {
        "users": (
            "id",
            "username",
            "email",
            "first_name",
            "last_name",
            "phone",
            "national_id",
            "gender",
            "date_of_birth",
            "role",
            "branch_code",
            "region",
            "kyc_status",
            "monthly_income",
            "risk_appetite",
            "is_active",
            "date_joined",
            "updated_at",
        ),
        "accounts": (
            "id",
            "user_id",
            "account_number",
            "account_type",
            "currency",
            "status",
            "balance",
            "interest_rate",
            "opened_at",
            "closed_at",
            "created_at",
            "updated_at",
        ),
        "loans": (
            "id",
            "borrower_id",
            "loan_officer_id",
            "account_id",
            "product",
            "principal",
            "annual_interest_rate",
            "interest_method",
            "repayment_frequency",
            "installments",
            "first_due_date",
            "status",
            "applied_at",
            "approved_at",
            "disbursed_at",
            "closed_at",
            "written_off_at",
            "written_off_amount",
            "created_at",
            "updated_at",
        ),
        "payments": (
            "id",
            "loan_id",
            "amount",
            "principal_paid",
            "interest_paid",
            "penalty_paid",
            "channel",
            "status",
            "paid_at",
            "reference",
            "created_at",
            "updated_at",
        ),
        "transactions": (
            "id",
            "account_id",
            "txn_type",
            "amount",
            "balance_after",
            "reference",
            "description",
            "metadata",
            "occurred_at",
            "created_at",
        ),
        "investments": (
            "id",
            "user_id",
            "product",
            "principal",
            "annual_rate",
            "start_date",
            "maturity_date",
            "status",
            "current_value",
            "created_at",
            "updated_at",
        ),
        # the generator's own risk of each disbursed loan (not an OLTP table: RISK_TABLE)
        "loan_risk": ("id", "default_probability"),
    }

    def __init__(self, dsn: str, stack: ExitStack) -> None:
        self.copies: dict[str, Any] = {}
        self.counts = dict.fromkeys(TABLES, 0)
        for table in (*TABLES, "loan_risk"):
            conn = stack.enter_context(connect(dsn))
            cur = stack.enter_context(conn.cursor())
            stmt = sql.SQL("copy {} ({}) from stdin").format(
                sql.Identifier(f"_seed_{table}"),
                sql.SQL(", ").join(map(sql.Identifier, self.COLUMNS[table])),
            )
            self.copies[table] = stack.enter_context(cur.copy(stmt))

    def row(self, table: str, values: tuple[Any, ...]) -> None:
        self.copies[table].write_row(values)
        if table in self.counts:
            self.counts[table] += 1


# ------------------------------------------------------------------------------- helpers
def _business_time(rng: random.Random, day: dt.date) -> dt.datetime:
    seconds = rng.randint(8 * 3600, 18 * 3600 - 1)
    return dt.datetime.combine(day, dt.time(), UTC) + dt.timedelta(
        seconds=seconds, microseconds=rng.randint(0, 999_999)
    )


def _later(rng: random.Random, at: dt.datetime, lo_min: int, hi_min: int) -> dt.datetime:
    return at + dt.timedelta(
        minutes=rng.randint(lo_min, hi_min), microseconds=rng.randint(0, 999_999)
    )


def _month_ends(start: dt.datetime, end: dt.datetime) -> Iterator[dt.datetime]:
    day = dt.date(start.year, start.month, 1)
    while True:
        day = add_months(day, 1)
        at = dt.datetime.combine(day, dt.time(), UTC) - dt.timedelta(seconds=1)
        if at >= end:
            return
        if at > start:
            yield at


class _Generator:
    def __init__(self, scale: float, seed: int, as_of: dt.date) -> None:
        self.seed = seed
        self.end = dt.datetime.combine(as_of, dt.time(), UTC)
        self.start = self.end - dt.timedelta(days=HISTORY_DAYS)
        self.n_users = max(50, round(USERS_PER_SCALE * scale))
        self.n_branches = min(len(BRANCHES), max(3, round(10 * math.sqrt(scale))))
        self.branches = BRANCHES[: self.n_branches]
        self.officers: dict[str, list[int]] = {}
        self.officer_effects: dict[int, float] = {}
        self.branch_effects = {
            code: random.Random(f"{seed}/branch-risk/{code}").gauss(0, RISK.branch_sd)
            for code, _name, _region in self.branches
        }
        self.customers: list[Customer] = []
        self.faker = Faker("en_US")
        self.faker.seed_instance(seed)
        self.txn_seq = 0
        self.pay_seq = 0

    # ---------------------------------------------------------------- users (in memory)
    def plan_users(self, out: _Writers) -> None:
        rng = random.Random(f"{self.seed}/users")
        n_admins = 2 + self.n_branches // 5
        per_branch = (self.n_users - n_admins) / self.n_branches
        n_officers = max(2, round(per_branch / 55))
        staff: list[tuple[str, str, str, dt.datetime]] = []
        for _ in range(n_admins):
            hq = self.branches[0]
            staff.append(("admin", hq[0], hq[2], self._staff_joined(rng)))
        for code, _name, region in self.branches:
            staff.extend(
                ("loan_officer", code, region, self._staff_joined(rng)) for _ in range(n_officers)
            )
        staff.sort(key=lambda s: s[3])
        uid = 0
        for role, code, region, joined in staff:
            uid += 1
            self._write_user(
                out, rng, uid, role, code, region, joined, "verified", None, None, joined
            )
            if role == "loan_officer":
                self.officers.setdefault(code, []).append(uid)
                self.officer_effects[uid] = random.Random(f"{self.seed}/officer-risk/{uid}").gauss(
                    0, RISK.officer_sd
                )
        # Customers join over the history (plus a year before it), growing over time.
        n_customers = self.n_users - len(staff)
        span = (self.end - self.start).total_seconds() + 365 * 86400
        joins = sorted(
            self.end - dt.timedelta(seconds=span * (1 - math.sqrt(rng.random())))
            for _ in range(n_customers)
        )
        for joined in joins:
            uid += 1
            code, _name, region = self.branches[
                min(int(rng.paretovariate(1.3)) - 1, self.n_branches - 1)
                if rng.random() < 0.3
                else rng.randrange(self.n_branches)
            ]
            age = (self.end - joined).days
            kyc = (
                "pending"
                if age < 14 or rng.random() < 0.02
                else "rejected"
                if rng.random() < 0.02
                else "verified"
            )
            income = None if rng.random() < 0.15 else round(rng.lognormvariate(6.4, 0.6)) * 100
            risk = (
                None
                if rng.random() < 0.2
                else pick(rng, {"low": 0.45, "medium": 0.4, "high": 0.15})
            )
            updated = joined
            if kyc != "pending":
                updated = min(
                    _later(rng, joined, 60, 10 * 24 * 60), self.end - dt.timedelta(seconds=1)
                )
            if rng.random() < 0.1:  # a later profile edit (phone, income)
                updated = max(updated, joined + (self.end - joined) * rng.random())
            self._write_user(
                out, rng, uid, "customer", code, region, joined, kyc, income, risk, updated
            )
            self.customers.append(Customer(uid, code, region, joined, kyc, income, risk))

    def _staff_joined(self, rng: random.Random) -> dt.datetime:
        return self.start - dt.timedelta(days=rng.randint(30, 900), seconds=rng.randint(0, 86399))

    def _write_user(
        self,
        out: _Writers,
        rng: random.Random,
        uid: int,
        role: str,
        code: str,
        region: str,
        joined: dt.datetime,
        kyc: str,
        income: int | None,
        risk: str | None,
        updated: dt.datetime,
    ) -> None:
        gender = pick(rng, {"F": 0.58, "M": 0.38, "X": 0.01, "": 0.03}) or None
        first = (
            self.faker.first_name_female()
            if gender == "F"
            else self.faker.first_name_male()
            if gender == "M"
            else self.faker.first_name()
        )
        last = self.faker.last_name()
        handle = re.sub(r"[^a-z0-9]", "", f"{first}.{last}".lower())
        dob = (joined - dt.timedelta(days=rng.randint(19 * 365, 68 * 365))).date()
        out.row(
            "users",
            (
                uid,
                f"{handle}{uid}",
                f"{handle}{uid}@" + rng.choice(("example.com", "mail.example.org", "example.net")),
                first,
                last,
                f"+2547{rng.randint(0, 99_999_999):08d}",
                f"{rng.randint(10_000_000, 39_999_999)}{uid % 10}",
                gender,
                dob,
                role,
                code,
                region,
                kyc,
                None if income is None else money(income),
                risk,
                not (role == "customer" and rng.random() < 0.03),
                joined,
                updated,
            ),
        )

    # ---------------------------------------------------------------- per customer
    def customer_history(self, out: _Writers, c: Customer) -> None:
        rng = random.Random(f"{self.seed}/customer/{c.id}")
        savings = _Account(
            c.id * 8 + 1,
            "savings",
            _later(rng, c.joined, 5, 120),
            rng.choice((300, 350, 400, 450, 500)),
        )
        accounts = [savings]
        if savings.opened >= self.end:
            savings.opened = c.joined
        if rng.random() < 0.3:
            wallet_open = c.joined + (self.end - c.joined) * rng.random() * 0.5
            accounts.append(_Account(c.id * 8 + 2, "wallet", wallet_open, 0))
        if rng.random() < 0.08:
            accounts.append(
                _Account(c.id * 8 + 3, "current", _later(rng, c.joined, 60, 30 * 24 * 60), 0)
            )
        accounts = [a for a in accounts if a.opened < self.end]
        saver_activity = rng.choice((0.3, 0.6, 1.0, 1.0, 1.5))
        dormant_after = (
            c.joined + (self.end - c.joined) * rng.uniform(0.2, 0.7) if rng.random() < 0.1 else None
        )
        for account in accounts:
            self._savings_activity(rng, c, account, saver_activity, dormant_after)
        if c.kyc == "verified" and rng.random() < 0.75:
            self._loan_cycles(out, rng, c, savings, saver_activity, track=0)
            if rng.random() < 0.4:  # a second loan beside the first (e.g. an emergency loan)
                self._loan_cycles(out, rng, c, savings, saver_activity, track=1)
        if c.income_cents and rng.random() < 0.12:
            for k in range(rng.choice((1, 1, 1, 2))):
                self._investment(out, rng, c, savings, c.id * 4 + k)
        for account in accounts:
            self._post_ledger(out, rng, c, account)

    def _savings_activity(
        self,
        rng: random.Random,
        c: Customer,
        account: _Account,
        activity: float,
        dormant_after: dt.datetime | None,
    ) -> None:
        income = c.income_cents or 30_000
        account.add(
            account.opened,
            "deposit",
            round(income * rng.uniform(0.05, 0.5) / 100) * 100,
            {"channel": "cash", "kind": "opening"},
            order=0,
        )
        if account.kind == "wallet" and rng.random() < 0.2:
            account.closed = account.opened + (self.end - account.opened) * rng.uniform(0.3, 0.9)
        stop = min(x for x in (self.end, account.closed, dormant_after) if x is not None)
        months = (stop - account.opened).days / 30.4
        rate = {"savings": 0.6, "wallet": 1.4, "current": 2.0}[account.kind] * activity
        for _ in range(_poisson(rng, months * rate)):
            at = account.opened + (stop - account.opened) * rng.random()
            account.add(
                at,
                "deposit",
                round(income * rng.uniform(0.05, 0.4) / 100) * 100,
                {"channel": pick(rng, CHANNELS)},
            )
        for _ in range(_poisson(rng, months * rate * 0.6)):
            at = account.opened + (stop - account.opened) * rng.random()
            # the amount is capped at the balance when the ledger is posted
            account.add(
                at,
                "withdrawal",
                round(income * rng.uniform(0.05, 0.5) / 100) * 100,
                {"channel": pick(rng, CHANNELS)},
            )
        if account.kind == "current":
            for at in _month_ends(account.opened, stop):
                account.add(at, "fee", 150, {"kind": "monthly"}, order=2)
        if account.closed is not None:
            # the amount (the whole balance) is set when the ledger is posted
            account.add(account.closed, "withdrawal", 1, {"kind": "closing"}, order=3)

    # ---------------------------------------------------------------- loans
    def _loan_cycles(
        self,
        out: _Writers,
        rng: random.Random,
        c: Customer,
        account: _Account,
        saver_activity: float,
        track: int,
    ) -> None:
        """A borrower's successive loans: each one's behaviour drawn from its own risk
        (:class:`RiskModel`: the borrower, the loan, the loans before it)."""
        at = max(account.opened, self.start) + dt.timedelta(days=rng.randint(3, 240 + 300 * track))
        cycle = 0
        max_cycles = rng.choice((1, 2, 3, 3, 4, 5, 6, 8))
        officer = rng.choice(self.officers[c.branch])
        history = _History(saver_activity, self.officer_effects[officer])
        while at < self.end and cycle < max_cycles:
            cycle += 1
            tmp_id = c.id * 64 + track * 32 + cycle
            next_at = self._loan(out, rng, c, account, tmp_id, officer, at, history, cycle)
            if next_at is None:
                return
            at = next_at + dt.timedelta(days=rng.randint(1, 45))

    def _loan(
        self,
        out: _Writers,
        rng: random.Random,
        c: Customer,
        account: _Account,
        tmp_id: int,
        officer: int,
        applied: dt.datetime,
        history: _History,
        cycle: int,
    ) -> dt.datetime | None:
        """Write one loan with its payments; return when the next application may come."""
        product = pick(rng, {p: spec[0] for p, spec in PRODUCTS.items()})
        _w, (lo, hi), (rlo, rhi), methods, frequency, terms = PRODUCTS[product]
        growth = 1 + 0.25 * (cycle - 1)
        principal = max(100, round(rng.uniform(lo, hi) * growth / 50) * 50) * 100
        probability = default_probability(
            RISK.logit(
                principal_cents=principal,
                income_cents=c.income_cents,
                risk_appetite=c.risk,
                product=product,
                previous_good=history.good,
                previous_late=history.late,
                saver_activity=history.saver_activity,
                officer_effect=history.officer_effect,
                branch_effect=self.branch_effects[c.branch],
            )
        )
        if rng.random() < probability:
            profile = "default"
        elif rng.random() < late_profile_share(probability):
            profile = "late"
        else:
            profile = pick(rng, PROFILES)
        rate = Decimal(round(rng.uniform(rlo, rhi), 4)).quantize(Decimal("0.0001"))
        method = pick(rng, methods)
        n = rng.choice(terms)
        loan: dict[str, Any] = {
            "status": "pending",
            "approved": None,
            "disbursed": None,
            "first_due": None,
            "closed": None,
            "written_off": None,
            "written_off_amount": None,
            "updated": applied,
        }
        decided = _later(rng, applied, 4 * 60, 5 * 24 * 60)
        next_at: dt.datetime | None = None
        if decided < self.end:
            if rng.random() < 0.08:
                loan.update(status="rejected", updated=decided)
                next_at = decided + dt.timedelta(days=rng.randint(30, 200))
            else:
                loan.update(status="approved", approved=decided, updated=decided)
                disbursed = _later(rng, decided, 30, 3 * 24 * 60)
                if disbursed < self.end:
                    first_due = (
                        disbursed.date() + dt.timedelta(weeks=1)
                        if frequency == "weekly"
                        else add_months(disbursed.date(), 1)
                    )
                    loan.update(
                        status="active", disbursed=disbursed, first_due=first_due, updated=disbursed
                    )
                    account.add(disbursed, "loan_disbursement", principal, {"loan_ref": tmp_id})
                    next_at = self._repay(
                        out,
                        rng,
                        tmp_id,
                        account,
                        loan,
                        principal,
                        rate,
                        method,
                        frequency,
                        n,
                        profile,
                    )
        out.row(
            "loans",
            (
                tmp_id,
                c.id,
                officer,
                account.tmp_id,
                product,
                money(principal),
                rate,
                method,
                frequency,
                n,
                loan["first_due"],
                loan["status"],
                applied,
                loan["approved"],
                loan["disbursed"],
                loan["closed"],
                loan["written_off"],
                None if loan["written_off_amount"] is None else money(loan["written_off_amount"]),
                applied,
                loan["updated"],
            ),
        )
        if loan["disbursed"] is not None:
            out.row("loan_risk", (tmp_id, probability))
            history.good += profile in ("on_time", "early")
            history.late = profile in ("late", "default")
        return next_at

    def _repay(
        self,
        out: _Writers,
        rng: random.Random,
        tmp_id: int,
        account: _Account,
        loan: dict[str, Any],
        principal: int,
        rate: Decimal,
        method: str,
        frequency: str,
        n: int,
        profile: str,
    ) -> dt.datetime | None:
        plan = schedule(Decimal(principal) / 100, rate, method, frequency, n, loan["first_due"])
        paid_principal = 0
        last_paid = loan["disbursed"]
        # a defaulter stops within the first third of the loan (most defaults come early)
        stop_after = rng.randint(0, max(0, n // 3)) if profile == "default" else n
        payoff_at = rng.randint(max(1, n // 3), max(1, n - 1)) if profile == "early" else n
        for inst in plan:
            due = dt.datetime.combine(inst.due_date, dt.time(), UTC)
            if inst.number > stop_after:
                break
            if profile == "late" and rng.random() < 0.5:
                delay = rng.choice((rng.randint(1, 10), rng.randint(8, 30), rng.randint(25, 45)))
            elif profile == "default":
                delay = rng.randint(0, 20)
            else:
                delay = -rng.randint(0, 2)
            paid_at = max(
                _business_time(rng, (due + dt.timedelta(days=delay)).date()),
                last_paid + dt.timedelta(hours=1),
            )
            principal_part = to_cents(inst.principal_due)
            interest_part = to_cents(inst.interest_due)
            if inst.number == payoff_at and inst.number < n:
                principal_part = principal - paid_principal  # early payoff: the whole rest
            days_late = (paid_at.date() - inst.due_date).days
            penalty = round((principal_part + interest_part) * 0.02) if days_late > 3 else 0
            parts = [(principal_part, interest_part, penalty)]
            if profile == "late" and days_late > 0 and rng.random() < 0.2:
                half_p, half_i = principal_part // 2, interest_part // 2
                parts = [
                    (half_p, half_i, 0),
                    (principal_part - half_p, interest_part - half_i, penalty),
                ]
            for k, (p_cents, i_cents, pen) in enumerate(parts):
                at = paid_at if k == 0 else paid_at + dt.timedelta(days=rng.randint(3, 20))
                if at >= self.end:
                    return None
                settled = self._payment(out, rng, tmp_id, account, at, p_cents, i_cents, pen)
                if settled is None:
                    return None
                last_paid = at
                paid_principal += p_cents
            if paid_principal >= principal:
                loan.update(status="closed", closed=settled, updated=settled)
                return settled
        # stopped paying: written off once the oldest unpaid installment is 180+ days late
        unpaid = next(
            (
                i
                for i in plan
                if sum(to_cents(x.principal_due) for x in plan if x.number <= i.number)
                > paid_principal
            ),
            None,
        )
        if unpaid is not None:
            write_off = _business_time(
                rng, unpaid.due_date + dt.timedelta(days=rng.randint(181, 200))
            )
            if write_off < self.end:
                loan.update(
                    status="written_off",
                    written_off=write_off,
                    written_off_amount=principal - paid_principal,
                    updated=write_off,
                )
        return None

    def _payment(
        self,
        out: _Writers,
        rng: random.Random,
        loan_tmp: int,
        account: _Account,
        at: dt.datetime,
        p_cents: int,
        i_cents: int,
        pen: int,
    ) -> dt.datetime | None:
        """Write a payment (a reversed attempt first, now and then); None if not settled."""
        channel = pick(rng, CHANNELS)
        amount = p_cents + i_cents + pen
        if amount <= 0:
            return at
        if rng.random() < 0.015:  # a bounced attempt, reversed the next day
            reversed_at = _later(rng, at, 20 * 60, 30 * 60)
            if reversed_at < self.end:
                self._payment_row(
                    out,
                    rng,
                    loan_tmp,
                    amount,
                    p_cents,
                    i_cents,
                    pen,
                    channel,
                    "reversed",
                    at,
                    reversed_at,
                )
                if channel in LEDGER_CHANNELS:
                    account.add(
                        _later(rng, at, 1, 10), "loan_repayment", amount, {"loan_ref": loan_tmp}
                    )
                    account.add(
                        reversed_at,
                        "transfer_in",
                        amount,
                        {"loan_ref": loan_tmp, "kind": "reversal"},
                    )
                at = _later(rng, reversed_at, 60, 48 * 60)
                if at >= self.end:
                    return None
        # bank transfers clear in up to two days; cash and mobile money within minutes
        settled = (
            _later(rng, at, 60, 48 * 60) if channel == "bank_transfer" else _later(rng, at, 1, 10)
        )
        status = "completed" if settled < self.end else "pending"
        self._payment_row(
            out,
            rng,
            loan_tmp,
            amount,
            p_cents,
            i_cents,
            pen,
            channel,
            status,
            at,
            settled if status == "completed" else at,
        )
        if status == "pending":
            return None
        if channel in LEDGER_CHANNELS:
            account.add(settled, "loan_repayment", amount, {"loan_ref": loan_tmp})
        return settled

    def _payment_row(
        self,
        out: _Writers,
        rng: random.Random,
        loan_tmp: int,
        amount: int,
        p_cents: int,
        i_cents: int,
        pen: int,
        channel: str,
        status: str,
        at: dt.datetime,
        updated: dt.datetime,
    ) -> None:
        self.pay_seq += 1
        out.row(
            "payments",
            (
                self.pay_seq,
                loan_tmp,
                money(amount),
                money(p_cents),
                money(i_cents),
                money(pen),
                channel,
                status,
                at,
                f"PAY{self.seed:04d}{self.pay_seq:09d}{rng.randint(0, 99):02d}",
                at,
                updated,
            ),
        )

    # ---------------------------------------------------------------- investments
    def _investment(
        self, out: _Writers, rng: random.Random, c: Customer, account: _Account, tmp_id: int
    ) -> None:
        product = pick(rng, {p: spec[0] for p, spec in INVESTMENTS.items()})
        _w, terms, (rlo, rhi) = INVESTMENTS[product]
        created = account.opened + (self.end - account.opened) * rng.random()
        start = created.date()
        maturity = add_months(start, rng.choice(terms))
        rate = Decimal(round(rng.uniform(rlo, rhi), 4)).quantize(Decimal("0.0001"))
        principal = round((c.income_cents or 50_000) * rng.uniform(0.5, 6) / 10_000) * 10_000
        principal = max(principal, 10_000)
        account.add(created, "transfer_out", principal, {"product": product})
        end_day = self.end.date()
        if maturity < end_day and rng.random() < 0.9:
            status, valued_to = "matured", maturity
            updated = _business_time(rng, maturity)
        elif rng.random() < 0.08 and (end_day - start).days > 30:
            status = "withdrawn"
            valued_to = start + dt.timedelta(
                days=rng.randint(15, min((end_day - start).days, (maturity - start).days) - 1)
            )
            updated = _business_time(rng, valued_to)
            if updated >= self.end:
                status, valued_to, updated = "active", end_day, created
        else:
            status, valued_to = "active", end_day
            # current_value is revalued monthly (last month end) for active investments
            month_end = dt.date(end_day.year, end_day.month, 1) - dt.timedelta(days=1)
            valued_to = max(start, min(month_end, maturity))
            updated = max(created, dt.datetime.combine(valued_to, dt.time(23, 0), UTC))
            if updated >= self.end:
                updated = created
        days = (valued_to - start).days
        value = to_cents(cents(Decimal(principal) / 100 * (1 + rate * days / Decimal(365))))
        if status != "active":
            account.add(updated, "transfer_in", value, {"product": product, "kind": status})
        out.row(
            "investments",
            (
                tmp_id,
                c.id,
                product,
                money(principal),
                rate,
                start,
                maturity,
                status,
                money(value),
                created,
                updated,
            ),
        )

    # ---------------------------------------------------------------- the ledger
    def _post_ledger(
        self, out: _Writers, rng: random.Random, c: Customer, account: _Account
    ) -> None:
        events = sorted(account.events, key=lambda e: (e[0], e[1]))
        interest_at = (
            list(_month_ends(account.opened, account.closed or self.end)) if account.rate_e4 else []
        )
        balance = 0
        last = account.opened
        ref = f"{self.seed:04d}{account.tmp_id:09d}"
        seq = 0

        def post(at: dt.datetime, txn_type: str, cents: int, meta: dict[str, Any]) -> None:
            nonlocal balance, last, seq
            balance += cents if txn_type in CREDIT_TYPES else -cents
            seq += 1
            self.txn_seq += 1
            desc = rng.choice(DESCRIPTIONS[txn_type])
            out.row(
                "transactions",
                (
                    self.txn_seq,
                    account.tmp_id,
                    txn_type,
                    money(cents),
                    money(balance),
                    f"TX{ref}{seq:05d}",
                    desc,
                    Jsonb(meta),
                    at,
                    at,
                ),
            )
            last = at

        i = 0
        for at, _order, txn_type, wanted, meta in events:
            cents = wanted
            while i < len(interest_at) and interest_at[i] < at:
                accrued = _interest(balance, account.rate_e4)
                if accrued > 0:
                    post(interest_at[i], "interest", accrued, {"rate": account.rate_e4 / 10_000})
                i += 1
            if account.closed is not None and at > account.closed:
                break
            if txn_type in ("withdrawal", "fee"):
                if meta.get("kind") == "closing":
                    cents = balance
                cents = min(cents, balance)
                if cents <= 0:
                    continue
            elif txn_type in ("loan_repayment", "transfer_out") and cents > balance:
                # a few minutes before, but never before a row already posted (a month-end
                # interest row just before a movement early on the 1st): ids follow time
                post(
                    max(at - dt.timedelta(minutes=rng.randint(2, 30)), last),
                    "deposit",
                    cents - balance,
                    {"channel": "mobile_money", "kind": "top_up"},
                )
            post(at, txn_type, cents, meta)
        for month_end in interest_at[i:]:
            accrued = _interest(balance, account.rate_e4)
            if accrued > 0:
                post(month_end, "interest", accrued, {"rate": account.rate_e4 / 10_000})
        if account.closed is not None:
            status, updated = "closed", max(last, account.closed)
        elif (self.end - last).days > 180:
            status, updated = "dormant", last + (self.end - last) / 2
        else:
            status, updated = "active", last
        rate = Decimal(account.rate_e4) / 10_000
        out.row(
            "accounts",
            (
                account.tmp_id,
                c.id,
                f"ACC{account.tmp_id:010d}",
                account.kind,
                CURRENCY,
                status,
                money(balance),
                rate.quantize(Decimal("0.0001")),
                account.opened,
                account.closed,
                account.opened,
                updated,
            ),
        )


def _interest(balance_cents: int, rate_e4: int) -> int:
    """A month's savings interest in cents: balance * rate / 12, half up."""
    if balance_cents <= 0:
        return 0
    return (balance_cents * rate_e4 * 2 + 120_000) // 240_000


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 50:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    threshold, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= threshold:
            return k
        k += 1


# ------------------------------------------------------------------------------- publish
_PUBLISH = """
create temp table _acc_map on commit drop as
    select id as tmp, row_number() over (order by opened_at, id) as id from _seed_accounts;
create temp table _loan_map on commit drop as
    select id as tmp, row_number() over (order by applied_at, id) as id from _seed_loans;
create index on _acc_map (tmp);
create index on _loan_map (tmp);
analyze _acc_map;
analyze _loan_map;
insert into users select * from _seed_users order by id;
insert into accounts (id, user_id, account_number, account_type, currency, status, balance,
        interest_rate, opened_at, closed_at, created_at, updated_at)
    select m.id, a.user_id, 'ACC' || lpad((1000000 + m.id)::text, 10, '0'), a.account_type,
           a.currency, a.status, a.balance, a.interest_rate, a.opened_at, a.closed_at,
           a.created_at, a.updated_at
    from _seed_accounts a join _acc_map m on m.tmp = a.id order by m.id;
insert into loans (id, borrower_id, loan_officer_id, account_id, product, principal,
        annual_interest_rate, interest_method, repayment_frequency, installments,
        first_due_date, status, applied_at, approved_at, disbursed_at, closed_at,
        written_off_at, written_off_amount, created_at, updated_at)
    select lm.id, l.borrower_id, l.loan_officer_id, am.id, l.product, l.principal,
           l.annual_interest_rate, l.interest_method, l.repayment_frequency, l.installments,
           l.first_due_date, l.status, l.applied_at, l.approved_at, l.disbursed_at, l.closed_at,
           l.written_off_at, l.written_off_amount, l.created_at, l.updated_at
    from _seed_loans l join _loan_map lm on lm.tmp = l.id join _acc_map am on am.tmp = l.account_id
    order by lm.id;
insert into payments (id, loan_id, amount, principal_paid, interest_paid, penalty_paid, channel,
        status, paid_at, reference, created_at, updated_at)
    select row_number() over (order by p.created_at, p.id), lm.id, p.amount, p.principal_paid,
           p.interest_paid, p.penalty_paid, p.channel, p.status, p.paid_at, p.reference,
           p.created_at, p.updated_at
    from _seed_payments p join _loan_map lm on lm.tmp = p.loan_id;
insert into transactions (id, account_id, txn_type, amount, balance_after, reference,
        description, metadata, occurred_at, created_at)
    select row_number() over (order by t.occurred_at, t.id), am.id, t.txn_type, t.amount,
           t.balance_after, t.reference, t.description,
           case when t.metadata ? 'loan_ref'
                then jsonb_set(t.metadata, '{loan_ref}', to_jsonb(lm.id)) else t.metadata end,
           t.occurred_at, t.created_at
    from _seed_transactions t join _acc_map am on am.tmp = t.account_id
    left join _loan_map lm on lm.tmp = (t.metadata ->> 'loan_ref')::bigint;
insert into investments (id, user_id, product, principal, annual_rate, start_date, maturity_date,
        status, current_value, created_at, updated_at)
    select row_number() over (order by created_at, id), user_id, product, principal, annual_rate,
           start_date, maturity_date, status, current_value, created_at, updated_at
    from _seed_investments;
"""

#: the generator's truth beside the OLTP tables, published with them: `finhouse ml train`
#: reads it when present (finhouse.ml.TRUE_RISK_TABLE, the same name: a unit test checks)
RISK_TABLE = "seed_loan_default_risk"
_PUBLISH_RISK = f"""
drop table if exists {RISK_TABLE};
create table {RISK_TABLE} as
    select lm.id as loan_id, r.default_probability
    from _seed_loan_risk r join _loan_map lm on lm.tmp = r.id;
alter table {RISK_TABLE} add primary key (loan_id);
comment on table {RISK_TABLE} is
    'The seed generator''s own probability that each seeded loan defaults '
    '(finhouse.oltp.seed.RiskModel): what a default model is judged against. '
    'Not the institution''s data: never ingested.';
"""


def _staging(conn: psycopg.Connection, create: bool) -> None:
    for table in TABLES:
        staged = sql.Identifier(f"_seed_{table}")
        conn.execute(sql.SQL("drop table if exists {}").format(staged))
        if create:
            conn.execute(
                sql.SQL("create unlogged table {} (like {})").format(staged, sql.Identifier(table))
            )
    conn.execute("drop table if exists _seed_loan_risk")
    if create:
        conn.execute(
            "create unlogged table _seed_loan_risk "
            "(id bigint, default_probability double precision)"
        )


def _existing_rows(conn: psycopg.Connection) -> dict[str, int]:
    missing = [
        t for t in TABLES if conn.execute("select to_regclass(%s)", (t,)).fetchone() == (None,)
    ]
    if missing:
        raise FinhouseError(
            "the OLTP schema is missing (tables "
            + ", ".join(missing)
            + "): run `finhouse oltp init` first"
        )
    counts = {}
    for table in TABLES:
        row = conn.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(table)))
        counts[table] = int(row.fetchone()[0])  # type: ignore[index]
    return counts


def seed(
    dsn: str,
    *,
    scale: float,
    seed: int,
    as_of: dt.date,
    replace: bool = False,
    progress: bool = False,
) -> SeedSummary:
    """Fill the OLTP with synthetic history ending before ``as_of`` (see the module doc)."""
    if not scale > 0:
        raise ConfigError(f"scale must be greater than 0, got {scale:g}")
    started = time.monotonic()
    summary = SeedSummary(scale, seed, as_of)
    gen = _Generator(scale, seed, as_of)
    with connect(dsn, autocommit=True) as conn:
        existing = _existing_rows(conn)
        if any(existing.values()) and not replace:
            raise FinhouseError(
                "the OLTP already holds data ("
                + ", ".join(f"{n:,} {t}" for t, n in existing.items() if n)
                + "); use --replace to reseed"
            )
        _staging(conn, create=True)
        try:
            with ExitStack() as stack:
                out = _Writers(dsn, stack)
                gen.plan_users(out)
                with progress_bar(progress, len(gen.customers), "customers") as advance:
                    for customer in gen.customers:
                        gen.customer_history(out, customer)
                        advance()
            summary.counts = dict(out.counts)
            with conn.transaction():
                if replace:
                    conn.execute(
                        sql.SQL("truncate {} restart identity cascade").format(
                            sql.SQL(", ").join(map(sql.Identifier, TABLES))
                        )
                    )
                conn.execute(_PUBLISH)
                conn.execute(_PUBLISH_RISK)
                for table in TABLES:
                    conn.execute(
                        sql.SQL(
                            "select setval(pg_get_serial_sequence({t}, 'id'), "
                            "coalesce((select max(id) from {i}), 0) + 1, false)"
                        ).format(t=sql.Literal(table), i=sql.Identifier(table))
                    )
        finally:
            _staging(conn, create=False)
        for table in TABLES:
            conn.execute(sql.SQL("analyze {}").format(sql.Identifier(table)))
    summary.seconds = time.monotonic() - started
    return summary
