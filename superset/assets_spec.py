"""The compact spec the committed Superset assets (``superset/assets/``) are generated from.

The YAML under ``superset/assets/`` is what the bootstrap imports and what reviewers read;
this file only writes it (``python superset/assets_spec.py``, any Python with PyYAML): one
dataset per mart (columns from the dbt models' YAML, saved metrics defined once here), the
charts and the eight dashboards with their native filters. UUIDs are uuid5 of stable keys,
so regenerating gives the same files and a diff shows only what changed.

It also writes the dbt project's exposures (``dbt/finhouse/models/marts/_exposures.yml``):
one per dashboard, depending on the marts its charts and filters read, so dbt's docs and
lineage show what each dashboard uses and ``dbt build --select +exposure:collections``
rebuilds what one needs.
"""

from __future__ import annotations

import functools
import json
import shutil
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
ASSETS = HERE / "assets"
MARTS = REPO / "dbt" / "finhouse" / "models" / "marts"
NS = uuid.UUID("5b0f4a52-4c39-4f57-9a7e-0c7f3e1e6a11")
VERSION = "1.0.0"
DATABASE_NAME = "finhouse warehouse"
DATABASE_FILE = "databases/finhouse_warehouse.yaml"
#: placeholder: the bootstrap replaces it with the reporter DSN of the environment
PLACEHOLDER_URI = "postgresql+psycopg2://reporter:XXXXXXXXXX@127.0.0.1:54329/warehouse"
#: the dbt exposures of the dashboards
EXPOSURES = MARTS / "_exposures.yml"
#: where `make up` serves Superset (SUPERSET_PORT's default): the exposures' links
LOCAL_SUPERSET_URL = "http://127.0.0.1:8088"
#: the exposures' owner: the team (the Airflow DAGs' owner), never a person
OWNER = "finhouse-data"


def uid(kind: str, key: str) -> str:
    return str(uuid.uuid5(NS, f"finhouse/{kind}/{key}"))


# ---------------------------------------------------------------- datasets


@dataclass
class Dataset:
    table: str
    dttm: str | None = None
    metrics: dict[str, tuple[str, str]] = field(default_factory=dict)  # name: (label, sql)


