# finhouse — the front door. `make demo` runs the platform on the embedded default,
# `make test` runs every test. Both install what they need first.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON    ?= python3
VENV      := .venv
DBT_VENV  := .venv-dbt
PIP_PIN   := pip==26.3
# uv installs the pinned requirements (same packages as pip, faster: ~35 s for the
# Airflow environment against ~80 s, bytecode included); pip only bootstraps it.
UV_PIN    := uv==0.13.9
SCALE     ?= 1
SEED      ?= 42
PYTEST_ARGS ?=
# `make test` runs on two pytest-xdist workers, each with its own PostgreSQL and state folder
# (work units: XDIST_UNITS in tests/conftest.py); TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2

# A stamp named after the requirement files' hash: a second run with nothing changed is a
# no-op; a changed pin re-runs pip (incrementally) in the existing venv.
AF_HASH   := $(shell cat requirements/airflow.txt pyproject.toml | sha256sum | cut -c1-16)
DBT_HASH  := $(shell cat requirements/dbt.txt | sha256sum | cut -c1-16)
AF_STAMP  := $(VENV)/.finhouse-$(AF_HASH)
DBT_STAMP := $(DBT_VENV)/.finhouse-$(DBT_HASH)
FINHOUSE  := $(VENV)/bin/finhouse
STATE     := $(or $(FINHOUSE_STATE_DIR),.finhouse)

# Component fragments (Superset, Snowflake) add their own targets and append to these:
# TEST_DEPS are built before `make test`, UP_DEPS before `make up`.
TEST_DEPS :=
UP_DEPS   :=
-include superset/superset.mk snowflake/snowflake.mk

export PIP_DISABLE_PIP_VERSION_CHECK := 1
export DO_NOT_TRACK := 1
export DBT_SEND_ANONYMOUS_USAGE_STATS := False

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# $(call venv_install,VENV,REQUIREMENTS): the venv (created once), pip and uv at their pins,
# then the requirements by uv (a changed pin is installed incrementally), compiled to
# bytecode as pip does: every Airflow task and CLI process imports from the .pyc files
# (PYTHONDONTWRITEBYTECODE, set on some machines, would otherwise recompile at each start).
define venv_install
	@test -x $(1)/bin/python || $(PYTHON) -m venv $(1)
	@$(1)/bin/python -m pip install -q --upgrade $(PIP_PIN) $(UV_PIN) 2> >(grep -v "is ignored: it is neither" >&2)
	@$(1)/bin/uv pip install -q --compile-bytecode --python $(1)/bin/python -r $(2)
endef

$(AF_STAMP): requirements/airflow.txt pyproject.toml
	@echo "==> installing the Airflow environment into $(VENV) (first time: ~40 s)"
	$(call venv_install,$(VENV),requirements/airflow.txt)
	@$(VENV)/bin/pip install -q --no-deps --no-build-isolation -e . 2> >(grep -v "is ignored: it is neither\|BuildBackendWarning\|return '\\\\n'" >&2)
	@rm -f $(VENV)/.finhouse-* && touch $@

$(DBT_STAMP): requirements/dbt.txt
	@echo "==> installing dbt into $(DBT_VENV) (first time: ~10 s)"
	$(call venv_install,$(DBT_VENV),requirements/dbt.txt)
	@rm -f $(DBT_VENV)/.finhouse-* && touch $@

# The manifest Cosmos renders the dbt DAG from (never `dbt ls` at DAG parse time): rebuilt by
# `dbt parse` (no database needed) whenever a file of the dbt project changes.
DBT_DIR     := dbt/finhouse
MANIFEST    := $(DBT_DIR)/target/manifest.json
DBT_SOURCES := $(shell find $(DBT_DIR) \( -path $(DBT_DIR)/target -o -path $(DBT_DIR)/logs \) \
	-prune -o -type f \( -name '*.sql' -o -name '*.yml' -o -name '*.csv' \) -print)

