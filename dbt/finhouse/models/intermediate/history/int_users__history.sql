{#- SCD type 2 history of users from every RAW version (so history exists from the first
    load): one row per version, in the order the loads saw them (_loaded_at, then updated_at:
    the source's commit order, contracts.md §2 — never the application's clock alone). A
    version is valid from its updated_at, or from the previous version's start when its stamp
    is older (an app clock behind, a save that waited on a lock: the later-loaded version
    still wins from then on), to the next version's start. The latest version is open-ended,
    or ends at its deletion time when the key was deleted. -#}
with

users_versions as (
    select * from {{ ref('stg_oltp__users_versions') }}
),

versions_in_load_order as (
    select
        *,
        row_number() over (
            partition by user_id order by loaded_at asc, updated_at asc
        ) as version_number,
        max(coalesce(updated_at, loaded_at)) over (
            partition by user_id order by loaded_at asc, updated_at asc
            rows between unbounded preceding and current row
        ) as version_valid_from
    from users_versions
),

versions_in_order as (
    select
        *,
        lead(version_valid_from) over (
            partition by user_id order by version_number asc
        ) as next_version_updated_at
    from versions_in_load_order
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
        version_valid_from as valid_from,
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