PAR = "SUM({0}_amount) / NULLIF(SUM(gross_loan_portfolio), 0)"
#: the targets marts' metrics: attainment of the rows summed (actual / target)
TARGET_METRICS = {
    "disbursed_amount": ("Disbursed", "SUM(disbursed_amount)"),
    "disbursement_target": ("Disbursement target", "SUM(disbursement_target)"),
    "disbursement_attainment": (
        "Disbursement attainment",
        "SUM(disbursed_amount) / NULLIF(SUM(disbursement_target), 0)",
    ),
    "new_borrowers": ("New borrowers", "SUM(new_borrowers)"),
    "new_borrowers_target": ("New borrowers target", "SUM(new_borrowers_target)"),
    "new_borrowers_attainment": (
        "New borrowers attainment",
        "CAST(SUM(new_borrowers) AS NUMERIC) / NULLIF(SUM(new_borrowers_target), 0)",
    ),
    "par30_ratio": ("PAR30", PAR.format("par30")),
    "par30_ceiling": ("PAR30 ceiling", "MAX(par30_ceiling)"),
}
DATASETS = {
    d.table: d
    for d in [
        Dataset(
            "portfolio_daily",
            "as_of_date",
            {
                "gross_loan_portfolio": ("GLP", "SUM(gross_loan_portfolio)"),
                "average_daily_glp": (
                    "Average daily GLP",
                    "SUM(gross_loan_portfolio) / NULLIF(COUNT(DISTINCT as_of_date), 0)",
                ),
                "active_loans": ("Active loans", "SUM(active_loans)"),
                "par1_ratio": ("PAR1", PAR.format("par1")),
                "par30_ratio": ("PAR30", PAR.format("par30")),
                "par60_ratio": ("PAR60", PAR.format("par60")),
                "par90_ratio": ("PAR90", PAR.format("par90")),
                "disbursed_amount": ("Disbursed", "SUM(disbursed_amount)"),
                "loans_disbursed": ("Loans disbursed", "SUM(loans_disbursed)"),
                "average_loan_size": (
                    "Average loan size",
                    "SUM(disbursed_amount) / NULLIF(SUM(loans_disbursed), 0)",
                ),
            },
        ),
        Dataset(
            "loans_current",
            "disbursed_at",
            {
                "active_borrowers": (
                    "Active borrowers",
                    "COUNT(DISTINCT CASE WHEN is_active THEN borrower_id END)",
                ),
                "outstanding_principal": ("Outstanding principal", "SUM(outstanding_principal)"),
                "par30_ratio": (
                    "PAR30",
                    "SUM(CASE WHEN days_past_due > 30 THEN outstanding_principal ELSE 0 END)"
                    " / NULLIF(SUM(outstanding_principal), 0)",
                ),
            },
        ),
        Dataset(
            "roll_rates_monthly",
            "month_start",
            {
                "roll_rate": (
                    "Roll rate",
                    "SUM(start_outstanding_principal)"
                    " / NULLIF(SUM(from_bucket_outstanding_principal), 0)",
                ),
            },
        ),
        Dataset(
            "vintage_curves",
            "cohort_month",
            {"par30_ratio": ("PAR30", PAR.format("par30"))},
        ),
        Dataset(
            "write_offs_monthly",
            "month_start",
            {
                "written_off_amount": ("Written off", "SUM(written_off_amount)"),
                "write_off_ratio": (
                    "Write-off ratio",
                    "SUM(written_off_amount) / NULLIF(SUM(average_gross_loan_portfolio), 0)",
                ),
            },
        ),
        Dataset(
            "risk_coverage_monthly",
            "month_start",
            {
                "loan_loss_reserve": ("Loan-loss reserve", "SUM(loan_loss_reserve)"),
                "provision_expense": ("Provision expense", "SUM(provision_expense)"),
                "risk_coverage_ratio": (
                    "Risk coverage",
                    "SUM(loan_loss_reserve) / NULLIF(SUM(par30_amount), 0)",
                ),
                "loan_loss_reserve_ratio": (
                    "Loan-loss reserve ratio",
                    "SUM(loan_loss_reserve) / NULLIF(SUM(gross_loan_portfolio), 0)",
                ),
            },
        ),
        Dataset(
            "risk_coverage_closed_vs_restated",
            "month_start",
            {
                "risk_coverage_as_closed": (
                    "Risk coverage as closed",
                    "SUM(loan_loss_reserve_as_closed) / NULLIF(SUM(par30_amount_as_closed), 0)",
                ),
                "risk_coverage_as_restated": (
                    "Risk coverage as restated",
                    "SUM(loan_loss_reserve_as_restated) / NULLIF(SUM(par30_amount_as_restated), 0)",
                ),
                "loan_loss_reserve_as_closed": (
                    "Loan-loss reserve as closed",
                    "SUM(loan_loss_reserve_as_closed)",
                ),
                "loan_loss_reserve_as_restated": (
                    "Loan-loss reserve as restated",
                    "SUM(loan_loss_reserve_as_restated)",
                ),
            },
        ),
        Dataset(
            "provisions_by_bucket_monthly",
            "month_start",
            {
                "outstanding_principal": ("Outstanding principal", "SUM(outstanding_principal)"),
                "provision_amount": ("Provision", "SUM(provision_amount)"),
            },
        ),
        Dataset(
            "collections_monthly",
            "month_start",
            {
                "on_time_collection_rate": (
                    "On-time collection rate",
                    "SUM(amount_paid_on_time) / NULLIF(SUM(amount_due), 0)",
                ),
                "amount_due": ("Amount due", "SUM(amount_due)"),
                "amount_paid_on_time": ("Paid on time", "SUM(amount_paid_on_time)"),
            },
        ),
        Dataset("loan_officer_performance", None),
        Dataset(
            "yield_on_portfolio_monthly",
            "month_start",
            {"annualised_yield": ("Annualised yield", "AVG(annualised_yield)")},
        ),
        Dataset(
            "customer_360",
            "joined_date",
            {"customers": ("Customers", "COUNT(*)")},
        ),
        Dataset(
            "leverage_by_risk_appetite",
            None,
            {"pooled_leverage": ("Pooled leverage", "MAX(pooled_leverage)")},
        ),
        Dataset("concentration_summary", None),
        Dataset(
            "concentration_deciles",
            None,
            {"balance_share": ("Balance share", "SUM(balance_share)")},
        ),
        Dataset(
            "concentration_lorenz",
            None,
            {
                "cumulative_balance_share": (
                    "Cumulative balance share",
                    "MAX(cumulative_balance_share)",
                )
            },
        ),
        Dataset(
            "monthly_financial_summary",
            "month_start",
            {
                "deposits": ("Deposits", "SUM(deposits)"),
                "withdrawals": ("Withdrawals", "SUM(withdrawals)"),
                "loan_disbursements": ("Loan disbursements", "SUM(loan_disbursements)"),
                "loan_repayments": ("Loan repayments", "SUM(loan_repayments)"),
                "fees_and_interest": ("Fees and interest", "SUM(fees) + SUM(interest_paid)"),
                "net_flow": ("Net flow", "SUM(net_flow)"),
            },
        ),
        Dataset(
            "investments_current",
            "start_date",
            {
                "active_value": (
                    "Active accrued value",
                    "SUM(CASE WHEN investment_status = 'active' THEN accrued_value END)",
                )
            },
        ),
        Dataset(
            "investments_by_product",
            None,
            {"active_accrued_value": ("Active accrued value", "SUM(active_accrued_value)")},
        ),
        Dataset(
            "investment_maturity_ladder",
            "maturity_month",
            {"principal_maturing": ("Principal maturing", "SUM(principal_maturing)")},
        ),
        Dataset("branch_targets_vs_actuals", "month_start", TARGET_METRICS),
        Dataset("officer_targets_vs_actuals", "month_start", TARGET_METRICS),
        Dataset(
            "pipeline_health",
            None,
            {
                "max_freshness_minutes": ("Freshness (minutes)", "MAX(freshness_minutes)"),
                "max_marts_behind_minutes": (
                    "Marts behind the source (minutes)",
                    "MAX(marts_behind_minutes)",
                ),
            },
        ),
        Dataset(
            "data_quality_daily",
            "check_date",
            {
                "checks_warned": ("Warnings", "SUM(warned)"),
                "checks_failed": ("Failures and errors", "SUM(failed) + SUM(errored)"),
            },
        ),
        Dataset("data_quality_checks", None, {}),
        Dataset(
            "loan_default_scores",
            None,
            {
                "loans": ("Loans", "COUNT(*)"),
                "expected_loss": ("Expected loss", "SUM(expected_loss)"),
                "outstanding": ("Outstanding principal", "SUM(outstanding_principal)"),
                "mean_pd": ("Mean PD", "AVG(default_probability)"),
                "expected_loss_rate": (
                    "Expected-loss rate",
                    "SUM(expected_loss) / NULLIF(SUM(outstanding_principal), 0)",
                ),
            },
        ),
        Dataset("expected_loss_by_segment", None, {}),
        Dataset("ml_model_versions", None, {}),
        Dataset(
            "ml_model_calibration",
            None,
            {
                "mean_predicted": ("Mean predicted PD", "AVG(mean_predicted)"),
                "observed_rate": ("Observed default rate", "AVG(observed_rate)"),
            },
        ),
        Dataset(
            "ml_feature_importance",
            None,
            {"importance": ("Share of the model's gain", "SUM(importance)")},
        ),
        Dataset("ml_feature_drift", None, {}),
        Dataset(
            "load_runs_daily",
            "run_date",
            {
                "runs": ("Runs", "SUM(runs)"),
                "rows_loaded": ("Rows loaded", "SUM(rows_loaded)"),
                "failed_runs": ("Failed or abandoned runs", "SUM(failures) + SUM(abandoned)"),
                "avg_run_seconds": (
                    "Average run (s)",
                    "SUM(total_seconds) / NULLIF(SUM(runs), 0)",
                ),
            },
        ),
    ]
}


@functools.cache
def _dbt_columns() -> dict[str, list[tuple[str, str, str]]]:
    """table -> [(column, data_type, description)] from the dbt models' YAML."""
    out: dict[str, list[tuple[str, str, str]]] = {}
    for path in sorted(MARTS.rglob("*.yml")):
        for model in (yaml.safe_load(path.read_text()) or {}).get("models", []):
            out[model["name"]] = [
                (c["name"], c.get("data_type", "text"), " ".join(c.get("description", "").split()))
                for c in model.get("columns", [])
            ]
    return out


