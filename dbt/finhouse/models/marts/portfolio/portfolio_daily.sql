{#- docs/interfaces.md §5 / docs/metrics.md: daily portfolio quality per branch (the borrower's
    current branch), product and loan officer, for every date from the combination's first
    disbursement to the as-of date. GLP = sum of outstanding principal of loans in the portfolio;
    PAR_X = outstanding principal of loans more than X days past due (the whole balance of a late
    loan counts); active loans have outstanding principal > 0.

    A view over int_portfolio__segment_days, which holds the sums and is maintained
    incrementally; the ratios and the average loan size are computed here. The branch's name
    and region come from the branch file (int_portfolio__branch_directory): null for a branch
    the file does not list (a left join on its unique key: never a row more or less). -#}
{{ config(materialized='view') }}

-- One SELECT without WITH: PostgreSQL inlines a view into the query that reads it only
-- when the view has no WITH clause, so that the reader's filters and orders reach the
-- segment days' index (docs/transformation.md, "Views without WITH").
select
    segment_days.as_of_date,
    segment_days.branch_code,
    branch_directory.branch_name,
    branch_directory.branch_region,
    segment_days.product,
    segment_days.loan_officer_id,
    cast(segment_days.active_loans as bigint) as active_loans,
    cast(segment_days.active_borrowers as bigint) as active_borrowers,
    cast(segment_days.gross_loan_portfolio as numeric(18, 2)) as gross_loan_portfolio,
    cast(segment_days.par1_amount as numeric(18, 2)) as par1_amount,
    cast(segment_days.par30_amount as numeric(18, 2)) as par30_amount,
    cast(segment_days.par60_amount as numeric(18, 2)) as par60_amount,
    cast(segment_days.par90_amount as numeric(18, 2)) as par90_amount,
    cast(
        case
            when segment_days.gross_loan_portfolio > 0
                then segment_days.par1_amount / segment_days.gross_loan_portfolio
        end
        as numeric(38, 10)
    ) as par1_ratio,
    cast(
        case
            when segment_days.gross_loan_portfolio > 0
                then segment_days.par30_amount / segment_days.gross_loan_portfolio
        end
        as numeric(38, 10)
    ) as par30_ratio,
    cast(
        case
            when segment_days.gross_loan_portfolio > 0
                then segment_days.par60_amount / segment_days.gross_loan_portfolio
        end
        as numeric(38, 10)
    ) as par60_ratio,
    cast(
        case
            when segment_days.gross_loan_portfolio > 0
                then segment_days.par90_amount / segment_days.gross_loan_portfolio
        end
        as numeric(38, 10)
    ) as par90_ratio,
    cast(segment_days.current_amount as numeric(18, 2)) as current_amount,
    cast(segment_days.dpd_1_30_amount as numeric(18, 2)) as dpd_1_30_amount,
    cast(segment_days.dpd_31_60_amount as numeric(18, 2)) as dpd_31_60_amount,
    cast(segment_days.dpd_61_90_amount as numeric(18, 2)) as dpd_61_90_amount,
    cast(segment_days.dpd_91_180_amount as numeric(18, 2)) as dpd_91_180_amount,
    cast(segment_days.dpd_181_plus_amount as numeric(18, 2)) as dpd_181_plus_amount,
    cast(segment_days.loans_disbursed as bigint) as loans_disbursed,
    cast(segment_days.disbursed_amount as numeric(18, 2)) as disbursed_amount,
    cast(
        case
            when segment_days.loans_disbursed > 0
                then round(segment_days.disbursed_amount / segment_days.loans_disbursed, 2)
        end
        as numeric(18, 2)
    ) as average_loan_size
from {{ ref('int_portfolio__segment_days') }} as segment_days
left join {{ ref('int_portfolio__branch_directory') }} as branch_directory
    on segment_days.branch_code = branch_directory.branch_code
