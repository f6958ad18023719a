# Snowflake (included by the Makefile): the production warehouse's checks. Tests against the
# emulator (fakesnow, pinned in requirements/airflow.txt) run in `make test`; these targets
# run one part alone or reach a real account.

.PHONY: snowflake-test snowflake-emulator-dbt snowflake-smoke snowflake-dry-run
snowflake-test: install ## Snowflake tests on the emulator: setup scripts, loader, role matrix
	@$(VENV)/bin/pytest tests/integration/snowflake tests/unit/targets/test_snowflake_connection.py $(PYTEST_ARGS)

snowflake-emulator-dbt: install ## dbt build of every model with a Snowflake profile on the emulator (~3 min)
	@FINHOUSE_SNOWFLAKE_DBT=1 FINHOUSE_SNOWFLAKE_DBT_FULL=1 \
		$(VENV)/bin/pytest tests/integration/snowflake/test_dbt_emulator.py $(PYTEST_ARGS)

snowflake-dry-run: $(AF_STAMP) ## print the Snowflake setup statements (finhouse snowflake apply --dry-run)
	@$(FINHOUSE) snowflake apply --dry-run

snowflake-smoke: install ## loader + dbt on a real Snowflake account (skipped without SNOWFLAKE_* credentials)
	@snowflake/smoke.sh
