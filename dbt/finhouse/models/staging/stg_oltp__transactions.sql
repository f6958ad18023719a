-- One SELECT without WITH: PostgreSQL inlines a view into the query that reads it only
-- when the view has no WITH clause, so that the reader's filters, joins and orders reach
-- the indexes underneath (README.md, "Views without WITH").
-- the ledger is append-only: RAW holds one row per id
select
    cast(id as bigint) as transaction_id,
    cast(account_id as bigint) as account_id,
    txn_type,
    cast(amount as numeric(18, 2)) as amount,
    cast(balance_after as numeric(18, 2)) as balance_after,
    reference as transaction_reference,
    description,
    metadata,
    occurred_at,
    created_at,
    _loaded_at as loaded_at
from {{ source('oltp', 'transactions') }}
where _deleted_at is null
