{#- docs/metrics.md "Collections and income" - **Yield on gross portfolio**: per month, interest
    and penalties collected (interest_paid + penalty_paid of completed payments with paid_at, UTC
    date, in the month and on or before the as-of date) / average GLP of the month, annualised x 365
    / days in the period. The period is the month's days up to the as-of date (the as-of month is
    partial); average GLP is the mean of the daily GLP (portfolio_daily summed per day) over those
    days. Since average GLP = sum of daily GLP / days, the annualised yield is exactly income x 365
    / sum of daily GLP. One row per month from the first disbursement month to the as-of month. -#}
with

portfolio_daily as (
    select * from {{ ref('portfolio_daily') }}
),

payments as (
    select * from {{ ref('stg_oltp__payments') }}
),

daily_glp as (
    select
        as_of_date,
        sum(gross_loan_portfolio) as gross_loan_portfolio
    from portfolio_daily
    group by as_of_date
),

monthly_glp as (
    select
        cast({{ dbt.date_trunc('month', 'as_of_date') }} as date) as month_start,
        sum(gross_loan_portfolio) as daily_glp_sum
    from daily_glp
    group by cast({{ dbt.date_trunc('month', 'as_of_date') }} as date)
),

month_periods as (
    select
        month_start,
        daily_glp_sum,
        least(
            cast({{ dbt.last_day('month_start', 'month') }} as date), {{ as_of_date() }}
        ) as period_end_date
    from monthly_glp
),

month_days as (
    select
        *,
        {{ dbt.datediff('month_start', 'period_end_date', 'day') }} + 1 as days_in_period
    from month_periods
),

income_collected as (
    select
        cast({{ dbt.date_trunc('month', 'paid_at') }} as date) as month_start,
        sum(interest_paid) as interest_collected,
        sum(penalty_paid) as penalties_collected
    from payments
    where
        payment_status = 'completed'
        and paid_at is not null
        and cast(paid_at as date) <= {{ as_of_date() }}
    group by cast({{ dbt.date_trunc('month', 'paid_at') }} as date)
),

combined as (
    select
        month_days.month_start,
        month_days.period_end_date,
        month_days.days_in_period,
        month_days.daily_glp_sum,
        coalesce(income_collected.interest_collected, 0) as interest_collected,
        coalesce(income_collected.penalties_collected, 0) as penalties_collected
    from month_days
    left join income_collected on month_days.month_start = income_collected.month_start
),

final as (
    select
        month_start,
        period_end_date,
        cast(days_in_period as integer) as days_in_period,
        cast(interest_collected as numeric(18, 2)) as interest_collected,
        cast(penalties_collected as numeric(18, 2)) as penalties_collected,
        cast(interest_collected + penalties_collected as numeric(18, 2)) as income_collected,
        cast(round(daily_glp_sum / days_in_period, 2) as numeric(18, 2))
            as average_gross_loan_portfolio,
        cast(
            case
                when daily_glp_sum > 0
                    then
                        (interest_collected + penalties_collected) * days_in_period
                        / daily_glp_sum
            end as numeric(38, 10)
        ) as period_yield,
        cast(
            case
                when daily_glp_sum > 0
                    then (interest_collected + penalties_collected) * 365 / daily_glp_sum
            end as numeric(38, 10)
        ) as annualised_yield,
        {{ as_of_date() }} as as_of_date
    from combined
)

select * from final
