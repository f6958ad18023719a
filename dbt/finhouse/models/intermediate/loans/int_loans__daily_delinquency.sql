{#- kpis.md "Delinquency", per loan per day it is in the portfolio (disbursed on or before
    the day, neither closed nor written off on or before it), up to the as-of date.

    Incremental and restated: each run recomputes, for every day, every loan whose terms or
    payments changed in RAW since the loan was last computed (int_loans__source_changes: RAW's
    change time, however old the change), every loan whose portfolio window moved (a new
    as-of date, a closure or write-off), and every loan not computed yet. A reversed, late
    or newly completed payment therefore restates the whole history of its loan; loans that
    did not change are left alone. -#}
{{
    config(
        materialized='incremental',
        unique_key='loan_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        indexes=[
            {'columns': ['loan_id', 'as_of_date'], 'unique': True},
            {'columns': ['source_changed_at']},
        ],
        post_hook=[
            "{% if is_incremental() %}{{ remove_loans_no_longer_disbursed() }}
             {% else %}select 1{% endif %}",
        ],
    )
}}

-- (its clean-up post-hook reads them)
-- depends_on: {{ ref('stg_oltp__loans_versions') }}
with

loans as (
    select * from {{ ref('stg_oltp__loans') }}
),

steps as (
    select * from {{ ref('int_loans__repayment_steps') }}
),

changes as (
    select * from {{ ref('int_loans__source_changes') }}
),

calendar as (
    select * from {{ ref('int_calendar__days') }}
),

portfolio_windows as (
    select
        loans.loan_id,
        loans.principal,
        cast(loans.disbursed_at as date) as first_day,
        least(
            {{ as_of_date() }},
            coalesce(
                cast({{ dbt.dateadd('day', -1, 'loans.closed_at') }} as date),
                {{ as_of_date() }}
            ),
            coalesce(
                cast({{ dbt.dateadd('day', -1, 'loans.written_off_at') }} as date),
                {{ as_of_date() }}
            )
        ) as last_day,
        changes.changed_at as source_changed_at
    from loans
    inner join changes on loans.loan_id = changes.loan_id
    where loans.disbursed_at is not null
),

{% if is_incremental() %}
    -- A loan is up to date when the model holds its row of the window's last day, computed
    -- from its current RAW change time, and no row after it (all rows of a loan are written
    -- together, with one source_changed_at): two lookups per loan in the model's
    -- (loan_id, as_of_date) index instead of a scan of every loan day.
    loans_to_compute as {{ materialized_cte() }} (
        select portfolio_windows.*
        from portfolio_windows
        left join {{ this }} as last_row
            on
                portfolio_windows.loan_id = last_row.loan_id
                and portfolio_windows.last_day = last_row.as_of_date
        left join {{ this }} as row_after
            on
                portfolio_windows.loan_id = row_after.loan_id
                and cast({{ dbt.dateadd('day', 1, 'portfolio_windows.last_day') }} as date)
                = row_after.as_of_date
        where
            last_row.loan_id is null
            or portfolio_windows.source_changed_at > last_row.source_changed_at
            or row_after.loan_id is not null
    ),
{% else %}
    loans_to_compute as (
        select * from portfolio_windows
    ),
{% endif %}

loan_days as (
    select
        loans_to_compute.loan_id,
        loans_to_compute.principal,
        loans_to_compute.source_changed_at,
        calendar.calendar_date as as_of_date
    from loans_to_compute
    inner join calendar
        on calendar.calendar_date between loans_to_compute.first_day and loans_to_compute.last_day
),

with_steps as (
    select
        loan_days.loan_id,
        loan_days.as_of_date,
        loan_days.principal,
        loan_days.source_changed_at,
        steps.principal_paid_to_date,
        steps.first_unpaid_due_date
    from loan_days
    inner join steps
        on
            loan_days.loan_id = steps.loan_id
            and loan_days.as_of_date >= steps.step_date
            and (steps.next_step_date is null or loan_days.as_of_date < steps.next_step_date)
),

measured as (
    select
        loan_id,
        as_of_date,
        principal_paid_to_date as principal_paid,
        case
            when principal > principal_paid_to_date then principal - principal_paid_to_date
            else 0
        end as outstanding_principal,
        case
            when first_unpaid_due_date < as_of_date
                then {{ dbt.datediff('first_unpaid_due_date', 'as_of_date', 'day') }}
            else 0
        end as days_past_due,
        source_changed_at
    from with_steps
),

final as (
    select
        loan_id,
        as_of_date,
        cast(principal_paid as numeric(18, 2)) as principal_paid,
        cast(outstanding_principal as numeric(18, 2)) as outstanding_principal,
        cast(days_past_due as integer) as days_past_due,
        {{ dpd_bucket('days_past_due') }} as dpd_bucket,
        true as in_portfolio,
        outstanding_principal > 0 as is_active,
        source_changed_at
    from measured
)

select * from final
