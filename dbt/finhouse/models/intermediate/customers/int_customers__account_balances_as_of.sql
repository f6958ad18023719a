{#- Each account's balance at the end of as_of_date (restated, docs/metrics.md): the balance_after
    of its last ledger movement on or before that UTC date, 0 when it has none yet. Accounts opened
    after the as-of date are left out.

    int_accounts__daily_balances already holds exactly that balance for every account and day
    from its first ledger day to the as-of date (carried forward over days without movement):
    one lookup per account in its (account_id, balance_date) index, instead of ranking the
    whole ledger again. -#}
with

accounts as (
    select * from {{ ref('stg_oltp__accounts') }}
),

daily_balances as (
    select * from {{ ref('int_accounts__daily_balances') }}
),

final as (
    select
        accounts.account_id,
        accounts.user_id,
        accounts.account_type,
        accounts.account_status,
        cast(accounts.opened_at as date) as opened_date,
        cast(accounts.closed_at as date) as closed_date,
        (
            accounts.closed_at is null
            or cast(accounts.closed_at as date) > {{ as_of_date() }}
        ) as is_open,
        cast(coalesce(daily_balances.end_of_day_balance, 0) as numeric(18, 2)) as balance,
        {{ as_of_date() }} as as_of_date
    from accounts
    left join daily_balances
        on
            accounts.account_id = daily_balances.account_id
            and daily_balances.balance_date = {{ as_of_date() }}
    where cast(accounts.opened_at as date) <= {{ as_of_date() }}
)

select * from final
