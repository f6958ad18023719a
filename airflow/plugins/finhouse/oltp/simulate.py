"""The live application of the OLTP stand-in (``finhouse oltp simulate``).

Each *tick* runs a random batch of what the institution's Django app does all day:
customers sign up (user, savings account, opening deposit), KYC is decided, profiles are
edited, loans are applied for, approved or rejected, disbursed, repaid (a pending payment
that later settles, is cancelled, or is reversed), written off, and abandoned applications
are deleted; savers deposit, withdraw, pay fees, buy investments that later mature.

What it reproduces for the pipeline downstream:

* **updated_at comes from the application, not the database.** Like Django's ``auto_now``,
  every row's ``updated_at`` (and ``created_at`` and event times such as ``paid_at``) is the
  app server's wall clock, read in Python just before the statement and sent as a
  parameter; no ``now()`` in SQL and no trigger. A transaction that stays open therefore
  commits rows stamped *before* rows other transactions committed meanwhile, which an
  extractor keyed on ``updated_at`` must survive. ``hold_open`` makes that happen on
  purpose: one transaction writes rows stamped at its start and commits seconds later.
* **Hard deletes**: a cancelled pending payment and an abandoned application disappear.
* **An exact, append-only ledger**: every ``transactions`` row carries ``balance_after``,
  each account's ``balance`` equals its last ``balance_after`` and never goes negative.

Every operation is its own transaction and locks the rows it changes (``select ... for
update``) in one global order: loans, then payments, then investments, then the single
account it posts to (users are locked alone). Entry rows are taken with ``skip locked`` (a
busy row means "pick another customer"), so several simulators can run side by side
without deadlocks or corrupted balances.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import re
import threading
import time
import unicodedata
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any, cast

import psycopg
from psycopg import errors, sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from finhouse.connections import connect
from finhouse.errors import ConfigError, FinhouseError
from finhouse.progress import progress_bar

from .schedule import Installment, add_months, cents, schedule
from .schema import TABLES

log = logging.getLogger(__name__)

Row = dict[str, Any]
Conn = psycopg.Connection[Row]

#: operation -> relative weight in a tick's batch
WEIGHTS: dict[str, int] = {
    "signup": 4,
    "kyc": 4,
    "apply": 8,
    "decide": 6,
    "disburse": 6,
    "pay": 20,
    "settle": 20,
    "reverse": 2,
    "abandon": 1,
    "deposit": 12,
    "withdraw": 9,
    "fee": 2,
    "invest": 2,
    "mature": 2,
    "write_off": 2,
}
#: operations per tick (inclusive bounds)
BATCH = (20, 60)
#: a pending application untouched this long may be abandoned (deleted)
ABANDON_AFTER = dt.timedelta(seconds=5)
#: days past due of the oldest unpaid installment beyond which a loan is written off
WRITE_OFF_DPD = 180
FALLBACK_CURRENCY = "KES"

CREDIT_TYPES = frozenset({"deposit", "transfer_in", "interest", "loan_disbursement"})
DEBIT_TYPES = frozenset({"withdrawal", "transfer_out", "fee", "loan_repayment"})
LOAN_STATUSES = ("pending", "approved", "rejected", "active", "closed", "written_off")
LEDGER_CHANNELS = frozenset({"mobile_money", "bank_transfer"})
CHANNELS = {"cash": 45, "mobile_money": 40, "bank_transfer": 15}

# product: (weight, principal range, frequency, installment choices, share of flat interest)
PRODUCTS: dict[str, tuple[int, tuple[int, int], str, tuple[int, ...], float]] = {
    "group": (30, (200, 1_500), "weekly", (12, 16, 24, 26, 52), 0.8),
    "individual": (30, (500, 5_000), "monthly", (6, 9, 12, 18), 0.3),
    "sme": (12, (3_000, 20_000), "monthly", (12, 18, 24), 0.1),
    "agriculture": (18, (500, 8_000), "monthly", (3, 6, 9, 12), 0.4),
    "emergency": (10, (100, 800), "weekly", (12, 16), 1.0),
}
# product: (weight, term choices in months)
INVESTMENTS: dict[str, tuple[int, tuple[int, ...]]] = {
    "fixed_deposit": (45, (6, 12, 24)),
    "treasury_bill": (25, (3, 6, 12)),
    "money_market": (20, (12,)),
    "bond": (10, (24, 36)),
}
# descriptions per transaction type, or per "type/channel" where the channel shows
DESCRIPTIONS: dict[str, tuple[str, ...]] = {
    "deposit/cash": ("Cash deposit at branch", "Dépôt à l'agence", "Amana ya akiba — siku ya soko"),
    "deposit/mobile_money": ("M-Pesa deposit ✓", "入金 (mobile)", "Top-up via agent"),
    "deposit/bank_transfer": ("Bank transfer in", "Virement reçu", "Salary — employer transfer"),
    "withdrawal/cash": ("Cash withdrawal", "Retrait au guichet", "Ada ya shule — school fees"),
    "withdrawal/mobile_money": ("M-Pesa withdrawal ✓", "Agent withdrawal"),
    "withdrawal/bank_transfer": ("Bank transfer out", "Virement émis"),
    "fee": ("Monthly account fee", "SMS alerts fee", "Frais de tenue de compte"),
    "loan_disbursement": ("Loan disbursement", "Décaissement du prêt"),
    "loan_repayment": ("Loan repayment", "Remboursement du prêt ✓"),
    "transfer_in": ("Investment payout", "Échéance du placement"),
    "transfer_out": ("Investment purchase", "Souscription — placement"),
    "interest": ("Savings interest",),
}
FEMALE_NAMES = ("Achieng", "Wanjirũ", "Amina", "Grace", "Nyokabi", "Fatuma", "Zoë", "Akinyi")
MALE_NAMES = ("Otieno", "Kamau", "Juma", "Brian", "Kipchoge", "José", "Baraka", "Émile")
LAST_NAMES = ("Odhiambo", "Kariuki", "Mohamed", "Wekesa", "Njoroge", "Chebet", "N'Diaye", "Müller")


def _connect(dsn: str) -> Conn:
    """An autocommit connection with dict rows; each operation opens its own transaction."""
    return cast("Conn", connect(dsn, autocommit=True, row_factory=dict_row))


def _wall_clock() -> dt.datetime:
    """The application server's clock, as Django's ``timezone.now()`` reads it."""
    return dt.datetime.now(dt.UTC)


# ------------------------------------------------------------------------------- stats
@dataclass
class SimulationStats:
    """What a simulation committed, per kind of operation."""

    ticks: int = 0
    operations: int = 0
    skipped: int = 0
    conflicts: int = 0
    signups: int = 0
    kyc_decisions: int = 0
    profile_updates: int = 0
    applications: int = 0
    approvals: int = 0
    rejections: int = 0
    abandons: int = 0
    disbursements: int = 0
    closures: int = 0
    write_offs: int = 0
    payments: int = 0
    settlements: int = 0
    cancellations: int = 0
    reversals: int = 0
    deposits: int = 0
    withdrawals: int = 0
    fees: int = 0
    investments: int = 0
    maturities: int = 0
    ledger_rows: int = 0
    held_rows: int = 0
    held_seconds: float = 0.0
    seconds: float = 0.0

    def add(self, delta: Counter[str]) -> None:
        for name, n in delta.items():
            setattr(self, name, getattr(self, name) + n)

    def describe(self) -> str:
        lines = [
            f"simulated {self.ticks:,} ticks in {self.seconds:.1f} s: "
            f"{self.operations:,} operations committed, {self.skipped:,} skipped "
            f"(nothing to act on), {self.conflicts:,} lock conflicts",
            f"users: {self.signups:,} sign-ups, {self.kyc_decisions:,} KYC decisions, "
            f"{self.profile_updates:,} profile edits; loans: {self.applications:,} applied, "
            f"{self.approvals:,} approved, {self.rejections:,} rejected, "
            f"{self.abandons:,} abandoned, {self.disbursements:,} disbursed, "
            f"{self.closures:,} closed, {self.write_offs:,} written off",
            f"payments: {self.payments:,} made, {self.settlements:,} settled, "
            f"{self.cancellations:,} cancelled, {self.reversals:,} reversed; "
            f"ledger: {self.ledger_rows:,} rows ({self.deposits:,} deposits, "
            f"{self.withdrawals:,} withdrawals, {self.fees:,} fees); "
            f"investments: {self.investments:,} bought, {self.maturities:,} matured",
        ]
        if self.held_seconds:
            lines.append(
                f"held-open transaction: {self.held_rows:,} rows stamped at its start, "
                f"committed {self.held_seconds:.1f} s later"
            )
        return "\n".join(lines)


# ------------------------------------------------------------------------------- the app
class _Skip(Exception):  # noqa: N818 - control flow, not an error
    """Nothing to act on (empty pool, row busy or changed): roll the operation back."""


class _Exclusions:
    """Loans locked by the held-open transaction; this process's ticks leave them alone."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loans: set[int] = set()

    def add(self, loan_id: int) -> None:
        with self._lock:
            self._loans.add(loan_id)

    def discard(self, loan_id: int) -> None:
        with self._lock:
            self._loans.discard(loan_id)

    def __contains__(self, loan_id: object) -> bool:
        with self._lock:
            return loan_id in self._loans


