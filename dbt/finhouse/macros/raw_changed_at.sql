{#- A RAW table's latest change time (contracts.md §2: a row's change time is
    greatest(_loaded_at, _deleted_at)), read from its _loaded_at and partial _deleted_at
    indexes; the Unix epoch for an empty table, so that every later row counts as a change. -#}
{% macro raw_changed_at(relation) -%}
    (
        select
            coalesce(
                greatest(max(_loaded_at), coalesce(max(_deleted_at), max(_loaded_at))),
                cast('1970-01-01 00:00:00+00:00' as {{ timestamp_tz_type() }})
            )
        from {{ relation }}
    )
{%- endmacro %}

{#- The time-zone-aware timestamp type RAW's _loaded_at has (contracts.md §2). -#}
{% macro timestamp_tz_type() -%}
    {{ return(adapter.dispatch('timestamp_tz_type', 'finhouse')()) }}
{%- endmacro %}

{% macro default__timestamp_tz_type() -%}timestamp with time zone{%- endmacro %}

{% macro snowflake__timestamp_tz_type() -%}timestamp_tz{%- endmacro %}

{#- A RAW row changed after `watermark` (greatest(_loaded_at, _deleted_at) > watermark),
    written so that the _loaded_at and partial _deleted_at indexes find the rows. -#}
{% macro raw_changed_since(alias, watermark) -%}
    ({{ alias }}._loaded_at > {{ watermark }} or {{ alias }}._deleted_at > {{ watermark }})
{%- endmacro %}