def columns_of(table: str) -> list[str]:
    return [c for c, _, _ in _dbt_columns()[table]]


def _dataset_yaml(ds: Dataset, cols: list[tuple[str, str, str]]) -> dict[str, Any]:
    def is_dttm(data_type: str) -> bool:
        return data_type.startswith(("date", "timestamp"))

    return {
        "table_name": ds.table,
        "schema": "marts",
        "catalog": None,
        "main_dttm_col": ds.dttm,
        "description": f"marts.{ds.table} (dbt model; columns described in dbt/finhouse).",
        "default_endpoint": None,
        "offset": 0,
        "cache_timeout": None,
        "sql": None,
        "params": None,
        "template_params": None,
        "filter_select_enabled": True,
        "fetch_values_predicate": None,
        "extra": None,
        "normalize_columns": False,
        "always_filter_main_dttm": False,
        "uuid": uid("dataset", ds.table),
        "metrics": [
            {
                "metric_name": name,
                "verbose_name": label,
                "metric_type": None,
                "expression": sql,
                "description": None,
                "d3format": None,
                "currency": None,
                "extra": {},
                "warning_text": None,
            }
            for name, (label, sql) in ds.metrics.items()
        ],
        "columns": [
            {
                "column_name": name,
                "verbose_name": None,
                "is_dttm": is_dttm(data_type),
                "is_active": True,
                "type": data_type.upper(),
                "advanced_data_type": None,
                "groupby": True,
                "filterable": True,
                "expression": None,
                "description": None,  # described in dbt (fewer regenerations)
                "python_date_format": None,
                "extra": {},
            }
            for name, data_type, _description in cols
        ],
        "version": VERSION,
        "database_uuid": uid("database", "warehouse"),
    }


# ---------------------------------------------------------------- charts

GRAINS = {"day": "P1D", "week": "P1W", "month": "P1M"}


@dataclass
class Chart:
    key: str
    name: str
    viz: str  # big_number, big_number_total, line, bar, pie, table, pivot
    table: str
    metrics: list[str] = field(default_factory=list)
    groupby: list[str] = field(default_factory=list)
    x: str | None = None  # the x axis (temporal: with a grain)
    grain: str | None = None
    where: str | None = None  # a custom SQL filter (WHERE clause)
    columns: list[str] = field(default_factory=list)  # raw table columns
    time_scoped: bool = True  # does the dashboard's date range apply?
    width: int = 4
    height: int = 50
    fmt: str = "SMART_NUMBER"
    limit: int = 10000
    description: str | None = None
    order_desc: bool = True
    columns_y: list[str] = field(default_factory=list)  # pivot: column dimension
    stack: bool = True  # bars of several series stacked


def _base_axis(x: str, grain: str | None) -> dict[str, Any]:
    col: dict[str, Any] = {
        "columnType": "BASE_AXIS",
        "sqlExpression": x,
        "label": x,
        "expressionType": "SQL",
    }
    if grain:
        col["timeGrain"] = GRAINS[grain]
    return col


