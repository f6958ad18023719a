{#- Generic test: no two rows share the same values of `columns` (the hub's dbt_utils is
    out of reach; this is the one helper we need from it). PostgreSQL skips the scan when a
    unique index enforces the combination (postgres_performance/). -#}
{% test unique_combination_of_columns(model, columns) %}
    {{ return(adapter.dispatch('test_unique_combination_of_columns', 'finhouse')(model, columns)) }}
{% endtest %}

{% macro default__test_unique_combination_of_columns(model, columns) %}
    select {{ columns | join(', ') }}, count(*) as occurrences
    from {{ model }}
    group by {{ columns | join(', ') }}
    having count(*) > 1
{% endmacro %}
