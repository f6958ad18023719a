{#- docs/metrics.md "Targets" - **New borrower**: each borrower's first-ever disbursed loan, the
    one with the earliest disbursed_at (then the lowest loan_id) among the borrower's loans
    disbursed on or before the as-of date. Restated, not frozen (docs/metrics.md "Conventions"):
    the loan's current officer and the borrower's current branch, as in portfolio_daily; a
    first loan deleted in the source makes the next one the first. One row per borrower with a
    disbursed loan. -#}
with

loans as (
    select * from {{ ref('stg_oltp__loans') }}
),

users as (
    select * from {{ ref('stg_oltp__users') }}
),

disbursed_loans as (
    select
        loan_id,
        borrower_id,
        loan_officer_id,
        product,
        principal,
        disbursed_at,
        row_number() over (
            partition by borrower_id order by disbursed_at, loan_id
        ) as disbursement_no
    from loans
    where
        disbursed_at is not null
        and cast(disbursed_at as date) <= {{ as_of_date() }}
),

first_disbursements as (
    select
        disbursed_loans.borrower_id,
        disbursed_loans.loan_id,
        disbursed_loans.loan_officer_id,
        users.branch_code,
        disbursed_loans.product,
        disbursed_loans.principal,
        disbursed_loans.disbursed_at,
        cast(disbursed_loans.disbursed_at as date) as disbursed_date
    from disbursed_loans
    left join users on disbursed_loans.borrower_id = users.user_id
    where disbursed_loans.disbursement_no = 1
),

final as (
    select
        borrower_id,
        loan_id,
        loan_officer_id,
        branch_code,
        product,
        principal,
        disbursed_at,
        disbursed_date,
        cast({{ dbt.date_trunc('month', 'disbursed_date') }} as date) as month_start
    from first_disbursements
)

select * from final
