{#- SCD type 2 history of accounts: one row per RAW version in load order (the rule and the
    validity columns: macros/scd2_in_load_order.sql). -#}
with

versions_in_order as (
    {{ scd2_in_load_order(ref('stg_oltp__accounts_versions'), 'account_id') }}
),

final as (
    select
        {{ surrogate_key(['account_id', 'updated_at']) }} as account_version_key,
        account_id,
        user_id,
        account_number,
        account_type,
        currency,
        account_status,
        balance,
        interest_rate,
        opened_at,
        closed_at,
        created_at,
        version_number,
        valid_from,
        valid_to,
        is_latest_version,
        is_current,
        is_deleted,
        updated_at,
        loaded_at,
        deleted_at
    from versions_in_order
)

select * from final
