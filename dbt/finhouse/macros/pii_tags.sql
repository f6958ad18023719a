{#- Snowflake's tag-based masking (snowflake/scripts/06_masking.sql) hangs on the tag
    GOVERNANCE.PII. RAW's columns keep it (the loader sets it once); a staging view is
    replaced on every build, which drops its column tags, so each staging model re-applies
    the tag to its columns with `meta.pii` after it is built (one statement per column, as
    ALTER VIEW takes one). Other targets have no tags: nothing to do. -#}
{% macro apply_pii_tags() -%}
    {{ return(adapter.dispatch('apply_pii_tags', 'finhouse')()) }}
{%- endmacro %}

{% macro default__apply_pii_tags() -%}
    select 1
{%- endmacro %}

{% macro snowflake__apply_pii_tags() -%}
    {%- set statements = [] -%}
    {%- for column in model.columns.values() if column.meta.get('pii') -%}
        {%- do statements.append(
            'alter ' ~ ('view' if model.config.materialized == 'view' else 'table')
            ~ ' ' ~ this ~ ' modify column ' ~ column.name
            ~ ' set tag ' ~ target.database ~ ".governance.pii = '" ~ column.name ~ "'"
        ) -%}
    {%- endfor -%}
    {{ statements | join(';\n') if statements else 'select 1' }}
{%- endmacro %}
