-- One SELECT without WITH: PostgreSQL inlines a view into the query that reads it only
-- when the view has no WITH clause, so that the reader's filters, joins and orders reach
-- the indexes underneath (docs/transformation.md, "Views without WITH").
select
    cut_id,
    table_name,
    load_run_id,
    horizon,
    watermark as cut_watermark,
    recorded_at
from {{ source('finhouse_meta', 'mart_cuts') }}
