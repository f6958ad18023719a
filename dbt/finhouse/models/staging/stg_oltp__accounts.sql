{#- The current version of each key (macro current_versions: the one the latest load saw,
    dropped when marked deleted), from stg_oltp__accounts_versions, which renames and casts. -#}
-- One SELECT without WITH: PostgreSQL inlines a view into the query that reads it only
-- when the view has no WITH clause, so that the reader's filters, joins and orders reach
-- the indexes underneath (docs/transformation.md, "Views without WITH").
select
    account_id,
    user_id,
    account_number,
    account_type,
    currency,
    account_status,
    balance,
    interest_rate,
    opened_at,
    closed_at,
    created_at,
    updated_at,
    loaded_at
from (
    {{ current_versions(ref('stg_oltp__accounts_versions'), 'account_id') }}
) as current_versions
