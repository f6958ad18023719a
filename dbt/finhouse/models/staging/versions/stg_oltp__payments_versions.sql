{#- Every RAW version of every payment (docs/interfaces.md §2), deleted ones included, renamed and
    cast once for stg_oltp__payments and for the change detection of the incremental models. -#}
-- One SELECT without WITH: PostgreSQL inlines a view into the query that reads it only
-- when the view has no WITH clause, so that the reader's filters, joins and orders reach
-- the indexes underneath (docs/transformation.md, "Views without WITH").
select
    cast(id as bigint) as payment_id,
    cast(loan_id as bigint) as loan_id,
    cast(amount as numeric(18, 2)) as amount,
    cast(principal_paid as numeric(18, 2)) as principal_paid,
    cast(interest_paid as numeric(18, 2)) as interest_paid,
    cast(penalty_paid as numeric(18, 2)) as penalty_paid,
    channel,
    status as payment_status,
    paid_at,
    reference as payment_reference,
    created_at,
    updated_at,
    {{ raw_version_times('payments') }}
from {{ source('oltp', 'payments') }}
{{ raw_cut_filter('payments') }}
