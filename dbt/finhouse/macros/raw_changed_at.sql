{#- RAW change times (docs/interfaces.md §2: a row's change time is greatest(_loaded_at,
    _deleted_at)). The *_versions staging models expose every RAW row with loaded_at,
    deleted_at and changed_at; the incremental models detect changes through these macros,
    which keep to loaded_at and deleted_at so that PostgreSQL reaches RAW's _loaded_at and
    partial _deleted_at indexes through the (inlined) views. -#}

{#- A RAW row's change time, null-safe on every target (Snowflake's greatest() is null when
    an argument is): the *_versions models' changed_at. -#}
{% macro raw_change_time() -%}
    case when _deleted_at > _loaded_at then _deleted_at else _loaded_at end
{%- endmacro %}

{#- The latest change time of a *_versions model's rows, read from RAW's _loaded_at and
    partial _deleted_at indexes; the Unix epoch for an empty table, so that every later row
    counts as a change. -#}
{% macro raw_changed_at(versions) -%}
    (
        select
            coalesce(
                greatest(max(loaded_at), coalesce(max(deleted_at), max(loaded_at))),
                cast('1970-01-01 00:00:00+00:00' as {{ timestamp_tz_type() }})
            )
        from {{ versions }}
    )
{%- endmacro %}

{#- The time-zone-aware timestamp type RAW's _loaded_at has (docs/interfaces.md §2). -#}
{% macro timestamp_tz_type() -%}
    {{ return(adapter.dispatch('timestamp_tz_type', 'finhouse')()) }}
{%- endmacro %}

{% macro default__timestamp_tz_type() -%}timestamp with time zone{%- endmacro %}

{% macro snowflake__timestamp_tz_type() -%}timestamp_tz{%- endmacro %}

{#- A row of a *_versions model changed after `watermark` (its changed_at > watermark),
    written so that RAW's _loaded_at and partial _deleted_at indexes find the rows. -#}
{% macro raw_changed_since(alias, watermark) -%}
    ({{ alias }}.loaded_at > {{ watermark }} or {{ alias }}.deleted_at > {{ watermark }})
{%- endmacro %}
