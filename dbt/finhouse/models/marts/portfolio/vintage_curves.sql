{#- docs/metrics.md "Delinquency and portfolio quality" - **Vintage curve**: for loans disbursed
    (UTC date) in month m (the cohort), the PAR30 ratio of the cohort at the end of each month
    k = 1, 2, ... after the disbursement month: observation_date = last day of month m + k, kept
    while on or before the as-of date. PAR30 ratio = the cohort's PAR30 amount / its GLP
    (loans closed or written off by then count 0), each loan's figures as
    int_loans__delinquency defines them (read through int_loans__month_boundary_days). -#}
with

daily as (
    select * from {{ ref('int_loans__month_boundary_days') }}
),

loans as (
    select * from {{ ref('stg_oltp__loans') }}
),

calendar as (
    select * from {{ ref('int_calendar__days') }}
),

cohort_loans as (
    select
        loan_id,
        principal,
        cast({{ dbt.date_trunc('month', 'disbursed_at') }} as date) as cohort_month
    from loans
    where
        disbursed_at is not null
        and cast(disbursed_at as date) <= {{ as_of_date() }}
),

cohorts as (
    select
        cohort_month,
        count(*) as cohort_loans,
        sum(principal) as cohort_principal
    from cohort_loans
    group by cohort_month
),

month_ends as (
    select calendar_date as month_end_date
    from calendar
    where calendar_date = cast({{ dbt.last_day('calendar_date', 'month') }} as date)
),

observations as (
    select
        cohorts.cohort_month,
        cohorts.cohort_loans,
        cohorts.cohort_principal,
        month_ends.month_end_date as observation_date,
        {{ dbt.datediff('cohorts.cohort_month', 'month_ends.month_end_date', 'month') }}
            as months_since_disbursement
    from cohorts
    inner join month_ends
        on
            month_ends.month_end_date
            > cast({{ dbt.last_day('cohorts.cohort_month', 'month') }} as date)
            and month_ends.month_end_date <= {{ as_of_date() }}
),

cohort_quality as (
    select
        cohort_loans.cohort_month,
        daily.as_of_date as observation_date,
        count(case when daily.is_active then 1 end) as active_loans,
        sum(daily.outstanding_principal) as gross_loan_portfolio,
        sum(daily.par30_amount) as par30_amount
    from daily
    inner join cohort_loans on daily.loan_id = cohort_loans.loan_id
    inner join month_ends on daily.as_of_date = month_ends.month_end_date
    group by cohort_loans.cohort_month, daily.as_of_date
),

combined as (
    select
        observations.cohort_month,
        observations.months_since_disbursement,
        observations.observation_date,
        observations.cohort_loans,
        observations.cohort_principal,
        coalesce(cohort_quality.active_loans, 0) as active_loans,
        coalesce(cohort_quality.gross_loan_portfolio, 0) as gross_loan_portfolio,
        coalesce(cohort_quality.par30_amount, 0) as par30_amount
    from observations
    left join cohort_quality
        on
            observations.cohort_month = cohort_quality.cohort_month
            and observations.observation_date = cohort_quality.observation_date
),

final as (
    select
        cohort_month,
        cast(months_since_disbursement as integer) as months_since_disbursement,
        observation_date,
        cast(cohort_loans as bigint) as cohort_loans,
        cast(cohort_principal as numeric(18, 2)) as cohort_principal,
        cast(active_loans as bigint) as active_loans,
        cast(gross_loan_portfolio as numeric(18, 2)) as gross_loan_portfolio,
        cast(par30_amount as numeric(18, 2)) as par30_amount,
        cast(
            case when gross_loan_portfolio > 0 then par30_amount / gross_loan_portfolio end
            as numeric(38, 10)
        ) as par30_ratio,
        {{ as_of_date() }} as as_of_date
    from combined
)

select * from final
