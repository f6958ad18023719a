{#- Every RAW row of the ledger (docs/interfaces.md §2: append-only, one row per id), deleted ones
    included, renamed and cast once for stg_oltp__transactions and for the change detection of
    the incremental models. -#}
-- One SELECT without WITH: PostgreSQL inlines a view into the query that reads it only
-- when the view has no WITH clause, so that the reader's filters, joins and orders reach
-- the indexes underneath (docs/transformation.md, "Views without WITH").
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
    {{ raw_version_times('transactions') }}
from {{ source('oltp', 'transactions') }}
{{ raw_cut_filter('transactions') }}
