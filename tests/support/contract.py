"""The enumerations of docs/interfaces.md §1, written out independently of the schema under test."""

ENUMS: dict[tuple[str, str], set[str | None]] = {
    ("users", "gender"): {"F", "M", "X", None},
    ("users", "role"): {"customer", "loan_officer", "admin"},
    ("users", "kyc_status"): {"pending", "verified", "rejected"},
    ("users", "risk_appetite"): {"low", "medium", "high", None},
    ("accounts", "account_type"): {"savings", "current", "wallet"},
    ("accounts", "status"): {"active", "dormant", "closed"},
    ("loans", "product"): {"group", "individual", "sme", "agriculture", "emergency"},
    ("loans", "interest_method"): {"flat", "declining"},
    ("loans", "repayment_frequency"): {"weekly", "monthly"},
    ("loans", "status"): {"pending", "approved", "rejected", "active", "closed", "written_off"},
    ("payments", "channel"): {"cash", "mobile_money", "bank_transfer"},
    ("payments", "status"): {"pending", "completed", "reversed"},
    ("transactions", "txn_type"): {
        "deposit",
        "withdrawal",
        "transfer_in",
        "transfer_out",
        "fee",
        "interest",
        "loan_disbursement",
        "loan_repayment",
    },
    ("investments", "product"): {"fixed_deposit", "treasury_bill", "money_market", "bond"},
    ("investments", "status"): {"active", "matured", "withdrawn"},
}
