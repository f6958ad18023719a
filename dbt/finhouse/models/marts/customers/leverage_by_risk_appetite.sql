{#- docs/metrics.md "Customers and concentration" - **Leverage** = outstanding principal / (12 x
    monthly income), null when the income is null or 0, reported by risk appetite (customers without
    one: 'undeclared'). -#}
with

customer_360 as (
    select * from {{ ref('customer_360') }}
),

per_appetite as (
    select
        coalesce(risk_appetite, 'undeclared') as risk_appetite,
        count(*) as customers,
        sum(case when leverage is not null then 1 else 0 end) as customers_with_income,
        sum(case when active_loans > 0 then 1 else 0 end) as borrowers,
        sum(
            case when active_loans > 0 and leverage is not null then 1 else 0 end
        ) as borrowers_with_income,
        sum(outstanding_principal) as outstanding_principal,
        sum(
            case when leverage is not null then outstanding_principal else 0 end
        ) as outstanding_principal_with_income,
        sum(case when leverage is not null then monthly_income else 0 end) as monthly_income,
        avg(case when active_loans > 0 then leverage end) as mean_borrower_leverage,
        max(leverage) as max_leverage
    from customer_360
    group by coalesce(risk_appetite, 'undeclared')
),

final as (
    select
        risk_appetite,
        {{ as_of_date() }} as as_of_date,
        cast(customers as bigint) as customers,
        cast(customers_with_income as bigint) as customers_with_income,
        cast(borrowers as bigint) as borrowers,
        cast(borrowers_with_income as bigint) as borrowers_with_income,
        cast(outstanding_principal as numeric(38, 2)) as outstanding_principal,
        cast(mean_borrower_leverage as numeric(38, 6)) as mean_borrower_leverage,
        cast(max_leverage as numeric(38, 6)) as max_leverage,
        cast(
            case
                when monthly_income > 0
                    then outstanding_principal_with_income / (12 * monthly_income)
            end as numeric(38, 6)
        ) as pooled_leverage
    from per_appetite
)

select * from final
