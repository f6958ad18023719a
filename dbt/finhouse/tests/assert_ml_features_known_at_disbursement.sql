{#- Proves the default model's features use no data from after the disbursement: every source
    time a feature of int_customers__loan_features_at_disbursement used precedes disbursed_at
    (ledger movements, previous disbursements, the users version, joining) or the disbursement
    date (daily delinquency), and the mart carries exactly those features. Returns offenders. -#}
with

features as (
    select * from {{ ref('int_customers__loan_features_at_disbursement') }}
),

mart as (
    select * from {{ ref('ml_default_features') }}
),

leaking_features as (
    select
        loan_id,
        'source time after disbursement' as failure
    from features
    where
        profile_valid_from > disbursed_at
        or borrower_joined_at > disbursed_at
        or ledger_observed_through >= disbursed_at
        or previous_loans_observed_through >= disbursed_at
        or delinquency_observed_through >= disbursed_date
        or borrower_tenure_days < 0
),

mart_differs as (
    select
        mart.loan_id,
        'mart feature differs from the point-in-time feature' as failure
    from mart
    left join features
        on mart.loan_id = features.loan_id
    where
        features.loan_id is null
        or mart.principal <> features.principal
        or mart.previous_loans <> features.previous_loans
        or coalesce(mart.previous_loans_worst_dpd, -1)
        <> coalesce(features.previous_loans_worst_dpd, -1)
        or mart.deposit_balance <> features.deposit_balance
        or mart.savings_balance <> features.savings_balance
        or coalesce(mart.monthly_income, -1) <> coalesce(features.monthly_income, -1)
        or coalesce(mart.branch_code, '') <> coalesce(features.branch_code, '')
),

final as (
    select * from leaking_features
    union all
    select * from mart_differs
)

select * from final
