{#- Fresh planner statistics for a table dbt just built (PostgreSQL plans joins of large
    intermediates badly without them; Snowflake keeps its own). Views are skipped.

    An incremental run changes a small part of a large table: autovacuum's autoanalyze
    (after 10 % of the rows changed) keeps its statistics, and an ANALYZE of every
    incremental model on every run costs seconds for nothing (it samples 30,000 rows of
    multi-million-row tables). So an incremental run analyzes only a table that has never
    been analyzed; a full build or --full-refresh always does.

    A table rebuilt every run that no model reads (a leaf mart, a history model) is not
    analyzed either: only the tests and dashboards read it, and autovacuum's autoanalyze
    picks a new table up within a minute (ANALYZE costs ~0.1-0.6 s per wide table here). -#}
{% macro analyze_table() -%}
    {{ return(adapter.dispatch('analyze_table', 'finhouse')()) }}
{%- endmacro %}

{% macro default__analyze_table() -%}
    select 1
{%- endmacro %}

{% macro postgres__analyze_table() -%}
    {%- if model.config.materialized == 'incremental' and is_incremental() -%}
        do $$
        begin
            if exists (
                select 1 from pg_stat_user_tables
                where
                    relid = '{{ this }}'::regclass
                    and last_analyze is null and last_autoanalyze is null
            ) then
                analyze {{ this }};
            end if;
        end
        $$
    {%- elif model.config.materialized == 'incremental'
        or (model.config.materialized == 'table' and is_read_by_models()) -%}
        analyze {{ this }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}

{#- Whether another model of the project selects from this one (the graph's dependencies). -#}
{% macro is_read_by_models() -%}
    {%- if not execute -%}{{ return(true) }}{%- endif -%}
    {%- for node in graph.nodes.values() -%}
        {%- if node.resource_type == 'model' and model.unique_id in node.depends_on.nodes -%}
            {{ return(true) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(false) }}
{%- endmacro %}
