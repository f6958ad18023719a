-- One SELECT without WITH: PostgreSQL inlines a view into the query that reads it only
-- when the view has no WITH clause, so that the reader's filters, joins and orders reach
-- the indexes underneath (docs/transformation.md, "Views without WITH").
select
    run_id,
    command,
    unique_id as check_key,
    check_name,
    subject,
    column_name,
    severity,
    status as check_status,
    cast(failures as bigint) as failing_rows,
    message,
    recorded_at,
    case
        when kind = 'freshness' then 'freshness'
        when kind = 'file' then 'files'
        else 'tests'
    end as check_kind
from {{ source('finhouse_meta', 'quality_results') }}
