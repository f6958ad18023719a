{#- kpis.md "Repayment schedule": one row per installment of every disbursed loan. -#}
with

loans as (
    select * from {{ ref('stg_oltp__loans') }}
),

disbursed_terms as (
    select
        loan_id,
        principal,
        annual_interest_rate,
        interest_method,
        repayment_frequency,
        installments,
        first_due_date
    from loans
    where disbursed_at is not null
),

installments as (
    {{ loan_schedule('disbursed_terms') }}
),

final as (
    select
        loan_id,
        installment_no,
        due_date,
        principal_due,
        interest_due,
        outstanding_before,
        principal_due + interest_due as total_due,
        sum(principal_due) over (
            partition by loan_id order by installment_no rows unbounded preceding
        ) as cumulative_principal_due,
        sum(principal_due + interest_due) over (
            partition by loan_id order by installment_no rows unbounded preceding
        ) as cumulative_total_due
    from installments
)

select * from final
