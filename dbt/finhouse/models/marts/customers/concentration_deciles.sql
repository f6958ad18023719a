{#- docs/metrics.md "Customers and concentration": balance deciles per population at the as-of
    date (decile 1 = the smallest balances, 10 = the largest; decile d holds the ranks
    (d-1)*n/10 < i <= d*n/10).
    Deciles with no holder (populations under 10) have no row. -#}
with

ranked as (
    select * from {{ ref('int_customers__concentration_ranked') }}
    where period_end_date = {{ as_of_date() }}
),

per_decile as (
    select
        population,
        decile,
        max(population_balance) as population_balance,
        count(*) as holders,
        sum(balance) as balance,
        min(balance) as min_balance,
        max(balance) as max_balance
    from ranked
    group by population, decile
),

final as (
    select
        population || '|' || cast(decile as {{ dbt.type_string() }}) as population_decile_key,
        population,
        cast(decile as integer) as decile,
        {{ as_of_date() }} as as_of_date,
        cast(holders as bigint) as holders,
        cast(balance as numeric(38, 2)) as balance,
        cast(min_balance as numeric(38, 2)) as min_balance,
        cast(max_balance as numeric(38, 2)) as max_balance,
        cast(
            case when population_balance > 0 then balance / population_balance end
            as numeric(38, 6)
        ) as balance_share
    from per_decile
)

select * from final
