{#- `with name as {{ materialized_cte() }} (...)`: on PostgreSQL, compute this CTE once, first
    (the planner otherwise inlines it and filters too late); other targets plan CTEs
    themselves. -#}
{% macro materialized_cte() -%}
    {{ return(adapter.dispatch('materialized_cte', 'finhouse')()) }}
{%- endmacro %}

{% macro default__materialized_cte() -%}{%- endmacro %}

{% macro postgres__materialized_cte() -%}materialized{%- endmacro %}

{#- `with name as {{ inlined_cte() }} (...)`: on PostgreSQL, never materialize this CTE (it
    would be, whole, when referenced more than once: a scan of a large model then feeds every
    use, and no filter or index reaches it); other targets plan CTEs themselves. -#}
{% macro inlined_cte() -%}
    {{ return(adapter.dispatch('inlined_cte', 'finhouse')()) }}
{%- endmacro %}

{% macro default__inlined_cte() -%}{%- endmacro %}

{% macro postgres__inlined_cte() -%}not materialized{%- endmacro %}
