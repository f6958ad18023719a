with

current_versions as (
    {{ current_versions(source('oltp', 'investments')) }}
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
