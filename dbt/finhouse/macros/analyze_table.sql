{#- Fresh planner statistics for a table dbt just built (PostgreSQL plans joins of large
    intermediates badly without them; Snowflake keeps its own). Views are skipped.

    An incremental run changes a small part of a large table: autovacuum's autoanalyze
    (after 10 % of the rows changed) keeps its statistics, and an ANALYZE of every
    incremental model on every run costs seconds for nothing (it samples 30,000 rows of
    multi-million-row tables). So an incremental run analyzes only a table that has never
    been analyzed; a full build or --full-refresh always does. -#}
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
    {%- elif model.config.materialized in ('table', 'incremental') -%}
        analyze {{ this }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}
