{#- An invariant of docs/metrics.md "Delinquency and portfolio quality": PAR90 <= PAR60 <=
    PAR30 <= PAR1 <= 1 on every row. -#}
select *
from {{ ref('portfolio_daily') }}
where
    par90_amount > par60_amount
    or par60_amount > par30_amount
    or par30_amount > par1_amount
    or par1_amount > gross_loan_portfolio
    or par1_ratio > 1