$(MANIFEST): $(DBT_STAMP) $(DBT_SOURCES)
	@echo "==> dbt parse: the manifest the Airflow dbt DAG is rendered from"
	@cd $(DBT_DIR) && DBT_PROFILES_DIR=. FINHOUSE_DBT_TARGET=dev ../../$(DBT_VENV)/bin/dbt parse --quiet
	@touch $@

.PHONY: install
install: $(AF_STAMP) $(DBT_STAMP) $(MANIFEST) ## create .venv (Airflow, package) and .venv-dbt from the pins; dbt parse

.PHONY: db-up db-down
db-up: $(AF_STAMP) ## start the embedded PostgreSQL
	@$(FINHOUSE) db up
db-down: ## stop the embedded PostgreSQL
	@if [ -x $(FINHOUSE) ]; then $(FINHOUSE) db down; fi

.PHONY: demo
SPREADSHEET_DAGS := finhouse_files_branches finhouse_files_branch_targets finhouse_files_officer_targets

demo: install db-up ## run the platform on the embedded default: OLTP -> Airflow (ingestion DAGs, dbt DAG) -> marts
	@$(FINHOUSE) oltp init
	@if $(FINHOUSE) oltp summary --require-data >/dev/null 2>&1; then \
		echo "==> OLTP already seeded: simulating live activity"; \
		$(FINHOUSE) oltp simulate --ticks 5; \
	else \
		echo "==> seeding the OLTP (scale $(SCALE), seed $(SEED))"; \
		$(FINHOUSE) oltp seed --scale $(SCALE) --seed $(SEED); \
	fi
	@$(FINHOUSE) oltp summary
	@echo "==> the spreadsheets managers keep beside the core system (branches, targets)"
	@$(FINHOUSE) files seed --seed $(SEED)
	@echo "==> Airflow: migrating its metadata database"
	@mkdir -p $(STATE)/logs
	@$(FINHOUSE) airflow db migrate > $(STATE)/logs/airflow-db-migrate.log 2>&1 \
		|| { tail -20 $(STATE)/logs/airflow-db-migrate.log; exit 1; }
	@echo "==> through Airflow: the six ingestion DAGs (incremental loads into RAW) and the three"
	@echo "    spreadsheet DAGs (the drop folder's files into RAW), then the"
	@echo "    dbt DAG (Cosmos watcher: one dbt build, tests included, a task per model), then"
	@echo "    the export DAG (the marts marked for export as CSV and Parquet files), then the"
	@echo "    close DAG (the last complete month frozen, and its report pack: PDF and Excel),"
	@echo "    then the default model's DAG (trained out of time, every active loan scored)"
	@$(FINHOUSE) dags run --ingestion $(SPREADSHEET_DAGS) finhouse_dbt finhouse_export finhouse_close \
		finhouse_ml_train
	@echo; $(FINHOUSE) ml list
	@echo; $(FINHOUSE) report
	@echo; $(FINHOUSE) db status
	@echo; $(FINHOUSE) platform next

# dbt's documentation site, where Airflow's dbt docs view (Cosmos' plugin) reads it: the state
# folder's dbt-docs (finhouse_local.paths.dbt_docs_dir; FINHOUSE_STATE_DIR moves both).
DBT_DOCS := $(abspath $(STATE))/dbt-docs

.PHONY: docs
docs: install db-up ## dbt's docs site (dbt docs generate; the catalog reads the warehouse), served by Airflow
	@echo "==> dbt docs generate into $(DBT_DOCS) (the catalog: the warehouse, as the transformer role)"
	@$(FINHOUSE) dbt docs generate --target-path $(DBT_DOCS) --quiet
	@echo "dbt docs: $(DBT_DOCS)/index.html (manifest.json, catalog.json beside it)"
	@echo "  in Airflow (make up): http://127.0.0.1:$${FINHOUSE_AIRFLOW_PORT:-8080}/cosmos/finhouse/dbt_docs_index.html (Browse > dbt docs (finhouse))"
	@echo "  on their own: $(FINHOUSE) dbt docs serve --target-path $(DBT_DOCS) --port 8081"

