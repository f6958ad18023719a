{#- One row per investment started on or before the as-of date (docs/metrics.md "Savings, flows and
    investments" - **Investment return**, simple interest): accrued value = principal × (1 +
    annual_rate × days held / 365), rounded to cents (half away from zero). Days held run from
    start_date to the as-of date, capped at maturity_date; a withdrawn investment stops on the UTC
    date of its last update (the withdrawal). Annualised return = (accrued value / principal - 1) ×
    365 / days held. The investor's branch is the current one; no direct PII. -#}
with

investments as (
    select * from {{ ref('stg_oltp__investments') }}
),

users as (
    select * from {{ ref('stg_oltp__users') }}
),

investments_started as (
    select *
    from investments
    where start_date <= {{ as_of_date() }}
),

holding_periods as (
    select
        *,
        greatest(
            start_date,
            case
                when investment_status = 'withdrawn'
                    then least(cast(updated_at as date), maturity_date, {{ as_of_date() }})
                else least(maturity_date, {{ as_of_date() }})
            end
        ) as valued_to_date
    from investments_started
),

holding_days as (
    select
        *,
        valued_to_date - start_date as days_held,
        maturity_date - start_date as term_days
    from holding_periods
),

accrued_values as (
    select
        *,
        -- numeric(38, 18) before dividing keeps 18 decimals on Snowflake too (docs/metrics.md)
        round(
            principal + cast(principal * annual_rate * days_held as numeric(38, 18)) / 365, 2
        ) as accrued_value,
        round(
            principal + cast(principal * annual_rate * term_days as numeric(38, 18)) / 365, 2
        ) as value_at_maturity
    from holding_days
),

with_investor_branch as (
    select
        accrued_values.*,
        users.branch_code
    from accrued_values
    left join users
        on accrued_values.user_id = users.user_id
),

final as (
    select
        cast(investment_id as bigint) as investment_id,
        cast(user_id as bigint) as user_id,
        cast(branch_code as text) as branch_code,
        cast(investment_product as text) as investment_product,
        cast(investment_status as text) as investment_status,
        cast(principal as numeric(38, 2)) as principal,
        cast(annual_rate as numeric(38, 6)) as annual_rate,
        start_date,
        maturity_date,
        valued_to_date,
        cast(term_days as bigint) as term_days,
        cast(days_held as bigint) as days_held,
        cast(accrued_value as numeric(38, 2)) as accrued_value,
        cast(accrued_value - principal as numeric(38, 2)) as accrued_return,
        cast(
            case
                when days_held > 0 and principal > 0
                    then round(
                        (accrued_value - principal) * 365 / (principal * days_held), 6
                    )
            end as numeric(38, 6)
        ) as annualised_return,
        cast(value_at_maturity as numeric(38, 2)) as value_at_maturity,
        cast(current_value as numeric(38, 2)) as source_current_value,
        maturity_date <= {{ as_of_date() }} as is_past_maturity
    from with_investor_branch
)

select * from final
