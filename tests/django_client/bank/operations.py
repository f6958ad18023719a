"""The bank's units of work, as a Django app writes them, and the threads that run them.

Every unit of work runs in ``transaction.atomic()``. Besides the everyday mix (sign-ups,
accounts, deposits and withdrawals, transfers, the loan life cycle, payments, investments)
the workload deliberately repeats what breaks an extractor that trusts the app's clock:

* a month-end posting whose ledger rows are built (and so stamped) in Python seconds before
  its transaction starts, bulk-inserted, then followed by more work before the commit;
* ``QuerySet.update()`` and ``save(update_fields=[...])`` that leave ``updated_at`` alone;
* transactions held open while other writers commit (late commits);
* lock waits: a save stamped while another transaction holds the row, committed after it;
* ties: many rows written with one shared ``updated_at``;
* hard deletes of pending payments and abandoned loan applications;
* nested ``atomic()`` blocks (savepoints) that write rows and are sometimes rolled back.

Money invariants hold throughout (tests.support.invariants): every ledger row is written while
its account row is locked, so ``balance_after`` is a running balance in id order.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import OperationalError, connection, connections
from django.db.models import F, Q, Sum
from django.db.transaction import atomic

from tests.django_client.bank.clock import app_clock
from tests.django_client.bank.models import (
    Account,
    Investment,
    Loan,
    Payment,
    Transaction,
    User,
)

CENT = Decimal("0.01")
CREDITS = frozenset({"deposit", "transfer_in", "interest", "loan_disbursement"})
#: deadlock, serialization failure: PostgreSQL rolled the unit back; the app retries it
RETRYABLE = frozenset({"40P01", "40001"})

FIRST_NAMES = ("Amina", "Zoë", "Chidi", "Ọlá", "Nguyễn", "Søren", "Wanjiru", "José", "Ἀλέξης")
LAST_NAMES = ("Otieno", "Müller", "O'Brien", "Nakamura", "Núñez", "Ðorđević", "Kamau", "李")
REGIONS = ("Nairobi", "Coast", "Rift Valley", "Nyanza", "Western", "Central")
#: free text as customers and tellers type it: quotes, separators, newlines, backslashes,
#: empty, right-to-left, emoji and combining sequences all travel through COPY
DESCRIPTIONS = (
    "Deposit at branch",
    "Dépôt espèces — agence Nord",
    'Überweisung "Miete", März; Ref: 12,5 %',
    "line one\nline two\r\nline three",
    "tab\tseparated\tvalues",
    "back\\slash and \\N and NULL",
    "",
    "M-Pesa 收款 ✓",
    "עברית: תשלום הלוואה",
    "emoji 💸🏦 family 👩‍👩‍👧",
    "non\u00a0breaking, zero\u200bwidth",
    "O'Brien's salary",
)


def money(rng: random.Random, low: float, high: float) -> Decimal:
    return Decimal(str(round(rng.uniform(low, high), 2)))


class Rollback(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised inside a nested ``atomic()`` to roll its savepoint back."""


@dataclass
class Report:
    """What the workload did, shared by its threads (written as JSON at the end)."""

    counts: Counter[str] = field(default_factory=Counter)
    #: changes made without touching updated_at: (table, id, column, new value, app time)
    silent: list[dict[str, Any]] = field(default_factory=list)
    lock_waits: list[dict[str, Any]] = field(default_factory=list)
    month_ends: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, kind: str, n: int = 1) -> None:
        with self.lock:
            self.counts[kind] += n

    def silent_change(self, table: str, ids: list[int], column: str, value: Any) -> None:
        at = app_clock().isoformat()
        with self.lock:
            # enough to prove the pattern; the soak would otherwise keep thousands
            if sum(s["table"] == table and s["column"] == column for s in self.silent) < 200:
                self.silent.extend(
                    {"table": table, "id": i, "column": column, "value": value, "at": at}
                    for i in ids
                )

    def as_json(self) -> dict[str, Any]:
        return {
            "counts": dict(sorted(self.counts.items())),
            "silent": self.silent,
            "lock_waits": self.lock_waits,
            "month_ends": self.month_ends,
            "errors": self.errors,
        }


