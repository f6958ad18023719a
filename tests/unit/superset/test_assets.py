"""The committed Superset assets (superset/assets/) are consistent, secret-free, what the spec
generates, and cover what the security file and docker-compose.yml expect of them."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[3]
SUPERSET = REPO / "superset"
ASSETS = SUPERSET / "assets"


def _spec() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "finhouse_assets_spec", SUPERSET / "assets_spec.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module
    spec.loader.exec_module(module)
    return module


def _load(kind: str) -> dict[str, dict[str, Any]]:
    return {
        str(p.relative_to(ASSETS)): yaml.safe_load(p.read_text())
        for p in sorted((ASSETS / kind).rglob("*.yaml"))
    }


def test_committed_assets_are_what_the_spec_generates(tmp_path: Path) -> None:
    _spec().generate(tmp_path / "assets")
    generated = {
        str(p.relative_to(tmp_path / "assets")): p.read_text()
        for p in (tmp_path / "assets").rglob("*.yaml")
    }
    committed = {str(p.relative_to(ASSETS)): p.read_text() for p in ASSETS.rglob("*.yaml")}
    assert sorted(generated) == sorted(committed)
    stale = [name for name in committed if committed[name] != generated[name]]
    assert not stale, f"regenerate with `python superset/assets_spec.py`: {stale}"


def test_assets_hold_no_secret_and_the_database_is_the_reporter() -> None:
    (database,) = _load("databases").values()
    assert database["sqlalchemy_uri"].startswith("postgresql+psycopg2://reporter:XXXXXXXXXX@")
    assert "password" not in database
    text = "\n".join(p.read_text() for p in ASSETS.rglob("*.yaml"))
    assert not re.search(r"local-only|password:\s*\S", text)


def test_uuids_are_unique_and_references_resolve() -> None:
    datasets, charts, dashboards = _load("datasets"), _load("charts"), _load("dashboards")
    (database,) = _load("databases").values()
    uuids = [x["uuid"] for group in (datasets, charts, dashboards) for x in group.values()]
    assert len(uuids) == len(set(uuids))
    by_uuid = {d["uuid"]: d for d in datasets.values()}
    assert all(d["database_uuid"] == database["uuid"] for d in datasets.values())
    assert all(c["dataset_uuid"] in by_uuid for c in charts.values())
    chart_uuids = {c["uuid"] for c in charts.values()}
    placed: list[str] = []
    for board in dashboards.values():
        entries = [v for v in board["position"].values() if isinstance(v, dict)]
        layout = [e["meta"]["uuid"] for e in entries if e["type"] == "CHART"]
        placed += layout
        ids = {e["meta"]["chartId"] for e in entries if e["type"] == "CHART"}
        for flt in board["metadata"]["native_filter_configuration"]:
            assert set(flt["scope"]["excluded"]) <= ids
            for target in flt["targets"]:
                if target:
                    columns = {c["column_name"] for c in by_uuid[target["datasetUuid"]]["columns"]}
                    assert target["column"]["name"] in columns, flt["name"]
    assert sorted(placed) == sorted(chart_uuids), "every chart on exactly one dashboard"
    assert len(dashboards) == 9


def test_every_dashboard_has_native_filters() -> None:
    names = {
        d["dashboard_title"]: [f["name"] for f in d["metadata"]["native_filter_configuration"]]
        for d in _load("dashboards").values()
    }
    for title in ("Portfolio overview", "Portfolio quality"):
        assert names[title] == ["Date range", "Branch", "Product", "Loan officer"]
    assert "Loan officer" in names["Collections"]
    assert all(filters for filters in names.values())


def test_security_covers_every_branch_dataset_the_role_reads() -> None:
    security = yaml.safe_load((SUPERSET / "security.yaml").read_text())
    datasets = {d["table_name"]: d for d in _load("datasets").values()}
    rls_tables: dict[str, set[str]] = {}
    for flt in security["rls_filters"]:
        assert re.fullmatch(r"branch_code = '[A-Z]{3}\d{2}'", flt["clause"])
        for role in flt["roles"]:
            rls_tables.setdefault(role, set()).update(flt["tables"])
    for role in security["roles"]:
        granted = set(role["datasets"])
        assert granted <= set(datasets)
        assert granted == rls_tables[role["name"]], "every granted dataset filtered by branch"
        for name in granted:
            assert "branch_code" in {c["column_name"] for c in datasets[name]["columns"]}
    for user in security["users"]:
        assert "password" not in user
        assert user["password_env"].startswith("SUPERSET_")


def test_compose_superset_service_runs_the_same_config_and_bootstrap() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    service = compose["services"]["superset"]
    assert service["build"] == {"context": ".", "dockerfile": "superset/Dockerfile"}
    dockerfile = (SUPERSET / "Dockerfile").read_text()
    assert "requirements/superset.txt" in dockerfile
    assert "SUPERSET_CONFIG_PATH=/app/superset/superset_config.py" in dockerfile
    assert "python superset/bootstrap.py" in dockerfile
    read = set(re.findall(r"SUPERSET_[A-Z_]+", (SUPERSET / "superset_config.py").read_text()))
    read |= set(re.findall(r"SUPERSET_[A-Z_]+", (SUPERSET / "bootstrap.py").read_text()))
    read |= set(re.findall(r"SUPERSET_[A-Z_]+", (SUPERSET / "security.yaml").read_text()))
    passed = set(service["environment"])
    assert {"SUPERSET_SECRET_KEY", "SUPERSET_METADATA_DB_URI", "SUPERSET_WAREHOUSE_DSN"} <= passed
    assert passed <= read, f"passed but read by nothing: {passed - read}"
    assert "reporter:" in service["environment"]["SUPERSET_WAREHOUSE_DSN"]
    ignore = (REPO / ".dockerignore").read_text().split()
    assert ignore[ignore.index("*") :][:3] == ["*", "!requirements/superset.txt", "!superset/"]


def test_committed_exposures_are_what_the_spec_generates() -> None:
    """dbt/finhouse/models/marts/_exposures.yml: one exposure per dashboard, as the spec says."""
    spec = _spec()
    committed = spec.EXPOSURES.read_text() if spec.EXPOSURES.exists() else ""
    assert committed == spec.exposures_yaml(), "regenerate with `python superset/assets_spec.py`"


def test_each_dashboard_is_an_exposure_on_the_marts_its_charts_and_filters_read() -> None:
    spec = _spec()
    exposures = {e["name"]: e for e in yaml.safe_load(spec.EXPOSURES.read_text())["exposures"]}
    dashboards = _load("dashboards")
    assert len(exposures) == len(dashboards) == 9
    datasets = {d["uuid"]: d["table_name"] for d in _load("datasets").values()}
    charts = {c["uuid"]: datasets[c["dataset_uuid"]] for c in _load("charts").values()}
    models = {
        m["name"]
        for path in (REPO / "dbt" / "finhouse" / "models" / "marts").rglob("*.yml")
        for m in (yaml.safe_load(path.read_text()) or {}).get("models", [])
    }
    for name, board in dashboards.items():
        exposure = exposures[Path(name).stem]
        assert exposure["type"] == "dashboard"
        assert exposure["label"] == board["dashboard_title"]
        assert exposure["url"].endswith(f"/superset/dashboard/{board['slug']}/")
        assert exposure["description"].startswith(board["description"])
        assert exposure["owner"] == {"name": "finhouse-data"}  # the team, no person
        entries = [v for v in board["position"].values() if isinstance(v, dict)]
        read = {charts[e["meta"]["uuid"]] for e in entries if e["type"] == "CHART"}
        read |= {
            datasets[t["datasetUuid"]]
            for f in board["metadata"]["native_filter_configuration"]
            for t in f["targets"]
            if t
        }
        assert exposure["depends_on"] == [f"ref('{t}')" for t in sorted(read)]
        assert read <= models, read - models
