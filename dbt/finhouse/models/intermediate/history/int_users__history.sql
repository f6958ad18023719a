{#- SCD type 2 history of users: one row per RAW version in load order (the rule and the
    validity columns: macros/scd2_in_load_order.sql). -#}
with

versions_in_order as (
    {{ scd2_in_load_order(ref('stg_oltp__users_versions'), 'user_id') }}
),

final as (
    select
        {{ surrogate_key(['user_id', 'updated_at']) }} as user_version_key,
        user_id,
        username,
        email,
        first_name,
        last_name,
        phone,
        national_id,
        gender,
        date_of_birth,
        user_role,
        branch_code,
        region,
        kyc_status,
        monthly_income,
        risk_appetite,
        is_active,
        joined_at,
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
