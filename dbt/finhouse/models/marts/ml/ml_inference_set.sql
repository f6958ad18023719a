{#- Loans active at as_of_date (docs/metrics.md: in the portfolio with outstanding principal > 0,
    from loans_current) whose label is not known yet: the loans to score. -#}
with

features as (
    select * from {{ ref('ml_default_features') }}
),

loans_current as (
    select * from {{ ref('loans_current') }}
),

active_loans as (
    select loan_id
    from loans_current
    where outstanding_principal > 0
),

final as (
    select features.*
    from features
    inner join active_loans
        on features.loan_id = active_loans.loan_id
    where not features.is_label_known
)

select * from final
