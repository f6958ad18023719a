{#- docs/interfaces.md §5 / docs/metrics.md: daily portfolio quality per branch (the borrower's
    current branch), product and loan officer, for every date from the combination's first
    disbursement to the as-of date. GLP = sum of outstanding principal of loans in the portfolio;
    PAR_X = outstanding principal of loans more than X days past due (the whole balance of a late
    loan counts); active loans have outstanding principal > 0.

    A view over int_portfolio__segment_days, which holds the sums and is maintained
    incrementally; the ratios and the average loan size are computed here. -#}
{{ config(materialized='view') }}

-- One SELECT without WITH: PostgreSQL inlines a view into the query that reads it only
-- when the view has no WITH clause, so that the reader's filters and orders reach the
-- segment days' index (docs/transformation.md, "Views without WITH").
select
    as_of_date,
    branch_code,
    product,
    loan_officer_id,
    cast(active_loans as bigint) as active_loans,
    cast(active_borrowers as bigint) as active_borrowers,
    cast(gross_loan_portfolio as numeric(18, 2)) as gross_loan_portfolio,
    cast(par1_amount as numeric(18, 2)) as par1_amount,
    cast(par30_amount as numeric(18, 2)) as par30_amount,
    cast(par60_amount as numeric(18, 2)) as par60_amount,
    cast(par90_amount as numeric(18, 2)) as par90_amount,
    cast(
        case when gross_loan_portfolio > 0 then par1_amount / gross_loan_portfolio end
        as numeric(38, 10)
    ) as par1_ratio,
    cast(
        case when gross_loan_portfolio > 0 then par30_amount / gross_loan_portfolio end
        as numeric(38, 10)
    ) as par30_ratio,
    cast(
        case when gross_loan_portfolio > 0 then par60_amount / gross_loan_portfolio end
        as numeric(38, 10)
    ) as par60_ratio,
    cast(
        case when gross_loan_portfolio > 0 then par90_amount / gross_loan_portfolio end
        as numeric(38, 10)
    ) as par90_ratio,
    cast(current_amount as numeric(18, 2)) as current_amount,
    cast(dpd_1_30_amount as numeric(18, 2)) as dpd_1_30_amount,
    cast(dpd_31_60_amount as numeric(18, 2)) as dpd_31_60_amount,
    cast(dpd_61_90_amount as numeric(18, 2)) as dpd_61_90_amount,
    cast(dpd_91_180_amount as numeric(18, 2)) as dpd_91_180_amount,
    cast(dpd_181_plus_amount as numeric(18, 2)) as dpd_181_plus_amount,
    cast(loans_disbursed as bigint) as loans_disbursed,
    cast(disbursed_amount as numeric(18, 2)) as disbursed_amount,
    cast(
        case when loans_disbursed > 0 then round(disbursed_amount / loans_disbursed, 2) end
        as numeric(18, 2)
    ) as average_loan_size
from {{ ref('int_portfolio__segment_days') }}
