{#- The current version of each key (macro current_versions: the one the latest load saw,
    dropped when marked deleted), from stg_oltp__payments_versions, which renames and casts. -#}
-- One SELECT without WITH: PostgreSQL inlines a view into the query that reads it only
-- when the view has no WITH clause, so that the reader's filters, joins and orders reach
-- the indexes underneath (docs/transformation.md, "Views without WITH").
select
    payment_id,
    loan_id,
    amount,
    principal_paid,
    interest_paid,
    penalty_paid,
    channel,
    payment_status,
    paid_at,
    payment_reference,
    created_at,
    updated_at,
    loaded_at
from (
    {{ current_versions(ref('stg_oltp__payments_versions'), 'payment_id') }}
) as current_versions
