{#- GLP in portfolio_daily at the as-of date equals the sum of loan-level outstanding
    principal in loans_current (two paths to one definition must agree to the cent). -#}
with

portfolio as (
    select sum(gross_loan_portfolio) as glp
    from {{ ref('portfolio_daily') }}
    where as_of_date = {{ as_of_date() }}
),

loans as (
    select sum(outstanding_principal) as glp
    from {{ ref('loans_current') }}
)

select
    portfolio.glp as portfolio_glp,
    loans.glp as loans_glp
from portfolio
cross join loans
where coalesce(portfolio.glp, 0) <> coalesce(loans.glp, 0)
