{#- The cut a build reads RAW as of (docs/transformation.md, "Builds on a consistent cut"): the
    var `raw_cut`, {table: horizon} as JSON or a mapping, set by the dbt DAG's raw_cut task
    (finhouse.cut). A horizon is the RAW _loaded_at of the load the build reads that table up
    to; a table without one, and every table when the var is unset (a build by hand), is read
    as it stands. -#}

{#- The far future: the horizon of a table read as it stands. -#}
{% macro raw_no_horizon() -%}
    cast('9999-12-31 00:00:00+00:00' as {{ timestamp_tz_type() }})
{%- endmacro %}

{#- The table's horizon as an ISO 8601 text, or none. -#}
{% macro raw_cut_value(table) -%}
    {%- set cut = var('raw_cut', none) -%}
    {%- if cut is string -%}
        {%- set cut = fromjson(cut) if cut.strip() not in ('', 'null', 'None') else none -%}
    {%- endif -%}
    {%- if cut is not none and cut is not mapping -%}
        {{ exceptions.raise_compiler_error("var raw_cut must map tables to horizons") }}
    {%- endif -%}
    {%- set value = (cut or {}).get(table) -%}
    {%- if value is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set iso = '^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9:.]+([+-][0-9]{2}:[0-9]{2}|Z)$' -%}
    {%- if not modules.re.match(iso, value | string) -%}
        {{ exceptions.raise_compiler_error(
            "var raw_cut: the horizon of " ~ table ~ " is not an ISO 8601 time"
        ) }}
    {%- endif -%}
    {{ return(value | string) }}
{%- endmacro %}

{#- The table's horizon as SQL. -#}
{% macro raw_cut_horizon(table) -%}
    {%- set value = raw_cut_value(table) -%}
    {%- if value is none -%}
        {{ raw_no_horizon() }}
    {%- else -%}
        cast('{{ value }}' as {{ timestamp_tz_type() }})
    {%- endif -%}
{%- endmacro %}

{#- A *_versions model's RAW bookkeeping columns as of the cut: loaded_at (a version rewritten
    after the horizon shows at the horizon, so that the next build sees it change), deleted_at
    (marks made after the horizon are not in the cut), changed_at (their greatest), and for
    the change-detection macros (macros/raw_changed_at.sql) RAW's own _loaded_at and
    _deleted_at, which PostgreSQL finds through RAW's indexes, and the horizon. -#}
{% macro raw_version_times(table) -%}
    {%- set horizon = raw_cut_horizon(table) -%}
    case when _loaded_at > {{ horizon }} then {{ horizon }} else _loaded_at end as loaded_at,
    case when _deleted_at <= {{ horizon }} then _deleted_at end as deleted_at,
    case
        when _deleted_at <= {{ horizon }} and _deleted_at > _loaded_at then _deleted_at
        when _loaded_at > {{ horizon }} then {{ horizon }}
        else _loaded_at
    end as changed_at,
    _loaded_at as raw_loaded_at,
    _deleted_at as raw_deleted_at,
    {{ horizon }} as cut_horizon
{%- endmacro %}

{#- The RAW rows a build reads: those that first landed by the horizon (a version rewritten
    later keeps when it first landed in _first_loaded_at). Nothing without a horizon.
    `coalesce(_first_loaded_at, _loaded_at) <= horizon` written out on the plain columns, so
    that PostgreSQL estimates it from their statistics (on the expression it guesses a third
    of the rows). -#}
{% macro raw_cut_filter(table) -%}
    {%- set value = raw_cut_value(table) -%}
    {%- if value is not none -%}
        {%- set horizon = raw_cut_horizon(table) -%}
        where
            _first_loaded_at <= {{ horizon }}
            or (_first_loaded_at is null and _loaded_at <= {{ horizon }})
    {%- endif -%}
{%- endmacro %}

{#- Whether a *_versions row is (not) marked deleted as of the cut: the same as `deleted_at is
    null` (`is not null`), but on RAW's own _deleted_at, so that PostgreSQL estimates it from
    the column's statistics and reaches RAW's partial _deleted_at index. On deleted_at, a CASE
    expression, the planner guesses 0.5 % of the rows for `is null`: at scale 10 that made
    the models downstream of the current state nested loops (one model was still running
    after 20 minutes). -#}
{% macro raw_not_deleted(alias=none) -%}
    {%- set prefix = alias ~ '.' if alias else '' -%}
    ({{ prefix }}raw_deleted_at is null or {{ prefix }}raw_deleted_at > {{ prefix }}cut_horizon)
{%- endmacro %}

{% macro raw_deleted(alias=none) -%}
    {%- set prefix = alias ~ '.' if alias else '' -%}
    {{ prefix }}raw_deleted_at <= {{ prefix }}cut_horizon
{%- endmacro %}
