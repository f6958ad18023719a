{#- SCD type 2 history of accounts from every RAW version (so history exists from the first
    load): one row per version, valid from its updated_at to the next version's updated_at
    (versions ordered by updated_at, then _loaded_at, as contracts.md §2 orders them). The
    latest version is open-ended, or ends at its deletion time when the key was deleted. -#}
with

accounts_versions as (
    select * from {{ ref('stg_oltp__accounts_versions') }}
),

versions_in_order as (
    select
        *,
        row_number() over (
            partition by account_id order by updated_at asc, loaded_at asc
        ) as version_number,
        lead(updated_at) over (
            partition by account_id order by updated_at asc, loaded_at asc
        ) as next_version_updated_at
    from accounts_versions
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
