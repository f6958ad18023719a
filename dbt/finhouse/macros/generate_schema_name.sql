{#- Schemas are named exactly staging / intermediate / marts on every target (no target
    prefix); Snowflake folds them to STAGING / INTERMEDIATE / MARTS. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema | trim }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
