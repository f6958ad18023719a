"""The bank app: the six contract tables (users, accounts, loans, payments, transactions,
investments) as Django models."""
