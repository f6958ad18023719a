{#- The month-end closes' view of a close table (finhouse.closes writes the schema `closes`, outside
    dbt: docs/operations.md "Month-end closes"), e.g. closes_relation('risk_coverage_as_closed'):
    the relation when it exists, else none (before the first close, and on Snowflake, where
    closes are not written yet). Read when the model is built: a model reading it shows the
    first close after its next build. -#}
{% macro closes_relation(name) -%}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(adapter.get_relation(database=target.database, schema='closes', identifier=name)) }}
{%- endmacro %}
