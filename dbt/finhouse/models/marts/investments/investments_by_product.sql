{#- Investment value by product as of the as-of date (docs/metrics.md "Savings, flows and
    investments" - **Investment return**: value by product), from investments_current: the active
    book (principal, accrued value and return, principal-weighted rate) and every investment started
    to date. -#}
with

investments_current as (
    select * from {{ ref('investments_current') }}
),

per_product as (
    select
        investment_product,
        count(*) as investment_count,
        sum(case when investment_status = 'active' then 1 else 0 end)
            as active_investment_count,
        sum(principal) as total_principal,
        sum(case when investment_status = 'active' then principal else 0 end)
            as active_principal,
        sum(case when investment_status = 'active' then accrued_value else 0 end)
            as active_accrued_value,
        sum(case when investment_status = 'active' then principal * annual_rate else 0 end)
            as active_principal_times_rate,
        sum(case when investment_status != 'active' then accrued_value else 0 end)
            as realised_value
    from investments_current
    group by investment_product
),

final as (
    select
        cast(investment_product as text) as investment_product,
        cast(investment_count as bigint) as investment_count,
        cast(active_investment_count as bigint) as active_investment_count,
        cast(total_principal as numeric(38, 2)) as total_principal,
        cast(active_principal as numeric(38, 2)) as active_principal,
        cast(active_accrued_value as numeric(38, 2)) as active_accrued_value,
        cast(active_accrued_value - active_principal as numeric(38, 2))
            as active_accrued_return,
        cast(
            case
                when active_principal > 0
                    then round(active_principal_times_rate / active_principal, 6)
            end as numeric(38, 6)
        ) as active_weighted_annual_rate,
        cast(realised_value as numeric(38, 2)) as realised_value
    from per_product
)

select * from final
