{#- `with name as {{ materialized_cte() }} (...)`: on PostgreSQL, compute this CTE once, first
    (the planner otherwise inlines it and filters too late); other targets plan CTEs
    themselves. -#}
{% macro materialized_cte() -%}
    {{ return(adapter.dispatch('materialized_cte', 'finhouse')()) }}
{%- endmacro %}

{% macro default__materialized_cte() -%}{%- endmacro %}

{% macro postgres__materialized_cte() -%}materialized{%- endmacro %}
