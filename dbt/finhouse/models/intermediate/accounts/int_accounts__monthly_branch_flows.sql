{#- Ledger flows per calendar month (UTC dates of occurred_at, up to the as-of date) and branch of
    the account owner's current branch (restated, not frozen), for the month-branch pairs that have
    ledger rows (docs/metrics.md "Savings, flows and investments" - **Monthly financial summary**;
    the mart lays them on the full month × branch grid). A ledger row whose account or owner is gone
    from the source counts under branch 'unknown'.

    Incremental by month: a run recomputes the months holding a ledger row loaded or deleted
    in RAW since the last run (found through RAW's _loaded_at and _deleted_at indexes), the
    months from the earlier of the last and the new as-of date on, and every month when an
    existing account's owner or an existing user's branch changed or either was deleted (a
    restated branch moves past flows). Each RAW table's change time (docs/interfaces.md §2:
    greatest(_loaded_at, _deleted_at)) is kept as its own watermark. Months left without
    ledger rows, and months after the as-of date, are removed afterwards. -#}
{{
    config(
        materialized='incremental',
        unique_key='month_start',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        indexes=[{'columns': ['month_start', 'branch_code'], 'unique': True}],
        post_hook=[
            "{% if is_incremental() %}{{ remove_monthly_flows_emptied_by_deletions() }}
             {% else %}select 1{% endif %}",
            "{% if is_incremental() %}{{ remove_monthly_flows_after_as_of_date() }}
             {% else %}select 1{% endif %}",
        ],
    )
}}

-- depends_on: {{ ref('int_calendar__days') }}
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

-- every RAW row, with loaded_at and deleted_at (read more than once: never materialized, so
-- that each use reaches RAW's _loaded_at and _deleted_at indexes)
ledger_versions as {{ inlined_cte() }} (
    select * from {{ ref('stg_oltp__transactions_versions') }}
),

account_versions as {{ inlined_cte() }} (
    select * from {{ ref('stg_oltp__accounts_versions') }}
),

user_versions as {{ inlined_cte() }} (
    select * from {{ ref('stg_oltp__users_versions') }}
),

-- each RAW table's latest change time, from its indexes
source_watermarks as (
    select
        {{ raw_changed_at('ledger_versions') }} as ledger_changed_at,
        {{ raw_changed_at('account_versions') }} as accounts_changed_at,
        {{ raw_changed_at('user_versions') }} as users_changed_at
),

{% if is_incremental() %}
    computed as (
        select
            max(ledger_changed_at) as ledger_changed_at,
            max(accounts_changed_at) as accounts_changed_at,
            max(users_changed_at) as users_changed_at,
            max(computed_as_of) as computed_as_of
        from {{ this }}
    ),

    -- months of ledger rows loaded or deleted since the last run
    changed_ledger_months as (
        select distinct
            cast({{ dbt.date_trunc('month', 'cast(ledger.occurred_at as date)') }} as date)
                as month_start
        from ledger_versions as ledger
        cross join computed
        where {{ raw_changed_since('ledger', 'computed.ledger_changed_at') }}
    ),

    -- an existing account that changed owner or was deleted, an existing user who changed
    -- branch or was deleted (over all versions of the ids that changed since the last run)
    changed_account_ids as (
        select distinct changed_accounts.account_id
        from account_versions as changed_accounts
        cross join computed
        where {{ raw_changed_since('changed_accounts', 'computed.accounts_changed_at') }}
    ),

    changed_user_ids as (
        select distinct changed_users.user_id
        from user_versions as changed_users
        cross join computed
        where {{ raw_changed_since('changed_users', 'computed.users_changed_at') }}
    ),

    branch_restatements as (
        select account_versions.account_id as id
        from account_versions
        inner join changed_account_ids
            on account_versions.account_id = changed_account_ids.account_id
        group by account_versions.account_id
        having
            count(distinct account_versions.user_id) > 1
            or count(account_versions.deleted_at) > 0
        union all
        select user_versions.user_id as id
        from user_versions
        inner join changed_user_ids on user_versions.user_id = changed_user_ids.user_id
        group by user_versions.user_id
        having
            count(distinct user_versions.branch_code) > 1
            or count(user_versions.deleted_at) > 0
    ),

    -- the months from the earlier of the last and the new as-of date to the new one
    as_of_months as (
        select distinct
            cast({{ dbt.date_trunc('month', 'calendar_days.calendar_date') }} as date)
                as month_start
        from {{ ref('int_calendar__days') }} as calendar_days
        cross join computed
        where
            calendar_days.calendar_date
            >= least(computed.computed_as_of, {{ as_of_date() }})
            and calendar_days.calendar_date <= {{ as_of_date() }}
    ),

    months_to_compute as {{ materialized_cte() }} (
        select month_start from changed_ledger_months
        union
        select month_start from as_of_months
    ),

    -- (every month also when the model holds no row yet: no watermark to compare with)
    recompute_all as (
        select
            (select count(*) from branch_restatements) > 0
            or (select computed.computed_as_of from computed) is null as is_needed
    ),
{% endif %}

account_branches as (
    select
        accounts.account_id,
        users.branch_code
    from accounts
    inner join users
        on accounts.user_id = users.user_id
),

ledger_rows as (
    select
        transactions.account_id,
        transactions.txn_type,
        transactions.amount,
        cast(
            {{ dbt.date_trunc('month', 'cast(transactions.occurred_at as date)') }} as date
        ) as month_start
    from transactions
    where cast(transactions.occurred_at as date) <= {{ as_of_date() }}
),

ledger_rows_to_compute as (
    select
        ledger_rows.account_id,
        ledger_rows.txn_type,
        ledger_rows.amount,
        ledger_rows.month_start,
        coalesce(account_branches.branch_code, 'unknown') as branch_code
    from ledger_rows
    left join account_branches
        on ledger_rows.account_id = account_branches.account_id
    {% if is_incremental() %}
        cross join recompute_all
        where
            recompute_all.is_needed
            or ledger_rows.month_start in (
                select months_to_compute.month_start from months_to_compute
            )
    {% endif %}
),

flows as (
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
    from ledger_rows_to_compute
    group by month_start, branch_code
),

final as (
    select
        flows.month_start,
        cast(flows.branch_code as text) as branch_code,
        cast(flows.deposits as numeric(38, 2)) as deposits,
        cast(flows.withdrawals as numeric(38, 2)) as withdrawals,
        cast(flows.loan_disbursements as numeric(38, 2)) as loan_disbursements,
        cast(flows.loan_repayments as numeric(38, 2)) as loan_repayments,
        cast(flows.fees as numeric(38, 2)) as fees,
        cast(flows.interest_paid as numeric(38, 2)) as interest_paid,
        cast(flows.transfers_in as numeric(38, 2)) as transfers_in,
        cast(flows.transfers_out as numeric(38, 2)) as transfers_out,
        cast(flows.transaction_count as bigint) as transaction_count,
        cast(flows.accounts_with_movement as bigint) as accounts_with_movement,
        source_watermarks.ledger_changed_at,
        source_watermarks.accounts_changed_at,
        source_watermarks.users_changed_at,
        {{ as_of_date() }} as computed_as_of
    from flows
    cross join source_watermarks
)

select * from final
