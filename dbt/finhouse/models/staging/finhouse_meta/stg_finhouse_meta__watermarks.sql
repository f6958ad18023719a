with

source as (
    select * from {{ source('finhouse_meta', 'watermarks') }}
),

final as (
    select
        table_name,
        watermark,
        run_id,
        updated_at as watermark_updated_at
    from source
)

select * from final
