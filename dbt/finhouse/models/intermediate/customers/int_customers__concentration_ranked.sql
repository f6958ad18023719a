{#- The single implementation of the concentration ranking (docs/metrics.md "Customers and
    concentration"), for every population and period end at once. Holders are ranked ascending by balance
    (holder_id breaks ties; tied balances give the same Gini terms, so the tie order does not
    change any figure). Decile d holds the ranks i with (d-1)*n/10 < i <= d*n/10, i.e.
    d = ceil(10*i/n), so decile 10 is exactly the top ceil(n/10) holders: the "top 10 %".
    Percentile p = ceil(100*i/n) gives the Lorenz points. -#}
with

holders as (
    select * from {{ ref('int_customers__concentration_holders') }}
),

ranked as (
    select
        population,
        period_end_date,
        holder_id,
        balance,
        row_number() over (
            partition by population, period_end_date order by balance asc, holder_id asc
        ) as holder_rank,
        count(*) over (partition by population, period_end_date) as population_size,
        sum(balance) over (partition by population, period_end_date) as population_balance
    from holders
),

with_cumulative as (
    select
        *,
        sum(balance) over (
            partition by population, period_end_date
            order by holder_rank asc
            rows between unbounded preceding and current row
        ) as cumulative_balance
    from ranked
),

final as (
    select
        population,
        period_end_date,
        holder_id,
        cast(balance as numeric(38, 2)) as balance,
        cast(holder_rank as bigint) as holder_rank,
        cast(population_size as bigint) as population_size,
        cast(population_balance as numeric(38, 2)) as population_balance,
        cast(cumulative_balance as numeric(38, 2)) as cumulative_balance,
        cast(
            ceil(cast(10 * holder_rank as numeric(38, 6)) / population_size) as integer
        ) as decile,
        cast(
            ceil(cast(100 * holder_rank as numeric(38, 6)) / population_size) as integer
        ) as percentile
    from with_cumulative
)

select * from final
