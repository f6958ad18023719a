{#- The two concentration populations of docs/metrics.md ("Customers and concentration"), one
    row per holder: `deposits` = accounts with a positive balance at as_of_date; `glp` =
    active loans (outstanding principal > 0 at as_of_date, from loans_current). Everything
    downstream is computed once, partitioned by population. -#}
with

account_balances as (
    select * from {{ ref('int_customers__account_balances_as_of') }}
),

loans_current as (
    select * from {{ ref('loans_current') }}
),

deposit_holders as (
    select
        'deposits' as population,
        account_id as holder_id,
        balance
    from account_balances
    where balance > 0
),

loan_portfolio_holders as (
    select
        'glp' as population,
        loan_id as holder_id,
        outstanding_principal as balance
    from loans_current
    where outstanding_principal > 0
),

final as (
    select * from deposit_holders
    union all
    select * from loan_portfolio_holders
)

select * from final
