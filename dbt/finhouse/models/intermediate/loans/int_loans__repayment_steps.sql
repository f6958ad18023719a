{#- docs/metrics.md "Delinquency and portfolio quality": principal paid by a date counts completed
    payments only (reversed and pending never count) and settles installments oldest first.
    Paid-to-date changes only on payment days, so each loan's history is a few steps: from step_date
    until the day before next_step_date, principal_paid_to_date and the due date of the earliest
    installment whose cumulative principal due exceeds it are constant. Each step also carries
    the loan's principal and its disbursement, closure and write-off dates (UTC), so that
    int_loans__delinquency, which lays the steps on the calendar, reads this model alone.

    Incremental: a loan is recomputed when its terms or payments changed in RAW since it was
    last computed (macro loans_to_compute); loans no longer disbursed are removed
    afterwards. -#}
{{
    config(
        materialized='incremental',
        unique_key='loan_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        indexes=[{'columns': ['loan_id', 'step_date'], 'unique': True}],
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

payments as (
    select * from {{ ref('stg_oltp__payments') }}
),

schedule as (
    select * from {{ ref('int_loans__schedule') }}
),

{{ loans_to_compute() }}

disbursed as (
    select
        loans.loan_id,
        loans.principal,
        cast(loans.disbursed_at as date) as disbursed_date,
        cast(loans.closed_at as date) as closed_date,
        cast(loans.written_off_at as date) as written_off_date,
        loans_to_compute.source_changed_at
    from loans
    inner join loans_to_compute on loans.loan_id = loans_to_compute.loan_id
    where loans.disbursed_at is not null
),

principal_paid_per_day as (
    select
        payments.loan_id,
        cast(payments.paid_at as date) as paid_date,
        sum(payments.principal_paid) as principal_paid
    from payments
    inner join disbursed on payments.loan_id = disbursed.loan_id
    where payments.payment_status = 'completed'
    group by payments.loan_id, cast(payments.paid_at as date)
),

step_starts as (
    select
        loan_id,
        disbursed_date as step_date,
        cast(0 as numeric(18, 2)) as principal_paid
    from disbursed
    union all
    select
        loan_id,
        paid_date as step_date,
        principal_paid
    from principal_paid_per_day
),

steps as (
    select
        loan_id,
        step_date,
        sum(principal_paid) as principal_paid
    from step_starts
    group by loan_id, step_date
),

steps_with_totals as (
    select
        loan_id,
        step_date,
        cast(
            sum(principal_paid) over (
                partition by loan_id order by step_date rows unbounded preceding
            ) as numeric(18, 2)
        ) as principal_paid_to_date,
        lead(step_date) over (partition by loan_id order by step_date) as next_step_date
    from steps
),

first_unpaid as (
    select
        steps_with_totals.loan_id,
        steps_with_totals.step_date,
        min(schedule.due_date) as first_unpaid_due_date
    from steps_with_totals
    inner join schedule
        on
            steps_with_totals.loan_id = schedule.loan_id
            and steps_with_totals.principal_paid_to_date < schedule.cumulative_principal_due
    group by steps_with_totals.loan_id, steps_with_totals.step_date
),

final as (
    select
        steps_with_totals.loan_id,
        steps_with_totals.step_date,
        steps_with_totals.next_step_date,
        steps_with_totals.principal_paid_to_date,
        first_unpaid.first_unpaid_due_date,
        disbursed.principal,
        disbursed.disbursed_date,
        disbursed.closed_date,
        disbursed.written_off_date,
        disbursed.source_changed_at
    from steps_with_totals
    inner join disbursed on steps_with_totals.loan_id = disbursed.loan_id
    left join first_unpaid
        on
            steps_with_totals.loan_id = first_unpaid.loan_id
            and steps_with_totals.step_date = first_unpaid.step_date
)

select * from final
