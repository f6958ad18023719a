{#- docs/metrics.md "Customers and concentration": Lorenz curve points per population at the as-of
    date, one per percentile of holders (the last holder of each non-empty percentile, so at
    most 101 points whatever the population size) plus the origin (0, 0). -#}
with

ranked as (
    select * from {{ ref('int_customers__concentration_ranked') }}
    where period_end_date = {{ as_of_date() }}
),

percentile_ends as (
    select
        population,
        percentile,
        max(holder_rank) as holder_rank
    from ranked
    group by population, percentile
),

curve_points as (
    select
        ranked.population,
        ranked.percentile as point_no,
        cast(ranked.holder_rank as numeric(38, 6))
        / ranked.population_size as cumulative_holder_share,
        case
            when ranked.population_balance > 0
                then ranked.cumulative_balance / ranked.population_balance
        end as cumulative_balance_share
    from ranked
    inner join percentile_ends
        on
            ranked.population = percentile_ends.population
            and ranked.holder_rank = percentile_ends.holder_rank
),

origins as (
    select distinct
        population,
        0 as point_no,
        0 as cumulative_holder_share,
        0 as cumulative_balance_share
    from ranked
),

all_points as (
    select * from origins
    union all
    select * from curve_points
),

final as (
    select
        population || '|' || cast(point_no as {{ dbt.type_string() }}) as population_point_key,
        population,
        cast(point_no as integer) as point_no,
        {{ as_of_date() }} as as_of_date,
        cast(cumulative_holder_share as numeric(38, 6)) as cumulative_holder_share,
        cast(cumulative_balance_share as numeric(38, 6)) as cumulative_balance_share
    from all_points
)

select * from final
