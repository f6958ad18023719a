{#- docs/metrics.md "Customers and concentration", per population (deposits, glp) at every month's
    end (the last day of the month; the as-of date for the as-of month, partially elapsed): the
    share held by the top 10 % by balance (the top ceil(n/10) holders, decile 10) and the Gini
    coefficient G = sum_i (2i - n - 1) * x_i / (n * sum_i x_i), x ascending, i = 1..n. The one
    place these two rules are computed: concentration_summary is its as-of row. -#}
with

ranked as (
    select * from {{ ref('int_customers__concentration_ranked') }}
),

per_population as (
    select
        population,
        period_end_date,
        max(population_size) as holders,
        sum(balance) as total_balance,
        sum(case when decile = 10 then 1 else 0 end) as top_10_pct_holders,
        sum(case when decile = 10 then balance else 0 end) as top_10_pct_balance,
        sum((2 * holder_rank - population_size - 1) * balance) as gini_numerator
    from ranked
    group by population, period_end_date
),

final as (
    select
        population || '|' || cast(period_end_date as {{ dbt.type_string() }})
            as population_period_key,
        cast({{ dbt.date_trunc('month', 'period_end_date') }} as date) as month_start,
        period_end_date,
        period_end_date = cast({{ dbt.last_day('period_end_date', 'month') }} as date)
            as is_month_complete,
        population,
        cast(holders as bigint) as holders,
        cast(total_balance as numeric(38, 2)) as total_balance,
        cast(top_10_pct_holders as bigint) as top_10_pct_holders,
        cast(top_10_pct_balance as numeric(38, 2)) as top_10_pct_balance,
        cast(
            case when total_balance > 0 then top_10_pct_balance / total_balance end
            as numeric(38, 6)
        ) as top_10_pct_share,
        cast(
            case
                when total_balance > 0 then gini_numerator / (holders * total_balance)
            end as numeric(38, 6)
        ) as gini,
        {{ as_of_date() }} as as_of_date
    from per_population
)

select * from final
