{#- Default-prediction feature set: one row per loan disbursed on or before as_of_date, with
    features known at disbursement only (int_customers__loan_features_at_disbursement) and the
    label "in PAR60 (more than 60 days past due) on any day within 183 days of disbursement"
    (int_customers__loan_default_labels, after int_loans__delinquency), null until that window
    is over.
    `sample_set` splits the labelled loans out of time at the var ml_split_date (default: one year
    before as_of_date): training before it, testing on or after it. -#}
{%- set split_date = var('ml_split_date', none) -%}
{%- if split_date -%}
    {%- set split_date_sql = "cast('" ~ split_date ~ "' as date)" -%}
{%- else -%}
    {%- set split_date_sql = "cast(" ~ dbt.dateadd('day', -365, as_of_date()) ~ " as date)" -%}
{%- endif %}
with

features as (
    select * from {{ ref('int_customers__loan_features_at_disbursement') }}
),

labels as (
    select * from {{ ref('int_customers__loan_default_labels') }}
),

final as (
    select
        features.loan_id,
        features.borrower_id,
        features.disbursed_date,
        features.product,
        features.principal,
        features.annual_interest_rate,
        features.interest_method,
        features.repayment_frequency,
        features.installments,
        features.branch_code,
        features.region,
        features.kyc_status,
        features.monthly_income,
        features.risk_appetite,
        features.borrower_tenure_days,
        features.previous_loans,
        features.previous_loans_active,
        features.previous_loans_outstanding,
        features.previous_loans_worst_dpd,
        features.funded_accounts,
        features.deposit_balance,
        features.savings_balance,
        labels.label_window_end_date,
        labels.is_label_known,
        labels.is_default_within_6_months,
        case
            when not labels.is_label_known then 'unlabelled'
            when features.disbursed_date < {{ split_date_sql }} then 'training'
            else 'testing'
        end as sample_set,
        {{ as_of_date() }} as as_of_date
    from features
    inner join labels
        on features.loan_id = labels.loan_id
)

select * from final
