-- The current state of every data-quality check: each dbt test and source freshness check
-- as its latest run left it (finhouse.quality), and each table's latest reconcile.
with

quality_states as (
    select * from {{ ref('stg_finhouse_meta__quality_states') }}
),

reconcile_runs as (
    select * from {{ ref('stg_finhouse_meta__reconcile_runs') }}
),

latest_reconciles as (
    select
        table_name,
        finished_at,
        is_consistent,
        missing_in_raw + stale_in_raw as differing_keys,
        row_number() over (partition by table_name order by finished_at desc) as recency
    from reconcile_runs
),

all_checks as (
    select
        check_key,
        check_kind,
        check_name,
        subject,
        column_name,
        severity,
        check_status,
        failing_rows,
        message,
        checked_at,
        status_since
    from quality_states
    union all
    select
        'reconcile.' || table_name as check_key,
        'reconcile' as check_kind,
        'reconcile of ' || table_name as check_name,
        table_name as subject,
        null as column_name,
        'error' as severity,
        case when is_consistent then 'pass' else 'fail' end as check_status,
        differing_keys as failing_rows,
        null as message,
        finished_at as checked_at,
        null as status_since
    from latest_reconciles
    where recency = 1
),

final as (
    select
        check_key,
        check_kind,
        check_name,
        subject,
        cast(column_name as {{ dbt.type_string() }}) as column_name,
        severity,
        check_status,
        check_status not in ('pass', 'skipped') as is_problem,
        cast(failing_rows as bigint) as failing_rows,
        cast(message as {{ dbt.type_string() }}) as message,
        checked_at,
        status_since
    from all_checks
)

select * from final
