with

current_versions as (
    -- contracts.md §2: each key's latest RAW version (by updated_at, then _loaded_at),
    -- kept only when that version is not marked deleted. Written as an anti-join rather
    -- than row_number() so the planner's row estimates stay honest downstream.
    select candidate.*
    from {{ source('oltp', 'investments') }} as candidate
    where
        candidate._deleted_at is null
        and not exists (
            select 1
            from {{ source('oltp', 'investments') }} as newer
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
        cast(id as bigint) as investment_id,
        cast(user_id as bigint) as user_id,
        product as investment_product,
        cast(principal as numeric(18, 2)) as principal,
        cast(annual_rate as numeric(7, 4)) as annual_rate,
        cast(start_date as date) as start_date,
        cast(maturity_date as date) as maturity_date,
        status as investment_status,
        cast(current_value as numeric(18, 2)) as current_value,
        created_at,
        updated_at,
        _loaded_at as loaded_at
    from current_versions
)

select * from final