class _App:
    """One application server: a connection, a random stream and a wall clock."""

    def __init__(
        self,
        conn: Conn,
        rng: random.Random,
        exclusions: _Exclusions,
        clock: Callable[[], dt.datetime] = _wall_clock,
    ) -> None:
        self.conn = conn
        self.rng = rng
        self.exclusions = exclusions
        self.clock = clock
        self.delta: Counter[str] = Counter()
        self._currency: str | None = None

    def run(self, kind: str) -> Counter[str] | None:
        """Run one operation in its own transaction; its counters, or None if skipped."""
        self.delta = Counter()
        try:
            with self.conn.transaction():
                OPERATIONS[kind](self)
        except _Skip:
            return None
        return self.delta

    # ------------------------------------------------------------ queries
    def row(self, query: sql.Composable | str, params: Sequence[Any] = ()) -> Row | None:
        return self.conn.execute(query, params).fetchone()  # type: ignore[arg-type]

    def scalar(self, query: sql.Composable | str, params: Sequence[Any] = ()) -> Any:
        found = self.row(query, params)
        return None if found is None else next(iter(found.values()))

    def choose(self, query: sql.Composable | str, params: Sequence[Any] = ()) -> int:
        """A random id among those the query returns (column ``id``)."""
        ids = [r["id"] for r in self.conn.execute(query, params)]  # type: ignore[arg-type]
        if not ids:
            raise _Skip
        return self.rng.choice(ids)

    def choose_spread(self, table: str, condition: str, params: Sequence[Any] = ()) -> int:
        """A random id of a large, dense pool: the first match at or after a random pivot."""
        bounds = self.row(
            sql.SQL("select min(id) as lo, max(id) as hi from {}").format(sql.Identifier(table))
        )
        if bounds is None or bounds["lo"] is None:
            raise _Skip
        pivot = self.rng.randint(bounds["lo"], bounds["hi"])
        where = sql.SQL(condition)
        found = self.scalar(
            sql.SQL("select id from {} where ({}) and id >= %s order by id limit 1").format(
                sql.Identifier(table), where
            ),
            (*params, pivot),
        )
        if found is None:
            found = self.scalar(
                sql.SQL("select id from {} where ({}) order by id limit 1").format(
                    sql.Identifier(table), where
                ),
                params,
            )
        if found is None:
            raise _Skip
        return int(found)

    def currency(self) -> str:
        if self._currency is None:
            found = self.scalar("select currency from accounts order by id limit 1")
            self._currency = found or FALLBACK_CURRENCY
        return self._currency

    def channel(self) -> str:
        return self.rng.choices(list(CHANNELS), weights=list(CHANNELS.values()))[0]

    def channel_meta(self, channel: str) -> dict[str, Any]:
        if channel == "cash":
            return {"channel": channel, "teller": f"T{self.rng.randint(1, 40):03d}"}
        if channel == "mobile_money":
            return {"channel": channel, "provider": "M-Pesa"}
        return {"channel": channel}


