-- noqa: disable=LT02
{#- (layout rule LT02 off: these macros indent as Jinja branches, not as one SQL statement) -#}
{#- Emulator-only workarounds (the tests' Snowflake emulator, docs/snowflake.md): active only
    when dbt runs with the target named `emulator` (snowflake/emulator/profiles.yml: Snowflake
    emulated by fakesnow on DuckDB).
    On every other target, production included, each macro hands over to dbt-snowflake's own
    implementation unchanged. What they work around (fakesnow 0.12.1):
    * column comments (`alter table … alter "C" comment $$…$$, …`) do not parse: skipped;
    * temporary tables cannot live in a database schema (DuckDB keeps them in its own
      catalog): dbt's temporary relations (unit tests) are created as ordinary tables;
    * current_timestamp is typed TIMESTAMP_NTZ by fakesnow, TIMESTAMP_TZ by Snowflake;
    * DuckDB divides decimals as DOUBLE (the project's decimal_quotient). -#}

{% macro snowflake__alter_column_comment(relation, column_dict) -%}
    {%- if target.name == 'emulator' -%}
        select 1
    {%- else -%}
        {{ return(dbt.snowflake__alter_column_comment(relation, column_dict)) }}
    {%- endif -%}
{%- endmacro %}

{% macro snowflake__create_table_temporary_sql(relation, compiled_code) -%}
    {%- if target.name == 'emulator' -%}
        {%- set contract_config = config.get('contract') -%}
        {%- if contract_config.enforced -%}
            {{- get_assert_columns_equivalent(compiled_code) -}}
            {%- set compiled_code = get_select_subquery(compiled_code) -%}
        {%- endif -%}
        create or replace table {{ relation }}
        {%- if contract_config.enforced %}
            {{ get_table_columns_and_constraints() }}
        {%- endif %}
        as (
            {{ compiled_code }}
        )
    {%- else -%}
        {{ return(dbt.snowflake__create_table_temporary_sql(relation, compiled_code)) }}
    {%- endif -%}
{%- endmacro %}

{#- fakesnow types convert_timezone('UTC', current_timestamp()) as TIMESTAMP_NTZ; Snowflake
    returns TIMESTAMP_TZ, which the marts' contracts declare. -#}
{% macro snowflake__current_timestamp() -%}
    {%- if target.name == 'emulator' -%}
        cast(current_timestamp() as timestamp_tz)
    {%- else -%}
        {{ return(dbt.snowflake__current_timestamp()) }}
    {%- endif -%}
{%- endmacro %}

{#- The project's decimal_quotient (macros/loan_schedule.sql). Emulator only: DuckDB
    divides decimals as DOUBLE, so an exact half cent such as 3,532.955 arrives as
    3,532.95499999… and rounds down; the quotient is cast back to 9 decimals there
    (3,532.955000000) before it is rounded to cents. -#}
{% macro snowflake__decimal_quotient(numerator, denominator) -%}
    {%- if target.name == 'emulator' -%}
        cast(({{ numerator }}) / ({{ denominator }}) as decimal(38, 9))
    {%- else -%}
        {{ return(default__decimal_quotient(numerator, denominator)) }}
    {%- endif -%}
{%- endmacro %}
