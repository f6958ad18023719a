{#- contracts.md §2, current state of a RAW table: each key's latest version (by
    updated_at, then _loaded_at), kept only when that version is not marked deleted.
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
                    newer.{{ cursor }} > candidate.{{ cursor }}
                    or (
                        newer.{{ cursor }} = candidate.{{ cursor }}
                        and newer._loaded_at > candidate._loaded_at
                    )
                )
        )
{%- endmacro %}
