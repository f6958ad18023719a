{#- The branch directory as it stands: the current rows of raw.file_branches (those whose file
    is still in the dataset's folder: _deleted_at null), trimmed and typed. Codes are
    upper-cased, as the OLTP spells them; an empty cell is null. -#}
-- One SELECT without WITH: PostgreSQL inlines a view into the query that reads it only
-- when the view has no WITH clause, so that the reader's filters, joins and orders reach
-- the indexes underneath (docs/transformation.md, "Views without WITH").
-- The key first, RAW's bookkeeping last (ST06 would put every trimmed column last).
select  -- noqa: ST06
    nullif(upper(trim(branch_code)), '') as branch_code,
    nullif(trim(branch_name), '') as branch_name,
    nullif(trim(region), '') as region,
    nullif(trim(country), '') as country,
    nullif(trim(manager), '') as manager,
    cast(opened_on as date) as opened_on,
    nullif(trim(branch_type), '') as branch_type,
    _file as source_file,
    _file_sha256 as source_file_sha256,
    cast(_row as integer) as source_row,
    _batch_id as batch_id,
    _loaded_at as loaded_at
from {{ source('files', 'file_branches') }}
where _deleted_at is null
