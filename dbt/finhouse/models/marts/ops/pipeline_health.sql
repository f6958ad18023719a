{#- Operational figures are measured against the real clock (now), not as_of_date: they
    describe the pipeline, not the business. -#}
with

load_runs as (
    select * from {{ ref('stg_finhouse_meta__load_runs') }}
),

watermarks as (
    select * from {{ ref('stg_finhouse_meta__watermarks') }}
),

-- the RAW cut this build reads (the dbt DAG's raw_cut task): none for a build by hand
build_cut as (
    select
        table_name,
        load_run_id,
        cut_watermark
    from {{ ref('stg_finhouse_meta__mart_cuts') }}
    where cut_id = {{ "'" ~ (var('raw_cut_id', '') | string | replace("'", "''")) ~ "'" }}
),

observation_time as (
    select {{ dbt.current_timestamp() }} as observed_at
),

tables_seen as (
    select table_name from load_runs
    union
    select table_name from watermarks
),

runs_with_age as (
    select
        load_runs.*,
        observation_time.observed_at,
        load_runs.started_at
        >= {{ dbt.dateadd('hour', -24, 'observation_time.observed_at') }} as is_last_24h,
        load_runs.started_at
        >= {{ dbt.dateadd('day', -7, 'observation_time.observed_at') }} as is_last_7d
    from load_runs
    cross join observation_time
),

run_statistics as (
    select
        table_name,
        count(*) as runs_total,
        max(started_at) as last_run_started_at,
        max(case when load_status = 'success' then finished_at end) as last_success_at,
        sum(case when is_last_24h then 1 else 0 end) as runs_24h,
        sum(
            case when is_last_24h and load_status = 'success' then 1 else 0 end
        ) as successes_24h,
        sum(
            case when is_last_24h and load_status = 'failed' then 1 else 0 end
        ) as failures_24h,
        sum(
            case when is_last_24h and load_status = 'abandoned' then 1 else 0 end
        ) as abandoned_24h,
        sum(case when is_last_7d then 1 else 0 end) as runs_7d,
        sum(
            case when is_last_7d and load_status = 'success' then 1 else 0 end
        ) as successes_7d,
        sum(
            case when is_last_7d and load_status = 'failed' then 1 else 0 end
        ) as failures_7d,
        sum(
            case when is_last_7d and load_status = 'abandoned' then 1 else 0 end
        ) as abandoned_7d,
        sum(
            case when is_last_24h and load_status = 'success' then rows_loaded else 0 end
        ) as rows_loaded_24h,
        sum(
            case when is_last_7d and load_status = 'success' then rows_loaded else 0 end
        ) as rows_loaded_7d,
        avg(
            case when is_last_7d and load_status = 'success' then duration_seconds end
        ) as avg_duration_seconds_7d,
        max(
            case when is_last_7d and load_status = 'success' then duration_seconds end
        ) as max_duration_seconds_7d
    from runs_with_age
    group by table_name
),

last_runs_ranked as (
    select
        table_name,
        load_status,
        started_at,
        row_number() over (
            partition by table_name order by started_at desc, load_id desc
        ) as run_rank
    from load_runs
),

last_runs as (
    select
        table_name,
        load_status as last_run_status
    from last_runs_ranked
    where run_rank = 1
),

errors_ranked as (
    select
        table_name,
        error_message,
        started_at,
        row_number() over (
            partition by table_name order by started_at desc, load_id desc
        ) as error_rank
    from load_runs
    where load_status in ('failed', 'abandoned')
),

last_errors as (
    select
        table_name,
        error_message as last_error,
        started_at as last_error_at
    from errors_ranked
    where error_rank = 1
),

final as (
    select
        tables_seen.table_name,
        run_statistics.last_run_started_at,
        last_runs.last_run_status,
        run_statistics.last_success_at,
        cast(coalesce(run_statistics.runs_total, 0) as bigint) as runs_total,
        cast(coalesce(run_statistics.runs_24h, 0) as bigint) as runs_24h,
        cast(coalesce(run_statistics.successes_24h, 0) as bigint) as successes_24h,
        cast(coalesce(run_statistics.failures_24h, 0) as bigint) as failures_24h,
        cast(coalesce(run_statistics.abandoned_24h, 0) as bigint) as abandoned_24h,
        cast(coalesce(run_statistics.runs_7d, 0) as bigint) as runs_7d,
        cast(coalesce(run_statistics.successes_7d, 0) as bigint) as successes_7d,
        cast(coalesce(run_statistics.failures_7d, 0) as bigint) as failures_7d,
        cast(coalesce(run_statistics.abandoned_7d, 0) as bigint) as abandoned_7d,
        cast(coalesce(run_statistics.rows_loaded_24h, 0) as bigint) as rows_loaded_24h,
        cast(coalesce(run_statistics.rows_loaded_7d, 0) as bigint) as rows_loaded_7d,
        cast(
            run_statistics.avg_duration_seconds_7d as numeric(38, 3)
        ) as avg_duration_seconds_7d,
        cast(
            run_statistics.max_duration_seconds_7d as numeric(38, 3)
        ) as max_duration_seconds_7d,
        watermarks.watermark as current_watermark,
        watermarks.watermark_updated_at,
        cast(
            {{ dbt.datediff('watermarks.watermark', 'observation_time.observed_at', 'minute') }}
            as bigint
        ) as freshness_minutes,
        last_errors.last_error,
        last_errors.last_error_at,
        -- a build by hand (no cut) read RAW as it stood: up to the latest loads at least
        coalesce(build_cut.cut_watermark, watermarks.watermark) as marts_as_of,
        coalesce(build_cut.load_run_id, watermarks.run_id) as marts_load_run_id,
        cast(
            {{ dbt.datediff(
                'coalesce(build_cut.cut_watermark, watermarks.watermark)',
                'observation_time.observed_at',
                'minute'
            ) }}
            as bigint
        ) as marts_behind_minutes,
        observation_time.observed_at
    from tables_seen
    cross join observation_time
    left join run_statistics
        on tables_seen.table_name = run_statistics.table_name
    left join last_runs
        on tables_seen.table_name = last_runs.table_name
    left join last_errors
        on tables_seen.table_name = last_errors.table_name
    left join watermarks
        on tables_seen.table_name = watermarks.table_name
    left join build_cut
        on tables_seen.table_name = build_cut.table_name
)

select * from final
