{#- The loan officers' monthly targets as they stand: the current rows of
    raw.file_officer_targets (_deleted_at null), trimmed and typed; `month` is renamed
    month_start, as in the marts. -#}
-- One SELECT without WITH: PostgreSQL inlines a view into the query that reads it only
-- when the view has no WITH clause, so that the reader's filters, joins and orders reach
-- the indexes underneath (docs/transformation.md, "Views without WITH").
-- The key first, RAW's bookkeeping last (ST06 would put every trimmed column last).
select  -- noqa: ST06
    cast(month as date) as month_start,
    cast(loan_officer_id as bigint) as loan_officer_id,
    nullif(upper(trim(branch_code)), '') as branch_code,
    cast(disbursement_target as numeric(18, 2)) as disbursement_target,
    cast(new_borrowers_target as integer) as new_borrowers_target,
    cast(par30_ceiling as numeric(7, 4)) as par30_ceiling,
    _file as source_file,
    _file_sha256 as source_file_sha256,
    cast(_row as integer) as source_row,
    _batch_id as batch_id,
    _loaded_at as loaded_at
from {{ source('files', 'file_officer_targets') }}
where _deleted_at is null
