{#- The branch directory the marts label branches with: one row per branch code of the branch
    file (stg_files__branches), its name, region, country, type and opening date (the manager's
    name, personal data, stays in staging). A table with a unique index on branch_code on
    PostgreSQL: a mart that left-joins it on branch_code (portfolio_daily, a view) lets the
    planner drop the join from a query that reads no branch column, so such queries, and the
    view's key test, read the segment days' index as before. -#}
{{
    config(
        indexes=[{'columns': ['branch_code'], 'unique': True}],
    )
}}
with

branches as (
    select * from {{ ref('stg_files__branches') }}
),

final as (
    select
        branch_code,
        branch_name,
        region as branch_region,
        country as branch_country,
        branch_type,
        opened_on
    from branches
)

select * from final
