{#- The date every figure is computed as of (docs/metrics.md): the var `as_of_date` (YYYY-MM-DD),
    default today in UTC (sessions run in UTC on every target). -#}
{% macro as_of_date() -%}
    {%- set value = var('as_of_date', none) -%}
    {%- if value -%}
        cast('{{ value }}' as date)
    {%- else -%}
        current_date
    {%- endif -%}
{%- endmacro %}