def retrying(report: Report, unit: Callable[[], str | None]) -> str | None:
    """Run one unit of work; a deadlock or serialization failure rolls it back and it is
    retried, as a Django app's view would be by its client."""
    for _attempt in range(5):
        try:
            return unit()
        except OperationalError as exc:
            if getattr(exc.__cause__, "sqlstate", None) not in RETRYABLE:
                raise
            report.count("retried_after_deadlock")
    return None


class Bank:
    """One worker's view of the bank: its own random generator, its own names."""

    def __init__(self, rng: random.Random, report: Report, tag: str) -> None:
        self.rng = rng
        self.report = report
        self.tag = tag  # unique per worker and run: usernames, account numbers, references
        self.serial = 0

    # ------------------------------------------------------------------ helpers
    def _next(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}-{self.tag}-{self.serial}"

    def _maybe_roll_back(self, probability: float) -> None:
        """Raise ``Rollback`` (inside a nested ``atomic()``: its savepoint is rolled back)."""
        if self.rng.random() < probability:
            raise Rollback

    def _pick(self, ids: list[int]) -> int | None:
        return self.rng.choice(ids) if ids else None

    def _ids(self, queryset: Any, limit: int = 2000) -> list[int]:
        # newest first, then capped: recent rows are the busy ones, and the query stays cheap
        return list(queryset.order_by("-id").values_list("id", flat=True)[:limit])

    def _post(
        self, account: Account, txn_type: str, amount: Decimal, reference: str, **meta: Any
    ) -> Transaction:
        """A ledger row on a locked ``account`` (its balance is updated in memory; the caller
        saves the account)."""
        assert amount > 0, amount
        account.balance += amount if txn_type in CREDITS else -amount
        assert account.balance >= 0, (account.pk, account.balance)
        return Transaction.objects.create(
            account=account,
            txn_type=txn_type,
            amount=amount,
            balance_after=account.balance,
            reference=reference,
            description=self.rng.choice(DESCRIPTIONS),
            metadata={"worker": self.tag, "ip": f"10.0.0.{self.rng.randint(1, 254)}", **meta},
            occurred_at=app_clock(),
        )

    def _locked_accounts(self, *ids: int) -> list[Account]:
        # in id order, as every unit here locks them, so two units never wait on each other
        # in a circle; no_key: the FK checks of concurrent inserts (KEY SHARE) do not block
        return list(
            Account.objects.select_for_update(no_key=True).filter(id__in=ids).order_by("id")
        )

    # ------------------------------------------------------------------ people and accounts
    def new_user(self, role: str = "customer") -> User:
        rng = self.rng
        username = self._next("u").lower()
        return User.objects.create(
            username=username,
            email=f"{username}@example.test",
            first_name=rng.choice(FIRST_NAMES),
            last_name=rng.choice(LAST_NAMES),
            phone=f"+2547{rng.randint(10_000_000, 99_999_999)}",
            national_id=str(rng.randint(10_000_000, 39_999_999)),
            gender=rng.choice(("F", "M", "X", None)),
            date_of_birth=dt.date(1950, 1, 1) + dt.timedelta(days=rng.randint(0, 20_000)),
            role=role,
            branch_code=f"BR{rng.randint(1, 12):03d}",
            region=rng.choice(REGIONS),
            kyc_status="pending" if role == "customer" else "verified",
            monthly_income=money(rng, 50, 5000) if rng.random() < 0.8 else None,
            risk_appetite=rng.choice(("low", "medium", "high", None)),
        )

    def new_account(self, user: User) -> Account:
        """An account and its opening deposit."""
        rng = self.rng
        opening = money(rng, 10, 2000)
        account = Account.objects.create(
            user=user,
            account_number=self._next("AC"),
            account_type=rng.choice(("savings", "current", "wallet")),
            currency=rng.choice(("KES", "KES", "UGX", "USD")),
            balance=0,
            interest_rate=Decimal(str(round(rng.uniform(0, 0.08), 4))),
        )
        self._post(account, "deposit", opening, self._next("OPEN"))
        account.save(update_fields=["balance", "updated_at"])
        return account

    def signup(self) -> str:
        with atomic():
            user = self.new_user()
            try:
                with atomic():  # savepoint: the first account and its opening deposit
                    self.new_account(user)
                    self._maybe_roll_back(0.25)  # the opening deposit bounced: keep the user
            except Rollback:
                self.report.count("savepoint_rolled_back")
        return "signup"

    def open_account(self) -> str | None:
        user_id = self._pick(self._ids(User.objects.filter(role="customer")))
        if user_id is None:
            return None
        with atomic():
            self.new_account(User.objects.get(pk=user_id))
        return "open_account"

    # ------------------------------------------------------------------ money movements
    def cash(self) -> str | None:
        """A deposit or withdrawal; now and then the transaction stays open a while after
        its writes (a slow view, a remote call), committing after others."""
        account_id = self._pick(self._ids(Account.objects.filter(status="active")))
        if account_id is None:
            return None
        rng = self.rng
        held = rng.random() < 0.04
        with atomic():
            (account,) = self._locked_accounts(account_id)
            amount = money(rng, 1, 500)
            withdraw = rng.random() < 0.45 and account.balance >= amount
            kind = "withdrawal" if withdraw else "deposit"
            self._post(account, kind, amount, self._next("TX"), channel="teller")
            if account.account_type == "current" and account.balance >= 1 and rng.random() < 0.2:
                self._post(account, "fee", Decimal("0.50"), self._next("FEE"))
            account.save()
            if held:
                time.sleep(rng.uniform(1.0, 3.0))
        if held:
            self.report.count("held_open")
        return kind

    def transfer(self) -> str | None:
        ids = self._ids(Account.objects.filter(status="active"))
        if len(ids) < 2:
            return None
        source_id, target_id = self.rng.sample(ids, 2)
        with atomic():
            accounts = {a.pk: a for a in self._locked_accounts(source_id, target_id)}
            source, target = accounts[source_id], accounts[target_id]
            amount = min(money(self.rng, 1, 300), source.balance)
            if amount <= 0:
                return None
            reference = self._next("TRF")
            self._post(source, "transfer_out", amount, reference, to=target.account_number)
            self._post(target, "transfer_in", amount, reference, source=source.account_number)
            source.save()
            target.save()
        return "transfer"

    # ------------------------------------------------------------------ loans
    def apply_for_loan(self) -> str | None:
        account_id = self._pick(self._ids(Account.objects.filter(user__role="customer")))
        officer_id = self._pick(self._ids(User.objects.filter(role="loan_officer")))
        if account_id is None or officer_id is None:
            return None
        rng = self.rng
        with atomic():
            account = Account.objects.get(pk=account_id)
            Loan.objects.create(
                borrower_id=account.user_id,
                loan_officer_id=officer_id,
                account=account,
                product=rng.choice(("group", "individual", "sme", "agriculture", "emergency")),
                principal=money(rng, 100, 5000),
                annual_interest_rate=Decimal(str(round(rng.uniform(0.1, 0.35), 4))),
                interest_method=rng.choice(("flat", "declining")),
                repayment_frequency=rng.choice(("weekly", "monthly")),
                installments=rng.choice((4, 6, 12, 24)),
            )
        return "loan_applied"

    def review_loan(self) -> str | None:
        loan_id = self._pick(self._ids(Loan.objects.filter(status="pending"), 200))
        if loan_id is None:
            return None
        with atomic():
            loan = (
                Loan.objects.select_for_update(no_key=True)
                .filter(pk=loan_id, status="pending")
                .first()
            )
            if loan is None:  # reviewed or withdrawn meanwhile
                return None
            if self.rng.random() < 0.8:
                loan.status, loan.approved_at = "approved", app_clock()
            else:
                loan.status = "rejected"
            loan.save()
        return f"loan_{loan.status}"

    def disburse_loan(self) -> str | None:
        loan_id = self._pick(self._ids(Loan.objects.filter(status="approved"), 200))
        if loan_id is None:
            return None
        account_id = Loan.objects.values_list("account_id", flat=True).get(pk=loan_id)
        with atomic():
            (account,) = self._locked_accounts(account_id)
            loan = (
                Loan.objects.select_for_update(no_key=True)
                .filter(pk=loan_id, status="approved")
                .first()
            )
            if loan is None:
                return None
            now = app_clock()
            loan.status, loan.disbursed_at = "active", now
            loan.first_due_date = now.date() + dt.timedelta(
                days=7 if loan.repayment_frequency == "weekly" else 30
            )
            self._post(account, "loan_disbursement", loan.principal, f"DISB-{loan.pk}")
            loan.save()
            account.save()
            balance = account.balance
            try:
                with atomic():  # savepoint: the processing fee, unless waived
                    fee = max(CENT, (loan.principal * Decimal("0.01")).quantize(CENT))
                    self._post(account, "fee", fee, f"FEE-{loan.pk}", reason="processing")
                    account.save()
                    self._maybe_roll_back(0.3)  # waived
            except Rollback:
                account.balance = balance  # the savepoint's writes are gone; so is the fee
                self.report.count("savepoint_rolled_back")
        return "loan_disbursed"

    def write_off_loan(self) -> str | None:
        loan_id = self._pick(self._ids(Loan.objects.filter(status="active"), 200))
        if loan_id is None or self.rng.random() < 0.7:
            return None
        with atomic():
            loan = Loan.objects.select_for_update(no_key=True).get(pk=loan_id)
            if loan.status != "active":
                return None
            repaid = loan.payments.filter(status="completed").aggregate(s=Sum("principal_paid"))
            loan.status, loan.written_off_at = "written_off", app_clock()
            loan.written_off_amount = loan.principal - (repaid["s"] or 0)
            loan.save()
        return "loan_written_off"

    # ------------------------------------------------------------------ payments
    def new_payment(self) -> str | None:
        loan_id = self._pick(self._ids(Loan.objects.filter(status="active"), 500))
        if loan_id is None:
            return None
        rng = self.rng
        with atomic():
            loan = Loan.objects.get(pk=loan_id)
            repaid = loan.payments.filter(status="completed").aggregate(s=Sum("principal_paid"))
            remaining = loan.principal - (repaid["s"] or 0)
            if remaining <= 0:
                return None
            # a third settle the loan in full, which lets the housekeeping close it
            if rng.random() < 0.35:
                principal = remaining
            else:
                principal = min(remaining, (loan.principal / loan.installments).quantize(CENT))
            interest = (principal * loan.annual_interest_rate / 12).quantize(CENT)
            penalty = money(rng, 1, 20) if rng.random() < 0.1 else Decimal(0)
            Payment.objects.create(
                loan=loan,
                amount=principal + interest + penalty,
                principal_paid=principal,
                interest_paid=interest,
                penalty_paid=penalty,
                channel=rng.choice(("cash", "mobile_money", "bank_transfer")),
                reference=self._next("PAY"),
            )
        return "payment_created"

    def settle_payment(self) -> str | None:
        payment_id = self._pick(self._ids(Payment.objects.filter(status="pending"), 500))
        if payment_id is None:
            return None
        row = (
            Payment.objects.filter(pk=payment_id).values_list("loan_id", "loan__account_id").first()
        )
        if row is None:
            return None
        loan_id, account_id = row
        with atomic():
            (account,) = self._locked_accounts(account_id)  # lock order: account, loan, payment
            loan = Loan.objects.select_for_update(no_key=True).get(pk=loan_id)
            payment = (
                Payment.objects.select_for_update(no_key=True)
                .filter(pk=payment_id, status="pending")
                .first()
            )
            if payment is None:
                return None
            repaid = loan.payments.filter(status="completed").aggregate(s=Sum("principal_paid"))
            remaining = loan.principal - (repaid["s"] or 0)
            if loan.status != "active" or payment.principal_paid > remaining:
                payment.status = "reversed"  # would overpay, or the loan is settled
            elif self.rng.random() < 0.1:
                payment.status = "reversed"  # the mobile-money provider bounced it
            else:
                payment.status, payment.paid_at = "completed", app_clock()
                if payment.channel == "bank_transfer":
                    if account.balance >= payment.amount:
                        self._post(account, "loan_repayment", payment.amount, payment.reference)
                        account.save()
                    else:
                        payment.channel = "cash"  # paid at the counter instead
            payment.save()
        return f"payment_{payment.status}"

    # ------------------------------------------------------------------ investments
    def invest(self) -> str | None:
        user_id = self._pick(self._ids(User.objects.filter(role="customer")))
        if user_id is None:
            return None
        rng = self.rng
        start = app_clock().date()
        principal = money(rng, 100, 20_000)
        with atomic():
            Investment.objects.create(
                user_id=user_id,
                product=rng.choice(("fixed_deposit", "treasury_bill", "money_market", "bond")),
                principal=principal,
                annual_rate=Decimal(str(round(rng.uniform(0.04, 0.16), 4))),
                start_date=start,
                maturity_date=start + dt.timedelta(days=rng.choice((91, 182, 364, 728))),
                current_value=principal,
            )
        return "investment_created"

    def close_investment(self) -> str | None:
        inv_id = self._pick(self._ids(Investment.objects.filter(status="active"), 500))
        if inv_id is None:
            return None
        with atomic():
            inv = Investment.objects.select_for_update(no_key=True).get(pk=inv_id)
            if inv.status != "active":
                return None
            inv.status = self.rng.choice(("matured", "withdrawn"))
            inv.save()
        return "investment_closed"

    # ------------------------------------------------------------------ the dangerous patterns
    def silent_batch_update(self) -> str | None:
        """``QuerySet.update()``: one UPDATE, no ``pre_save``, so ``updated_at`` keeps its old
        value although the row changed."""
        rng = self.rng
        choice = rng.random()
        if choice < 0.4:
            ids = self._ids(User.objects.filter(kyc_status="pending"), 50)
            ids = rng.sample(ids, min(len(ids), rng.randint(1, 8)))
            status = "verified" if rng.random() < 0.85 else "rejected"
            with atomic():
                n = User.objects.filter(id__in=ids, kyc_status="pending").update(kyc_status=status)
            self.report.silent_change("users", ids, "kyc_status", status)
            self.report.count("silent_update_rows", n)
            return "update_users_kyc"
        if choice < 0.7:
            ids = self._ids(Payment.objects.filter(status="pending").exclude(channel="cash"), 50)
            ids = rng.sample(ids, min(len(ids), rng.randint(1, 5)))
            with atomic():
                n = Payment.objects.filter(id__in=ids, status="pending").update(channel="cash")
            self.report.silent_change("payments", ids, "channel", "cash")
            self.report.count("silent_update_rows", n)
            return "update_payments_channel"
        # housekeeping: close the loans repaid in full
        repaid = (
            Loan.objects.filter(status="active")
            .annotate(
                repaid=Sum("payments__principal_paid", filter=Q(payments__status="completed"))
            )
            .filter(repaid=F("principal"))
        )
        ids = self._ids(repaid, 20)
        if not ids:
            return None
        with atomic():
            n = Loan.objects.filter(id__in=ids, status="active").update(
                status="closed", closed_at=app_clock()
            )
        self.report.silent_change("loans", ids, "status", "closed")
        self.report.count("silent_update_rows", n)
        return "update_loans_closed"

    def silent_save(self) -> str | None:
        """``save(update_fields=[...])`` without ``updated_at``: ``pre_save`` runs only for the
        named fields, so the stamp is not refreshed."""
        rng = self.rng
        if rng.random() < 0.5:
            user_id = self._pick(self._ids(User.objects.all(), 500))
            if user_id is None:
                return None
            phone = f"+2547{rng.randint(10_000_000, 99_999_999)}"
            with atomic():
                user = User.objects.get(pk=user_id)
                user.phone = phone
                user.save(update_fields=["phone"])
            self.report.silent_change("users", [user_id], "phone", phone)
            return "save_user_phone"
        inv_id = self._pick(self._ids(Investment.objects.filter(status="active"), 500))
        if inv_id is None:
            return None
        with atomic():
            inv = Investment.objects.select_for_update(no_key=True).get(pk=inv_id)
            inv.current_value = (inv.current_value * Decimal("1.003")).quantize(CENT)
            inv.save(update_fields=["current_value"])
        self.report.silent_change("investments", [inv_id], "current_value", str(inv.current_value))
        return "save_investment_value"

    def tie(self) -> str | None:
        """Many rows written with one ``updated_at``: a branch re-organisation (update() that
        sets the stamp explicitly) or an investment revaluation (bulk_update, which never
        calls ``pre_save``)."""
        rng = self.rng
        at = app_clock()
        if rng.random() < 0.5:
            customers = self._ids(User.objects.filter(role="customer"), 500)
            ids = rng.sample(customers, min(len(customers), 12))
            with atomic():
                n = User.objects.filter(id__in=ids).update(
                    branch_code=f"BR{rng.randint(1, 12):03d}", updated_at=at
                )
        else:
            with atomic():
                invs = list(
                    Investment.objects.select_for_update(no_key=True)
                    .filter(status="active")
                    .order_by("-id")[:10]
                )
                for inv in invs:
                    inv.current_value = (inv.current_value * Decimal("1.001")).quantize(CENT)
                    inv.updated_at = at
                n = Investment.objects.bulk_update(invs, ["current_value", "updated_at"])
        self.report.count("tied_rows", n)
        return "tie"

    def hard_delete(self) -> str | None:
        """Pending payments cancelled, abandoned loan applications purged: rows vanish."""
        if self.rng.random() < 0.5:
            ids = self._ids(Payment.objects.filter(status="pending"), 30)
            ids = self.rng.sample(ids, min(len(ids), 2))
            with atomic():
                locked = list(
                    Payment.objects.select_for_update()
                    .filter(id__in=ids, status="pending")
                    .values_list("id", flat=True)
                )
                n, _ = Payment.objects.filter(id__in=locked).delete()
            self.report.count("deleted_payments", n)
            return "delete_payments"
        ids = self._ids(Loan.objects.filter(status__in=("pending", "rejected")), 30)
        ids = self.rng.sample(ids, min(len(ids), 2))
        with atomic():
            locked = list(
                Loan.objects.select_for_update()
                .filter(id__in=ids, status__in=("pending", "rejected"))
                .values_list("id", flat=True)
            )
            n, _ = Loan.objects.filter(id__in=locked).delete()
        self.report.count("deleted_loans", n)
        return "delete_loans"

    def lock_wait(self) -> str | None:
        """Two writers on one account row. A holder locks it, works a while, deposits and
        commits; meanwhile this worker saves the account from a plain read: ``auto_now``
        stamps ``updated_at`` in Python, then the UPDATE waits for the holder's lock and
        commits after it. The row's final ``updated_at`` is older than the holder's version
        that was visible for a moment before."""
        account_id = self._pick(self._ids(Account.objects.filter(status="active"), 200))
        if account_id is None:
            return None
        rng = self.rng
        hold = rng.uniform(0.3, 1.2)
        amount = money(rng, 1, 100)
        locked, holder_stamp = threading.Event(), []

        def holder() -> None:
            try:
                with atomic():
                    (account,) = self._locked_accounts(account_id)
                    locked.set()
                    time.sleep(hold)
                    self._post(account, "deposit", amount, f"LW-{self.tag}-{account_id}")
                    account.save()
                    holder_stamp.append(account.updated_at)
            except Exception as exc:  # noqa: BLE001 - reported, the workload fails at the end
                self.report.errors.append(f"lock-wait holder: {exc!r}")
            finally:
                locked.set()
                connections.close_all()  # this thread's connection only

        thread = threading.Thread(target=holder, name=f"holder-{self.tag}")
        thread.start()
        locked.wait(30)
        time.sleep(0.05)
        started = time.monotonic()
        with atomic():
            account = Account.objects.get(pk=account_id)  # no lock: the holder has it
            account.interest_rate = Decimal(str(round(rng.uniform(0, 0.08), 4)))
            account.save(update_fields=["interest_rate", "updated_at"])
        waited = time.monotonic() - started
        thread.join()
        with self.report.lock:
            self.report.lock_waits.append(
                {
                    "account_id": account_id,
                    "waiter_stamp": account.updated_at.isoformat(),
                    "holder_stamp": holder_stamp[0].isoformat() if holder_stamp else None,
                    "waited_seconds": round(waited, 3),
                }
            )
        return "lock_wait"

    def month_end(self, rows: int, delay: float) -> str:
        """The month-end interest posting, as batch code in a Django app writes it.

        The rows are built first, so their ``created_at`` default is taken now; then the job
        works ``delay`` seconds more before it opens the transaction (statements, a report);
        inside, it locks the accounts, fills in the amounts, ``bulk_create``s the rows in
        batches, updates every balance with one shared stamp, and only then commits. Every
        row is stamped before the transaction that makes it visible even began.
        """
        accounts = list(
            Account.objects.filter(status="active").order_by("id").values_list("id", flat=True)
        )
        per_account = max(1, math.ceil(rows / max(1, len(accounts))))
        period = app_clock().strftime("%Y%m")
        started = time.monotonic()
        built = [
            Transaction(
                account_id=account_id,
                txn_type="interest",
                amount=CENT,  # filled in under the lock below
                balance_after=0,
                reference=f"ME-{period}-{self.tag}-{account_id}-{part}",
                description=f"Intérêts {period} ({part + 1}/{per_account}) ✓",
                metadata={"posting": "month_end", "period": period, "part": part},
            )
            for account_id in accounts
            for part in range(per_account)
        ][:rows]
        build_seconds = time.monotonic() - started
        time.sleep(delay)
        with atomic(), connection.cursor() as cursor:
            # the transaction starts with its first statement, not at atomic()
            cursor.execute("select xact_start from pg_stat_activity where pid = pg_backend_pid()")
            (xact_start,) = cursor.fetchone()
            locked = {a.pk: a for a in self._locked_accounts(*{r.account_id for r in built})}
            posted = [r for r in built if r.account_id in locked]
            for row in posted:
                account = locked[row.account_id]
                row.amount = max(
                    CENT, (account.balance * account.interest_rate / 365).quantize(CENT)
                )
                account.balance += row.amount
                row.balance_after = account.balance
            Transaction.objects.bulk_create(posted, batch_size=2000)
            stamp = app_clock()
            for account in locked.values():
                account.updated_at = stamp  # one stamp for the whole batch: ties
            Account.objects.bulk_update(locked.values(), ["balance", "updated_at"], 500)
            cursor.execute("select clock_timestamp()")
            (before_commit,) = cursor.fetchone()
        with self.report.lock:
            self.report.month_ends.append(
                {
                    "rows": len(posted),
                    "reference_prefix": f"ME-{period}-{self.tag}-",
                    "min_created_at": min(r.created_at for r in posted).isoformat(),
                    "max_created_at": max(r.created_at for r in posted).isoformat(),
                    "xact_start": xact_start.isoformat(),
                    "before_commit": before_commit.isoformat(),
                    "build_seconds": round(build_seconds, 3),
                }
            )
        self.report.count("month_end_rows", len(posted))
        return "month_end"