def _pick(rng: random.Random, weights: dict[str, Any]) -> str:
    return rng.choices(list(weights), weights=[w[0] for w in weights.values()])[0]


def _rate(rng: random.Random, lo_e4: int, hi_e4: int) -> Decimal:
    """A rate with four decimals (numeric(7,4)), e.g. 0.2375."""
    return Decimal(rng.randint(lo_e4, hi_e4)).scaleb(-4)


def _reference(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex.upper()[:16]}"


def _lock_loan(app: _App, loan_id: int, statuses: tuple[str, ...]) -> Row:
    """Lock a loan in one of ``statuses``; skip when it is busy, changed or held open."""
    if loan_id in app.exclusions:
        raise _Skip
    loan = app.row(
        "select * from loans where id = %s and status = any(%s) for update skip locked",
        (loan_id, list(statuses)),
    )
    if loan is None:
        raise _Skip
    return loan


def _principal_paid(app: _App, loan_id: int) -> tuple[Decimal, Decimal, int]:
    """(completed principal, pending principal, pending payments) of a loan."""
    found = app.row(
        "select coalesce(sum(principal_paid) filter (where status = 'completed'), 0) as done,"
        " coalesce(sum(principal_paid) filter (where status = 'pending'), 0) as pending,"
        " count(*) filter (where status = 'pending') as n_pending"
        " from payments where loan_id = %s",
        (loan_id,),
    )
    assert found is not None  # noqa: S101 - an aggregate always returns a row
    return found["done"], found["pending"], found["n_pending"]


def _plan(loan: Row) -> list[Installment]:
    return schedule(
        loan["principal"],
        loan["annual_interest_rate"],
        loan["interest_method"],
        loan["repayment_frequency"],
        loan["installments"],
        loan["first_due_date"],
    )


# ------------------------------------------------------------------------------- the ledger
def _post(
    app: _App,
    account_id: int,
    txn_type: str,
    amount: Decimal,
    metadata: dict[str, Any],
    description: str | None = None,
) -> Decimal:
    """Append one ledger row and move the account's balance; return the new balance."""
    amount = cents(Decimal(amount))
    if amount <= 0:
        raise ValueError(f"a ledger amount must be positive, got {amount}")
    found = app.row("select balance from accounts where id = %s for update", (account_id,))
    if found is None:
        raise _Skip
    if txn_type in CREDIT_TYPES:
        balance = found["balance"] + amount
    elif txn_type in DEBIT_TYPES:
        balance = found["balance"] - amount
    else:
        raise ValueError(f"unknown transaction type {txn_type!r}")
    if balance < 0:
        raise _Skip  # never overdraw: callers check first, this is the last line of defence
    now = app.clock()
    app.conn.execute(
        "insert into transactions (account_id, txn_type, amount, balance_after, reference,"
        " description, metadata, occurred_at, created_at)"
        " values (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            account_id,
            txn_type,
            amount,
            balance,
            _reference("TXN"),
            description or _describe(app.rng, txn_type, metadata.get("channel")),
            Jsonb(metadata),
            now,
            now,
        ),
    )
    app.conn.execute(
        "update accounts set balance = %s, updated_at = %s where id = %s",
        (balance, now, account_id),
    )
    app.delta["ledger_rows"] += 1
    return balance


