{#- Fresh planner statistics for a table dbt just built (PostgreSQL plans joins of large
    intermediates badly without them; Snowflake keeps its own). Views are skipped. -#}
{% macro analyze_table() -%}
    {{ return(adapter.dispatch('analyze_table', 'finhouse')()) }}
{%- endmacro %}

{% macro default__analyze_table() -%}
    select 1
{%- endmacro %}

{% macro postgres__analyze_table() -%}
    {%- if model.config.materialized in ('table', 'incremental') -%}
        analyze {{ this }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}
