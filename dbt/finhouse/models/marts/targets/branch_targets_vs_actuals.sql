{#- docs/metrics.md "Targets": each branch's monthly targets (the branch target file,
    stg_files__branch_targets) against what the branch did, one row per target row.
    - Disbursed: portfolio_daily.disbursed_amount (principal disbursed that day, the borrower's
      current branch) summed over the month's days up to the period end; attainment = disbursed
      / target (null when the target is 0 or missing).
    - New borrowers: borrowers whose first-ever disbursed loan (int_customers__first_disbursements)
      was disbursed in the period, in the branch; attainment = new borrowers / target.
    - PAR30 at the period end (the month's last day, or the as-of date in the as-of month):
      PAR30 amount / GLP of the branch's rows of portfolio_daily that day, against the ceiling;
      within the ceiling when PAR30 amount <= ceiling x GLP (exact, no rounded ratio).
    A target for a month after the as-of date has its row with the actual columns null. Months
    (and branches) with activity but no target have no row: this mart measures targets, the
    activity of every branch and day is in portfolio_daily. -#}
with

branch_targets as (
    select * from {{ ref('stg_files__branch_targets') }}
),

branch_directory as (
    select * from {{ ref('int_portfolio__branch_directory') }}
),

portfolio_daily as (
    select * from {{ ref('portfolio_daily') }}
),

first_disbursements as (
    select * from {{ ref('int_customers__first_disbursements') }}
),

-- the days each target is measured over: the month up to its last day, or up to the as-of
-- date in the as-of month; none (a null end) for a month after the as-of date
target_periods as (
    select
        month_start,
        branch_code,
        disbursement_target,
        new_borrowers_target,
        par30_ceiling,
        source_file,
        case
            when month_start <= {{ as_of_date() }}
                then least(
                    cast({{ dbt.last_day('month_start', 'month') }} as date), {{ as_of_date() }}
                )
        end as period_end_date,
        cast({{ dbt.last_day('month_start', 'month') }} as date) <= {{ as_of_date() }}
            as is_month_complete
    from branch_targets
),

latest_complete_month as (
    select max(month_start) as month_start
    from target_periods
    where is_month_complete
),

monthly_disbursements as (
    select
        cast({{ dbt.date_trunc('month', 'as_of_date') }} as date) as month_start,
        branch_code,
        sum(loans_disbursed) as loans_disbursed,
        sum(disbursed_amount) as disbursed_amount
    from portfolio_daily
    where loans_disbursed > 0
    group by cast({{ dbt.date_trunc('month', 'as_of_date') }} as date), branch_code
),

monthly_new_borrowers as (
    select
        month_start,
        branch_code,
        count(*) as new_borrowers
    from first_disbursements
    group by month_start, branch_code
),

period_end_portfolio as (
    select
        target_periods.month_start,
        target_periods.branch_code,
        sum(portfolio_daily.gross_loan_portfolio) as gross_loan_portfolio,
        sum(portfolio_daily.par30_amount) as par30_amount
    from target_periods
    inner join portfolio_daily
        on
            target_periods.branch_code = portfolio_daily.branch_code
            and target_periods.period_end_date = portfolio_daily.as_of_date
    group by target_periods.month_start, target_periods.branch_code
),

-- the actuals of a period that has begun (0 without activity); null for a future month
measured as (
    select
        target_periods.month_start,
        target_periods.branch_code,
        branch_directory.branch_name,
        branch_directory.branch_region,
        target_periods.period_end_date,
        target_periods.is_month_complete,
        coalesce(target_periods.month_start = latest_complete_month.month_start, false)
            as is_latest_complete_month,
        target_periods.disbursement_target,
        target_periods.new_borrowers_target,
        target_periods.par30_ceiling,
        target_periods.source_file,
        case
            when target_periods.period_end_date is not null
                then coalesce(monthly_disbursements.loans_disbursed, 0)
        end as loans_disbursed,
        case
            when target_periods.period_end_date is not null
                then coalesce(monthly_disbursements.disbursed_amount, 0)
        end as disbursed_amount,
        case
            when target_periods.period_end_date is not null
                then coalesce(monthly_new_borrowers.new_borrowers, 0)
        end as new_borrowers,
        case
            when target_periods.period_end_date is not null
                then coalesce(period_end_portfolio.gross_loan_portfolio, 0)
        end as gross_loan_portfolio,
        case
            when target_periods.period_end_date is not null
                then coalesce(period_end_portfolio.par30_amount, 0)
        end as par30_amount
    from target_periods
    cross join latest_complete_month
    left join branch_directory
        on target_periods.branch_code = branch_directory.branch_code
    left join monthly_disbursements
        on
            target_periods.month_start = monthly_disbursements.month_start
            and target_periods.branch_code = monthly_disbursements.branch_code
    left join monthly_new_borrowers
        on
            target_periods.month_start = monthly_new_borrowers.month_start
            and target_periods.branch_code = monthly_new_borrowers.branch_code
    left join period_end_portfolio
        on
            target_periods.month_start = period_end_portfolio.month_start
            and target_periods.branch_code = period_end_portfolio.branch_code
),

final as (
    select
        month_start,
        branch_code,
        branch_name,
        branch_region,
        period_end_date,
        is_month_complete,
        is_latest_complete_month,
        cast(disbursement_target as numeric(18, 2)) as disbursement_target,
        cast(loans_disbursed as bigint) as loans_disbursed,
        cast(disbursed_amount as numeric(18, 2)) as disbursed_amount,
        cast(
            case
                when disbursement_target > 0
                    then cast(disbursed_amount as numeric(38, 18)) / disbursement_target
            end as numeric(38, 10)
        ) as disbursement_attainment,
        cast(new_borrowers_target as integer) as new_borrowers_target,
        cast(new_borrowers as bigint) as new_borrowers,
        cast(
            case
                when new_borrowers_target > 0
                    then cast(new_borrowers as numeric(38, 18)) / new_borrowers_target
            end as numeric(38, 10)
        ) as new_borrowers_attainment,
        cast(par30_ceiling as numeric(7, 4)) as par30_ceiling,
        cast(gross_loan_portfolio as numeric(18, 2)) as gross_loan_portfolio,
        cast(par30_amount as numeric(18, 2)) as par30_amount,
        cast(
            case
                when gross_loan_portfolio > 0
                    then cast(par30_amount as numeric(38, 18)) / gross_loan_portfolio
            end as numeric(38, 10)
        ) as par30_ratio,
        case
            when gross_loan_portfolio > 0 and par30_ceiling is not null
                then par30_amount <= par30_ceiling * gross_loan_portfolio
        end as is_within_par30_ceiling,
        source_file as target_file,
        {{ as_of_date() }} as as_of_date
    from measured
)

select * from final
