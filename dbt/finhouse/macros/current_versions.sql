{#- docs/interfaces.md §2, current state of a RAW table, over its *_versions staging model:
    for each key the version the latest load saw (greatest loaded_at, then updated_at; loads of one
    table never overlap, so this is the source's commit order — never the application's
    clock), kept only when that version is not marked deleted.
    Written as an anti-join rather than row_number() = 1 so PostgreSQL's row estimates stay
    honest for every model downstream (row_number's 0.5 % guess led to nested loops); both
    views are one SELECT without WITH, so PostgreSQL plans it on RAW's key index. -#}
{% macro current_versions(versions, key, cursor='updated_at') -%}
    select candidate.*
    from {{ versions }} as candidate
    where
        {{ raw_not_deleted('candidate') }}
        and not exists (
            select 1
            from {{ versions }} as newer
            where
                newer.{{ key }} = candidate.{{ key }}
                and (
                    newer.loaded_at > candidate.loaded_at
                    or (
                        newer.loaded_at = candidate.loaded_at
                        and newer.{{ cursor }} > candidate.{{ cursor }}
                    )
                )
        )
{%- endmacro %}
