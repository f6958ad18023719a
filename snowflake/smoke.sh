#!/usr/bin/env bash
# `make snowflake-smoke`: the Snowflake path against a real account: the loader (six tables
# from the embedded OLTP into RAW) and `dbt build --target prod`. Skipped, successfully,
# when no credentials are set. Needs the setup applied once (`finhouse snowflake apply` as
# an administrator; FINHOUSE_SNOWFLAKE_SMOKE_APPLY=1 does it here with the same account).
#   SNOWFLAKE_ACCOUNT, SNOWFLAKE_USER                       required
#   SNOWFLAKE_PRIVATE_KEY_PATH [+ _PASSPHRASE] | SNOWFLAKE_PASSWORD
#   SNOWFLAKE_LOADER_ROLE (LOADER), SNOWFLAKE_ROLE (TRANSFORMER, dbt's), SNOWFLAKE_DATABASE
# Nothing secret is printed: the DSN lives in the environment of the commands only.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${SNOWFLAKE_ACCOUNT:-}" ] || [ -z "${SNOWFLAKE_USER:-}" ] \
    || { [ -z "${SNOWFLAKE_PRIVATE_KEY_PATH:-}" ] && [ -z "${SNOWFLAKE_PASSWORD:-}" ]; }; then
    echo "snowflake-smoke: skipped (no credentials: set SNOWFLAKE_ACCOUNT, SNOWFLAKE_USER and"
    echo "  SNOWFLAKE_PRIVATE_KEY_PATH or SNOWFLAKE_PASSWORD; see snowflake/README.md)"
    exit 0
fi
FINHOUSE=.venv/bin/finhouse
STATE="${FINHOUSE_STATE_DIR:-.finhouse}/snowflake-smoke"
mkdir -p "$STATE"
if [ "${FINHOUSE_SNOWFLAKE_SMOKE_APPLY:-0}" = 1 ]; then
    echo "==> finhouse snowflake apply (setup scripts)"
    SNOWFLAKE_ROLE="${SNOWFLAKE_ADMIN_ROLE:-ACCOUNTADMIN}" timeout 900 $FINHOUSE snowflake apply
fi
echo "==> the embedded OLTP (seeded once)"
$FINHOUSE db up
$FINHOUSE oltp init
$FINHOUSE oltp summary --require-data >/dev/null 2>&1 || $FINHOUSE oltp seed --scale 0.1
echo "==> the loader: six tables into RAW on ${SNOWFLAKE_ACCOUNT}"
FINHOUSE_WAREHOUSE_DSN="$(.venv/bin/python -c 'from finhouse.targets.snowflake_connection import url_from_env; print(url_from_env("'"${SNOWFLAKE_LOADER_ROLE:-LOADER}"'", "LOADING"))')" \
    timeout 1800 $FINHOUSE ingest --all
# Extra dbt arguments (e.g. "--select +portfolio_daily"); by default every node is built.
DBT_ARGS="${FINHOUSE_SNOWFLAKE_SMOKE_DBT_ARGS-}"
echo "==> dbt build --target prod (role ${SNOWFLAKE_ROLE:-TRANSFORMER}) ${DBT_ARGS}"
cd dbt/finhouse
# shellcheck disable=SC2086 # DBT_ARGS is a list of dbt arguments
DBT_PROFILES_DIR=. FINHOUSE_DBT_TARGET=prod timeout 3600 ../../.venv-dbt/bin/dbt build \
    --target prod --target-path "../../$STATE/target" --log-path "../../$STATE/logs" $DBT_ARGS
echo "snowflake-smoke: passed"
