{#- docs/metrics.md "Collections and income" - **On-time collection rate** (CGAP): per month x
    branch (the borrower's current branch) x loan officer, principal + interest of installments due
    in the month that was paid on or before each installment's due date (oldest-first settlement,
    int_loans__installment_payments) / principal + interest due in the month.

    Installments count when due on or before the as-of date (the as-of month is partial).
    Installments of a loan written off on or before their due date are no longer due (the
    loan has left the books) and are excluded; installments of loans closed early count
    (they were prepaid, hence paid on time). -#}
with

installment_payments as (
    select * from {{ ref('int_loans__installment_payments') }}
),

loans as (
    select * from {{ ref('stg_oltp__loans') }}
),

users as (
    select * from {{ ref('stg_oltp__users') }}
),

installments_due as (
    select
        installment_payments.loan_id,
        installment_payments.total_due,
        installment_payments.paid_on_time,
        cast({{ dbt.date_trunc('month', 'installment_payments.due_date') }} as date)
            as month_start,
        loans.loan_officer_id,
        users.branch_code
    from installment_payments
    inner join loans on installment_payments.loan_id = loans.loan_id
    left join users on loans.borrower_id = users.user_id
    where
        installment_payments.due_date <= {{ as_of_date() }}
        and cast(loans.disbursed_at as date) <= {{ as_of_date() }}
        and (
            loans.written_off_at is null
            or cast(loans.written_off_at as date) > installment_payments.due_date
        )
),

monthly as (
    select
        month_start,
        branch_code,
        loan_officer_id,
        count(*) as installments_due,
        count(case when paid_on_time = total_due then 1 end) as installments_paid_on_time,
        count(distinct loan_id) as loans_with_installments_due,
        sum(total_due) as amount_due,
        sum(paid_on_time) as amount_paid_on_time
    from installments_due
    group by month_start, branch_code, loan_officer_id
),

final as (
    select
        month_start,
        branch_code,
        loan_officer_id,
        cast(installments_due as bigint) as installments_due,
        cast(installments_paid_on_time as bigint) as installments_paid_on_time,
        cast(loans_with_installments_due as bigint) as loans_with_installments_due,
        cast(amount_due as numeric(18, 2)) as amount_due,
        cast(amount_paid_on_time as numeric(18, 2)) as amount_paid_on_time,
        cast(
            case when amount_due > 0 then amount_paid_on_time / amount_due end
            as numeric(38, 10)
        ) as on_time_collection_rate,
        {{ as_of_date() }} as as_of_date
    from monthly
)

select * from final
