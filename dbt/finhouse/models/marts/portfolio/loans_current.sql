{#- docs/interfaces.md §5: one row per loan ever disbursed (on or before the as-of date), as of the
    as-of date. Principal paid, outstanding principal, days past due, DPD bucket and whether the
    loan is in the portfolio and active are the loan's figures of that day in
    int_loans__delinquency, where docs/metrics.md "Delinquency and portfolio quality" is written
    once; this mart adds the loan's attributes, its lifecycle status as of the date, the
    borrower's current branch (restated, not frozen) and that branch's name and region from the
    branch file (null when the file does not list it; a left join on its unique key). -#}
with

loans as (
    select * from {{ ref('stg_oltp__loans') }}
),

users as (
    select * from {{ ref('stg_oltp__users') }}
),

delinquency as (
    select * from {{ ref('int_loans__delinquency') }}
),

branch_directory as (
    select * from {{ ref('int_portfolio__branch_directory') }}
),

-- every loan disbursed on or before the as-of date has its row of that day
delinquency_as_of as (
    select *
    from delinquency
    where as_of_date = {{ as_of_date() }}
),

measured as (
    select
        loans.loan_id,
        loans.borrower_id,
        loans.loan_officer_id,
        users.branch_code,
        branch_directory.branch_name,
        branch_directory.branch_region,
        loans.product,
        loans.loan_status as current_status,
        loans.principal,
        delinquency_as_of.principal_paid,
        delinquency_as_of.outstanding_principal,
        delinquency_as_of.days_past_due,
        delinquency_as_of.dpd_bucket,
        delinquency_as_of.in_portfolio,
        delinquency_as_of.is_active,
        loans.annual_interest_rate,
        loans.interest_method,
        loans.repayment_frequency,
        loans.installments,
        loans.disbursed_at,
        loans.closed_at,
        loans.written_off_at,
        loans.written_off_amount,
        delinquency_as_of.as_of_date,
        case
            when
                loans.written_off_at is not null
                and cast(loans.written_off_at as date) <= delinquency_as_of.as_of_date
                then 'written_off'
            when
                loans.closed_at is not null
                and cast(loans.closed_at as date) <= delinquency_as_of.as_of_date
                then 'closed'
            else 'active'
        end as status
    from delinquency_as_of
    inner join loans on delinquency_as_of.loan_id = loans.loan_id
    left join users on loans.borrower_id = users.user_id
    left join branch_directory on users.branch_code = branch_directory.branch_code
),

final as (
    select
        loan_id,
        borrower_id,
        loan_officer_id,
        branch_code,
        branch_name,
        branch_region,
        product,
        status,
        current_status,
        cast(principal as numeric(18, 2)) as principal,
        cast(principal_paid as numeric(18, 2)) as principal_paid,
        cast(outstanding_principal as numeric(18, 2)) as outstanding_principal,
        cast(days_past_due as integer) as days_past_due,
        dpd_bucket,
        in_portfolio,
        is_active,
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
