{#- End-of-day balance of every account for every UTC calendar day from the account's first
    ledger row to the as-of date: the balance_after of the day's last ledger row (by
    occurred_at, then id), carried forward over days without movement. -#}
with

transactions as (
    select * from {{ ref('stg_oltp__transactions') }}
),

calendar_days as (
    select * from {{ ref('int_calendar__days') }}
),

ledger_rows_until_as_of_date as (
    select
        account_id,
        transaction_id,
        occurred_at,
        balance_after,
        cast(occurred_at as date) as balance_date
    from transactions
    where cast(occurred_at as date) <= {{ as_of_date() }}
),

ledger_rows_ranked_within_day as (
    select
        *,
        row_number() over (
            partition by account_id, balance_date
            order by occurred_at desc, transaction_id desc
        ) as rank_from_end_of_day,
        count(*) over (partition by account_id, balance_date) as transactions_that_day
    from ledger_rows_until_as_of_date
),

end_of_day_after_movement as (
    select
        account_id,
        balance_date,
        balance_after as end_of_day_balance,
        transactions_that_day
    from ledger_rows_ranked_within_day
    where rank_from_end_of_day = 1
),

account_first_ledger_dates as (
    select
        account_id,
        min(balance_date) as first_ledger_date
    from end_of_day_after_movement
    group by account_id
),

calendar_dates as (
    select calendar_date
    from calendar_days
    where calendar_date <= {{ as_of_date() }}
),

account_days as (
    select
        account_first_ledger_dates.account_id,
        calendar_dates.calendar_date as balance_date
    from account_first_ledger_dates
    inner join calendar_dates
        on account_first_ledger_dates.first_ledger_date <= calendar_dates.calendar_date
),

account_days_with_movements as (
    select
        account_days.account_id,
        account_days.balance_date,
        end_of_day_after_movement.end_of_day_balance as balance_after_last_movement,
        coalesce(end_of_day_after_movement.transactions_that_day, 0) as transaction_count,
        -- each movement day opens a group that runs until the next movement day
        count(end_of_day_after_movement.end_of_day_balance) over (
            partition by account_days.account_id
            order by account_days.balance_date
            rows between unbounded preceding and current row
        ) as movement_group
    from account_days
    left join end_of_day_after_movement
        on
            account_days.account_id = end_of_day_after_movement.account_id
            and account_days.balance_date = end_of_day_after_movement.balance_date
),

balances_carried_forward as (
    select
        account_id,
        balance_date,
        transaction_count,
        max(balance_after_last_movement) over (
            partition by account_id, movement_group
        ) as end_of_day_balance
    from account_days_with_movements
),

final as (
    select
        {{ surrogate_key(['account_id', 'balance_date']) }} as account_day_key,
        account_id,
        balance_date,
        cast(end_of_day_balance as numeric(18, 2)) as end_of_day_balance,
        cast(transaction_count as bigint) as transaction_count,
        transaction_count > 0 as has_movement
    from balances_carried_forward
)

select * from final
