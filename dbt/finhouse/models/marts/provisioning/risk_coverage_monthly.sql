{#- docs/metrics.md "Provisioning and risk coverage" - per month x branch (the borrower's current
    branch, restated), at the month's end (period_end_date: the last day of the month, the as-of
    date for the as-of month):
    - loan-loss reserve = the sum of the loans' provisions (provisions_by_bucket_monthly);
      opening reserve = the previous month's reserve of the branch (0 before its first month);
    - provision expense = reserve - opening reserve + write-offs of the month (the reserve's
      roll-forward: opening + expense - write-offs = closing; negative when the reserve is
      released faster than loans are written off);
    - risk coverage ratio (CGAP) = loan-loss reserve / PAR30 amount, null when PAR30 is 0;
      loan-loss reserve ratio = loan-loss reserve / GLP, null when GLP is 0; GLP and PAR30 of the
      month's end day (PAR30: the outstanding principal of the buckets past 30 days);
    - write-offs, average GLP and the write-off ratio of write_offs_monthly, beside them.
    One row per branch and month of write_offs_monthly. -#}
with

branch_months as (
    select * from {{ ref('write_offs_monthly') }}
),

buckets as (
    select * from {{ ref('provisions_by_bucket_monthly') }}
),

month_end_totals as (
    select
        month_start,
        branch_code,
        sum(loans) as loans_in_portfolio,
        sum(outstanding_principal) as gross_loan_portfolio,
        sum(case when bucket_order >= 3 then outstanding_principal else 0 end) as par30_amount,
        sum(provision_amount) as loan_loss_reserve
    from buckets
    group by month_start, branch_code
),

with_opening as (
    select
        branch_months.month_start,
        branch_months.branch_code,
        branch_months.period_end_date,
        month_end_totals.loans_in_portfolio,
        month_end_totals.gross_loan_portfolio,
        month_end_totals.par30_amount,
        month_end_totals.loan_loss_reserve,
        branch_months.loans_written_off,
        branch_months.written_off_amount,
        branch_months.average_gross_loan_portfolio,
        branch_months.write_off_ratio,
        coalesce(previous_month.loan_loss_reserve, 0) as opening_loan_loss_reserve
    from branch_months
    inner join month_end_totals
        on
            branch_months.month_start = month_end_totals.month_start
            and branch_months.branch_code = month_end_totals.branch_code
    left join month_end_totals as previous_month
        on
            previous_month.month_start
            = cast({{ dbt.dateadd('month', -1, 'branch_months.month_start') }} as date)
            and branch_months.branch_code = previous_month.branch_code
),

final as (
    select
        month_start,
        branch_code,
        period_end_date,
        period_end_date = cast({{ dbt.last_day('month_start', 'month') }} as date)
            as is_month_complete,
        cast(loans_in_portfolio as bigint) as loans_in_portfolio,
        cast(gross_loan_portfolio as numeric(18, 2)) as gross_loan_portfolio,
        cast(par30_amount as numeric(18, 2)) as par30_amount,
        cast(opening_loan_loss_reserve as numeric(18, 2)) as opening_loan_loss_reserve,
        cast(loan_loss_reserve as numeric(18, 2)) as loan_loss_reserve,
        cast(
            loan_loss_reserve - opening_loan_loss_reserve + written_off_amount as numeric(18, 2)
        ) as provision_expense,
        cast(
            case when par30_amount > 0 then loan_loss_reserve / par30_amount end
            as numeric(38, 10)
        ) as risk_coverage_ratio,
        cast(
            case when gross_loan_portfolio > 0 then loan_loss_reserve / gross_loan_portfolio end
            as numeric(38, 10)
        ) as loan_loss_reserve_ratio,
        loans_written_off,
        written_off_amount,
        average_gross_loan_portfolio,
        write_off_ratio,
        {{ as_of_date() }} as as_of_date
    from with_opening
)

select * from final
