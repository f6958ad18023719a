with

current_versions as (
    -- contracts.md §2: each key's latest RAW version (by updated_at, then _loaded_at),
    -- kept only when that version is not marked deleted. Written as an anti-join rather
    -- than row_number() so the planner's row estimates stay honest downstream.
    select candidate.*
    from {{ source('oltp', 'accounts') }} as candidate
    where
        candidate._deleted_at is null
        and not exists (
            select 1
            from {{ source('oltp', 'accounts') }} as newer
            where
                newer.id = candidate.id
                and (
                    newer.updated_at > candidate.updated_at
                    or (
                        newer.updated_at = candidate.updated_at
                        and newer._loaded_at > candidate._loaded_at
                    )
                )
        )
),

final as (
    select
        cast(id as bigint) as account_id,
        cast(user_id as bigint) as user_id,
        account_number,
        account_type,
        currency,
        status as account_status,
        cast(balance as numeric(18, 2)) as balance,
        cast(interest_rate as numeric(7, 4)) as interest_rate,
        opened_at,
        closed_at,
        created_at,
        updated_at,
        _loaded_at as loaded_at
    from current_versions
)

select * from final
