-- noqa: disable=LT02
{#- (layout rule LT02 off: the Jinja guard at the top is not indented as SQL) -#}
{#- dbt's `relationships` test on PostgreSQL: every non-null value of column_name in the model
    exists in `to`.`field`. When the model is a table whose valid btree index leads with the
    column (the large incremental models keep one for their delete+insert), its distinct
    values are read by a skip scan of that index (one index probe per distinct value, e.g.
    27,000 accounts instead of 12.5M daily balance rows); otherwise every row is read, as
    dbt's own test does. Which branch runs is a one-time filter, decided before any scan. -#}
{% macro postgres__test_relationships(model, column_name, to, field) %}
    {%- if model.identifier is not defined -%}
    {{ return(dbt.default__test_relationships(model, column_name, to, field)) }}
    {%- endif %}
    with recursive

    leading_index as (
        select exists (
            select 1
            from pg_catalog.pg_index as index_info
            inner join pg_catalog.pg_class as tables on index_info.indrelid = tables.oid
            inner join pg_catalog.pg_namespace as schemas on tables.relnamespace = schemas.oid
            inner join pg_catalog.pg_attribute as attributes
                on
                    tables.oid = attributes.attrelid
                    and attributes.attnum = index_info.indkey[0]
            inner join pg_catalog.pg_class as indexes on index_info.indexrelid = indexes.oid
            inner join pg_catalog.pg_am as access_methods on indexes.relam = access_methods.oid
            where
                schemas.nspname = '{{ model.schema }}'
                and tables.relname = '{{ model.identifier }}'
                and attributes.attname = '{{ column_name }}'
                and access_methods.amname = 'btree'
                and index_info.indisvalid
                and index_info.indpred is null
        ) as is_present
    ),

    distinct_values as (
        (select min({{ column_name }}) as value from {{ model }})
        union all
        select (
            select min(later.{{ column_name }})
            from {{ model }} as later
            where later.{{ column_name }} > distinct_values.value
        )
        from distinct_values
        where distinct_values.value is not null
    ),

    child as (
        select value as from_field
        from distinct_values
        where value is not null and (select is_present from leading_index)
        union all
        select {{ column_name }} as from_field
        from {{ model }}
        where {{ column_name }} is not null and not (select is_present from leading_index)
    ),

    parent as (
        select {{ field }} as to_field
        from {{ to }}
    )

    select from_field
    from child
    left join parent on child.from_field = parent.to_field
    where parent.to_field is null
{% endmacro %}
