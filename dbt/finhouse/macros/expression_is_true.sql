{#- Generic test: the rows for which `expression` is not true (dbt_utils' test of that name,
    out of reach here). A null result passes, as in dbt_utils; dbt's `where` config narrows
    the rows tested. -#}
{% test expression_is_true(model, expression) %}
    select 1 as failing_row
    from {{ model }}
    where not ({{ expression }})
{% endtest %}
