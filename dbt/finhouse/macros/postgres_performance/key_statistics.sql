{#- Post-hook: multivariate n-distinct statistics on `columns` of this table, so that
    PostgreSQL estimates how many groups a GROUP BY of them makes (without them it
    multiplies the columns' guesses and clamps: 50k groups for 1.5M, then hashes and spills
    to disk instead of reading the unique index in order — the portfolio_daily key test,
    2.5 s → 0.5 s). Created, and computed, when this relation has none yet (a full build
    makes a new relation; the old one, renamed aside, still holds the name). -#}
{% macro key_statistics(columns) -%}
    {{ return(adapter.dispatch('key_statistics', 'finhouse')(columns)) }}
{%- endmacro %}

{% macro default__key_statistics(columns) -%}
    select 1
{%- endmacro %}

{% macro postgres__key_statistics(columns) -%}
    {%- set name = this.identifier ~ '__keys' -%}
    do $$
    begin
        if not exists (
            select 1 from pg_statistic_ext
            where stxrelid = '{{ this }}'::regclass and stxname = '{{ name }}'
        ) then
            drop statistics if exists {{ this.schema }}.{{ name }};
            create statistics {{ this.schema }}.{{ name }} (ndistinct)
                on {{ columns | join(', ') }} from {{ this }};
            analyze {{ this }} ({{ columns | join(', ') }});
        end if;
    end
    $$
{%- endmacro %}
