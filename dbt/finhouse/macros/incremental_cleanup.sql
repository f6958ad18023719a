{#- Post-hook of the incremental int_accounts__daily_balances: days before an account's
    (possibly later, after a deletion) first ledger day, and accounts whose every ledger row
    was deleted, leave the model. The ledger is append-only, so only an account with a
    deleted ledger row in RAW can be in either case: both deletes look at those accounts only
    and find their rows through the model's (account_id, balance_date) index. One statement
    each (Snowflake runs one per call). -#}
{% macro accounts_with_deleted_ledger_rows() -%}
    select cast(account_id as bigint) as account_id
    from {{ source('oltp', 'transactions') }}
    where _deleted_at is not null
{%- endmacro %}

{% macro remove_balances_before_first_ledger_day() -%}
    delete from {{ this }}
    using (
        select
            account_id,
            min(cast(occurred_at as date)) as first_day
        from {{ ref('stg_oltp__transactions') }}
        where account_id in ({{ accounts_with_deleted_ledger_rows() }})
        group by account_id
    ) as first_days
    where
        {{ this }}.account_id = first_days.account_id
        and {{ this }}.balance_date < first_days.first_day
{%- endmacro %}

{% macro remove_balances_of_accounts_without_ledger() -%}
    delete from {{ this }}
    where account_id in (
        {{ accounts_with_deleted_ledger_rows() }}
        except
        select account_id from {{ ref('stg_oltp__transactions') }}
        where account_id in ({{ accounts_with_deleted_ledger_rows() }})
    )
{%- endmacro %}

{#- Post-hook of the incremental int_portfolio__segment_days: days before a segment's first
    disbursement, after the as-of date, or of segments left without loans leave the model
    (one hash join of the model with the segments' spans). -#}
{% macro remove_segment_days_out_of_span() -%}
    delete from {{ this }}
    using (
        select
            segment_days.branch_code,
            segment_days.product,
            segment_days.loan_officer_id,
            segment_days.as_of_date
        from {{ this }} as segment_days
        left join (
            select
                users.branch_code,
                loans.product,
                loans.loan_officer_id,
                min(cast(loans.disbursed_at as date)) as first_day
            from {{ ref('stg_oltp__loans') }} as loans
            left join {{ ref('stg_oltp__users') }} as users on loans.borrower_id = users.user_id
            where loans.disbursed_at is not null
            group by users.branch_code, loans.product, loans.loan_officer_id
        ) as spans
            on
                segment_days.branch_code = spans.branch_code
                and segment_days.product = spans.product
                and segment_days.loan_officer_id = spans.loan_officer_id
        where
            spans.first_day is null
            or segment_days.as_of_date < spans.first_day
            or segment_days.as_of_date > {{ as_of_date() }}
    ) as stale
    where
        {{ this }}.branch_code = stale.branch_code
        and {{ this }}.product = stale.product
        and {{ this }}.loan_officer_id = stale.loan_officer_id
        and {{ this }}.as_of_date = stale.as_of_date
{%- endmacro %}

{#- Post-hook of the incremental int_accounts__savings_interest: months left without daily
    balances (a ledger deletion), and accounts no longer interest-bearing, leave the model. -#}
{% macro remove_savings_interest_without_balances() -%}
    delete from {{ this }}
    where
        not exists (
            select 1
            from {{ ref('int_accounts__daily_balances') }} as daily_balances
            where
                daily_balances.account_id = {{ this }}.account_id
                and daily_balances.balance_date >= {{ this }}.month_start
                and daily_balances.balance_date
                < cast({{ dbt.dateadd('month', 1, this ~ '.month_start') }} as date)
        )
        or not exists (
            select 1
            from {{ ref('stg_oltp__accounts') }} as accounts
            where
                accounts.account_id = {{ this }}.account_id
                and accounts.interest_rate > 0
        )
{%- endmacro %}

{#- Post-hook of the per-loan incremental models (schedule, repayment steps, delinquency, and
    with by_as_of_date the loan features at disbursement, which hold loans disbursed by the
    as-of date only): loans no longer disbursed (or gone from RAW) leave the model. -#}
{% macro remove_loans_no_longer_disbursed(by_as_of_date=false) -%}
    {%- set by_as_of = 'and cast(disbursed_at as date) <= ' ~ as_of_date() if by_as_of_date -%}
    delete from {{ this }}
    where loan_id not in (
        select loan_id from {{ ref('stg_oltp__loans') }}
        where disbursed_at is not null {{ by_as_of or '' }}
    )
{%- endmacro %}
