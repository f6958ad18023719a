-- finhouse Snowflake setup, step 4: privileges, with future grants so objects created later
-- (RAW tables made by the loader's first load, dbt's models) are covered without re-running.
use role securityadmin;

-- warehouses: each role uses its own
grant usage, operate on warehouse loading to role loader;
grant usage, operate on warehouse transforming to role transformer;
grant usage on warehouse reporting to role reporter;

grant usage on database &{database} to role loader;
grant usage on database &{database} to role transformer;
grant usage on database &{database} to role reporter;

-- LOADER owns RAW and FINHOUSE_META (creates its tables, the landing tables, the stage's files)
grant ownership on schema &{database}.raw to role loader copy current grants;
grant ownership on schema &{database}.finhouse_meta to role loader copy current grants;

-- TRANSFORMER reads them (current and future tables)
grant usage on schema &{database}.raw to role transformer;
grant usage on schema &{database}.finhouse_meta to role transformer;
grant select on all tables in schema &{database}.raw to role transformer;
grant select on future tables in schema &{database}.raw to role transformer;
grant select on all tables in schema &{database}.finhouse_meta to role transformer;
grant select on future tables in schema &{database}.finhouse_meta to role transformer;

-- TRANSFORMER owns the modelled schemas (dbt creates, replaces and grants in them)
grant ownership on schema &{database}.staging to role transformer copy current grants;
grant ownership on schema &{database}.intermediate to role transformer copy current grants;
grant ownership on schema &{database}.marts to role transformer copy current grants;

-- REPORTER reads MARTS only (dbt's `grants` config re-grants on every model build too)
grant usage on schema &{database}.marts to role reporter;
grant select on all tables in schema &{database}.marts to role reporter;
grant select on future tables in schema &{database}.marts to role reporter;
grant select on all views in schema &{database}.marts to role reporter;
grant select on future views in schema &{database}.marts to role reporter;
