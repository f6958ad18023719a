{#- dbt's not_null test, on PostgreSQL: a column the table declares NOT NULL (an enforced
    model contract's constraint) cannot hold a null, so the scan runs only when the column
    carries no such declaration (a one-time filter, evaluated before the scan). Views and
    undeclared columns are scanned exactly as dbt's own test does. -#}
{% macro postgres__test_not_null(model, column_name) %}
    with

    declared_not_null as (
        select 1 as declared
        from pg_catalog.pg_attribute as attributes
        inner join pg_catalog.pg_class as tables on attributes.attrelid = tables.oid
        inner join pg_catalog.pg_namespace as schemas on tables.relnamespace = schemas.oid
        where
            schemas.nspname = '{{ model.schema }}'
            and tables.relname = '{{ model.identifier }}'
            and tables.relkind in ('r', 'p')
            and attributes.attname = '{{ column_name }}'
            and attributes.attnotnull
    )

    select {{ '*' if should_store_failures() else column_name }}
    from {{ model }}
    where {{ column_name }} is null and not exists (select 1 from declared_not_null)
{% endmacro %}
