{#- docs/metrics.md "Delinquency and portfolio quality" - **Write-offs** and **Average GLP**: per
    month x branch (the borrower's current branch, restated), written_off_amount of loans with
    written_off_at (UTC date) in the month, and write-off ratio = that / average GLP of the month.
    Average GLP is the mean of the branch's daily GLP (portfolio_daily summed per day) over the
    month's days up to the as-of date (days before the branch's first disbursement count with GLP
    0). The ratio is computed from the unrounded mean: written off x days / sum of daily GLP. One
    row per branch and month from the branch's first disbursement month to the as-of month. -#}
with

portfolio_daily as (
    select * from {{ ref('portfolio_daily') }}
),

loans as (
    select * from {{ ref('stg_oltp__loans') }}
),

users as (
    select * from {{ ref('stg_oltp__users') }}
),

branch_daily_glp as (
    select
        as_of_date,
        branch_code,
        sum(gross_loan_portfolio) as gross_loan_portfolio
    from portfolio_daily
    group by as_of_date, branch_code
),

branch_monthly_glp as (
    select
        cast({{ dbt.date_trunc('month', 'as_of_date') }} as date) as month_start,
        branch_code,
        sum(gross_loan_portfolio) as daily_glp_sum
    from branch_daily_glp
    group by cast({{ dbt.date_trunc('month', 'as_of_date') }} as date), branch_code
),

month_periods as (
    select
        month_start,
        branch_code,
        daily_glp_sum,
        least(
            cast({{ dbt.last_day('month_start', 'month') }} as date), {{ as_of_date() }}
        ) as period_end_date
    from branch_monthly_glp
),

month_days as (
    select
        *,
        {{ dbt.datediff('month_start', 'period_end_date', 'day') }} + 1 as days_in_period
    from month_periods
),

write_offs as (
    select
        cast({{ dbt.date_trunc('month', 'loans.written_off_at') }} as date) as month_start,
        users.branch_code,
        count(*) as loans_written_off,
        sum(coalesce(loans.written_off_amount, 0)) as written_off_amount
    from loans
    left join users on loans.borrower_id = users.user_id
    where
        loans.written_off_at is not null
        and loans.disbursed_at is not null
        and cast(loans.written_off_at as date) <= {{ as_of_date() }}
    group by
        cast({{ dbt.date_trunc('month', 'loans.written_off_at') }} as date),
        users.branch_code
),

combined as (
    select
        month_days.month_start,
        month_days.branch_code,
        month_days.period_end_date,
        month_days.days_in_period,
        month_days.daily_glp_sum,
        coalesce(write_offs.loans_written_off, 0) as loans_written_off,
        coalesce(write_offs.written_off_amount, 0) as written_off_amount
    from month_days
    left join write_offs
        on
            month_days.month_start = write_offs.month_start
            and month_days.branch_code = write_offs.branch_code
),

final as (
    select
        month_start,
        branch_code,
        period_end_date,
        cast(days_in_period as integer) as days_in_period,
        cast(loans_written_off as bigint) as loans_written_off,
        cast(written_off_amount as numeric(18, 2)) as written_off_amount,
        cast(round(daily_glp_sum / days_in_period, 2) as numeric(18, 2))
            as average_gross_loan_portfolio,
        cast(
            case
                when daily_glp_sum > 0 then written_off_amount * days_in_period / daily_glp_sum
            end as numeric(38, 10)
        ) as write_off_ratio,
        {{ as_of_date() }} as as_of_date
    from combined
)

select * from final
