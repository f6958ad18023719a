{#- Savings interest per account per calendar month (kpis.md "Savings interest"): interest
    accrues daily on the end-of-day balance at interest_rate / 365, unrounded; the month's
    total rounds to cents (half away from zero). The rate is the account's current one
    (figures are restated, not frozen); the as-of month is accrued up to the as-of date.
    Summing balance × rate before the single division by 365 is the exact sum of the
    unrounded daily accruals. -#}
with

daily_balances as (
    select * from {{ ref('int_accounts__daily_balances') }}
),

accounts as (
    select * from {{ ref('stg_oltp__accounts') }}
),

transactions as (
    select * from {{ ref('stg_oltp__transactions') }}
),

interest_bearing_accounts as (
    select
        account_id,
        account_type,
        interest_rate
    from accounts
    where interest_rate > 0
),

daily_accrual_inputs as (
    select
        daily_balances.account_id,
        interest_bearing_accounts.account_type,
        interest_bearing_accounts.interest_rate,
        daily_balances.balance_date,
        daily_balances.end_of_day_balance,
        cast(date_trunc('month', daily_balances.balance_date) as date) as month_start
    from daily_balances
    inner join interest_bearing_accounts
        on daily_balances.account_id = interest_bearing_accounts.account_id
),

monthly_accrual as (
    select
        account_id,
        month_start,
        account_type,
        interest_rate,
        count(*) as days_accrued,
        sum(end_of_day_balance) as sum_of_end_of_day_balances,
        -- numeric(38, 18) before dividing keeps 18 decimals on Snowflake too (kpis.md)
        cast(sum(end_of_day_balance * interest_rate) as numeric(38, 18)) / 365
            as accrued_interest_unrounded
    from daily_accrual_inputs
    group by account_id, month_start, account_type, interest_rate
),

interest_posted_per_month as (
    select
        account_id,
        cast(date_trunc('month', cast(occurred_at as date)) as date) as month_start,
        sum(amount) as interest_posted
    from transactions
    where
        txn_type = 'interest'
        and cast(occurred_at as date) <= {{ as_of_date() }}
    group by account_id, cast(date_trunc('month', cast(occurred_at as date)) as date)
),

final as (
    select
        {{ surrogate_key(['monthly_accrual.account_id', 'monthly_accrual.month_start']) }}
            as account_month_key,
        monthly_accrual.account_id,
        monthly_accrual.month_start,
        monthly_accrual.account_type,
        monthly_accrual.interest_rate,
        cast(monthly_accrual.days_accrued as bigint) as days_accrued,
        cast(
            monthly_accrual.sum_of_end_of_day_balances / monthly_accrual.days_accrued
            as numeric(38, 6)
        ) as average_daily_balance,
        cast(monthly_accrual.accrued_interest_unrounded as numeric(38, 18))
            as accrued_interest_unrounded,
        cast(round(monthly_accrual.accrued_interest_unrounded, 2) as numeric(38, 2))
            as accrued_interest,
        cast(coalesce(interest_posted_per_month.interest_posted, 0) as numeric(38, 2))
            as interest_posted
    from monthly_accrual
    left join interest_posted_per_month
        on
            monthly_accrual.account_id = interest_posted_per_month.account_id
            and monthly_accrual.month_start = interest_posted_per_month.month_start
)

select * from final
