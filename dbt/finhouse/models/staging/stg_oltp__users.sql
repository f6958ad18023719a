{#- The current version of each key (macro current_versions: the one the latest load saw,
    dropped when marked deleted), from stg_oltp__users_versions, which renames and casts. -#}
-- One SELECT without WITH: PostgreSQL inlines a view into the query that reads it only
-- when the view has no WITH clause, so that the reader's filters, joins and orders reach
-- the indexes underneath (docs/transformation.md, "Views without WITH").
select
    user_id,
    username,
    email,
    first_name,
    last_name,
    phone,
    national_id,
    gender,
    date_of_birth,
    user_role,
    branch_code,
    region,
    kyc_status,
    monthly_income,
    risk_appetite,
    is_active,
    joined_at,
    updated_at,
    loaded_at
from (
    {{ current_versions(ref('stg_oltp__users_versions'), 'user_id') }}
) as current_versions
