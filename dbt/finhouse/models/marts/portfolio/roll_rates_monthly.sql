{#- docs/metrics.md "Delinquency and portfolio quality" - **Roll rate**: for month m and buckets
    A -> B, outstanding principal at the first day of m of loans in bucket A then and in bucket B at
    the end of m / outstanding principal at the first day of m of loans in bucket A then.

    Months: every month whose first day is on or before the as-of date; the as-of month is
    partially elapsed, so its end is the as-of date (period_end_date = least(last day of m,
    as-of date); is_month_complete says which). Starting loans are those in the portfolio at
    the first day of m (int_loans__daily_delinquency). At period_end_date a loan still in the
    portfolio is in its DPD bucket; a loan that left is in 'written_off' (written off on or
    before period_end_date) or else 'closed' (closed on or before it), the statuses of
    loans_current. One row per month, from bucket and to bucket observed. -#}
with

daily as {{ inlined_cte() }} (
    select * from {{ ref('int_loans__month_boundary_days') }}
),

loans as (
    select * from {{ ref('stg_oltp__loans') }}
),

calendar as (
    select * from {{ ref('int_calendar__days') }}
),

months as {{ materialized_cte() }} (
    select
        calendar_date as month_start,
        least(
            cast({{ dbt.last_day('calendar_date', 'month') }} as date), {{ as_of_date() }}
        ) as period_end_date
    from calendar
    where
        calendar_date = cast({{ dbt.date_trunc('month', 'calendar_date') }} as date)
        and calendar_date <= {{ as_of_date() }}
),

month_start_positions as {{ materialized_cte() }} (
    select
        daily.loan_id,
        months.month_start,
        daily.dpd_bucket as from_bucket,
        daily.outstanding_principal as start_outstanding_principal,
        months.period_end_date
    from daily
    inner join months on daily.as_of_date = months.month_start
),

-- only the rows of period end days: the join below never meets the other days of the model
period_end_days as (
    select
        loan_id,
        as_of_date,
        dpd_bucket
    from daily
    where as_of_date in (select months.period_end_date from months)
),

period_end_positions as (
    select
        month_start_positions.*,
        case
            when period_end_days.loan_id is not null then period_end_days.dpd_bucket
            when
                loans.written_off_at is not null
                and cast(loans.written_off_at as date) <= month_start_positions.period_end_date
                then 'written_off'
            when
                loans.closed_at is not null
                and cast(loans.closed_at as date) <= month_start_positions.period_end_date
                then 'closed'
        end as to_bucket
    from month_start_positions
    inner join loans on month_start_positions.loan_id = loans.loan_id
    left join period_end_days
        on
            month_start_positions.loan_id = period_end_days.loan_id
            and month_start_positions.period_end_date = period_end_days.as_of_date
),

transitions as (
    select
        month_start,
        period_end_date,
        from_bucket,
        to_bucket,
        count(*) as loans,
        sum(start_outstanding_principal) as start_outstanding_principal
    from period_end_positions
    group by month_start, period_end_date, from_bucket, to_bucket
),

from_bucket_totals as (
    select
        month_start,
        from_bucket,
        count(*) as from_bucket_loans,
        sum(start_outstanding_principal) as from_bucket_outstanding_principal
    from month_start_positions
    group by month_start, from_bucket
),

final as (
    select
        transitions.month_start,
        transitions.period_end_date,
        transitions.period_end_date
        = cast({{ dbt.last_day('transitions.month_start', 'month') }} as date)
            as is_month_complete,
        transitions.from_bucket,
        transitions.to_bucket,
        cast(transitions.loans as bigint) as loans,
        cast(transitions.start_outstanding_principal as numeric(18, 2))
            as start_outstanding_principal,
        cast(from_bucket_totals.from_bucket_loans as bigint) as from_bucket_loans,
        cast(from_bucket_totals.from_bucket_outstanding_principal as numeric(18, 2))
            as from_bucket_outstanding_principal,
        cast(
            case
                when from_bucket_totals.from_bucket_outstanding_principal > 0
                    then
                        transitions.start_outstanding_principal
                        / from_bucket_totals.from_bucket_outstanding_principal
            end as numeric(38, 10)
        ) as roll_rate,
        {{ as_of_date() }} as as_of_date
    from transitions
    inner join from_bucket_totals
        on
            transitions.month_start = from_bucket_totals.month_start
            and transitions.from_bucket = from_bucket_totals.from_bucket
)

select * from final
