#!/usr/bin/env bash
# First start of the OLTP PostgreSQL (docker-compose.yml, service oltp-db): the stand-in app's
# roles and database, as finhouse_local.cluster sets them up for the embedded cluster
# (Provisioner.bootstrap and _setup_oltp). The postgres image runs this once, on an empty data
# directory, as the superuser; passwords come from the container's environment.
#   oltp_app      owns the database and its public schema (the app; `finhouse oltp ...`)
#   oltp_extract  reads every table, read-only by default, pg_monitor (ingestion)
set -euo pipefail
: "${OLTP_APP_PASSWORD:?set OLTP_APP_PASSWORD}" "${OLTP_EXTRACT_PASSWORD:?set OLTP_EXTRACT_PASSWORD}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v app_password="$OLTP_APP_PASSWORD" \
  -v extract_password="$OLTP_EXTRACT_PASSWORD" <<'SQL'
create role oltp_app login password :'app_password';
create role oltp_extract login password :'extract_password';
grant pg_monitor to oltp_extract;
alter role oltp_extract set statement_timeout = '30min';
alter role oltp_extract set default_transaction_read_only = on;
create database oltp owner oltp_app;
-- nothing for PUBLIC on the server's other databases either (as on the embedded cluster)
revoke all on database postgres from public;
revoke all on database template1 from public;

\connect oltp
revoke all on database oltp from public;
grant connect on database oltp to oltp_extract;
alter schema public owner to oltp_app;
grant usage on schema public to oltp_extract;
grant select on all tables in schema public to oltp_extract;
alter default privileges for role oltp_app in schema public grant select on tables to oltp_extract;
SQL