def _filters(c: Chart, ds: Dataset) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(form_data adhoc_filters, query context filters + extras.where)."""
    adhoc: list[dict[str, Any]] = []
    query: list[dict[str, Any]] = []
    if c.time_scoped and ds.dttm:
        subject = c.x if (c.x and c.grain) else ds.dttm
        adhoc.append(
            {
                "clause": "WHERE",
                "comparator": "No filter",
                "expressionType": "SIMPLE",
                "operator": "TEMPORAL_RANGE",
                "subject": subject,
            }
        )
        query.append({"col": subject, "op": "TEMPORAL_RANGE", "val": "No filter"})
    if c.where:
        adhoc.append({"clause": "WHERE", "expressionType": "SQL", "sqlExpression": c.where})
    return adhoc, query


def _chart_yaml(c: Chart) -> dict[str, Any]:
    ds = DATASETS[c.table]
    for m in c.metrics:
        if m not in ds.metrics:
            raise SystemExit(f"chart {c.key}: dataset {c.table} has no metric {m!r}")
    known = set(columns_of(c.table))
    for col in [*c.groupby, *c.columns, *c.columns_y, *([c.x] if c.x else [])]:
        if col not in known:
            raise SystemExit(f"chart {c.key}: {c.table} has no column {col!r}")
    adhoc, qfilters = _filters(c, ds)
    viz = {
        "line": "echarts_timeseries_line",
        "bar": "echarts_timeseries_bar",
        "pivot": "pivot_table_v2",
    }.get(c.viz, c.viz)
    params: dict[str, Any] = {
        "datasource": "__table",
        "viz_type": viz,
        "adhoc_filters": adhoc,
        "extra_form_data": {},
        "dashboards": [],
    }
    qcolumns: list[Any] = []
    extras: dict[str, Any] = {"having": "", "where": ""}
    if c.where:
        extras["where"] = f"({c.where})"
    orderby: list[Any] = []
    if c.viz in ("big_number", "big_number_total"):
        params |= {
            "metric": c.metrics[0],
            "header_font_size": 0.4,
            "subheader_font_size": 0.15,
            "y_axis_format": c.fmt,
            "time_format": "smart_date",
        }
        if c.viz == "big_number":
            params |= {
                "x_axis": c.x,
                "time_grain_sqla": GRAINS[c.grain or "day"],
                "show_trend_line": True,
                "start_y_axis_at_zero": True,
                "rolling_type": "None",
            }
            qcolumns = [_base_axis(c.x or "", c.grain or "day")]
            orderby = [[c.x, True]]
    elif c.viz in ("line", "bar"):
        params |= {
            "x_axis": c.x,
            "metrics": c.metrics,
            "groupby": c.groupby,
            "row_limit": c.limit,
            "y_axis_format": c.fmt,
            "x_axis_sort_asc": True,
            "show_legend": True,
            "legendType": "scroll",
            "legendOrientation": "top",
            "rich_tooltip": True,
            "truncate_metric": True,
            "color_scheme": "supersetColors",
            "order_desc": True,
            "comparison_type": "values",
            "annotation_layers": [],
            "forecastPeriods": 10,
            "forecastInterval": 0.8,
            "x_axis_title_margin": 15,
            "y_axis_title_margin": 15,
            "y_axis_title_position": "Left",
            "sort_series_type": "sum",
            "only_total": True,
            "zoomable": False,
            "markerEnabled": False,
        }
        if c.grain:
            params |= {"time_grain_sqla": GRAINS[c.grain], "x_axis_time_format": "smart_date"}
        if c.viz == "bar":
            params |= {
                "orientation": "vertical",
                "stack": "Stack" if c.groupby and c.stack else None,
            }
        qcolumns = [_base_axis(c.x or "", c.grain), *c.groupby]
        orderby = [[c.metrics[0], False]]
    elif c.viz == "pie":
        params |= {
            "metric": c.metrics[0],
            "groupby": c.groupby,
            "row_limit": c.limit,
            "sort_by_metric": True,
            "show_labels": True,
            "show_legend": True,
            "label_type": "key_percent",
            "number_format": c.fmt,
            "donut": True,
            "innerRadius": 30,
            "outerRadius": 70,
            "color_scheme": "supersetColors",
            "labels_outside": True,
        }
        qcolumns = list(c.groupby)
        orderby = [[c.metrics[0], False]]
    elif c.viz == "table":
        if c.columns:
            params |= {"query_mode": "raw", "all_columns": c.columns, "order_by_cols": []}
            qcolumns = list(c.columns)
        else:
            params |= {
                "query_mode": "aggregate",
                "groupby": c.groupby,
                "metrics": c.metrics,
                "order_desc": True,
            }
            qcolumns = list(c.groupby)
            orderby = [[c.metrics[0], False]] if c.metrics else []
        params |= {
            "row_limit": c.limit,
            "server_page_length": 10,
            "table_timestamp_format": "smart_date",
            "show_cell_bars": True,
            "color_pn": True,
            "include_search": False,
        }
    elif c.viz == "pivot":
        params |= {
            "groupbyRows": c.groupby,
            "groupbyColumns": c.columns_y,
            "metrics": c.metrics,
            "metricsLayout": "COLUMNS",
            "aggregateFunction": "Sum",
            "valueFormat": c.fmt,
            "rowOrder": "key_a_to_z",
            "colOrder": "key_a_to_z",
            "row_limit": c.limit,
            "order_desc": True,
        }
        qcolumns = [*c.groupby, *c.columns_y]
        orderby = [[c.metrics[0], False]]
    else:
        raise SystemExit(f"chart {c.key}: unknown viz {c.viz}")
    query: dict[str, Any] = {
        "filters": qfilters,
        "extras": extras | ({"time_grain_sqla": GRAINS[c.grain]} if c.grain else {}),
        "applied_time_extras": {},
        "columns": qcolumns,
        "metrics": list(c.metrics) if c.metrics else None,
        "orderby": orderby,
        "annotation_layers": [],
        "row_limit": c.limit,
        "series_limit": 0,
        "order_desc": c.order_desc,
        "url_params": {},
        "custom_params": {},
        "custom_form_data": {},
        "post_processing": [],
    }
    if c.viz == "table" and c.columns:
        query["metrics"] = []
        query["orderby"] = []
    query_context = {
        "datasource": {"id": 0, "type": "table"},
        "force": False,
        "queries": [query],
        "form_data": params,
        "result_format": "json",
        "result_type": "full",
    }
    return {
        "slice_name": c.name,
        "description": c.description,
        "certified_by": None,
        "certification_details": None,
        "viz_type": viz,
        "params": params,
        "query_context": json.dumps(query_context, sort_keys=True, indent=2) + "\n",
        "cache_timeout": None,
        "uuid": uid("chart", c.key),
        "version": VERSION,
        "dataset_uuid": uid("dataset", c.table),
    }


# ---------------------------------------------------------------- dashboards


@dataclass
class Dashboard:
    key: str
    title: str
    rows: list[list[Chart]]
    filters: list[tuple[str, str | None, str | None]]  # (name, dataset, column); time: col None
    description: str = ""


def _dashboard_yaml(d: Dashboard, chart_ids: dict[str, int]) -> dict[str, Any]:
    position: dict[str, Any] = {
        "DASHBOARD_VERSION_KEY": "v2",
        "ROOT_ID": {"children": ["GRID_ID"], "id": "ROOT_ID", "type": "ROOT"},
        "GRID_ID": {"children": [], "id": "GRID_ID", "parents": ["ROOT_ID"], "type": "GRID"},
        "HEADER_ID": {"id": "HEADER_ID", "meta": {"text": d.title}, "type": "HEADER"},
    }
    charts = [c for row in d.rows for c in row]
    for i, row in enumerate(d.rows, 1):
        row_id = f"ROW-{d.key}-{i}"
        position["GRID_ID"]["children"].append(row_id)
        position[row_id] = {
            "children": [],
            "id": row_id,
            "meta": {"background": "BACKGROUND_TRANSPARENT"},
            "parents": ["ROOT_ID", "GRID_ID"],
            "type": "ROW",
        }
        for c in row:
            chart_id = f"CHART-{c.key}"
            position[row_id]["children"].append(chart_id)
            position[chart_id] = {
                "children": [],
                "id": chart_id,
                "meta": {
                    "chartId": chart_ids[c.key],
                    "height": c.height,
                    "sliceName": c.name,
                    "uuid": uid("chart", c.key),
                    "width": c.width,
                },
                "parents": ["ROOT_ID", "GRID_ID", row_id],
                "type": "CHART",
            }
        if sum(c.width for c in row) > 12:
            raise SystemExit(f"dashboard {d.key}: row {i} is wider than 12")
    native = []
    for name, table, column in d.filters:
        key = f"{d.key}-{name}".lower().replace(" ", "_")
        filter_id = "NATIVE_FILTER-" + uid("filter", key)[:20]
        if column is None:  # the date range: charts on a dataset with a date column
            excluded = [
                chart_ids[c.key] for c in charts if not (c.time_scoped and DATASETS[c.table].dttm)
            ]
            target: dict[str, Any] = {}
            filter_type = "filter_time"
            control: dict[str, Any] = {"enableEmptyFilter": False}
        else:
            excluded = [chart_ids[c.key] for c in charts if column not in columns_of(c.table)]
            target = {"column": {"name": column}, "datasetUuid": uid("dataset", table or "")}
            filter_type = "filter_select"
            control = {
                "defaultToFirstItem": False,
                "enableEmptyFilter": False,
                "inverseSelection": False,
                "multiSelect": True,
                "searchAllOptions": False,
            }
        native.append(
            {
                "id": filter_id,
                "name": name,
                "filterType": filter_type,
                "type": "NATIVE_FILTER",
                "targets": [target],
                "controlValues": control,
                "defaultDataMask": {"extraFormData": {}, "filterState": {}, "ownState": {}},
                "cascadeParentIds": [],
                "scope": {"rootPath": ["ROOT_ID"], "excluded": excluded},
                "description": "",
            }
        )
    return {
        "dashboard_title": d.title,
        "description": d.description or None,
        "css": "",
        "slug": d.key.replace("_", "-"),
        "certified_by": "",
        "certification_details": "",
        "published": True,
        "uuid": uid("dashboard", d.key),
        "position": position,
        "metadata": {
            "color_scheme": "supersetColors",
            "cross_filters_enabled": False,
            "native_filter_configuration": native,
            "refresh_frequency": 0,
            "expanded_slices": {},
            "timed_refresh_immune_slices": [],
            "default_filters": "{}",
            "shared_label_colors": [],
            "label_colors": {},
            "color_scheme_domain": [],
        },
        "version": VERSION,
    }


DATE = ("Date range", None, None)


def BRANCH(t: str) -> tuple[str, str, str]:  # noqa: N802 - reads as a constant
    return ("Branch", t, "branch_code")


PRODUCT = ("Product", "portfolio_daily", "product")
OFFICER = ("Loan officer", "portfolio_daily", "loan_officer_id")
PCT = ".2%"
MONEY = ",.2f"

DASHBOARDS = [
    Dashboard(
        "portfolio_overview",
        "Portfolio overview",
        [
            [
                Chart("po_glp", "Gross loan portfolio (latest day)", "big_number",
                      "portfolio_daily", ["gross_loan_portfolio"], x="as_of_date",
                      grain="day", fmt=MONEY, width=3, height=40),
                Chart("po_active_borrowers", "Active borrowers (as of date)",
                      "big_number_total", "loans_current", ["active_borrowers"],
                      time_scoped=False, fmt=",d", width=3, height=40),
                Chart("po_active_loans", "Active loans (latest day)", "big_number",
                      "portfolio_daily", ["active_loans"], x="as_of_date", grain="day",
                      fmt=",d", width=3, height=40),
                Chart("po_avg_loan_size", "Average loan size (disbursed in range)",
                      "big_number_total", "portfolio_daily", ["average_loan_size"],
                      fmt=MONEY, width=3, height=40),
            ],
            [
                Chart("po_disbursements", "Disbursements per month", "bar",
                      "portfolio_daily", ["disbursed_amount"], x="as_of_date", grain="month",
                      groupby=["product"], fmt=MONEY, width=6),
                Chart("po_glp_trend", "Average daily GLP per month by product", "line",
                      "portfolio_daily", ["average_daily_glp"], x="as_of_date", grain="month",
                      groupby=["product"], fmt=MONEY, width=6),
            ],
            [
                Chart("po_glp_by_product", "Outstanding portfolio by product (as of date)",
                      "pie", "loans_current", ["outstanding_principal"], groupby=["product"],
                      time_scoped=False, fmt=MONEY, width=6),
                Chart("po_glp_by_branch", "Outstanding portfolio by branch (as of date)",
                      "table", "loans_current", ["outstanding_principal", "active_borrowers"],
                      groupby=["branch_code"], time_scoped=False, width=6),
            ],
        ],
        [DATE, BRANCH("portfolio_daily"), PRODUCT, OFFICER],
        "GLP, borrowers, disbursements and the portfolio's mix (marts.portfolio_daily, "
        "marts.loans_current).",
    ),
    Dashboard(
        "portfolio_quality",
        "Portfolio quality",
        [
            [
                Chart("pq_par30", "PAR30 (latest day)", "big_number", "portfolio_daily",
                      ["par30_ratio"], x="as_of_date", grain="day", fmt=PCT, width=4,
                      height=40),
                Chart("pq_par_trend", "PAR1 / PAR30 / PAR60 / PAR90 (monthly mean)", "line",
                      "portfolio_daily",
                      ["par1_ratio", "par30_ratio", "par60_ratio", "par90_ratio"],
                      x="as_of_date", grain="month", fmt=PCT, width=8, height=40),
            ],
            [
                Chart("pq_dpd_buckets", "Outstanding principal by DPD bucket (as of date)",
                      "pie", "loans_current", ["outstanding_principal"],
                      groupby=["dpd_bucket"], where="in_portfolio", time_scoped=False,
                      fmt=MONEY, width=4),
                Chart("pq_par_by_branch", "PAR30 by branch (as of date)", "table",
                      "loans_current", ["par30_ratio", "outstanding_principal"],
                      groupby=["branch_code"], time_scoped=False, width=4),
                Chart("pq_par_by_product", "PAR30 by product (as of date)", "table",
                      "loans_current", ["par30_ratio", "outstanding_principal"],
                      groupby=["product"], time_scoped=False, width=4),
            ],
            [
                Chart("pq_par_by_officer", "PAR30 by loan officer (as of date)", "table",
                      "loan_officer_performance",
                      columns=["loan_officer_id", "branch_code", "active_loans",
                               "gross_loan_portfolio", "par30_amount", "par30_ratio"],
                      time_scoped=False, width=6),
                Chart("pq_roll_rates", "Roll-rate matrix (complete months in range)", "pivot",
                      "roll_rates_monthly", ["roll_rate"], groupby=["from_bucket"],
                      columns_y=["to_bucket"], where="is_month_complete", fmt=PCT, width=6),
            ],
            [
                Chart("pq_vintages", "Vintage curves: PAR30 by months since disbursement "
                      "(by cohort month)", "line", "vintage_curves", ["par30_ratio"],
                      x="months_since_disbursement", groupby=["cohort_month"], fmt=PCT,
                      width=8),
                Chart("pq_write_offs", "Write-offs per month", "bar", "write_offs_monthly",
                      ["written_off_amount"], x="month_start", grain="month", fmt=MONEY,
                      width=4),
            ],
            [
                Chart("pq_risk_coverage", "Risk coverage (reserve / PAR30) and loan-loss "
                      "reserve ratio at each month's end", "line", "risk_coverage_monthly",
                      ["risk_coverage_ratio", "loan_loss_reserve_ratio"], x="month_start",
                      grain="month", fmt=PCT, width=5),
                Chart("pq_reserve", "Loan-loss reserve and provision expense per month",
                      "bar", "risk_coverage_monthly",
                      ["loan_loss_reserve", "provision_expense"], x="month_start",
                      grain="month", fmt=MONEY, stack=False, width=4),
                Chart("pq_provisions_by_bucket", "Provisions by DPD bucket (as of date)",
                      "table", "provisions_by_bucket_monthly",
                      ["outstanding_principal", "provision_amount"],
                      groupby=["dpd_bucket", "provision_rate"],
                      where="period_end_date = as_of_date", time_scoped=False, width=3),
            ],
            [
                Chart("pq_closed_vs_restated", "Closed months: loan-loss reserve as closed "
                      "and as restated today", "table", "risk_coverage_closed_vs_restated",
                      ["loan_loss_reserve_as_closed", "loan_loss_reserve_as_restated",
                       "risk_coverage_as_closed", "risk_coverage_as_restated"],
                      groupby=["month_start", "close_id"], where="close_id IS NOT NULL",
                      width=12, height=40),
            ],
        ],
        [DATE, BRANCH("portfolio_daily"), PRODUCT, OFFICER],
        "PAR, DPD buckets, roll rates, vintages, write-offs, provisioning and risk coverage "
        "(docs/metrics.md definitions).",
    ),
    Dashboard(
        "collections",
        "Collections",
        [
            [
                Chart("co_rate_trend", "On-time collection rate per month", "line",
                      "collections_monthly", ["on_time_collection_rate"], x="month_start",
                      grain="month", fmt=PCT, width=8),
                Chart("co_rate", "On-time collection rate (range)", "big_number_total",
                      "collections_monthly", ["on_time_collection_rate"], fmt=PCT, width=4),
            ],
            [
                Chart("co_by_branch", "On-time collection rate by branch", "table",
                      "collections_monthly",
                      ["on_time_collection_rate", "amount_due", "amount_paid_on_time"],
                      groupby=["branch_code"], width=6),
                Chart("co_by_officer", "On-time collection rate by loan officer", "table",
                      "collections_monthly",
                      ["on_time_collection_rate", "amount_due", "amount_paid_on_time"],
                      groupby=["loan_officer_id", "branch_code"], width=6),
            ],
            [
                Chart("co_due_paid", "Amount due and paid on time per month", "bar",
                      "collections_monthly", ["amount_due", "amount_paid_on_time"],
                      x="month_start", grain="month", fmt=MONEY, width=12),
            ],
        ],
        [DATE, BRANCH("collections_monthly"),
         ("Loan officer", "collections_monthly", "loan_officer_id")],
        "CGAP on-time collection rate (marts.collections_monthly).",
    ),
    Dashboard(
        "customers",
        "Customers",
        [
            [
                Chart("cu_customers", "Customers", "big_number_total", "customer_360",
                      ["customers"], time_scoped=False, fmt=",d", width=3, height=40),
                Chart("cu_segments", "Customers by segment", "pie", "customer_360",
                      ["customers"], groupby=["segment"], time_scoped=False, fmt=",d",
                      width=5, height=40),
                Chart("cu_leverage", "Leverage by risk appetite", "table",
                      "leverage_by_risk_appetite",
                      columns=["risk_appetite", "borrowers", "borrowers_with_income",
                               "mean_borrower_leverage", "pooled_leverage"],
                      time_scoped=False, width=4, height=40),
            ],
            [
                Chart("cu_concentration", "Concentration: Gini and top-10 % share", "table",
                      "concentration_summary",
                      columns=["population", "holders", "total_balance", "top_10_pct_share",
                               "gini"],
                      time_scoped=False, width=4),
                Chart("cu_lorenz", "Lorenz curves: balance share by percentile of holders",
                      "line", "concentration_lorenz", ["cumulative_balance_share"],
                      x="point_no", groupby=["population"], fmt=PCT,
                      time_scoped=False, width=4),
                Chart("cu_deciles", "Balance share by decile", "bar", "concentration_deciles",
                      ["balance_share"], x="decile", groupby=["population"], fmt=PCT,
                      time_scoped=False, stack=False, width=4),
            ],
        ],
        [BRANCH("customer_360"), ("Segment", "customer_360", "segment")],
        "Segments, leverage and concentration (marts.customer_360 and the concentration "
        "marts; concentration is institution-wide).",
    ),
    Dashboard(
        "investments",
        "Investments",
        [
            [
                Chart("in_value", "Active investments: accrued value", "big_number_total",
                      "investments_current", ["active_value"], time_scoped=False, fmt=MONEY,
                      width=4, height=40),
                Chart("in_by_product", "Active accrued value by product", "pie",
                      "investments_by_product", ["active_accrued_value"],
                      groupby=["investment_product"], time_scoped=False, fmt=MONEY,
                      width=8, height=40),
            ],
            [
                Chart("in_returns", "Returns by product", "table", "investments_by_product",
                      columns=["investment_product", "active_investment_count",
                               "active_principal", "active_accrued_value",
                               "active_accrued_return", "active_weighted_annual_rate",
                               "realised_value"],
                      time_scoped=False, width=6),
                Chart("in_ladder", "Maturity ladder: principal maturing per month", "bar",
                      "investment_maturity_ladder", ["principal_maturing"],
                      x="maturity_month", grain="month", fmt=MONEY, time_scoped=False,
                      width=6),
            ],
        ],
        [BRANCH("investments_current"),
         ("Investment product", "investments_current", "investment_product")],
        "Accrued value, returns and the maturity ladder (marts.investments_*).",
    ),
    Dashboard(
        "financial_summary",
        "Financial summary",
        [
            [
                Chart("fs_deposits", "Monthly deposits", "bar", "monthly_financial_summary",
                      ["deposits"], x="month_start", grain="month", fmt=MONEY, width=6),
                Chart("fs_net_flow", "Net flow per month", "bar",
                      "monthly_financial_summary", ["net_flow"], x="month_start",
                      grain="month", fmt=MONEY, width=6),
            ],
            [
                Chart("fs_flows", "Deposits, withdrawals, disbursements, repayments", "line",
                      "monthly_financial_summary",
                      ["deposits", "withdrawals", "loan_disbursements", "loan_repayments",
                       "fees_and_interest"],
                      x="month_start", grain="month", fmt=MONEY, width=8),
                Chart("fs_by_branch", "Flows by branch (range)", "table",
                      "monthly_financial_summary",
                      ["deposits", "withdrawals", "loan_repayments", "net_flow"],
                      groupby=["branch_code"], width=4),
            ],
            [
                Chart("fs_yield", "Annualised yield on gross portfolio", "line",
                      "yield_on_portfolio_monthly", ["annualised_yield"], x="month_start",
                      grain="month", fmt=PCT, width=12, height=40),
            ],
        ],
        [DATE, BRANCH("monthly_financial_summary")],
        "Monthly flows by branch (marts.monthly_financial_summary) and portfolio yield.",
    ),
    Dashboard(
        "pipeline_health",
        "Pipeline health",
        [
            [
                Chart("ph_freshness", "Worst freshness (minutes since last load)",
                      "big_number_total", "pipeline_health", ["max_freshness_minutes"],
                      time_scoped=False, fmt=",d", width=3, height=40),
                Chart("ph_marts_behind", "Marts behind the source (minutes)",
                      "big_number_total", "pipeline_health", ["max_marts_behind_minutes"],
                      time_scoped=False, fmt=",d", width=3, height=40),
                Chart("ph_tables", "Tables: last run, freshness, marts as of, failures", "table",
                      "pipeline_health",
                      columns=["table_name", "last_run_status", "last_success_at",
                               "freshness_minutes", "marts_as_of", "runs_24h", "failures_24h",
                               "rows_loaded_24h", "avg_duration_seconds_7d", "last_error"],
                      time_scoped=False, width=6, height=40),
            ],
            [
                Chart("ph_runs", "Load runs per day by table", "bar", "load_runs_daily",
                      ["runs"], x="run_date", grain="day", groupby=["table_name"],
                      fmt=",d", width=6),
                Chart("ph_rows", "Rows loaded per day by table", "bar", "load_runs_daily",
                      ["rows_loaded"], x="run_date", grain="day", groupby=["table_name"],
                      fmt=",d", width=6),
            ],
            [
                Chart("ph_duration", "Average run duration (s) by table", "line",
                      "load_runs_daily", ["avg_run_seconds"], x="run_date", grain="day",
                      groupby=["table_name"], fmt=",.1f", width=6),
                Chart("ph_failures", "Failed or abandoned runs per day", "bar",
                      "load_runs_daily", ["failed_runs"], x="run_date", grain="day",
                      groupby=["table_name"], fmt=",d", width=6),
            ],
            [
                Chart("ph_quality_days", "Data quality: warnings and failures per day", "bar",
                      "data_quality_daily", ["checks_warned", "checks_failed"],
                      x="check_date", grain="day", fmt=",d", width=5),
                Chart("ph_quality_now",
                      "Data quality now: checks not passing, each table's reconcile", "table",
                      "data_quality_checks",
                      columns=["severity", "check_status", "check_kind", "subject",
                               "column_name", "check_name", "failing_rows", "status_since",
                               "checked_at", "message"],
                      where="is_problem or check_kind = 'reconcile'", time_scoped=False,
                      width=7),
            ],
        ],
        [DATE, ("Table", "load_runs_daily", "table_name")],
        "Ingestion runs, rows, durations, failures and freshness; data-quality checks over "
        "time and now (marts ops).",
    ),
    Dashboard(
        "default_risk",
        "Default risk",
        [
            [
                Chart("dr_expected_loss", "Expected loss (active loans)", "big_number_total",
                      "loan_default_scores", ["expected_loss"], time_scoped=False, fmt=MONEY,
                      width=3, height=40),
                Chart("dr_expected_loss_rate", "Expected loss / outstanding principal",
                      "big_number_total", "loan_default_scores", ["expected_loss_rate"],
                      time_scoped=False, fmt=PCT, width=3, height=40),
                Chart("dr_bands", "Active loans by risk band", "bar",
                      "loan_default_scores", ["loans"], x="risk_band", time_scoped=False,
                      fmt=",d", width=3, height=40),
                Chart("dr_distribution", "Score distribution: active loans by PD (from %, "
                      "5-point steps)", "bar", "loan_default_scores", ["loans"],
                      x="default_probability_step", time_scoped=False, fmt=",d", width=3,
                      height=40),
            ],
            [
                Chart("dr_by_branch", "Expected loss by branch", "table",
                      "expected_loss_by_segment",
                      columns=["segment", "loans", "outstanding_principal", "expected_loss",
                               "expected_loss_rate", "mean_default_probability"],
                      where="segment_type = 'branch'", time_scoped=False, width=4),
                Chart("dr_by_product", "Expected loss by product", "table",
                      "expected_loss_by_segment",
                      columns=["segment", "loans", "outstanding_principal", "expected_loss",
                               "expected_loss_rate", "mean_default_probability"],
                      where="segment_type = 'product'", time_scoped=False, width=4),
                Chart("dr_by_officer", "Expected loss by loan officer", "table",
                      "expected_loss_by_segment",
                      columns=["segment", "loans", "outstanding_principal", "expected_loss",
                               "expected_loss_rate", "mean_default_probability"],
                      where="segment_type = 'loan_officer'", time_scoped=False, width=4),
            ],
            [
                Chart("dr_calibration", "Calibration on the test set: predicted vs observed "
                      "default rate by decile (serving model)", "bar", "ml_model_calibration",
                      ["mean_predicted", "observed_rate"], x="bin",
                      where="is_serving and model = 'gbm'", time_scoped=False, stack=False,
                      fmt=PCT, width=6),
                Chart("dr_drivers", "Top risk drivers (serving model)", "table",
                      "ml_feature_importance",
                      columns=["importance_rank", "feature", "importance"],
                      where="is_serving", time_scoped=False, width=3),
                Chart("dr_drift", "Feature drift since training (PSI)", "table",
                      "ml_feature_drift", columns=["feature", "psi", "verdict"],
                      time_scoped=False, width=3),
            ],
            [
                Chart("dr_models", "Model versions: test AUC beside the baseline and the "
                      "generator's own risk", "table", "ml_model_versions",
                      columns=["model_version", "is_serving", "test_auc", "baseline_auc",
                               "true_risk_auc", "test_ks", "test_brier", "testing_rows",
                               "testing_from", "testing_to"],
                      time_scoped=False, width=12, height=40),
            ],
        ],
        [BRANCH("loan_default_scores"), ("Product", "loan_default_scores", "product"),
         ("Risk band", "loan_default_scores", "risk_band")],
        "Probability of default of every active loan, expected loss by branch, product and "
        "officer, the model's calibration, risk drivers and drift (docs/ml.md; marts ml).",
    ),
    Dashboard(
        "targets_vs_actuals",
        "Targets vs actuals",
        [
            [
                Chart("ta_branch_attainment", "Attainment by branch (latest complete month)",
                      "table", "branch_targets_vs_actuals",
                      ["disbursement_attainment", "disbursed_amount", "disbursement_target",
                       "new_borrowers_attainment", "new_borrowers", "new_borrowers_target"],
                      groupby=["branch_code", "branch_name"],
                      where="is_latest_complete_month", time_scoped=False, width=7),
                Chart("ta_par30_vs_ceiling", "PAR30 vs ceiling by branch (latest complete month)",
                      "bar", "branch_targets_vs_actuals", ["par30_ratio", "par30_ceiling"],
                      x="branch_code", where="is_latest_complete_month", time_scoped=False,
                      stack=False, fmt=PCT, width=5),
            ],
            [
                Chart("ta_disbursed_vs_target", "Disbursed vs target per month", "line",
                      "branch_targets_vs_actuals", ["disbursed_amount", "disbursement_target"],
                      x="month_start", grain="month", fmt=MONEY, width=6),
                Chart("ta_new_borrowers_vs_target", "New borrowers vs target per month", "bar",
                      "branch_targets_vs_actuals", ["new_borrowers", "new_borrowers_target"],
                      x="month_start", grain="month", stack=False, fmt=",d", width=6),
            ],
            [
                Chart("ta_officer_league", "Loan officers by attainment (latest complete month)",
                      "table", "officer_targets_vs_actuals",
                      ["disbursement_attainment", "disbursed_amount", "disbursement_target",
                       "new_borrowers", "new_borrowers_target", "par30_ratio", "par30_ceiling"],
                      groupby=["loan_officer_id", "branch_code", "branch_name"],
                      where="is_latest_complete_month", time_scoped=False, width=12),
            ],
        ],
        [DATE, BRANCH("branch_targets_vs_actuals"),
         ("Region", "branch_targets_vs_actuals", "branch_region")],
        "Monthly targets of the branches and loan officers (the target files) against "
        "disbursements, new borrowers and PAR30 (marts.branch_targets_vs_actuals, "
        "marts.officer_targets_vs_actuals).",
    ),
]  # fmt: skip


# ---------------------------------------------------------------- dbt exposures


def dashboard_marts(d: Dashboard) -> list[str]:
    """The marts a dashboard reads: its charts' datasets and its filters' (one mart each)."""
    tables = {c.table for row in d.rows for c in row}
    tables |= {table for _, table, _ in d.filters if table}
    return sorted(tables)


def exposures() -> list[dict[str, Any]]:
    """One dbt exposure per dashboard."""
    return [
        {
            "name": d.key,
            "label": d.title,
            "type": "dashboard",
            "maturity": "high",
            "url": f"{LOCAL_SUPERSET_URL}/superset/dashboard/{d.key.replace('_', '-')}/",
            "description": (
                f"{d.description}\n\nSuperset dashboard (superset/assets/dashboards/"
                f"{d.key}.yaml), charts: {'; '.join(c.name for row in d.rows for c in row)}."
            ),
            "depends_on": [f"ref('{table}')" for table in dashboard_marts(d)],
            "owner": {"name": OWNER},
            "tags": ["superset"],
            "meta": {"superset_dashboard_uuid": uid("dashboard", d.key)},
        }
        for d in sorted(DASHBOARDS, key=lambda d: d.key)
    ]


def exposures_yaml() -> str:
    """The text of dbt/finhouse/models/marts/_exposures.yml."""
    header = (
        "# Generated by `python superset/assets_spec.py` from the Superset spec: one exposure\n"
        "# per dashboard, on the marts it reads. Do not edit: tests/unit/superset/test_assets.py\n"
        "# keeps this file equal to what the spec generates.\n"
    )
    body = yaml.dump(
        {"version": 2, "exposures": exposures()},
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=100,
    )
    return header + body


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the charts' query context JSON) as literal blocks: readable diffs."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def _dump(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.dump(data, Dumper=_Dumper, sort_keys=True, allow_unicode=True, width=100)
    path.write_text(text)


def generate(out: Path = ASSETS) -> None:
    if out.exists():
        shutil.rmtree(out)
    cols = _dbt_columns()
    _dump(
        out / "metadata.yaml",
        {"version": VERSION, "type": "assets", "timestamp": "2026-01-01T00:00:00+00:00"},
    )
    _dump(
        out / DATABASE_FILE,
        {
            "database_name": DATABASE_NAME,
            "sqlalchemy_uri": PLACEHOLDER_URI,
            "cache_timeout": None,
            "expose_in_sqllab": True,
            "allow_run_async": False,
            "allow_ctas": False,
            "allow_cvas": False,
            "allow_dml": False,
            "allow_csv_upload": False,
            "extra": {
                "allows_virtual_table_explore": True,
                "engine_params": {},
                "metadata_params": {},
                "schemas_allowed_for_file_upload": [],
            },
            "uuid": uid("database", "warehouse"),
            "version": VERSION,
        },
    )
    for ds in DATASETS.values():
        _dump(
            out / "datasets" / "finhouse_warehouse" / f"{ds.table}.yaml",
            _dataset_yaml(ds, cols[ds.table]),
        )
    chart_ids: dict[str, int] = {}
    for d in DASHBOARDS:
        for row in d.rows:
            for c in row:
                if c.key in chart_ids:
                    raise SystemExit(f"duplicate chart key {c.key}")
                chart_ids[c.key] = len(chart_ids) + 1
                _dump(out / "charts" / f"{c.key}.yaml", _chart_yaml(c))
        _dump(out / "dashboards" / f"{d.key}.yaml", _dashboard_yaml(d, chart_ids))


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else ASSETS)
    EXPOSURES.write_text(exposures_yaml())
