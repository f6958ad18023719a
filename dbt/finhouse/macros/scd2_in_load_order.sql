{#- SCD type 2 over every RAW version of each key (a *_versions staging model), so history
    exists from the first load: one row per version, in the order the loads saw them
    (loaded_at, then updated_at: the source's commit order, docs/interfaces.md §2 — never the
    application's clock alone). A version is valid from its updated_at, or from the previous
    version's start when its stamp is older (an app clock behind, a save that waited on a
    row lock: the version loaded later still wins from then on), to the next version's
    start; the latest version is open-ended, or ends at its deletion time when the key was
    deleted. Adds version_number, valid_from, valid_to, is_latest_version, is_current and
    is_deleted to the version's columns. -#}
{% macro scd2_in_load_order(relation, key) -%}
    select
        ordered.*,
        coalesce(ordered.next_valid_from, ordered.deleted_at) as valid_to,
        ordered.next_valid_from is null as is_latest_version,
        (ordered.next_valid_from is null and ordered.deleted_at is null) as is_current,
        ordered.deleted_at is not null as is_deleted
    from (
        select
            started.*,
            lead(started.valid_from) over (
                partition by started.{{ key }} order by started.version_number asc
            ) as next_valid_from
        from (
            select
                versions.*,
                row_number() over (
                    partition by versions.{{ key }}
                    order by versions.loaded_at asc, versions.updated_at asc
                ) as version_number,
                max(coalesce(versions.updated_at, versions.loaded_at)) over (
                    partition by versions.{{ key }}
                    order by versions.loaded_at asc, versions.updated_at asc
                    rows between unbounded preceding and current row
                ) as valid_from
            from {{ relation }} as versions
        ) as started
    ) as ordered
{%- endmacro %}
