-- One SELECT without WITH: PostgreSQL inlines a view into the query that reads it only
-- when the view has no WITH clause, so that the reader's filters, joins and orders reach
-- the indexes underneath (docs/transformation.md, "Views without WITH").
select
    run_id,
    command,
    invocation_id,
    recorded_at,
    cast(passed as bigint) as checks_passed,
    cast(warned as bigint) as checks_warned,
    cast(failed as bigint) as checks_failed,
    cast(errored as bigint) as checks_errored,
    cast(skipped as bigint) as checks_skipped,
    case
        when command = 'freshness' then 'freshness'
        when command like 'files %' then 'files'
        else 'tests'
    end as check_kind
from {{ source('finhouse_meta', 'quality_runs') }}
