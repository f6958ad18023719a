-- One SELECT without WITH: PostgreSQL inlines a view into the query that reads it only
-- when the view has no WITH clause, so that the reader's filters, joins and orders reach
-- the indexes underneath (docs/transformation.md, "Views without WITH").
select
    cast(load_id as bigint) as load_id,
    run_id,
    table_name,
    mode as load_mode,
    window_start,
    window_end,
    status as load_status,
    cast(rows_extracted as bigint) as rows_extracted,
    cast(rows_loaded as bigint) as rows_loaded,
    cast(rows_replaced as bigint) as rows_replaced,
    cast(rows_deleted as bigint) as rows_deleted,
    cast(bytes as bigint) as bytes_loaded,
    cast(seconds as numeric(12, 3)) as duration_seconds,
    watermark_before,
    watermark_after,
    held_back_by,
    cast(held_back_seconds as numeric(12, 3)) as held_back_seconds,
    error as error_message,
    target as target_name,
    started_at,
    finished_at
from {{ source('finhouse_meta', 'load_runs') }}
