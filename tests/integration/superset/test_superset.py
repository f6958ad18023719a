"""Superset end to end: the committed assets imported into a fresh metadata database, every
chart's data request, headline figures against the same SQL on the marts, a native filter,
the branch manager's row-level security, the reporter connection's limits, and every
dashboard opened in headless Chromium (screenshots in artifacts/superset/screenshots)."""

from __future__ import annotations

import datetime as dt
import json
import secrets
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from tests.conftest import REPO
from tests.integration.superset.conftest import (
    ARTIFACTS,
    BRANCH,
    SUPERSET_PYTHON,
    Superset,
    load_script,
)

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow]

ASSETS = REPO / "superset" / "assets"
#: charts whose data may legitimately be empty on the test warehouse: none
MAY_BE_EMPTY: set[str] = set()
LATEST = "(select max(as_of_date) from marts.portfolio_daily)"


def _yaml(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def asset_charts() -> dict[str, dict[str, Any]]:
    return {p.stem: _yaml(p) for p in sorted((ASSETS / "charts").glob("*.yaml"))}


def asset_dashboards() -> dict[str, dict[str, Any]]:
    return {p.stem: _yaml(p) for p in sorted((ASSETS / "dashboards").glob("*.yaml"))}


@pytest.fixture(scope="module")
def chart_ids(superset: Superset) -> dict[str, int]:
    """Chart key (its YAML file's name) -> id in this Superset."""
    by_name = {c["slice_name"]: c["id"] for c in superset.listing("chart")}
    return {key: by_name[chart["slice_name"]] for key, chart in asset_charts().items()}


def sql(superset: Superset, query: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(superset.warehouse.dsn("reporter")) as conn:
        return conn.execute(query, args).fetchall()


def chart_rows(superset: Superset, chart_id: int, who: str = "admin") -> list[dict[str, Any]]:
    out = superset.get(f"/api/v1/chart/{chart_id}/data/", who=who)
    assert out.status_code == 200, out.text[:500]
    return list(out.json()["result"][0]["data"])


def query_context(superset: Superset, chart_id: int) -> dict[str, Any]:
    out = superset.get(f"/api/v1/chart/{chart_id}")
    assert out.status_code == 200, out.text[:300]
    return dict(json.loads(out.json()["result"]["query_context"]))


def post_data(
    superset: Superset, context: dict[str, Any], who: str = "admin"
) -> list[dict[str, Any]]:
    out = superset.post("/api/v1/chart/data", context, who=who)
    assert out.status_code == 200, out.text[:500]
    return list(out.json()["result"][0]["data"])


def day(epoch_ms: float) -> dt.date:
    return dt.datetime.fromtimestamp(epoch_ms / 1000, tz=dt.UTC).date()


def money(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


# ------------------------------------------------------------------------------ import


def test_bootstrap_imports_every_asset_into_a_fresh_metadata_database(superset: Superset) -> None:
    datasets = len(list((ASSETS / "datasets" / "finhouse_warehouse").glob("*.yaml")))
    counts = f"imported {datasets} datasets, {len(asset_charts())} charts, 9 dashboards"
    assert counts in superset.bootstrap_output
    dashboards = {d["dashboard_title"]: d for d in superset.listing("dashboard")}
    expected = {d["dashboard_title"] for d in asset_dashboards().values()}
    assert set(dashboards) == expected
    assert len(expected) == 9
    assert all(d["published"] for d in dashboards.values())
    assert {c["slice_name"] for c in superset.listing("chart")} == {
        c["slice_name"] for c in asset_charts().values()
    }
    assert {d["table_name"] for d in superset.listing("dataset")} == {
        p.stem for p in (ASSETS / "datasets" / "finhouse_warehouse").glob("*.yaml")
    }
    layouts = {d["dashboard_title"]: d["position"] for d in asset_dashboards().values()}
    for title, board in dashboards.items():  # every chart of the YAML layout is on its board
        charts = superset.get(f"/api/v1/dashboard/{board['id']}/charts").json()["result"]
        in_layout = {
            v["meta"]["sliceName"]
            for v in layouts[title].values()
            if isinstance(v, dict) and v.get("type") == "CHART"
        }
        assert {c["slice_name"] for c in charts} == in_layout
    filters = superset.get(f"/api/v1/dashboard/{dashboards['Portfolio overview']['id']}").json()
    native = json.loads(filters["result"]["json_metadata"])["native_filter_configuration"]
    assert [f["name"] for f in native] == ["Date range", "Branch", "Product", "Loan officer"]
    assert all("datasetId" in t for f in native for t in f["targets"] if t)


def test_importing_the_same_assets_again_changes_nothing(superset: Superset) -> None:
    """The same bundle through Superset's REST import (what the bootstrap runs in process)
    overwrites in place: same objects, same ids, no duplicates, data still served."""
    bootstrap = load_script("bootstrap")
    uri, password = bootstrap.warehouse_uri(superset.env["SUPERSET_WAREHOUSE_DSN"])
    assert "XXXXXXXXXX" in uri
    assert password not in uri

    def snapshot() -> dict[str, list[tuple[int, str]]]:
        names = {"chart": "slice_name", "dashboard": "dashboard_title", "dataset": "table_name"}
        return {
            kind: sorted((x["id"], x[field]) for x in superset.listing(kind))
            for kind, field in names.items()
        } | {
            "database": sorted((x["id"], x["database_name"]) for x in superset.listing("database"))
        }

    before = snapshot()
    session = superset.session()
    out = session.post(
        f"{superset.base}/api/v1/assets/import/",
        files={"bundle": ("finhouse_assets.zip", bootstrap.assets_bundle(uri), "application/zip")},
        data={"passwords": json.dumps({bootstrap.DATABASE_FILE: password})},
        timeout=300,
    )
    assert out.status_code == 200, out.text[:500]
    assert snapshot() == before
    (chart_id, _) = before["chart"][0]
    assert superset.get(f"/api/v1/chart/{chart_id}/data/").status_code == 200


def test_the_warehouse_connection_is_the_reporter_role(superset: Superset) -> None:
    (database,) = superset.listing("database")
    detail = superset.get(f"/api/v1/database/{database['id']}/connection").json()["result"]
    uri = detail["sqlalchemy_uri"]
    assert uri.startswith("postgresql+psycopg2://reporter:XXXXXXXXXX@")
    assert superset.env["SUPERSET_WAREHOUSE_DSN"].split("@", 1)[0].split(":")[-1] not in uri


# ------------------------------------------------------------------------------ data


def test_every_chart_data_request_succeeds_with_rows(
    superset: Superset, chart_ids: dict[str, int]
) -> None:
    empty = []
    for key, chart_id in chart_ids.items():
        out = superset.get(f"/api/v1/chart/{chart_id}/data/")
        assert out.status_code == 200, f"{key}: {out.status_code} {out.text[:400]}"
        result = out.json()["result"][0]
        assert not result.get("error"), f"{key}: {result['error']}"
        if not result["data"]:
            empty.append(key)
    assert set(empty) <= MAY_BE_EMPTY, f"charts without data: {empty}"


def test_headline_figures_equal_the_same_sql_on_the_marts(
    superset: Superset, chart_ids: dict[str, int]
) -> None:
    ((as_of, glp, par30),) = sql(
        superset,
        "select as_of_date, sum(gross_loan_portfolio),"
        " sum(par30_amount) / nullif(sum(gross_loan_portfolio), 0)"
        f" from marts.portfolio_daily where as_of_date = {LATEST} group by 1",
    )
    glp_rows = chart_rows(superset, chart_ids["po_glp"])
    assert day(glp_rows[-1]["as_of_date"]) == as_of
    assert money(glp_rows[-1]["gross_loan_portfolio"]) == glp
    assert glp > 0
    par_rows = chart_rows(superset, chart_ids["pq_par30"])
    assert day(par_rows[-1]["as_of_date"]) == as_of
    assert par_rows[-1]["par30_ratio"] == pytest.approx(float(par30), rel=1e-9)
    assert 0 < par30 < 1

    ((borrowers,),) = sql(
        superset,
        "select count(distinct borrower_id) filter (where is_active) from marts.loans_current",
    )
    (row,) = chart_rows(superset, chart_ids["po_active_borrowers"])
    assert row["active_borrowers"] == borrowers > 0

    deposits = dict(
        sql(
            superset,
            "select month_start, sum(deposits) from marts.monthly_financial_summary group by 1",
        )
    )
    shown = {
        day(r["month_start"]): money(r["deposits"])
        for r in chart_rows(superset, chart_ids["fs_deposits"])
    }
    assert shown == deposits
    assert len(shown) >= 12

    # the default model's expected loss over the scored active loans
    ((loss, loans),) = sql(
        superset, "select sum(expected_loss), count(*) from marts.loan_default_scores"
    )
    (row,) = chart_rows(superset, chart_ids["dr_expected_loss"])
    assert money(row["expected_loss"]) == loss > 0
    bands = chart_rows(superset, chart_ids["dr_bands"])
    assert sum(r["loans"] for r in bands) == loans


# ------------------------------------------------------------------------------ filters


def _native_filter(dashboard: str, name: str) -> dict[str, Any]:
    config = asset_dashboards()[dashboard]["metadata"]["native_filter_configuration"]
    return next(f for f in config if f["name"] == name)


def test_native_filters_change_the_figures(superset: Superset, chart_ids: dict[str, int]) -> None:
    """What the dashboard's filters send (extra filters on the chart's query) changes the
    figures exactly as the same filter in SQL does."""
    branch = _native_filter("portfolio_overview", "Branch")
    column = branch["targets"][0]["column"]["name"]
    assert column == "branch_code"
    assert chart_ids["po_glp"] not in branch["scope"]["excluded"]
    context = query_context(superset, chart_ids["po_glp"])
    context["queries"][0]["filters"].append({"col": column, "op": "IN", "val": [BRANCH]})
    rows = post_data(superset, context)
    ((glp_branch, glp_all),) = sql(
        superset,
        "select sum(gross_loan_portfolio) filter (where branch_code = %s),"
        " sum(gross_loan_portfolio) from marts.portfolio_daily"
        f" where as_of_date = {LATEST}",
        BRANCH,
    )
    assert money(rows[-1]["gross_loan_portfolio"]) == glp_branch
    assert 0 < glp_branch < glp_all

    date_range = _native_filter("financial_summary", "Date range")
    assert date_range["filterType"] == "filter_time"
    assert chart_ids["fs_deposits"] not in date_range["scope"]["excluded"]
    context = query_context(superset, chart_ids["fs_deposits"])
    for flt in context["queries"][0]["filters"]:
        if flt["op"] == "TEMPORAL_RANGE":
            flt["val"] = "2026-01-01 : 2026-04-01"
    months = {day(r["month_start"]): money(r["deposits"]) for r in post_data(superset, context)}
    expected = dict(
        sql(
            superset,
            "select month_start, sum(deposits) from marts.monthly_financial_summary"
            " where month_start >= '2026-01-01' and month_start < '2026-04-01' group by 1",
        )
    )
    assert months == expected
    assert sorted(months) == [dt.date(2026, 1, 1), dt.date(2026, 2, 1), dt.date(2026, 3, 1)]


def test_branch_manager_sees_their_branch_only(
    superset: Superset, chart_ids: dict[str, int]
) -> None:
    ((glp_branch, borrowers),) = sql(
        superset,
        "select sum(gross_loan_portfolio), (select count(distinct borrower_id)"
        " from marts.loans_current where is_active and branch_code = %s)"
        f" from marts.portfolio_daily where branch_code = %s and as_of_date = {LATEST}",
        BRANCH,
        BRANCH,
    )
    rows = chart_rows(superset, chart_ids["po_glp"], who="manager")
    assert money(rows[-1]["gross_loan_portfolio"]) == glp_branch
    admin_rows = chart_rows(superset, chart_ids["po_glp"])
    assert money(admin_rows[-1]["gross_loan_portfolio"]) > glp_branch
    (row,) = chart_rows(superset, chart_ids["po_active_borrowers"], who="manager")
    assert row["active_borrowers"] == borrowers
    by_branch = chart_rows(superset, chart_ids["po_glp_by_branch"], who="manager")
    assert {r["branch_code"] for r in by_branch} == {BRANCH}
    deposits = chart_rows(superset, chart_ids["fs_by_branch"], who="manager")
    assert {r["branch_code"] for r in deposits} == {BRANCH}
    # institution-wide marts are not granted to the branch role
    denied = superset.get(f"/api/v1/chart/{chart_ids['ph_tables']}/data/", who="manager")
    assert denied.status_code in (403, 404), denied.text[:300]


# ------------------------------------------------------------------------------ least privilege


def test_reporter_connection_cannot_read_raw_or_staging(superset: Superset) -> None:
    (database,) = superset.listing("database")

    def run(statement: str) -> dict[str, Any]:
        out = superset.post(
            "/api/v1/sqllab/execute/",
            {
                "database_id": database["id"],
                "sql": statement,
                "runAsync": False,
                "schema": "marts",
                "tab": "test",
                "select_as_cta": False,
                "ctas_method": "TABLE",
                "queryLimit": 10,
                "expand_data": True,
                "client_id": secrets.token_hex(5),
            },
        )
        return {"status": out.status_code, "body": out.text}

    ok = run("select count(*) from marts.portfolio_daily")
    assert ok["status"] == 200, ok["body"][:400]
    for table in ("raw.loans", "staging.stg_oltp__loans", "finhouse_meta.load_runs"):
        denied = run(f"select * from {table} limit 1")
        assert denied["status"] != 200, f"{table} readable through Superset"
        assert "permission denied" in denied["body"], denied["body"][:400]
    with psycopg.connect(superset.warehouse.dsn("reporter")) as conn:
        for table in ("raw.loans", "staging.stg_oltp__loans"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"select 1 from {table} limit 1")
            conn.rollback()


# ------------------------------------------------------------------------------ browser


def test_every_dashboard_renders_in_headless_chromium(superset: Superset) -> None:
    """Logs in through the form, opens each dashboard, fails on an error panel, an empty or
    undrawn chart or a missing chart; screenshots go to artifacts/superset/screenshots. The
    headline big numbers shown equal the SQL on the marts, and Portfolio overview opened once
    more with its Branch native filter set (as a shared link would) shows the branch's."""
    out_dir = ARTIFACTS / "screenshots"
    user, _ = superset.admin
    shot = subprocess.run(
        [str(SUPERSET_PYTHON), str(REPO / "superset" / "screenshots.py"), str(out_dir),
         "--base", superset.base, "--user", user,
         "--filter", f"Branch={BRANCH}", "--also-filtered", "portfolio-overview"],
        env=superset.env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )  # fmt: skip
    assert shot.stdout.strip(), shot.stderr[-3000:]
    report = json.loads(shot.stdout)
    (ARTIFACTS / "screenshots-report.json").write_text(json.dumps(report, indent=2))
    assert len(report) == 10
    problems = {
        e["title"]: {k: e[k] for k in ("errors", "empty", "undrawn", "rendered")}
        for e in report
        if not e["ok"]
    }
    assert not problems, problems
    for entry in report:
        assert entry["rendered"] == len(entry["charts"]) > 0
        assert Path(entry["png"]).stat().st_size > 20_000
    assert shot.returncode == 0

    ((glp, glp_branch),) = sql(
        superset,
        "select sum(gross_loan_portfolio), sum(gross_loan_portfolio) filter"
        f" (where branch_code = %s) from marts.portfolio_daily where as_of_date = {LATEST}",
        BRANCH,
    )
    ((borrowers, borrowers_branch),) = sql(
        superset,
        "select count(distinct borrower_id) filter (where is_active), count(distinct"
        " borrower_id) filter (where is_active and branch_code = %s) from marts.loans_current",
        BRANCH,
    )
    shown = {
        bool(e["filters"]): e["big_numbers"] for e in report if e["slug"] == "portfolio-overview"
    }
    assert shown[False]["Gross loan portfolio (latest day)"] == f"{glp:,.2f}"
    assert shown[False]["Active borrowers (as of date)"] == f"{borrowers:,d}"
    assert shown[True]["Gross loan portfolio (latest day)"] == f"{glp_branch:,.2f}"
    assert shown[True]["Active borrowers (as of date)"] == f"{borrowers_branch:,d}"
    assert glp_branch < glp