#: the everyday mix and the dangerous patterns, with their relative frequencies
MIX: tuple[tuple[str, float], ...] = (
    ("signup", 4),
    ("open_account", 3),
    ("cash", 22),
    ("transfer", 6),
    ("apply_for_loan", 6),
    ("review_loan", 5),
    ("disburse_loan", 5),
    ("write_off_loan", 1),
    ("new_payment", 8),
    ("settle_payment", 7),
    ("invest", 3),
    ("close_investment", 1),
    ("silent_batch_update", 4),
    ("silent_save", 4),
    ("tie", 1.5),
    ("hard_delete", 2.5),
    ("lock_wait", 1.2),
)


def seed_base(report: Report, seed: int, tag: str, customers: int) -> None:
    """A small bank to start from: officers, customers with accounts, a loan book."""
    bank = Bank(random.Random(seed), report, f"{tag}b")
    with atomic():
        for _ in range(6):
            bank.new_user("loan_officer")
        bank.new_user("admin")
    for _ in range(customers):
        with atomic():
            user = bank.new_user()
            for _ in range(bank.rng.choice((1, 1, 2))):
                bank.new_account(user)
                report.count("base_account")
        report.count("base_customer")
    units = ("apply_for_loan", "review_loan", "disburse_loan", "new_payment") * customers
    units += ("invest", "settle_payment") * (customers // 3)
    for name in units:
        done = retrying(report, getattr(bank, name))
        report.count(f"base_{done or name + '_skipped'}")


def run_worker(
    report: Report, seed: int, tag: str, index: int, deadline: float, think: float
) -> None:
    """Random units of work from MIX until ``deadline`` (time.monotonic())."""
    rng = random.Random(f"{seed}-{index}")
    bank = Bank(rng, report, f"{tag}w{index}")
    names, weights = zip(*MIX, strict=True)
    try:
        while time.monotonic() < deadline:
            name = rng.choices(names, weights)[0]
            done = retrying(report, getattr(bank, name))
            report.count(done or f"{name}_skipped")
            time.sleep(rng.expovariate(1 / think) if think > 0 else 0)
    except Exception as exc:
        report.errors.append(f"worker {index}: {exc!r}")
        raise
    finally:
        connections.close_all()


def run_month_end(
    report: Report, seed: int, tag: str, index: int, start_after: float, rows: int, delay: float
) -> None:
    """One month-end posting, ``start_after`` seconds into the run."""
    time.sleep(start_after)
    bank = Bank(random.Random(f"{seed}-month-end-{index}"), report, f"{tag}me{index}")
    try:
        retrying(report, lambda: bank.month_end(rows, delay))
    except Exception as exc:
        report.errors.append(f"month end: {exc!r}")
        raise
    finally:
        connections.close_all()
