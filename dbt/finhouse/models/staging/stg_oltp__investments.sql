{#- The current version of each key (macro current_versions: the one the latest load saw,
    dropped when marked deleted), from stg_oltp__investments_versions, which renames and casts. -#}
-- One SELECT without WITH: PostgreSQL inlines a view into the query that reads it only
-- when the view has no WITH clause, so that the reader's filters, joins and orders reach
-- the indexes underneath (docs/transformation.md, "Views without WITH").
select
    investment_id,
    user_id,
    investment_product,
    principal,
    annual_rate,
    start_date,
    maturity_date,
    investment_status,
    current_value,
    created_at,
    updated_at,
    loaded_at
from (
    {{ current_versions(ref('stg_oltp__investments_versions'), 'investment_id') }}
) as current_versions
