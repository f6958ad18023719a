{#- The two concentration populations of docs/metrics.md ("Customers and concentration"), one
    row per holder and period end: the last day of every month up to the as-of month and the
    as-of date (the end of the partial as-of month). `deposits` = accounts with a positive
    end-of-day balance that day (int_accounts__daily_balances); `glp` = loans with outstanding
    principal > 0 that day (int_loans__month_boundary_days, the definitions of
    int_loans__delinquency, as loans_current). Everything downstream is computed once,
    partitioned by population and period end. -#}
with

daily_balances as (
    select * from {{ ref('int_accounts__daily_balances') }}
),

boundary_days as (
    select * from {{ ref('int_loans__month_boundary_days') }}
),

deposit_holders as (
    select
        'deposits' as population,
        balance_date as period_end_date,
        account_id as holder_id,
        end_of_day_balance as balance
    from daily_balances
    where
        end_of_day_balance > 0
        and (
            balance_date = cast({{ dbt.last_day('balance_date', 'month') }} as date)
            or balance_date = {{ as_of_date() }}
        )
),

loan_portfolio_holders as (
    select
        'glp' as population,
        as_of_date as period_end_date,
        loan_id as holder_id,
        outstanding_principal as balance
    from boundary_days
    where
        outstanding_principal > 0
        and (
            as_of_date = cast({{ dbt.last_day('as_of_date', 'month') }} as date)
            or as_of_date = {{ as_of_date() }}
        )
),

final as (
    select * from deposit_holders
    union all
    select * from loan_portfolio_holders
)

select * from final
