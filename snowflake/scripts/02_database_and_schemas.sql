-- finhouse Snowflake setup, step 2: the database and its schemas (docs/interfaces.md §2: names
-- upper-case as Snowflake folds them). GOVERNANCE holds the PII tag and masking policies.
use role sysadmin;

create database if not exists &{database}
    comment = 'finhouse warehouse: RAW -> STAGING -> INTERMEDIATE -> MARTS';

create schema if not exists &{database}.raw
    comment = 'every version of every OLTP row, written by the loader only';
create schema if not exists &{database}.finhouse_meta
    comment = 'load state: watermarks, load runs, source columns, locks';
create schema if not exists &{database}.staging
    comment = 'dbt: current version of each RAW row, renamed and cast';
create schema if not exists &{database}.intermediate
    comment = 'dbt: schedules, delinquency, balances, history';
create schema if not exists &{database}.marts
    comment = 'dbt: what the institution reads (Superset)';
create schema if not exists &{database}.governance
    comment = 'tags and masking policies';
