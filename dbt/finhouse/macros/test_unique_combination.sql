{#- Generic test: no two rows share the same values of `columns` (the hub's dbt_utils is
    out of reach; this is the one helper we need from it). -#}
{% test unique_combination_of_columns(model, columns) %}
    select {{ columns | join(', ') }}, count(*) as occurrences
    from {{ model }}
    group by {{ columns | join(', ') }}
    having count(*) > 1
{% endtest %}
