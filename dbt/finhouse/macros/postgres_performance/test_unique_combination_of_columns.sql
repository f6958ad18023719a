{#- The unique_combination_of_columns test on PostgreSQL (the test and its portable form:
    macros/unique_combination_of_columns.sql): a valid unique index on exactly these columns
    already guarantees it (the large incremental models keep one for their delete+insert), so
    the grouping scan runs only when no such index exists (a one-time filter, evaluated
    before the scan). -#}
{% macro postgres__test_unique_combination_of_columns(model, columns) %}
    with

    enforcing_index as (
        select index_info.indexrelid
        from pg_catalog.pg_index as index_info
        inner join pg_catalog.pg_class as tables on index_info.indrelid = tables.oid
        inner join pg_catalog.pg_namespace as schemas on tables.relnamespace = schemas.oid
        where
            schemas.nspname = '{{ model.schema }}'
            and tables.relname = '{{ model.identifier }}'
            and index_info.indisunique
            and index_info.indisvalid
            and index_info.indpred is null
            and index_info.indnkeyatts = {{ columns | length }}
            and (
                select array_agg(attributes.attname::text order by attributes.attname::text)
                from pg_catalog.pg_attribute as attributes
                where
                    attributes.attrelid = tables.oid
                    and attributes.attnum = any(index_info.indkey::int2[])
            ) = array[{% for column in columns | sort %}'{{ column }}'{{ ", " if not loop.last }}{% endfor %}]::text[]
    )

    select {{ columns | join(', ') }}, count(*) as occurrences
    from {{ model }}
    where not exists (select 1 from enforcing_index)
    group by {{ columns | join(', ') }}
    having count(*) > 1
{% endmacro %}
