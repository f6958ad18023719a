{#- SCD type 2 history of users from every RAW version (so history exists from the first
    load): one row per version, valid from its updated_at to the next version's updated_at
    (versions ordered by updated_at, then _loaded_at, as contracts.md §2 orders them). The
    latest version is open-ended, or ends at its deletion time when the key was deleted. -#}
with

users_versions as (
    select * from {{ ref('stg_oltp__users_versions') }}
),

versions_in_order as (
    select
        *,
        row_number() over (
            partition by user_id order by updated_at asc, loaded_at asc
        ) as version_number,
        lead(updated_at) over (
            partition by user_id order by updated_at asc, loaded_at asc
        ) as next_version_updated_at
    from users_versions
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
        updated_at as valid_from,
        coalesce(next_version_updated_at, deleted_at) as valid_to,
        next_version_updated_at is null as is_latest_version,
        (next_version_updated_at is null and deleted_at is null) as is_current,
        deleted_at is not null as is_deleted,
        updated_at,
        loaded_at,
        deleted_at
    from versions_in_order
)

select * from final
