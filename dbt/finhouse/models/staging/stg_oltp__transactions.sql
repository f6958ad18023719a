{#- The ledger's rows not marked deleted (append-only: one RAW row per id). -#}
-- One SELECT without WITH: PostgreSQL inlines a view into the query that reads it only
-- when the view has no WITH clause, so that the reader's filters, joins and orders reach
-- the indexes underneath (docs/transformation.md, "Views without WITH").
select
    transaction_id,
    account_id,
    txn_type,
    amount,
    balance_after,
    transaction_reference,
    description,
    metadata,
    occurred_at,
    created_at,
    loaded_at
from {{ ref('stg_oltp__transactions_versions') }}
where {{ raw_not_deleted() }}
