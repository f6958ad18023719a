{#- The current version of each key (macro current_versions: the one the latest load saw,
    dropped when marked deleted), from stg_oltp__loans_versions, which renames and casts. -#}
-- One SELECT without WITH: PostgreSQL inlines a view into the query that reads it only
-- when the view has no WITH clause, so that the reader's filters, joins and orders reach
-- the indexes underneath (docs/transformation.md, "Views without WITH").
select
    loan_id,
    borrower_id,
    loan_officer_id,
    account_id,
    product,
    principal,
    annual_interest_rate,
    interest_method,
    repayment_frequency,
    installments,
    first_due_date,
    loan_status,
    applied_at,
    approved_at,
    disbursed_at,
    closed_at,
    written_off_at,
    written_off_amount,
    created_at,
    updated_at,
    loaded_at
from (
    {{ current_versions(ref('stg_oltp__loans_versions'), 'loan_id') }}
) as current_versions
