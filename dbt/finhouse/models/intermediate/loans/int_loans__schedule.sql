{#- docs/metrics.md "Repayment schedule": one row per installment of every disbursed loan.

    Incremental: a loan is recomputed when it changed in RAW since it was last computed
    (macro loans_to_compute); loans no longer disbursed are removed afterwards. -#}
{{
    config(
        materialized='incremental',
        unique_key='loan_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        indexes=[{'columns': ['loan_id', 'installment_no'], 'unique': True}],
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

{{ loans_to_compute() }}

disbursed_terms as (
    select
        loans.loan_id,
        loans.principal,
        loans.annual_interest_rate,
        loans.interest_method,
        loans.repayment_frequency,
        loans.installments,
        loans.first_due_date
    from loans
    inner join loans_to_compute on loans.loan_id = loans_to_compute.loan_id
    where loans.disbursed_at is not null
),

installments as (
    {{ loan_schedule('disbursed_terms') }}
),

final as (
    select
        installments.loan_id,
        installments.installment_no,
        installments.due_date,
        installments.principal_due,
        installments.interest_due,
        installments.outstanding_before,
        loans_to_compute.source_changed_at,
        installments.principal_due + installments.interest_due as total_due,
        sum(installments.principal_due) over (
            partition by installments.loan_id
            order by installments.installment_no
            rows unbounded preceding
        ) as cumulative_principal_due,
        sum(installments.principal_due + installments.interest_due) over (
            partition by installments.loan_id
            order by installments.installment_no
            rows unbounded preceding
        ) as cumulative_total_due
    from installments
    inner join loans_to_compute on installments.loan_id = loans_to_compute.loan_id
)

select * from final
