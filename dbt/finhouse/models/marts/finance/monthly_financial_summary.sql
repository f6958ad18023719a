{#- docs/metrics.md "Savings, flows and investments" - **Monthly financial summary**: ledger flows
    per calendar month (UTC dates of occurred_at, up to the as-of date) and branch of the account
    owner's current branch (restated, not frozen). Credits: deposit, transfer_in, interest,
    loan_disbursement; debits: withdrawal, transfer_out, fee, loan_repayment; net flow = credits
    - debits.
    Every month from the first ledger month to the as-of month has a row per branch.

    The flows of each month and branch come from int_accounts__monthly_branch_flows, which
    recomputes only the months that changed; here they are laid on the month × branch grid. -#}
with

flows_per_month_and_branch as (
    select * from {{ ref('int_accounts__monthly_branch_flows') }}
),

calendar_days as (
    select * from {{ ref('int_calendar__days') }}
),

first_ledger_month as (
    select min(month_start) as first_month_start
    from flows_per_month_and_branch
),

calendar_dates_since_first_ledger_month as (
    select calendar_days.calendar_date
    from calendar_days
    inner join first_ledger_month
        on calendar_days.calendar_date >= first_ledger_month.first_month_start
    where calendar_days.calendar_date <= {{ as_of_date() }}
),

summary_months as (
    select distinct cast(date_trunc('month', calendar_date) as date) as month_start
    from calendar_dates_since_first_ledger_month
),

summary_branches as (
    select distinct branch_code
    from flows_per_month_and_branch
),

month_branch_grid as (
    select
        summary_months.month_start,
        summary_branches.branch_code
    from summary_months
    cross join summary_branches
),

flows_on_grid as (
    select
        month_branch_grid.month_start,
        month_branch_grid.branch_code,
        coalesce(flows.deposits, 0) as deposits,
        coalesce(flows.withdrawals, 0) as withdrawals,
        coalesce(flows.loan_disbursements, 0) as loan_disbursements,
        coalesce(flows.loan_repayments, 0) as loan_repayments,
        coalesce(flows.fees, 0) as fees,
        coalesce(flows.interest_paid, 0) as interest_paid,
        coalesce(flows.transfers_in, 0) as transfers_in,
        coalesce(flows.transfers_out, 0) as transfers_out,
        coalesce(flows.transaction_count, 0) as transaction_count,
        coalesce(flows.accounts_with_movement, 0) as accounts_with_movement
    from month_branch_grid
    left join flows_per_month_and_branch as flows
        on
            month_branch_grid.month_start = flows.month_start
            and month_branch_grid.branch_code = flows.branch_code
),

totals as (
    select
        *,
        deposits + transfers_in + interest_paid + loan_disbursements as total_credits,
        withdrawals + transfers_out + fees + loan_repayments as total_debits
    from flows_on_grid
),

final as (
    select
        cast({{ surrogate_key(['month_start', 'branch_code']) }} as text) as summary_key,
        month_start,
        cast(branch_code as text) as branch_code,
        cast(deposits as numeric(38, 2)) as deposits,
        cast(withdrawals as numeric(38, 2)) as withdrawals,
        cast(loan_disbursements as numeric(38, 2)) as loan_disbursements,
        cast(loan_repayments as numeric(38, 2)) as loan_repayments,
        cast(fees as numeric(38, 2)) as fees,
        cast(interest_paid as numeric(38, 2)) as interest_paid,
        cast(transfers_in as numeric(38, 2)) as transfers_in,
        cast(transfers_out as numeric(38, 2)) as transfers_out,
        cast(total_credits as numeric(38, 2)) as total_credits,
        cast(total_debits as numeric(38, 2)) as total_debits,
        cast(total_credits - total_debits as numeric(38, 2)) as net_flow,
        cast(transaction_count as bigint) as transaction_count,
        cast(accounts_with_movement as bigint) as accounts_with_movement
    from totals
)

select * from final
