with

load_runs as (
    select * from {{ ref('stg_finhouse_meta__load_runs') }}
),

runs_with_date as (
    select
        *,
        cast({{ dbt.date_trunc('day', 'started_at') }} as date) as run_date
    from load_runs
),

daily as (
    select
        table_name,
        run_date,
        count(*) as runs,
        sum(case when load_status = 'success' then 1 else 0 end) as successes,
        sum(case when load_status = 'failed' then 1 else 0 end) as failures,
        sum(case when load_status = 'abandoned' then 1 else 0 end) as abandoned,
        sum(case when load_status = 'running' then 1 else 0 end) as running,
        sum(
            case when load_status = 'success' then coalesce(rows_extracted, 0) else 0 end
        ) as rows_extracted,
        sum(
            case when load_status = 'success' then coalesce(rows_loaded, 0) else 0 end
        ) as rows_loaded,
        sum(
            case when load_status = 'success' then coalesce(rows_deleted, 0) else 0 end
        ) as rows_deleted,
        sum(
            case when load_status = 'success' then coalesce(bytes_loaded, 0) else 0 end
        ) as bytes_loaded,
        sum(coalesce(duration_seconds, 0)) as total_seconds,
        max(duration_seconds) as max_seconds
    from runs_with_date
    group by table_name, run_date
),

final as (
    select
        table_name || '|' || cast(run_date as {{ dbt.type_string() }}) as table_day_key,
        table_name,
        run_date,
        cast(runs as bigint) as runs,
        cast(successes as bigint) as successes,
        cast(failures as bigint) as failures,
        cast(abandoned as bigint) as abandoned,
        cast(running as bigint) as running,
        cast(rows_extracted as bigint) as rows_extracted,
        cast(rows_loaded as bigint) as rows_loaded,
        cast(rows_deleted as bigint) as rows_deleted,
        cast(bytes_loaded as bigint) as bytes_loaded,
        cast(total_seconds as numeric(38, 3)) as total_seconds,
        cast(max_seconds as numeric(38, 3)) as max_seconds
    from daily
)

select * from final
