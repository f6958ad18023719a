{#- Every calendar day from 2000-01-01 to the as-of date (cross-db, dbt's date_spine). -#}
with

days as (
    {{ dbt.date_spine(
        datepart='day',
        start_date="cast('2000-01-01' as date)",
        end_date=dbt.dateadd('day', 1, as_of_date()),
    ) }}
),

final as (
    select cast(date_day as date) as calendar_date
    from days
)

select * from final
