{#- Every RAW version of every investment (docs/interfaces.md §2), deleted ones included, renamed
    and cast once for stg_oltp__investments and for the change detection of the incremental
    models. -#}
-- One SELECT without WITH: PostgreSQL inlines a view into the query that reads it only
-- when the view has no WITH clause, so that the reader's filters, joins and orders reach
-- the indexes underneath (docs/transformation.md, "Views without WITH").
select
    cast(id as bigint) as investment_id,
    cast(user_id as bigint) as user_id,
    product as investment_product,
    cast(principal as numeric(18, 2)) as principal,
    cast(annual_rate as numeric(7, 4)) as annual_rate,
    cast(start_date as date) as start_date,
    cast(maturity_date as date) as maturity_date,
    status as investment_status,
    cast(current_value as numeric(18, 2)) as current_value,
    created_at,
    updated_at,
    {{ raw_version_times('investments') }}
from {{ source('oltp', 'investments') }}
{{ raw_cut_filter('investments') }}
