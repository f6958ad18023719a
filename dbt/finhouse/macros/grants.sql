{#- dbt's `grants` config grants SELECT on each mart; the schema USAGE it needs is granted here,
    after every run/build (docs/architecture.md role matrix: reporter reads the marts only).

    The role comes from FINHOUSE_REPORTER_ROLE, which dbt reads from the environment whoever
    runs it (Cosmos, `finhouse dbt`, a shell): it is checked here by finhouse.settings' rule
    (one plain lower-case role name; not public or another word a GRANT reads as more or
    other than one role; not one of PostgreSQL's pg_… roles) and quoted as an identifier in
    every grant. Snowflake folds unquoted names to upper case, so there the quoted name is
    the upper-case one: the same role an unquoted `reporter` names. -#}
{% macro checked_role(role) -%}
    {%- set not_one_role = [
        'public', 'current_role', 'current_user', 'session_user', 'user', 'none', 'all'
    ] -%}
    {%- if role is not string
        or not modules.re.fullmatch('[a-z_][a-z0-9_]{0,62}', role)
        or role in not_one_role
        or role.startswith('pg_') -%}
        {{ exceptions.raise_compiler_error(
            "FINHOUSE_REPORTER_ROLE must be one plain role name: lower-case letters, digits"
            ~ " and _, not public, current_user or the like, not pg_…"
        ) }}
    {%- endif -%}
    {{ return(role) }}
{%- endmacro %}

{% macro quoted_role(role) -%}
    {%- set role = finhouse.checked_role(role) -%}
    {{ return(adapter.quote(role | upper) if target.type == 'snowflake' else adapter.quote(role)) }}
{%- endmacro %}

{% macro check_reporter_role() -%}
    {%- if execute -%}{%- do finhouse.checked_role(var('reporter_role')) -%}{%- endif -%}
    select 1
{%- endmacro %}

{% macro grant_schema_usage() %}
    {%- if execute and flags.WHICH in ('run', 'build') -%}
        {{ return(adapter.dispatch('grant_schema_usage', 'finhouse')(var('reporter_role'))) }}
    {%- else -%}
        {{ return('select 1') }}
    {%- endif -%}
{% endmacro %}

{% macro default__grant_schema_usage(role) -%}
    grant usage on schema marts to {{ finhouse.quoted_role(role) }}
{%- endmacro %}

{% macro snowflake__grant_schema_usage(role) -%}
    grant usage on schema {{ target.database }}.marts to role {{ finhouse.quoted_role(role) }}
{%- endmacro %}

{#- dbt's own grant statement (dbt's default__get_grant_sql, which every adapter uses) pastes
    each grantee as written: the same statement with the grantees checked and quoted. -#}
{% macro default__get_grant_sql(relation, privilege, grantees) -%}
    {%- set quoted = [] -%}
    {%- for grantee in grantees -%}
        {%- do quoted.append(finhouse.quoted_role(grantee)) -%}
    {%- endfor -%}
    grant {{ privilege }} on {{ relation.render() }} to {{ quoted | join(', ') }}
{%- endmacro %}
