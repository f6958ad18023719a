with

current_versions as (
    -- contracts.md §2: each key's latest RAW version (by updated_at, then _loaded_at),
    -- kept only when that version is not marked deleted. Written as an anti-join rather
    -- than row_number() so the planner's row estimates stay honest downstream.
    select candidate.*
    from {{ source('oltp', 'users') }} as candidate
    where
        candidate._deleted_at is null
        and not exists (
            select 1
            from {{ source('oltp', 'users') }} as newer
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
        cast(id as bigint) as user_id,
        username,
        email,
        first_name,
        last_name,
        phone,
        national_id,
        gender,
        cast(date_of_birth as date) as date_of_birth,
        role as user_role,
        branch_code,
        region,
        kyc_status,
        cast(monthly_income as numeric(18, 2)) as monthly_income,
        risk_appetite,
        is_active,
        date_joined as joined_at,
        updated_at,
        _loaded_at as loaded_at
    from current_versions
)

select * from final
