{#- Post-hook of the incremental int_accounts__daily_balances: days before an account's
    (possibly later, after a deletion) first ledger day, and accounts whose every ledger row
    was deleted, leave the model. Both deletes find their rows through the model's
    (account_id, balance_date) index. One statement each (Snowflake runs one per call). -#}
{% macro remove_balances_before_first_ledger_day() -%}
    delete from {{ this }}
    using (
        select
            account_id,
            min(cast(occurred_at as date)) as first_day
        from {{ ref('stg_oltp__transactions') }}
        group by account_id
    ) as first_days
    where
        {{ this }}.account_id = first_days.account_id
        and {{ this }}.balance_date < first_days.first_day
{%- endmacro %}

{% macro remove_balances_of_accounts_without_ledger() -%}
    delete from {{ this }}
    where account_id in (
        select cast(account_id as bigint) as account_id
        from {{ source('oltp', 'transactions') }}
        where _deleted_at is not null
        except
        select account_id from {{ ref('stg_oltp__transactions') }}
    )
{%- endmacro %}
