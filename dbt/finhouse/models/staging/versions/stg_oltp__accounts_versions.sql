{#- Every RAW version of every account (docs/interfaces.md §2), deleted ones included, renamed and
    cast once for stg_oltp__accounts, the SCD2 history int_accounts__history and the change
    detection of the incremental models. -#}
-- One SELECT without WITH: PostgreSQL inlines a view into the query that reads it only
-- when the view has no WITH clause, so that the reader's filters, joins and orders reach
-- the indexes underneath (docs/transformation.md, "Views without WITH").
select
    cast(id as bigint) as account_id,
    cast(user_id as bigint) as user_id,
    account_number,
    account_type,
    currency,
    status as account_status,
    cast(balance as numeric(18, 2)) as balance,
    cast(interest_rate as numeric(7, 4)) as interest_rate,
    opened_at,
    closed_at,
    created_at,
    updated_at,
    {{ raw_version_times('accounts') }}
from {{ source('oltp', 'accounts') }}
{{ raw_cut_filter('accounts') }}
