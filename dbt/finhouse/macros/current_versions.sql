{#- contracts.md §2, current state of a RAW table: for each key the version the latest load
    saw (greatest _loaded_at, then updated_at; loads of one table never overlap, so this is
    the source's commit order — never the application's clock), kept only when that version
    is not marked deleted.
    Written as an anti-join rather than row_number() = 1 so PostgreSQL's row estimates stay
    honest for every model downstream (row_number's 0.5 % guess led to nested loops). -#}
{% macro current_versions(relation, key='id', cursor='updated_at') -%}
    select candidate.*
    from {{ relation }} as candidate
    where
        candidate._deleted_at is null
        and not exists (
            select 1
            from {{ relation }} as newer
            where
                newer.{{ key }} = candidate.{{ key }}
                and (
                    newer._loaded_at > candidate._loaded_at
                    or (
                        newer._loaded_at = candidate._loaded_at
                        and newer.{{ cursor }} > candidate.{{ cursor }}
                    )
                )
        )
{%- endmacro %}
