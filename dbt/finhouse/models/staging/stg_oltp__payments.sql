with

current_versions as (
    -- contracts.md §2: each key's latest RAW version (by updated_at, then _loaded_at),
    -- kept only when that version is not marked deleted. Written as an anti-join rather
    -- than row_number() so the planner's row estimates stay honest downstream.
    select candidate.*
    from {{ source('oltp', 'payments') }} as candidate
    where
        candidate._deleted_at is null
        and not exists (
            select 1
            from {{ source('oltp', 'payments') }} as newer
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
        cast(id as bigint) as payment_id,
        cast(loan_id as bigint) as loan_id,
        cast(amount as numeric(18, 2)) as amount,
        cast(principal_paid as numeric(18, 2)) as principal_paid,
        cast(interest_paid as numeric(18, 2)) as interest_paid,
        cast(penalty_paid as numeric(18, 2)) as penalty_paid,
        channel,
        status as payment_status,
        paid_at,
        reference as payment_reference,
        created_at,
        updated_at,
        _loaded_at as loaded_at
    from current_versions
)

select * from final
