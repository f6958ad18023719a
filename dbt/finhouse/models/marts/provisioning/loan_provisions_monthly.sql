{#- docs/metrics.md "Provisioning and risk coverage" - **Provision per loan**: for every month up
    to the as-of month, each loan in the portfolio at the month's end (the last day of the month;
    the as-of date for the as-of month, partially elapsed) with its outstanding principal, days
    past due and DPD bucket that day (int_loans__month_boundary_days, the definitions of
    int_loans__delinquency) and its provision = outstanding principal x the bucket's rate in the
    provisioning_rates seed, rounded to cents (half away from zero). The borrower's current
    branch (restated, not frozen); source_changed_at, the loan's RAW change time (its terms or
    payments) the figures were computed from, tells a month-end close which source changes
    restated a loan (finhouse.closes). A view: the reserve marts and the closes read it. -#}
{{ config(materialized='view') }}

with

boundary_days as (
    select * from {{ ref('int_loans__month_boundary_days') }}
),

loans as (
    select * from {{ ref('stg_oltp__loans') }}
),

users as (
    select * from {{ ref('stg_oltp__users') }}
),

rates as (
    select * from {{ ref('provisioning_rates') }}
),

month_ends as (
    select
        loan_id,
        as_of_date as period_end_date,
        outstanding_principal,
        days_past_due,
        dpd_bucket,
        source_changed_at
    from boundary_days
    where
        as_of_date = cast({{ dbt.last_day('as_of_date', 'month') }} as date)
        or as_of_date = {{ as_of_date() }}
),

final as (
    select
        cast({{ dbt.date_trunc('month', 'month_ends.period_end_date') }} as date) as month_start,
        month_ends.period_end_date,
        month_ends.period_end_date
        = cast({{ dbt.last_day('month_ends.period_end_date', 'month') }} as date)
            as is_month_complete,
        month_ends.loan_id,
        loans.borrower_id,
        loans.loan_officer_id,
        users.branch_code,
        loans.product,
        cast(month_ends.outstanding_principal as numeric(18, 2)) as outstanding_principal,
        cast(month_ends.days_past_due as integer) as days_past_due,
        month_ends.dpd_bucket,
        rates.provision_rate,
        cast(
            round(month_ends.outstanding_principal * rates.provision_rate, 2) as numeric(18, 2)
        ) as provision_amount,
        month_ends.source_changed_at,
        {{ as_of_date() }} as as_of_date
    from month_ends
    inner join loans on month_ends.loan_id = loans.loan_id
    left join users on loans.borrower_id = users.user_id
    inner join rates on month_ends.dpd_bucket = rates.dpd_bucket
    where month_ends.period_end_date <= {{ as_of_date() }}
)

select * from final
