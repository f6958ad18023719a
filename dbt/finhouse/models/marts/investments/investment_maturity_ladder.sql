{#- The maturity ladder (docs/metrics.md "Savings, flows and investments" - **Investment return**):
    principal of active investments maturing per calendar month of maturity_date, with their value
    at maturity; months already past hold active investments not yet paid out. -#}
with

investments_current as (
    select * from {{ ref('investments_current') }}
),

active_investments as (
    select
        investment_id,
        principal,
        value_at_maturity,
        cast(date_trunc('month', maturity_date) as date) as maturity_month
    from investments_current
    where investment_status = 'active'
),

per_maturity_month as (
    select
        maturity_month,
        count(*) as active_investment_count,
        sum(principal) as principal_maturing,
        sum(value_at_maturity) as value_at_maturity
    from active_investments
    group by maturity_month
),

final as (
    select
        maturity_month,
        cast(active_investment_count as bigint) as active_investment_count,
        cast(principal_maturing as numeric(38, 2)) as principal_maturing,
        cast(value_at_maturity as numeric(38, 2)) as value_at_maturity
    from per_maturity_month
)

select * from final