.PHONY: test
test: install $(TEST_DEPS) ## run every test (starts and stops its own PostgreSQL)
	@$(VENV)/bin/pytest $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadgroup) $(PYTEST_ARGS)

.PHONY: bench
bench: install ## benchmarks: DAG parse time; ingestion vs the physical COPY reference; dbt full vs incremental, the portfolio_daily export; a 100 MB spreadsheet folder
	@$(VENV)/bin/python tests/bench/bench_dags.py 2> >(grep -v "^\s*20[0-9][0-9]-" >&2)
	@$(VENV)/bin/python tests/bench/bench_ingest.py
	@$(VENV)/bin/python tests/bench/bench_dbt.py
	@$(VENV)/bin/python tests/bench/bench_files.py

.PHONY: lint
lint: $(AF_STAMP) ## ruff, mypy and sqlfluff
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check airflow local superset tests dbt/finhouse/sqlfluff_libs
	@$(VENV)/bin/mypy
	@$(VENV)/bin/sqlfluff lint dbt/finhouse

.PHONY: format
format: $(AF_STAMP) ## apply ruff's formatting and fixes
	@$(VENV)/bin/ruff check --fix .
	@$(VENV)/bin/ruff format airflow local superset tests

.PHONY: clean distclean
clean: db-down ## stop the database and delete local state (.finhouse: data, AIRFLOW_HOME)
	@# a cluster relocated out of an unreachable state folder: .finhouse/pg links to it
	@if [ -L .finhouse/pg ]; then rm -rf "$$(readlink -f .finhouse/pg)"; fi
	rm -rf .finhouse artifacts .pytest_cache .ruff_cache .mypy_cache
distclean: clean ## also delete the virtual environments
	rm -rf $(VENV) $(DBT_VENV)

.PHONY: up down
# `make up` notes when it began: a PostgreSQL its db-up step starts is one `make down` stops.
up: export FINHOUSE_UP_SINCE := $(shell date +%s)
up: install db-up $(UP_DEPS) ## run the platform locally: PostgreSQL, OLTP (live), Airflow on :8080, Superset on :8088
	@$(FINHOUSE) platform up
down: ## stop what `make up` started (Airflow, Superset, the simulator, PostgreSQL if up started it)
	@if [ -x $(FINHOUSE) ]; then $(FINHOUSE) platform down; fi

# `make soak`: the platform for SOAK_MINUTES with every ingestion DAG every
# SOAK_SCHEDULE_MINUTES, the reconcile DAGs every SOAK_RECONCILE_MINUTES and the simulator
# every SOAK_SIMULATE_SECONDS; SOAK_ARGS adds options of `finhouse platform soak` (goals).
SOAK_MINUTES           ?= 60
SOAK_SCHEDULE_MINUTES  ?= 2
SOAK_RECONCILE_MINUTES ?= 10
SOAK_SIMULATE_SECONDS  ?= 20
SOAK_ARGS              ?=

.PHONY: soak soak-django
# as `make up`: a PostgreSQL its db-up step starts is one the soak stops again
soak: export FINHOUSE_UP_SINCE := $(shell date +%s)
soak: install db-up ## the platform for SOAK_MINUTES (60) at fast schedules, then a report; fails on any failed run, stale marts, growth or reconcile difference
	@$(FINHOUSE) platform soak --minutes $(SOAK_MINUTES) \
		--schedule-minutes $(SOAK_SCHEDULE_MINUTES) --reconcile-minutes $(SOAK_RECONCILE_MINUTES) \
		--simulate-seconds $(SOAK_SIMULATE_SECONDS) $(SOAK_ARGS)
soak-django: install ## the Django client soak: minutes of ORM workload (250k-row month-end postings) vs ingestion
	@FINHOUSE_SOAK=1 $(VENV)/bin/pytest tests/integration/django -k soak -n0 -s $(PYTEST_ARGS)
