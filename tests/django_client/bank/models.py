"""The six OLTP tables of the contract, as the institution's Django app declares them.

Django's conventions, not the stand-in schema's: ``BigAutoField`` identity keys, ``<fk>_id``
columns with their own index and deferred foreign keys, choices enforced by the app (no CHECK
constraints apart from the few below), ``updated_at`` stamped by ``auto_now`` at save time.
Every timestamp comes from the app server's clock (``clock.app_clock``).

The ledger (``Transaction``) is append-only and has no ``updated_at``; its ``created_at`` is a
model *default*, evaluated when the object is built in Python: a month-end posting that
builds its rows, then opens its transaction, stamps them before that transaction starts.
"""

from __future__ import annotations

from django.db import models

from tests.django_client.bank.clock import AppClockDateTimeField, app_clock

MONEY = {"max_digits": 18, "decimal_places": 2}
RATE = {"max_digits": 7, "decimal_places": 4}


def _choices(*values: str) -> list[tuple[str, str]]:
    return [(v, v.replace("_", " ")) for v in values]


class User(models.Model):
    username = models.CharField(max_length=150, unique=True)
    email = models.CharField(max_length=254)
    first_name = models.CharField(max_length=150)
    last_name = models.CharField(max_length=150)
    phone = models.CharField(max_length=32)
    national_id = models.CharField(max_length=32)
    gender = models.CharField(max_length=1, null=True, choices=_choices("F", "M", "X"))
    date_of_birth = models.DateField()
    role = models.CharField(max_length=16, choices=_choices("customer", "loan_officer", "admin"))
    branch_code = models.CharField(max_length=16, db_index=True)
    region = models.CharField(max_length=64)
    kyc_status = models.CharField(
        max_length=16, choices=_choices("pending", "verified", "rejected"), default="pending"
    )
    monthly_income = models.DecimalField(**MONEY, null=True)
    risk_appetite = models.CharField(
        max_length=8, null=True, choices=_choices("low", "medium", "high")
    )
    is_active = models.BooleanField(default=True)
    date_joined = AppClockDateTimeField(default=app_clock)
    updated_at = AppClockDateTimeField(auto_now=True, db_index=True)

    class Meta:
        db_table = "users"


class Account(models.Model):
    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="accounts")
    account_number = models.CharField(max_length=32, unique=True)
    account_type = models.CharField(max_length=16, choices=_choices("savings", "current", "wallet"))
    currency = models.CharField(max_length=3, default="KES")
    status = models.CharField(
        max_length=16, choices=_choices("active", "dormant", "closed"), default="active"
    )
    balance = models.DecimalField(**MONEY, default=0)
    interest_rate = models.DecimalField(**RATE)
    opened_at = AppClockDateTimeField(default=app_clock)
    closed_at = AppClockDateTimeField(null=True)
    created_at = AppClockDateTimeField(auto_now_add=True)
    updated_at = AppClockDateTimeField(auto_now=True, db_index=True)

    class Meta:
        db_table = "accounts"


class Loan(models.Model):
    borrower = models.ForeignKey(User, on_delete=models.PROTECT, related_name="loans_borrowed")
    loan_officer = models.ForeignKey(User, on_delete=models.PROTECT, related_name="loans_managed")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="loans")
    product = models.CharField(
        max_length=16, choices=_choices("group", "individual", "sme", "agriculture", "emergency")
    )
    principal = models.DecimalField(**MONEY)
    annual_interest_rate = models.DecimalField(**RATE)
    interest_method = models.CharField(max_length=16, choices=_choices("flat", "declining"))
    repayment_frequency = models.CharField(max_length=16, choices=_choices("weekly", "monthly"))
    installments = models.IntegerField()
    first_due_date = models.DateField(null=True)
    status = models.CharField(
        max_length=16,
        choices=_choices("pending", "approved", "rejected", "active", "closed", "written_off"),
        default="pending",
        db_index=True,
    )
    applied_at = AppClockDateTimeField(default=app_clock)
    approved_at = AppClockDateTimeField(null=True)
    disbursed_at = AppClockDateTimeField(null=True)
    closed_at = AppClockDateTimeField(null=True)
    written_off_at = AppClockDateTimeField(null=True)
    written_off_amount = models.DecimalField(**MONEY, null=True)
    created_at = AppClockDateTimeField(auto_now_add=True)
    updated_at = AppClockDateTimeField(auto_now=True, db_index=True)

    class Meta:
        db_table = "loans"


class Payment(models.Model):
    loan = models.ForeignKey(Loan, on_delete=models.PROTECT, related_name="payments")
    amount = models.DecimalField(**MONEY)
    principal_paid = models.DecimalField(**MONEY)
    interest_paid = models.DecimalField(**MONEY)
    penalty_paid = models.DecimalField(**MONEY, default=0)
    channel = models.CharField(
        max_length=16, choices=_choices("cash", "mobile_money", "bank_transfer")
    )
    status = models.CharField(
        max_length=16, choices=_choices("pending", "completed", "reversed"), default="pending"
    )
    paid_at = AppClockDateTimeField(default=app_clock)
    reference = models.CharField(max_length=64, unique=True)
    created_at = AppClockDateTimeField(auto_now_add=True)
    updated_at = AppClockDateTimeField(auto_now=True, db_index=True)

    class Meta:
        db_table = "payments"
        constraints = (
            models.CheckConstraint(
                condition=models.Q(
                    amount=models.F("principal_paid")
                    + models.F("interest_paid")
                    + models.F("penalty_paid")
                ),
                name="payments_parts_sum",
            ),
        )


class Transaction(models.Model):
    """The append-only ledger: rows are inserted, never updated or deleted."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="ledger")
    txn_type = models.CharField(
        max_length=24,
        choices=_choices(
            "deposit",
            "withdrawal",
            "transfer_in",
            "transfer_out",
            "fee",
            "interest",
            "loan_disbursement",
            "loan_repayment",
        ),
    )
    amount = models.DecimalField(**MONEY)
    balance_after = models.DecimalField(**MONEY)
    reference = models.CharField(max_length=64)
    description = models.TextField()
    metadata = models.JSONField(default=dict)
    occurred_at = AppClockDateTimeField(default=app_clock)
    # a default, not auto_now_add: stamped when the object is built, which for a bulk posting
    # can be long before its INSERT (and its transaction) reaches the database
    created_at = AppClockDateTimeField(default=app_clock, db_index=True)

    class Meta:
        db_table = "transactions"
        constraints = (
            models.CheckConstraint(
                condition=models.Q(amount__gt=0), name="transactions_amount_positive"
            ),
        )


class Investment(models.Model):
    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="investments")
    product = models.CharField(
        max_length=16,
        choices=_choices("fixed_deposit", "treasury_bill", "money_market", "bond"),
    )
    principal = models.DecimalField(**MONEY)
    annual_rate = models.DecimalField(**RATE)
    start_date = models.DateField()
    maturity_date = models.DateField()
    status = models.CharField(
        max_length=16, choices=_choices("active", "matured", "withdrawn"), default="active"
    )
    current_value = models.DecimalField(**MONEY)
    created_at = AppClockDateTimeField(auto_now_add=True)
    updated_at = AppClockDateTimeField(auto_now=True, db_index=True)

    class Meta:
        db_table = "investments"
        constraints = (
            models.CheckConstraint(
                condition=models.Q(maturity_date__gt=models.F("start_date")),
                name="investments_dates",
            ),
        )
