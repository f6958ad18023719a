{#- A surrogate key: md5 (hex text) of the key parts cast to text, nulls replaced by a marker
    and parts joined by a separator, so ('a', null), (null, 'a') and ('a|', '') all differ.
    `md5`, `||`, `coalesce` and `cast(... as varchar)` mean the same on PostgreSQL and
    Snowflake, so one implementation serves every target (no adapter dispatch needed;
    timestamps render in the session time zone, UTC on every target). -#}
{% macro surrogate_key(columns) -%}
    {%- set parts = [] -%}
    {%- for column in columns -%}
        {%- set _ = parts.append("coalesce(cast(" ~ column ~ " as varchar), '_finhouse_null_')") -%}
    {%- endfor -%}
    md5({{ parts | join(" || '|' || ") }})
{%- endmacro %}
