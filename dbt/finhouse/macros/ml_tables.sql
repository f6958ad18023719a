{#- The warehouse's `ml` schema: what finhouse.ml writes (each model version's figures, the
    scores of the active loans, the features' drift; docs/ml.md) and the ML marts read. Created
    here, idempotently, at the start of every dbt run and build, so the marts read it before
    the first model is trained; finhouse.ml refuses to train on a warehouse without it. -#}
{% macro ml_tables() %}
    {{ return({
        'model_versions': [
            ('model_version', 'text not null primary key'),
            ('trained_at', finhouse.ml_timestamp() ~ ' not null'),
            ('is_promoted', 'boolean not null'),
            ('reason', 'text'),
            ('training_rows', 'integer'),
            ('training_from', 'date'),
            ('training_to', 'date'),
            ('training_default_rate', 'double precision'),
            ('testing_rows', 'integer'),
            ('testing_from', 'date'),
            ('testing_to', 'date'),
            ('testing_default_rate', 'double precision'),
            ('test_auc', 'double precision'),
            ('test_ks', 'double precision'),
            ('test_brier', 'double precision'),
            ('baseline_auc', 'double precision'),
            ('baseline_ks', 'double precision'),
            ('baseline_brier', 'double precision'),
            ('true_risk_auc', 'double precision'),
            ('serving_before_auc', 'double precision'),
            ('model_card', 'text'),
        ],
        'model_calibration': [
            ('model_version', 'text not null'),
            ('model', 'text not null'),
            ('bin', 'integer not null'),
            ('loans', 'integer not null'),
            ('mean_predicted', 'double precision'),
            ('observed_rate', 'double precision'),
        ],
        'feature_importance': [
            ('model_version', 'text not null'),
            ('feature', 'text not null'),
            ('importance', 'double precision'),
            ('rank', 'integer not null'),
        ],
        'loan_default_scores': [
            ('loan_id', 'bigint not null'),
            ('default_probability', 'double precision not null'),
            ('model_version', 'text not null'),
            ('scored_at', finhouse.ml_timestamp() ~ ' not null'),
        ],
        'feature_drift': [
            ('feature', 'text not null'),
            ('psi', 'double precision'),
            ('verdict', 'text not null'),
            ('model_version', 'text not null'),
            ('computed_at', finhouse.ml_timestamp() ~ ' not null'),
        ],
        'scoring_runs': [
            ('scored_at', finhouse.ml_timestamp() ~ ' not null'),
            ('model_version', 'text not null'),
            ('loans', 'integer not null'),
            ('mean_probability', 'double precision'),
        ],
    }) }}
{% endmacro %}

{% macro ml_timestamp() -%}
    {{ return('timestamp_tz' if target.type == 'snowflake' else 'timestamptz') }}
{%- endmacro %}

{% macro ensure_ml_tables() %}
    {%- if execute and flags.WHICH in ('run', 'build') -%}
        {{ return(adapter.dispatch('ensure_ml_tables', 'finhouse')()) }}
    {%- else -%}
        {{ return('select 1') }}
    {%- endif -%}
{% endmacro %}

{#- One statement under a lock: the dbt DAG runs many dbt processes at once (one per task),
    and concurrent CREATE TABLE IF NOT EXISTS of one table can collide in the catalog. -#}
{% macro postgres__ensure_ml_tables() -%}
    {%- set statements = [
        "perform pg_advisory_xact_lock(hashtext('finhouse.ensure_ml_tables'))",
        "create schema if not exists ml",
    ] -%}
    {%- for table, columns in finhouse.ml_tables().items() -%}
        {%- do statements.append(finhouse.ml_create_table('ml.' ~ table, columns)) -%}
    {%- endfor -%}
    do $ml$ begin {{ statements | join('; ') }}; end $ml$
{%- endmacro %}

{% macro default__ensure_ml_tables() -%}
    {%- do run_query('create schema if not exists ' ~ target.database ~ '.ml') -%}
    {%- for table, columns in finhouse.ml_tables().items() -%}
        {%- do run_query(
            finhouse.ml_create_table(target.database ~ '.ml.' ~ table, columns)
            | replace('double precision', 'double')
        ) -%}
    {%- endfor -%}
    select 1
{%- endmacro %}

{% macro ml_create_table(relation, columns) -%}
    {%- set body = [] -%}
    {%- for name, kind in columns -%}
        {%- do body.append(name ~ ' ' ~ kind) -%}
    {%- endfor -%}
    {{ return('create table if not exists ' ~ relation ~ ' (' ~ body | join(', ') ~ ')') }}
{%- endmacro %}
