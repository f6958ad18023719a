{#- End-of-day balance of every account for every UTC calendar day from the account's first
    ledger row to the as-of date: the balance_after of the day's last ledger row (by
    occurred_at, then id), carried forward over days without movement.

    Incremental: each account is recomputed from the earliest day its ledger changed in RAW
    since the last run (RAW's change time, docs/interfaces.md §2: a late-arriving or deleted row of
    any age restates the days from its own), and every account gains the days up to a new
    as-of date; the balance carried into the first recomputed day is the last ledger row
    before it. Rows before an account's first ledger day, or of accounts whose every ledger
    row was deleted, are removed afterwards. -#}
{{
    config(
        materialized='incremental',
        unique_key=['account_id', 'balance_date'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        indexes=[
            {'columns': ['account_id', 'balance_date'], 'unique': True},
            {'columns': ['source_changed_at']},
        ],
        post_hook=[
            "{% if is_incremental() %}{{ remove_balances_before_first_ledger_day() }}
             {% else %}select 1{% endif %}",
            "{% if is_incremental() %}{{ remove_balances_of_accounts_without_ledger() }}
             {% else %}select 1{% endif %}",
        ],
    )
}}

with

transactions as (
    select * from {{ ref('stg_oltp__transactions') }}
),

ledger_versions as (
    select * from {{ ref('stg_oltp__transactions_versions') }}
),

calendar_days as (
    select * from {{ ref('int_calendar__days') }}
),

ledger_rows as (
    select
        account_id,
        transaction_id,
        occurred_at,
        balance_after,
        cast(occurred_at as date) as balance_date
    from transactions
    where cast(occurred_at as date) <= {{ as_of_date() }}
),

-- every RAW ledger row, deleted ones included, with its change time
ledger_changes as (
    select
        loaded_at,
        deleted_at,
        changed_at,
        raw_loaded_at,
        raw_deleted_at,
        cut_horizon,
        account_id,
        cast(occurred_at as date) as balance_date
    from ledger_versions
),

{% if is_incremental() %}
    -- both from the model's indexes, without a scan: every account's days run to the same
    -- last day (the previous run's as-of date), so the first account's last day is it
    computed as (
        select
            (select max(source_changed_at) from {{ this }}) as source_changed_at,
            (
                select max(last_days.balance_date) from {{ this }} as last_days
                where
                    last_days.account_id
                    = (select min(first_account.account_id) from {{ this }} as first_account)
            ) as last_day
    ),

    -- the earliest changed day of each account whose ledger changed since the last run
    changed_accounts as (
        select
            ledger_changes.account_id,
            min(ledger_changes.balance_date) as from_date,
            max(ledger_changes.changed_at) as source_changed_at
        from ledger_changes
        cross join computed
        where {{ raw_changed_since('ledger_changes', 'computed.source_changed_at') }}
        group by ledger_changes.account_id
    ),

    -- with a new as-of date, every account gains the days after the last computed one
    accounts_with_new_days as (
        select
            ledger_rows.account_id,
            cast({{ dbt.dateadd('day', 1, 'computed.last_day') }} as date) as from_date
        from ledger_rows
        cross join computed
        where computed.last_day < {{ as_of_date() }}
        group by ledger_rows.account_id, computed.last_day
    ),

    accounts_to_compute as {{ materialized_cte() }} (
        select
            account_id,
            min(from_date) as from_date,
            max(source_changed_at) as source_changed_at
        from (
            select
                account_id,
                from_date,
                source_changed_at
            from changed_accounts
            union all
            select
                accounts_with_new_days.account_id,
                accounts_with_new_days.from_date,
                computed.source_changed_at
            from accounts_with_new_days
            cross join computed
        ) as reasons
        group by account_id
    ),
{% else %}
    accounts_to_compute as (
        select
            account_id,
            min(balance_date) as from_date,
            max(changed_at) as source_changed_at
        from ledger_changes
        group by account_id
    ),
{% endif %}

scoped_ledger_rows as (
    select
        ledger_rows.*,
        accounts_to_compute.from_date
    from ledger_rows
    inner join accounts_to_compute on ledger_rows.account_id = accounts_to_compute.account_id
),

-- rows before from_date form one group: its last row opens the recomputed days
ledger_rows_ranked_within_day as (
    select
        *,
        row_number() over (
            partition by
                account_id,
                case when balance_date >= from_date then balance_date end
            order by occurred_at desc, transaction_id desc
        ) as rank_from_end_of_day,
        count(*) over (partition by account_id, balance_date) as transactions_that_day
    from scoped_ledger_rows
),

end_of_day_after_movement as (
    select
        account_id,
        case
            when balance_date >= from_date then balance_date
            else cast({{ dbt.dateadd('day', -1, 'from_date') }} as date)
        end as balance_date,
        balance_after as end_of_day_balance,
        case when balance_date >= from_date then transactions_that_day else 0 end
            as transactions_that_day
    from ledger_rows_ranked_within_day
    where rank_from_end_of_day = 1
),

account_first_days as (
    select
        account_id,
        min(balance_date) as first_day
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
        account_first_days.account_id,
        calendar_dates.calendar_date as balance_date
    from account_first_days
    inner join calendar_dates
        on account_first_days.first_day <= calendar_dates.calendar_date
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
        balances_carried_forward.account_id,
        balances_carried_forward.balance_date,
        accounts_to_compute.source_changed_at,
        cast(balances_carried_forward.end_of_day_balance as numeric(18, 2)) as end_of_day_balance,
        cast(balances_carried_forward.transaction_count as bigint) as transaction_count,
        balances_carried_forward.transaction_count > 0 as has_movement
    from balances_carried_forward
    inner join accounts_to_compute
        on balances_carried_forward.account_id = accounts_to_compute.account_id
    where balances_carried_forward.balance_date >= accounts_to_compute.from_date
)

select * from final
