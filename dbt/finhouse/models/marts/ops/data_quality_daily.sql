-- The data-quality record per UTC day and kind of check: the dbt DAG's tests and source
-- freshness checks (finhouse.quality) and ingestion's reconciles, counted by outcome.
with

quality_runs as (
    select * from {{ ref('stg_finhouse_meta__quality_runs') }}
),

quality_results as (
    select * from {{ ref('stg_finhouse_meta__quality_results') }}
),

reconcile_runs as (
    select * from {{ ref('stg_finhouse_meta__reconcile_runs') }}
),

dbt_days as (
    select
        check_kind,
        cast({{ dbt.date_trunc('day', 'recorded_at') }} as date) as check_date,
        count(*) as runs,
        sum(
            checks_passed + checks_warned + checks_failed + checks_errored + checks_skipped
        ) as checks,
        sum(checks_passed) as passed,
        sum(checks_warned) as warned,
        sum(checks_failed) as failed,
        sum(checks_errored) as errored,
        sum(checks_skipped) as skipped
    from quality_runs
    group by check_kind, cast({{ dbt.date_trunc('day', 'recorded_at') }} as date)
),

dbt_failing_rows as (
    select
        check_kind,
        cast({{ dbt.date_trunc('day', 'recorded_at') }} as date) as check_date,
        sum(coalesce(failing_rows, 0)) as failing_rows
    from quality_results
    group by check_kind, cast({{ dbt.date_trunc('day', 'recorded_at') }} as date)
),

-- a reconcile checks one table: it passes when nothing is missing or stale in RAW
reconcile_days as (
    select
        'reconcile' as check_kind,
        cast({{ dbt.date_trunc('day', 'finished_at') }} as date) as check_date,
        count(distinct run_id) as runs,
        count(*) as checks,
        sum(case when is_consistent then 1 else 0 end) as passed,
        0 as warned,
        sum(case when is_consistent then 0 else 1 end) as failed,
        0 as errored,
        0 as skipped,
        sum(missing_in_raw + stale_in_raw) as failing_rows
    from reconcile_runs
    group by cast({{ dbt.date_trunc('day', 'finished_at') }} as date)
),

all_days as (
    select
        dbt_days.check_kind,
        dbt_days.check_date,
        dbt_days.runs,
        dbt_days.checks,
        dbt_days.passed,
        dbt_days.warned,
        dbt_days.failed,
        dbt_days.errored,
        dbt_days.skipped,
        coalesce(dbt_failing_rows.failing_rows, 0) as failing_rows
    from dbt_days
    left join dbt_failing_rows
        on
            dbt_days.check_kind = dbt_failing_rows.check_kind
            and dbt_days.check_date = dbt_failing_rows.check_date
    union all
    select
        check_kind,
        check_date,
        runs,
        checks,
        passed,
        warned,
        failed,
        errored,
        skipped,
        failing_rows
    from reconcile_days
),

final as (
    select
        check_kind || '|' || cast(check_date as {{ dbt.type_string() }}) as check_day_key,
        check_kind,
        check_date,
        cast(runs as bigint) as runs,
        cast(checks as bigint) as checks,
        cast(passed as bigint) as passed,
        cast(warned as bigint) as warned,
        cast(failed as bigint) as failed,
        cast(errored as bigint) as errored,
        cast(skipped as bigint) as skipped,
        cast(failing_rows as bigint) as failing_rows
    from all_days
)

select * from final
