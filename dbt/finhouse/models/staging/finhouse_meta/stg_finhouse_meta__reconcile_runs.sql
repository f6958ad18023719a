-- One SELECT without WITH: PostgreSQL inlines a view into the query that reads it only
-- when the view has no WITH clause, so that the reader's filters, joins and orders reach
-- the indexes underneath (docs/transformation.md, "Views without WITH").
select
    cast(reconcile_id as bigint) as reconcile_id,
    run_id,
    table_name,
    cast(source_rows as bigint) as source_rows,
    cast(raw_current_rows as bigint) as raw_current_rows,
    cast(deleted_marked as bigint) as deleted_marked,
    cast(missing_in_raw as bigint) as missing_in_raw,
    cast(stale_in_raw as bigint) as stale_in_raw,
    sum_differences,
    watermark,
    finished_at,
    (missing_in_raw = 0 and stale_in_raw = 0) as is_consistent
from {{ source('finhouse_meta', 'reconcile_runs') }}
