{#- contracts.md §4: one row per loan ever disbursed (on or before the as-of date), as of
    the as-of date. Follows kpis.md "Delinquency": principal paid counts completed payments
    paid on or before the date; outstanding is 0 for closed and written-off loans; DPD is
    the age of the earliest installment not covered by the principal paid. The branch is the
    borrower's current branch (restated, not frozen). -#}
with

loans as (
    select * from {{ ref('stg_oltp__loans') }}
),

users as (
    select * from {{ ref('stg_oltp__users') }}
),

steps as (
    select * from {{ ref('int_loans__repayment_steps') }}
),

as_of as (
    select {{ as_of_date() }} as as_of_date
),

disbursed_loans as (
    select
        loans.*,
        as_of.as_of_date,
        cast(loans.disbursed_at as date) <= as_of.as_of_date
        and (loans.closed_at is null or cast(loans.closed_at as date) > as_of.as_of_date)
        and (
            loans.written_off_at is null
            or cast(loans.written_off_at as date) > as_of.as_of_date
        ) as in_portfolio
    from loans
    cross join as_of
    where loans.disbursed_at is not null and cast(loans.disbursed_at as date) <= as_of.as_of_date
),

step_as_of as (
    select
        steps.loan_id,
        steps.principal_paid_to_date,
        steps.first_unpaid_due_date
    from steps
    cross join as_of
    where
        steps.step_date <= as_of.as_of_date
        and (steps.next_step_date is null or steps.next_step_date > as_of.as_of_date)
),

measured as (
    select
        disbursed_loans.loan_id,
        disbursed_loans.borrower_id,
        disbursed_loans.loan_officer_id,
        users.branch_code,
        disbursed_loans.product,
        case
            when
                disbursed_loans.written_off_at is not null
                and cast(disbursed_loans.written_off_at as date) <= disbursed_loans.as_of_date
                then 'written_off'
            when
                disbursed_loans.closed_at is not null
                and cast(disbursed_loans.closed_at as date) <= disbursed_loans.as_of_date
                then 'closed'
            else 'active'
        end as status,
        disbursed_loans.loan_status as current_status,
        disbursed_loans.principal,
        step_as_of.principal_paid_to_date as principal_paid,
        case
            when
                disbursed_loans.in_portfolio
                and disbursed_loans.principal > step_as_of.principal_paid_to_date
                then disbursed_loans.principal - step_as_of.principal_paid_to_date
            else 0
        end as outstanding_principal,
        case
            when step_as_of.first_unpaid_due_date < disbursed_loans.as_of_date
                then {{ dbt.datediff('step_as_of.first_unpaid_due_date',
                                     'disbursed_loans.as_of_date', 'day') }}
            else 0
        end as days_past_due,
        disbursed_loans.in_portfolio,
        disbursed_loans.annual_interest_rate,
        disbursed_loans.interest_method,
        disbursed_loans.repayment_frequency,
        disbursed_loans.installments,
        disbursed_loans.disbursed_at,
        disbursed_loans.closed_at,
        disbursed_loans.written_off_at,
        disbursed_loans.written_off_amount,
        disbursed_loans.as_of_date
    from disbursed_loans
    inner join step_as_of on disbursed_loans.loan_id = step_as_of.loan_id
    left join users on disbursed_loans.borrower_id = users.user_id
),

final as (
    select
        loan_id,
        borrower_id,
        loan_officer_id,
        branch_code,
        product,
        status,
        current_status,
        cast(principal as numeric(18, 2)) as principal,
        cast(principal_paid as numeric(18, 2)) as principal_paid,
        cast(outstanding_principal as numeric(18, 2)) as outstanding_principal,
        cast(days_past_due as integer) as days_past_due,
        {{ dpd_bucket('days_past_due') }} as dpd_bucket,
        in_portfolio,
        in_portfolio and outstanding_principal > 0 as is_active,
        annual_interest_rate,
        interest_method,
        repayment_frequency,
        installments,
        disbursed_at,
        closed_at,
        written_off_at,
        written_off_amount,
        as_of_date
    from measured
)

select * from final
