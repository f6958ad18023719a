with

source as (
    select * from {{ source('oltp', 'accounts') }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by id order by updated_at desc, _loaded_at desc
        ) as version_rank
    from source
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
    from ranked
    where version_rank = 1 and _deleted_at is null
)

select * from final
