{#- kpis.md "Monthly financial summary": ledger flows per calendar month (UTC dates of
    occurred_at, up to the as-of date) and branch of the account owner's current branch
    (restated, not frozen). Credits: deposit, transfer_in, interest, loan_disbursement;
    debits: withdrawal, transfer_out, fee, loan_repayment; net flow = credits - debits.
    Every month from the first ledger month to the as-of month has a row per branch. -#}
with

transactions as (
    select * from {{ ref('stg_oltp__transactions') }}
),

accounts as (
    select * from {{ ref('stg_oltp__accounts') }}
),

users as (
    select * from {{ ref('stg_oltp__users') }}
),

calendar_days as (
    select * from {{ ref('int_calendar__days') }}
),

account_branches as (
    select
        accounts.account_id,
        users.branch_code
    from accounts
    inner join users
        on accounts.user_id = users.user_id
),

ledger_rows_with_branch as (
    select
        transactions.transaction_id,
        transactions.account_id,
        transactions.txn_type,
        transactions.amount,
        cast(date_trunc('month', cast(transactions.occurred_at as date)) as date) as month_start,
        -- a ledger row whose account or owner is gone from the source still counts
        coalesce(account_branches.branch_code, 'unknown') as branch_code
    from transactions
    left join account_branches
        on transactions.account_id = account_branches.account_id
    where cast(transactions.occurred_at as date) <= {{ as_of_date() }}
),

flows_per_month_and_branch as (
    select
        month_start,
        branch_code,
        sum(case when txn_type = 'deposit' then amount else 0 end) as deposits,
        sum(case when txn_type = 'withdrawal' then amount else 0 end) as withdrawals,
        sum(case when txn_type = 'loan_disbursement' then amount else 0 end)
            as loan_disbursements,
        sum(case when txn_type = 'loan_repayment' then amount else 0 end) as loan_repayments,
        sum(case when txn_type = 'fee' then amount else 0 end) as fees,
        sum(case when txn_type = 'interest' then amount else 0 end) as interest_paid,
        sum(case when txn_type = 'transfer_in' then amount else 0 end) as transfers_in,
        sum(case when txn_type = 'transfer_out' then amount else 0 end) as transfers_out,
        count(*) as transaction_count,
        count(distinct account_id) as accounts_with_movement
    from ledger_rows_with_branch
    group by month_start, branch_code
),

-- (from the monthly flows, not the ledger rows again: the ledger is scanned once)
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
