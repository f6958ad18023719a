{#- Savings interest per account per calendar month (docs/metrics.md "Savings, flows and
    investments" - **Savings interest**): interest accrues daily on the end-of-day balance at
    interest_rate / 365, unrounded; the month's total rounds to cents (half away from zero). The
    rate is the account's current one (figures are restated, not frozen); the as-of month is accrued
    up to the as-of date. Summing balance × rate before the single division by 365 is the exact sum
    of the unrounded daily accruals.

    Incremental: an account's months are recomputed from the first month whose daily
    balances were restated since the last run (their source_changed_at: a late or deleted
    ledger row of any age, interest postings included), every account's months from the one
    holding a new as-of day, and all months of an account whose rate or type changed.
    Months left without balances, and accounts no longer interest-bearing, are removed
    afterwards. -#}
{{
    config(
        materialized='incremental',
        unique_key=['account_id', 'month_start'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        indexes=[{'columns': ['account_id', 'month_start'], 'unique': True}],
        post_hook=[
            "{% if is_incremental() %}{{ remove_savings_interest_without_balances() }}
             {% else %}select 1{% endif %}",
        ],
    )
}}

-- (its clean-up post-hook reads them)
-- depends_on: {{ ref('stg_oltp__transactions_versions') }}
with

daily_balances as {{ inlined_cte() }} (
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

{% if is_incremental() %}
    computed as (
        select
            max(source_changed_at) as source_changed_at,
            max(accrued_through) as last_day
        from {{ this }}
    ),

    -- restated balances (a ledger change: found through the balances' source_changed_at
    -- index), from their month on
    restated_months as (
        select
            daily_balances.account_id,
            min(cast(date_trunc('month', daily_balances.balance_date) as date)) as from_month
        from daily_balances
        cross join computed
        where daily_balances.source_changed_at > computed.source_changed_at
        group by daily_balances.account_id
    ),

    -- a new as-of day: every account from the month holding the first new day (accounts
    -- without balances then simply get no rows)
    months_with_new_days as (
        select
            interest_bearing_accounts.account_id,
            cast(
                date_trunc('month', {{ dbt.dateadd('day', 1, 'computed.last_day') }}) as date
            ) as from_month
        from interest_bearing_accounts
        cross join computed
        where computed.last_day < {{ as_of_date() }}
    ),

    -- a new or changed rate or type restates every month of the account
    repriced_accounts as (
        select interest_bearing_accounts.account_id
        from interest_bearing_accounts
        where not exists (
            select 1
            from {{ this }} as computed_months
            where
                computed_months.account_id = interest_bearing_accounts.account_id
                and computed_months.interest_rate = interest_bearing_accounts.interest_rate
                and computed_months.account_type = interest_bearing_accounts.account_type
        )
    ),

    accounts_to_compute as {{ materialized_cte() }} (
        select
            account_id,
            min(from_month) as from_month
        from (
            select
                account_id,
                from_month
            from restated_months
            union all
            select
                account_id,
                from_month
            from months_with_new_days
            union all
            select
                account_id,
                cast('1900-01-01' as date) as from_month
            from repriced_accounts
        ) as reasons
        group by account_id
    ),
{% else %}
    accounts_to_compute as (
        select
            account_id,
            cast('1900-01-01' as date) as from_month
        from interest_bearing_accounts
    ),
{% endif %}

daily_accrual_inputs as (
    select
        daily_balances.account_id,
        interest_bearing_accounts.account_type,
        interest_bearing_accounts.interest_rate,
        daily_balances.balance_date,
        daily_balances.end_of_day_balance,
        daily_balances.source_changed_at,
        cast(date_trunc('month', daily_balances.balance_date) as date) as month_start
    from daily_balances
    inner join interest_bearing_accounts
        on daily_balances.account_id = interest_bearing_accounts.account_id
    inner join accounts_to_compute
        on
            daily_balances.account_id = accounts_to_compute.account_id
            and daily_balances.balance_date >= accounts_to_compute.from_month
),

monthly_accrual as (
    select
        account_id,
        month_start,
        account_type,
        interest_rate,
        count(*) as days_accrued,
        max(balance_date) as accrued_through,
        max(source_changed_at) as source_changed_at,
        sum(end_of_day_balance) as sum_of_end_of_day_balances,
        -- numeric(38, 18) before dividing keeps 18 decimals on Snowflake too (docs/metrics.md)
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
        and account_id in (select accounts_to_compute.account_id from accounts_to_compute)
    group by account_id, cast(date_trunc('month', cast(occurred_at as date)) as date)
),

final as (
    select
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
            as interest_posted,
        monthly_accrual.accrued_through,
        monthly_accrual.source_changed_at
    from monthly_accrual
    left join interest_posted_per_month
        on
            monthly_accrual.account_id = interest_posted_per_month.account_id
            and monthly_accrual.month_start = interest_posted_per_month.month_start
)

select * from final