def _describe(rng: random.Random, txn_type: str, channel: str | None) -> str:
    choices = DESCRIPTIONS.get(f"{txn_type}/{channel}") or DESCRIPTIONS.get(txn_type)
    if choices is None:  # a deposit or withdrawal without a channel
        choices = DESCRIPTIONS[f"{txn_type}/cash"]
    return rng.choice(choices)


def _lock_account(app: _App, account_id: int, condition: str = "true") -> Row:
    found = app.row(
        sql.SQL("select * from accounts where id = %s and ({}) for update skip locked").format(
            sql.SQL(condition)
        ),
        (account_id,),
    )
    if found is None:
        raise _Skip
    return found


# ------------------------------------------------------------------------------- users
def _handle(first: str, last: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", f"{first}.{last}").encode("ascii", "ignore")
    return re.sub(r"[^a-z0-9]", "", ascii_name.decode().lower())


def _account_number(app: _App, account_id: int) -> str:
    """'ACC' and 10 digits: derived from the id like the seed's, random if that one is taken."""
    number = f"ACC{1_000_000 + account_id:010d}"
    while app.row("select 1 from accounts where account_number = %s", (number,)):
        number = f"ACC{app.rng.randrange(10**10):010d}"
    return number


def _signup(app: _App) -> None:
    """A new customer, their savings account and its opening deposit."""
    rng = app.rng
    try:
        template_id = app.choose_spread("users", "role = 'customer'")
    except _Skip:
        template_id = app.choose_spread("users", "true")
    branch = app.row("select branch_code, region from users where id = %s", (template_id,))
    if branch is None:
        raise _Skip
    user_id = int(app.scalar("select nextval(pg_get_serial_sequence('users', 'id'))"))
    gender = rng.choices(("F", "M", "X", None), weights=(58, 38, 1, 3))[0]
    names = {"F": FEMALE_NAMES, "M": MALE_NAMES}.get(gender or "", FEMALE_NAMES + MALE_NAMES)
    first = rng.choice(names)
    last = rng.choice(LAST_NAMES)
    handle = _handle(first, last)
    now = app.clock()
    born = now.date() - dt.timedelta(days=rng.randint(18 * 365 + 5, 70 * 365))
    income = None if rng.random() < 0.15 else Decimal(round(rng.lognormvariate(6.4, 0.6)))
    risk = None if rng.random() < 0.2 else rng.choice(("low", "low", "medium", "medium", "high"))
    app.conn.execute(
        "insert into users (id, username, email, first_name, last_name, phone, national_id,"
        " gender, date_of_birth, role, branch_code, region, kyc_status, monthly_income,"
        " risk_appetite, is_active, date_joined, updated_at)"
        " values (%s, %s, %s, %s, %s, %s, %s, %s, %s, 'customer', %s, %s, 'pending', %s, %s,"
        " true, %s, %s)",
        (
            user_id,
            f"{handle}{user_id}_{rng.getrandbits(16):04x}",
            f"{handle}{user_id}@example.com",
            first,
            last,
            f"+2547{rng.randint(0, 99_999_999):08d}",
            f"{rng.randint(10_000_000, 39_999_999)}{user_id % 10}",
            gender,
            born,
            branch["branch_code"],
            branch["region"],
            income,
            risk,
            now,
            now,
        ),
    )
    account_id = int(app.scalar("select nextval(pg_get_serial_sequence('accounts', 'id'))"))
    now = app.clock()
    app.conn.execute(
        "insert into accounts (id, user_id, account_number, account_type, currency, status,"
        " balance, interest_rate, opened_at, closed_at, created_at, updated_at)"
        " values (%s, %s, %s, 'savings', %s, 'active', 0, %s, %s, null, %s, %s)",
        (
            account_id,
            user_id,
            _account_number(app, account_id),
            app.currency(),
            _rate(rng, 300, 600),
            now,
            now,
            now,
        ),
    )
    channel = app.channel()
    _post(
        app,
        account_id,
        "deposit",
        Decimal(rng.randint(2, 100) * 50),
        {**app.channel_meta(channel), "kind": "opening"},
    )
    app.delta["signups"] += 1


def _kyc(app: _App) -> None:
    """Decide a pending KYC (mostly verified); otherwise edit a customer's phone number."""
    if app.rng.random() < 0.7:
        try:
            _decide_kyc(app)
        except _Skip:
            pass  # nobody waiting (or busy): the clerk edits a profile instead
        else:
            return
    _edit_profile(app)


def _decide_kyc(app: _App) -> None:
    user_id = app.choose(
        "select id from users where kyc_status = 'pending' order by id desc limit 200"
    )
    if not app.row(
        "select id from users where id = %s and kyc_status = 'pending' for update skip locked",
        (user_id,),
    ):
        raise _Skip
    status = "verified" if app.rng.random() < 0.9 else "rejected"
    app.conn.execute(
        "update users set kyc_status = %s, updated_at = %s where id = %s",
        (status, app.clock(), user_id),
    )
    app.delta["kyc_decisions"] += 1


def _edit_profile(app: _App) -> None:
    user_id = app.choose_spread("users", "role = 'customer'")
    if not app.row("select id from users where id = %s for update skip locked", (user_id,)):
        raise _Skip
    app.conn.execute(
        "update users set phone = %s, updated_at = %s where id = %s",
        (f"+2547{app.rng.randint(0, 99_999_999):08d}", app.clock(), user_id),
    )
    app.delta["profile_updates"] += 1


# ------------------------------------------------------------------------------- loans
def _apply(app: _App) -> None:
    """A verified customer applies for a loan (status pending)."""
    rng = app.rng
    user_id = app.choose_spread(
        "users", "role = 'customer' and is_active and kyc_status = 'verified'"
    )
    user = app.row("select id, branch_code from users where id = %s", (user_id,))
    account_id = app.scalar(
        "select id from accounts where user_id = %s and account_type = 'savings'"
        " and status = 'active' order by id limit 1",
        (user_id,),
    )
    if user is None or account_id is None:
        raise _Skip
    open_loans = app.scalar(
        "select count(*) from loans where borrower_id = %s"
        " and status in ('pending', 'approved', 'active')",
        (user_id,),
    )
    if open_loans >= 2:
        raise _Skip
    try:
        officer_id = app.choose(
            "select id from users where role = 'loan_officer' and is_active"
            " and branch_code = %s order by id",
            (user["branch_code"],),
        )
    except _Skip:
        officer_id = app.choose("select id from users where role = 'loan_officer' order by id")
    product = _pick(rng, PRODUCTS)
    _w, (lo, hi), frequency, terms, flat_share = PRODUCTS[product]
    now = app.clock()
    app.conn.execute(
        "insert into loans (borrower_id, loan_officer_id, account_id, product, principal,"
        " annual_interest_rate, interest_method, repayment_frequency, installments,"
        " first_due_date, status, applied_at, created_at, updated_at)"
        " values (%s, %s, %s, %s, %s, %s, %s, %s, %s, null, 'pending', %s, %s, %s)",
        (
            user_id,
            officer_id,
            account_id,
            product,
            Decimal(rng.randint(lo // 50, hi // 50) * 50),
            _rate(rng, 1800, 3600),
            "flat" if rng.random() < flat_share else "declining",
            frequency,
            rng.choice(terms),
            now,
            now,
            now,
        ),
    )
    app.delta["applications"] += 1


def _decide(app: _App) -> None:
    """An officer approves (~85 %) or rejects a pending application."""
    loan_id = app.choose("select id from loans where status = 'pending' order by id limit 500")
    _lock_loan(app, loan_id, ("pending",))
    now = app.clock()
    if app.rng.random() < 0.85:
        app.conn.execute(
            "update loans set status = 'approved', approved_at = %s, updated_at = %s where id = %s",
            (now, now, loan_id),
        )
        app.delta["approvals"] += 1
    else:
        app.conn.execute(
            "update loans set status = 'rejected', updated_at = %s where id = %s", (now, loan_id)
        )
        app.delta["rejections"] += 1


def _abandon(app: _App) -> None:
    """Hard-delete a pending application left untouched for a while (an abandoned one)."""
    cutoff = app.clock() - ABANDON_AFTER
    loan_id = app.choose(
        "select id from loans where status = 'pending' and updated_at < %s order by id limit 500",
        (cutoff,),
    )
    _lock_loan(app, loan_id, ("pending",))
    if app.row("select 1 from payments where loan_id = %s limit 1", (loan_id,)):
        raise _Skip
    app.conn.execute("delete from loans where id = %s", (loan_id,))
    app.delta["abandons"] += 1


def _disburse(app: _App) -> None:
    """Pay out an approved loan into the borrower's account; the schedule starts."""
    loan_id = app.choose("select id from loans where status = 'approved' order by id limit 500")
    loan = _lock_loan(app, loan_id, ("approved",))
    now = app.clock()
    today = now.date()
    first_due = (
        today + dt.timedelta(days=7)
        if loan["repayment_frequency"] == "weekly"
        else add_months(today, 1)
    )
    app.conn.execute(
        "update loans set status = 'active', disbursed_at = %s, first_due_date = %s,"
        " updated_at = %s where id = %s",
        (now, first_due, now, loan_id),
    )
    _post(
        app,
        loan["account_id"],
        "loan_disbursement",
        loan["principal"],
        {"loan_ref": loan_id, "channel": "bank_transfer"},
    )
    app.delta["disbursements"] += 1


def _write_off(app: _App) -> None:
    """Write off an active loan whose oldest unpaid installment is 180+ days past due."""
    today = app.clock().date()
    ids = [
        r["id"]
        for r in app.conn.execute(
            "select id from loans where status = 'active' and first_due_date < %s order by id",
            (today - dt.timedelta(days=WRITE_OFF_DPD),),
        )
    ]
    for loan_id in app.rng.sample(ids, min(3, len(ids))):
        try:
            loan = _lock_loan(app, loan_id, ("active",))
        except _Skip:
            continue
        done, _pending, n_pending = _principal_paid(app, loan_id)
        if n_pending:
            continue  # money is on its way: wait for it to settle
        cumulative = Decimal(0)
        for inst in _plan(loan):
            cumulative += inst.principal_due
            if cumulative > done:
                break
        else:
            continue
        if (today - inst.due_date).days <= WRITE_OFF_DPD:
            continue
        now = app.clock()
        app.conn.execute(
            "update loans set status = 'written_off', written_off_at = %s,"
            " written_off_amount = %s, updated_at = %s where id = %s",
            (now, loan["principal"] - done, now, loan_id),
        )
        app.delta["write_offs"] += 1
        return
    raise _Skip


# ------------------------------------------------------------------------------- payments
def _pay(app: _App) -> None:
    """A borrower pays the next installment(s), oldest first: a pending payment."""
    rng = app.rng
    loan_id = app.choose_spread("loans", "status = 'active'")
    loan = _lock_loan(app, loan_id, ("active",))
    if loan["first_due_date"] is None:
        raise _Skip
    done, pending, _n = _principal_paid(app, loan_id)
    allocated = done + pending
    if allocated >= loan["principal"]:
        raise _Skip  # fully covered already; settling will close it
    today = app.clock().date()
    wanted = rng.choices((1, 2, 3), weights=(80, 15, 5))[0]
    principal = interest = penalty = Decimal(0)
    cumulative = Decimal(0)
    for inst in _plan(loan):
        before, cumulative = cumulative, cumulative + inst.principal_due
        if cumulative <= allocated or inst.principal_due <= 0:
            continue
        portion = cumulative - max(before, allocated)
        part_interest = (
            inst.interest_due
            if portion == inst.principal_due
            else cents(inst.interest_due * portion / inst.principal_due)
        )
        principal += portion
        interest += part_interest
        if inst.due_date < today and rng.random() < 0.7:
            penalty += cents((portion + part_interest) * _rate(rng, 100, 200))
        wanted -= 1
        if wanted == 0:
            break
    if principal <= 0:
        raise _Skip
    now = app.clock()
    app.conn.execute(
        "insert into payments (loan_id, amount, principal_paid, interest_paid, penalty_paid,"
        " channel, status, paid_at, reference, created_at, updated_at)"
        " values (%s, %s, %s, %s, %s, %s, 'pending', %s, %s, %s, %s)",
        (
            loan_id,
            principal + interest + penalty,
            principal,
            interest,
            penalty,
            app.channel(),
            now,
            _reference("PAY"),
            now,
            now,
        ),
    )
    app.delta["payments"] += 1


def _settle(app: _App) -> None:
    """A pending payment completes (~90 %, debiting the account for non-cash channels and
    closing a repaid loan) or is cancelled (hard-deleted)."""
    payment_id = app.choose(
        "select id from payments where status = 'pending' order by id desc limit 500"
    )
    loan_id = app.scalar("select loan_id from payments where id = %s", (payment_id,))
    if loan_id is None:
        raise _Skip
    loan = _lock_loan(app, loan_id, LOAN_STATUSES)
    payment = app.row(
        "select * from payments where id = %s and status = 'pending' for update", (payment_id,)
    )
    if payment is None:
        raise _Skip
    if loan["status"] != "active" or app.rng.random() < 0.1:
        app.conn.execute("delete from payments where id = %s", (payment_id,))
        app.delta["cancellations"] += 1
        return
    now = app.clock()
    app.conn.execute(
        "update payments set status = 'completed', updated_at = %s where id = %s",
        (now, payment_id),
    )
    if payment["channel"] in LEDGER_CHANNELS:
        meta = {"loan_ref": loan_id, "payment_ref": payment["reference"]}
        balance = _lock_account_balance(app, loan["account_id"])
        if balance < payment["amount"]:
            _post(
                app,
                loan["account_id"],
                "deposit",
                payment["amount"] - balance,
                {**app.channel_meta(payment["channel"]), "kind": "top_up"},
            )
        _post(
            app,
            loan["account_id"],
            "loan_repayment",
            payment["amount"],
            {**meta, "channel": payment["channel"]},
        )
    done, _pending, _n = _principal_paid(app, loan_id)
    if done >= loan["principal"]:
        now = app.clock()
        app.conn.execute(
            "update loans set status = 'closed', closed_at = %s, updated_at = %s where id = %s",
            (now, now, loan_id),
        )
        app.delta["closures"] += 1
    app.delta["settlements"] += 1


def _lock_account_balance(app: _App, account_id: int) -> Decimal:
    found = app.row("select balance from accounts where id = %s for update", (account_id,))
    if found is None:
        raise _Skip
    return found["balance"]


def _reverse(app: _App) -> None:
    """A completed payment of an active loan bounces: reversed, refunded if it was debited."""
    loan_id = app.choose_spread("loans", "status = 'active'")
    loan = _lock_loan(app, loan_id, ("active",))
    payment = app.row(
        "select * from payments where loan_id = %s and status = 'completed'"
        " order by id desc limit 1 for update",
        (loan_id,),
    )
    if payment is None:
        raise _Skip
    app.conn.execute(
        "update payments set status = 'reversed', updated_at = %s where id = %s",
        (app.clock(), payment["id"]),
    )
    if payment["channel"] in LEDGER_CHANNELS:
        _post(
            app,
            loan["account_id"],
            "transfer_in",
            payment["amount"],
            {"loan_ref": loan_id, "payment_ref": payment["reference"], "kind": "reversal"},
            description=f"reversal of payment {payment['reference']}",
        )
    app.delta["reversals"] += 1


# ------------------------------------------------------------------------------- savings
def _deposit(app: _App) -> None:
    """Cash, mobile money or a bank transfer into an active account."""
    account_id = app.choose_spread("accounts", "status = 'active'")
    _lock_account(app, account_id)
    channel = app.channel()
    _post(
        app,
        account_id,
        "deposit",
        Decimal(app.rng.randint(1, 100) * 50),
        app.channel_meta(channel),
    )
    app.delta["deposits"] += 1


def _withdraw(app: _App) -> None:
    """A withdrawal, never more than the balance."""
    rng = app.rng
    account_id = app.choose_spread("accounts", "status = 'active' and balance >= 1")
    account = _lock_account(app, account_id, "balance >= 1")
    amount = min(account["balance"], Decimal(rng.randint(1, 60) * 50))
    _post(app, account_id, "withdrawal", amount, app.channel_meta(app.channel()))
    app.delta["withdrawals"] += 1


def _fee(app: _App) -> None:
    """A small account fee, only when the balance covers it."""
    rng = app.rng
    fee = rng.choice((Decimal(10), Decimal(25), Decimal(50), Decimal(150)))
    account_id = app.choose_spread("accounts", "status = 'active' and balance >= %s", (fee,))
    if _lock_account(app, account_id)["balance"] < fee:
        raise _Skip
    _post(app, account_id, "fee", fee, {"kind": rng.choice(("monthly", "sms"))})
    app.delta["fees"] += 1


def _invest(app: _App) -> None:
    """A saver moves part of a savings balance (>= 500) into an investment."""
    rng = app.rng
    account_id = app.choose_spread(
        "accounts", "account_type = 'savings' and status = 'active' and balance >= 500"
    )
    account = _lock_account(app, account_id, "balance >= 500")
    share = account["balance"] * Decimal(rng.randint(30, 90)) / 100
    principal = max(Decimal(500), (share / 100).to_integral_value(ROUND_DOWN) * 100)
    product = _pick(rng, INVESTMENTS)
    now = app.clock()
    start = now.date()
    investment_id = app.scalar(
        "insert into investments (user_id, product, principal, annual_rate, start_date,"
        " maturity_date, status, current_value, created_at, updated_at)"
        " values (%s, %s, %s, %s, %s, %s, 'active', %s, %s, %s) returning id",
        (
            account["user_id"],
            product,
            principal,
            _rate(rng, 500, 1400),
            start,
            add_months(start, rng.choice(INVESTMENTS[product][1])),
            principal,
            now,
            now,
        ),
    )
    _post(
        app,
        account_id,
        "transfer_out",
        principal,
        {"product": product, "investment_ref": investment_id},
    )
    app.delta["investments"] += 1


def _mature(app: _App) -> None:
    """An investment past its maturity date pays out into the owner's savings account."""
    today = app.clock().date()
    investment_id = app.choose(
        "select id from investments where status = 'active' and maturity_date <= %s"
        " order by maturity_date, id limit 500",
        (today,),
    )
    inv = app.row(
        "select * from investments where id = %s and status = 'active' for update skip locked",
        (investment_id,),
    )
    if inv is None:
        raise _Skip
    days = (inv["maturity_date"] - inv["start_date"]).days
    value = cents(inv["principal"] * (1 + inv["annual_rate"] * days / Decimal(365)))
    app.conn.execute(
        "update investments set status = 'matured', current_value = %s, updated_at = %s"
        " where id = %s",
        (value, app.clock(), investment_id),
    )
    account_id = app.scalar(
        "select id from accounts where user_id = %s and account_type = 'savings'"
        " order by (status = 'active') desc, id limit 1",
        (inv["user_id"],),
    )
    if account_id is not None:
        _post(
            app,
            account_id,
            "transfer_in",
            value,
            {"product": inv["product"], "kind": "matured", "investment_ref": investment_id},
        )
    app.delta["maturities"] += 1


OPERATIONS: dict[str, Callable[[_App], None]] = {
    "signup": _signup,
    "kyc": _kyc,
    "apply": _apply,
    "decide": _decide,
    "disburse": _disburse,
    "pay": _pay,
    "settle": _settle,
    "reverse": _reverse,
    "abandon": _abandon,
    "deposit": _deposit,
    "withdraw": _withdraw,
    "fee": _fee,
    "invest": _invest,
    "mature": _mature,
    "write_off": _write_off,
}


# ------------------------------------------------------------------------------- hold-open
def _hold_loan(app: _App) -> int | None:
    """Inside the held transaction: approve a pending loan, else reassign an active one."""
    for status in ("pending", "active"):
        ids = [
            r["id"]
            for r in app.conn.execute(
                "select id from loans where status = %s order by id desc limit 50", (status,)
            )
        ]
        app.rng.shuffle(ids)
        for loan_id in ids:
            app.exclusions.add(loan_id)  # before locking: the ticks must never wait for it
            loan = app.row(
                "select * from loans where id = %s and status = %s for update skip locked",
                (loan_id, status),
            )
            if loan is None:
                app.exclusions.discard(loan_id)
                continue
            now = app.clock()
            if status == "pending":
                app.conn.execute(
                    "update loans set status = 'approved', approved_at = %s, updated_at = %s"
                    " where id = %s",
                    (now, now, loan_id),
                )
                app.delta["approvals"] += 1
            else:  # the borrower's case moves to another officer of the branch
                try:
                    officer = app.choose(
                        "select o.id from users o join users b on b.branch_code = o.branch_code"
                        " where b.id = %s and o.role = 'loan_officer' order by o.id",
                        (loan["borrower_id"],),
                    )
                except _Skip:
                    officer = loan["loan_officer_id"]
                app.conn.execute(
                    "update loans set loan_officer_id = %s, updated_at = %s where id = %s",
                    (officer, now, loan_id),
                )
            return loan_id
    return None


def _hold_open(
    dsn: str,
    seconds: float,
    rng: random.Random,
    exclusions: _Exclusions,
    ready: threading.Event,
) -> tuple[Counter[str], float]:
    """One long transaction: write rows stamped at its start, sleep, commit.

    Returns its counters and how long it stayed open. ``ready`` is set once its rows are
    written and locked (or it failed), so the ticks can start without touching them.
    """
    loan_id = None
    try:
        with _connect(dsn) as conn:
            app = _App(conn, rng, exclusions)
            with conn.transaction():
                t0 = _wall_clock()
                opened = time.monotonic()
                app.clock = lambda: t0
                try:
                    with conn.transaction():  # a savepoint: a skipped sign-up leaves nothing
                        _signup(app)
                except _Skip:
                    log.info("held-open transaction: no user to model a sign-up on")
                loan_id = _hold_loan(app)
                ready.set()
                time.sleep(seconds)
            held = app.delta
            held["held_rows"] = 2 * held["signups"] + held["ledger_rows"] + (loan_id is not None)
            return held, time.monotonic() - opened
    finally:
        ready.set()
        if loan_id is not None:
            exclusions.discard(loan_id)


# ------------------------------------------------------------------------------- driver
def _check_schema(conn: Conn) -> None:
    missing = [
        t
        for t in TABLES
        if conn.execute("select to_regclass(%s) as t", (t,)).fetchone() == {"t": None}
    ]
    if missing:
        raise FinhouseError(
            "the OLTP schema is missing (tables "
            + ", ".join(missing)
            + "): run `finhouse oltp init` first"
        )


def _tick(app: _App, stats: SimulationStats) -> None:
    kinds = app.rng.choices(
        list(WEIGHTS), weights=list(WEIGHTS.values()), k=app.rng.randint(*BATCH)
    )
    for kind in kinds:
        try:
            delta = app.run(kind)
        except (errors.DeadlockDetected, errors.LockNotAvailable) as exc:
            log.warning("%s rolled back on a lock conflict: %s", kind, exc)
            stats.conflicts += 1
            continue
        if delta is None:
            stats.skipped += 1
        else:
            stats.operations += 1
            stats.add(delta)


def simulate(
    dsn: str,
    *,
    ticks: int,
    seed: int | None,
    interval: float = 0.0,
    hold_open: float = 0.0,
    progress: bool = False,
) -> SimulationStats:
    """Mutate the OLTP like the live app for ``ticks`` rounds (see the module doc).

    ``interval`` seconds pass between ticks. With ``hold_open`` > 0 one more transaction,
    on its own connection, writes rows stamped at its start before the ticks begin and
    commits ``hold_open`` seconds later; the call returns only after it committed.
    """
    if ticks < 0:
        raise ConfigError(f"ticks must be 0 or more, got {ticks}")
    if interval < 0 or hold_open < 0:
        raise ConfigError("interval and hold_open must be 0 or more seconds")
    started = time.monotonic()
    rng = random.Random(seed)
    stats = SimulationStats()
    exclusions = _Exclusions()
    with (
        _connect(dsn) as conn,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="hold-open") as pool,
    ):
        _check_schema(conn)
        held = None
        if hold_open > 0:
            ready = threading.Event()
            held = pool.submit(
                _hold_open, dsn, hold_open, random.Random(rng.getrandbits(64)), exclusions, ready
            )
            ready.wait(timeout=60)
        app = _App(conn, rng, exclusions)
        with progress_bar(progress, ticks, "ticks") as advance:
            for tick in range(ticks):
                if tick and interval:
                    time.sleep(interval)
                _tick(app, stats)
                stats.ticks += 1
                advance()
        if held is not None:
            delta, stats.held_seconds = held.result()  # waits for the commit; re-raises
            stats.add(delta)
    stats.seconds = time.monotonic() - started
    return stats
