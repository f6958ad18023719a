{#- RAW change times (docs/interfaces.md §2: a row's change time is greatest(_loaded_at,
    _deleted_at)), as of the build's cut (macros/raw_cut.sql). The *_versions staging models
    expose every RAW row with loaded_at, deleted_at and changed_at as of the cut, and RAW's
    own times (raw_loaded_at, raw_deleted_at) with the cut's horizon; the incremental models
    detect changes through these macros, which keep to RAW's own times so that PostgreSQL
    reaches RAW's _loaded_at and partial _deleted_at indexes through the (inlined) views. -#}

{#- The latest change time of a *_versions model's rows as of the build's cut (the greatest
    changed_at), read from RAW's _loaded_at and partial _deleted_at indexes; the Unix epoch
    for an empty table, so that every later row counts as a change. -#}
{% macro raw_changed_at(versions) -%}
    (
        select
            coalesce(
                case
                    when latest.deleted_at > latest.loaded_at then latest.deleted_at
                    else latest.loaded_at
                end,
                cast('1970-01-01 00:00:00+00:00' as {{ timestamp_tz_type() }})
            )
        from (
            select
                case
                    when loads.raw_loaded_at > loads.cut_horizon then loads.cut_horizon
                    else loads.raw_loaded_at
                end as loaded_at,
                (
                    select max(marked.raw_deleted_at) from {{ versions }} as marked
                    where marked.raw_deleted_at <= marked.cut_horizon
                ) as deleted_at
            from (
                select
                    (select max(raw_loaded_at) from {{ versions }}) as raw_loaded_at,
                    (select max(cut_horizon) from (
                        select horizon.cut_horizon from {{ versions }} as horizon limit 1
                    ) as one) as cut_horizon
            ) as loads
        ) as latest
    )
{%- endmacro %}

{#- The time-zone-aware timestamp type RAW's _loaded_at has (docs/interfaces.md §2). -#}
{% macro timestamp_tz_type() -%}
    {{ return(adapter.dispatch('timestamp_tz_type', 'finhouse')()) }}
{%- endmacro %}

{% macro default__timestamp_tz_type() -%}timestamp with time zone{%- endmacro %}

{% macro snowflake__timestamp_tz_type() -%}timestamp_tz{%- endmacro %}

{#- A row of a *_versions model changed after `watermark` as of the build's cut (its changed_at
    > watermark), written on RAW's own _loaded_at and _deleted_at so that PostgreSQL finds the
    rows through RAW's indexes. -#}
{% macro raw_changed_since(alias, watermark) -%}
    (
        ({{ alias }}.raw_loaded_at > {{ watermark }} and {{ alias }}.cut_horizon > {{ watermark }})
        or (
            {{ alias }}.raw_deleted_at > {{ watermark }}
            and {{ alias }}.raw_deleted_at <= {{ alias }}.cut_horizon
        )
    )
{%- endmacro %}
