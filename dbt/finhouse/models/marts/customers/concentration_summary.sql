{#- docs/metrics.md "Customers and concentration" at the as-of date: per population (deposits, glp)
    the top-10 % share and the Gini coefficient, the as-of row of concentration_monthly (where the
    two rules are computed). -#}
with

concentration_monthly as (
    select * from {{ ref('concentration_monthly') }}
),

final as (
    select
        population,
        as_of_date,
        holders,
        total_balance,
        top_10_pct_holders,
        top_10_pct_balance,
        top_10_pct_share,
        gini
    from concentration_monthly
    where period_end_date = {{ as_of_date() }}
)

select * from final
