{#- Each account's balance at the end of as_of_date (restated, kpis.md): the balance_after of
    its last ledger movement on or before that UTC date, 0 when it has none yet. Accounts
    opened after the as-of date are left out. -#}
with

accounts as (
    select * from {{ ref('stg_oltp__accounts') }}
),

transactions as (
    select * from {{ ref('stg_oltp__transactions') }}
),

movements_until_as_of as (
    select
        account_id,
        balance_after,
        row_number() over (
            partition by account_id order by occurred_at desc, transaction_id desc
        ) as movement_rank
    from transactions
    where cast(occurred_at as date) <= {{ as_of_date() }}
),

last_movements as (
    select
        account_id,
        balance_after
    from movements_until_as_of
    where movement_rank = 1
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
        cast(coalesce(last_movements.balance_after, 0) as numeric(18, 2)) as balance,
        {{ as_of_date() }} as as_of_date
    from accounts
    left join last_movements
        on accounts.account_id = last_movements.account_id
    where cast(accounts.opened_at as date) <= {{ as_of_date() }}
)

select * from final
