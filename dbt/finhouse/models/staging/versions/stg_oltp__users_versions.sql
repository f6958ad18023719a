{#- Every RAW version of every user (docs/interfaces.md §2), deleted ones included, renamed and
    cast once for stg_oltp__users, the SCD2 history int_users__history and the change
    detection of the incremental models. -#}
-- One SELECT without WITH: PostgreSQL inlines a view into the query that reads it only
-- when the view has no WITH clause, so that the reader's filters, joins and orders reach
-- the indexes underneath (docs/transformation.md, "Views without WITH").
select
    cast(id as bigint) as user_id,
    username,
    email,
    first_name,
    last_name,
    phone,
    national_id,
    gender,
    cast(date_of_birth as date) as date_of_birth,
    role as user_role,
    branch_code,
    region,
    kyc_status,
    cast(monthly_income as numeric(18, 2)) as monthly_income,
    risk_appetite,
    is_active,
    date_joined as joined_at,
    updated_at,
    {{ raw_version_times('users') }}
from {{ source('oltp', 'users') }}
{{ raw_cut_filter('users') }}
