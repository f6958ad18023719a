{#- dbt's `grants` config grants SELECT on each mart; the schema USAGE it needs is granted here,
    after every run/build (docs/architecture.md role matrix: reporter reads the marts only). -#}
{% macro grant_schema_usage() %}
    {%- if execute and flags.WHICH in ('run', 'build') -%}
        {{ return(adapter.dispatch('grant_schema_usage', 'finhouse')(var('reporter_role'))) }}
    {%- else -%}
        {{ return('select 1') }}
    {%- endif -%}
{% endmacro %}

{% macro default__grant_schema_usage(role) -%}
    grant usage on schema marts to {{ role }}
{%- endmacro %}

{% macro snowflake__grant_schema_usage(role) -%}
    grant usage on schema {{ target.database }}.marts to role {{ role }}
{%- endmacro %}
