{#- `<column> in (<subquery>)` for a subquery known to return few rows (dbt's and Snowflake's
    plain IN everywhere else). PostgreSQL misjudges the size of an EXCEPT and would scan the
    whole table; `= any(array(…))` evaluates the subquery once and looks each value up in the
    column's index. -#}
{% macro in_small_set(column, subquery) -%}
    {{ return(adapter.dispatch('in_small_set', 'finhouse')(column, subquery)) }}
{%- endmacro %}

{% macro default__in_small_set(column, subquery) -%}
    {{ column }} in ({{ subquery }})
{%- endmacro %}

{% macro postgres__in_small_set(column, subquery) -%}
    {{ column }} = any(array({{ subquery }}))
{%- endmacro %}
