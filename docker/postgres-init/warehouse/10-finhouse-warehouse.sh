#!/usr/bin/env bash
# First start of the warehouse PostgreSQL (docker-compose.yml, service warehouse-db): the role
# matrix of docs/architecture.md, as finhouse_local.cluster sets it up for the embedded cluster
# (Provisioner.bootstrap and _setup_warehouse). The postgres image runs this once, on an empty
# data directory, as the superuser; passwords come from the container's environment.
#   loader       owns and writes raw, finhouse_meta                     (ingestion)
#   transformer  reads raw, finhouse_meta; owns staging, intermediate, marts  (dbt)
#   reporter     reads marts (USAGE here; SELECT on each mart from dbt's grants)  (Superset)
set -euo pipefail
: "${WAREHOUSE_LOADER_PASSWORD:?set WAREHOUSE_LOADER_PASSWORD}"
: "${WAREHOUSE_TRANSFORMER_PASSWORD:?set WAREHOUSE_TRANSFORMER_PASSWORD}"
: "${WAREHOUSE_REPORTER_PASSWORD:?set WAREHOUSE_REPORTER_PASSWORD}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v loader_password="$WAREHOUSE_LOADER_PASSWORD" \
  -v transformer_password="$WAREHOUSE_TRANSFORMER_PASSWORD" \
  -v reporter_password="$WAREHOUSE_REPORTER_PASSWORD" <<'SQL'
create role loader login password :'loader_password';
create role transformer login password :'transformer_password';
create role reporter login password :'reporter_password';
alter role loader set timezone = 'UTC';
alter role transformer set timezone = 'UTC';
-- dbt's long CTE chains cost seconds of JIT compilation per statement: off for dbt
alter role transformer set jit = off;
alter role reporter set timezone = 'UTC';
create database warehouse;
-- nothing for PUBLIC on the server's other databases either (as on the embedded cluster)
revoke all on database postgres from public;
revoke all on database template1 from public;

\connect warehouse
revoke all on database warehouse from public;
revoke all on schema public from public;
grant connect on database warehouse to loader, transformer, reporter;
grant create, temporary on database warehouse to loader, transformer;

create schema raw authorization loader;
create schema finhouse_meta authorization loader;
create schema staging authorization transformer;
create schema intermediate authorization transformer;
create schema marts authorization transformer;

-- transformer reads what loader writes
grant usage on schema raw to transformer;
grant select on all tables in schema raw to transformer;
alter default privileges for role loader in schema raw grant select on tables to transformer;
grant usage on schema finhouse_meta to transformer;
grant select on all tables in schema finhouse_meta to transformer;
alter default privileges for role loader in schema finhouse_meta grant select on tables to transformer;

grant usage on schema marts to reporter;
SQL
