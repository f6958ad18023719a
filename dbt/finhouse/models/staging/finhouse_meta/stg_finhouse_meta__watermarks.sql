-- One SELECT without WITH: PostgreSQL inlines a view into the query that reads it only
-- when the view has no WITH clause, so that the reader's filters, joins and orders reach
-- the indexes underneath (docs/transformation.md, "Views without WITH").
select
    table_name,
    watermark,
    run_id,
    updated_at as watermark_updated_at
from {{ source('finhouse_meta', 'watermarks') }}
