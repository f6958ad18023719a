"""Open every dashboard in headless Chromium, check each chart rendered, save a screenshot.

Run with the Superset venv's Python (selenium ships with Superset; Debian's ``chromium`` and
``chromium-driver``):

    screenshots.py OUT_DIR [--base URL] [--user NAME] [--password-env VAR] [--dashboard SLUG…]
                   [--filter NAME=VALUE… [--also-filtered SLUG…]]

Logs in through the login form, opens each dashboard, waits until no chart is loading, and
reports per dashboard the charts it expected (from the API), the charts that rendered, the
error panels and the empty charts, and the figure each big-number chart shows.
``--filter Branch=NBO01`` opens the dashboards with that native filter set (through the
``native_filters`` URL parameter, as a shared link would); with ``--also-filtered SLUG`` the
dashboards open unfiltered and SLUG once more with the filter (``<slug>-filtered.png``).
Writes ``OUT_DIR/<slug>.png`` and prints the report as JSON; exits 1 when a dashboard has an
error panel, an empty chart or a missing chart.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

import requests
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

WIDTH = 1600
CHART_HOLDER = "[data-test='dashboard-component-chart-holder']"
#: what a chart holder shows when its query returned nothing
EMPTY_TEXTS = ("No results were returned", "No data")


def chrome(user_data_dir: str) -> webdriver.Chrome:
    options = Options()
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        f"--window-size={WIDTH},1200",
        f"--user-data-dir={user_data_dir}",
    ):
        options.add_argument(flag)
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary:
        options.binary_location = binary
    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    return webdriver.Chrome(service=Service(driver_path), options=options)


def api_session(base: str, user: str, password: str) -> requests.Session:
    session = requests.Session()
    response = session.post(
        f"{base}/api/v1/security/login",
        json={"username": user, "password": password, "provider": "db", "refresh": False},
        timeout=30,
    )
    response.raise_for_status()
    session.headers["Authorization"] = "Bearer " + response.json()["access_token"]
    return session


def dashboards(session: requests.Session, base: str) -> list[dict[str, Any]]:
    listing = session.get(
        f"{base}/api/v1/dashboard/",
        params={"q": "(page_size:100,order_column:dashboard_title,order_direction:asc)"},
        timeout=30,
    )
    listing.raise_for_status()
    out = []
    for item in listing.json()["result"]:
        charts = session.get(f"{base}/api/v1/dashboard/{item['id']}/charts", timeout=30)
        charts.raise_for_status()
        detail = session.get(f"{base}/api/v1/dashboard/{item['id']}", timeout=30)
        detail.raise_for_status()
        metadata = json.loads(detail.json()["result"]["json_metadata"] or "{}")
        out.append(
            {
                "id": item["id"],
                "slug": item["slug"] or str(item["id"]),
                "title": item["dashboard_title"],
                "charts": sorted(c["slice_name"] for c in charts.json()["result"]),
                "native_filters": {
                    f["name"]: {
                        "id": f["id"],
                        "column": (f.get("targets") or [{}])[0].get("column", {}).get("name"),
                    }
                    for f in metadata.get("native_filter_configuration", [])
                },
            }
        )
    return out


def rison(value: Any) -> str:
    """Rison (the encoding of Superset's ``native_filters`` URL parameter)."""
    if isinstance(value, dict):
        return "(" + ",".join(f"{rison(k)}:{rison(v)}" for k, v in value.items()) + ")"
    if isinstance(value, list):
        return "!(" + ",".join(rison(v) for v in value) + ")"
    if isinstance(value, bool):
        return "!t" if value else "!f"
    text = str(value)
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-]*", text):
        return text
    return "'" + text.replace("!", "!!").replace("'", "!'") + "'"


def filter_url(board: dict[str, Any], filters: dict[str, str]) -> str:
    """The dashboard's URL with the given native filters (by name) set to one value each."""
    state = {}
    for name, value in filters.items():
        spec = board["native_filters"].get(name)
        if spec is None or not spec["column"]:
            continue
        state[spec["id"]] = {
            "id": spec["id"],
            "extraFormData": {"filters": [{"col": spec["column"], "op": "IN", "val": [value]}]},
            "filterState": {"value": [value]},
        }
    url = f"/superset/dashboard/{board['slug']}/"
    if state:
        url += "?native_filters=" + urllib.parse.quote(rison(state), safe="")
    return url


def login(driver: webdriver.Chrome, base: str, user: str, password: str) -> None:
    driver.get(f"{base}/login/")
    wait = WebDriverWait(driver, 60)
    name = wait.until(
        ec.presence_of_element_located((By.CSS_SELECTOR, "input[name='username'],#username"))
    )
    name.send_keys(user)
    secret = driver.find_element(By.CSS_SELECTOR, "input[name='password'],input[type='password']")
    secret.send_keys(password)
    secret.send_keys(Keys.ENTER)
    wait.until(lambda d: "/login" not in d.current_url)


def _settle(driver: webdriver.Chrome, expected: int, timeout: float) -> None:
    """Wait until every chart holder exists and nothing shows a loading spinner."""
    deadline = time.monotonic() + timeout
    quiet_since: float | None = None
    while time.monotonic() < deadline:
        holders = driver.find_elements(By.CSS_SELECTOR, CHART_HOLDER)
        loading = driver.find_elements(By.CSS_SELECTOR, ".loading, [aria-label='Loading']")
        if len(holders) >= expected and not loading:
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since > 1.0:  # stable for 1 s: charts drawn
                return
        else:
            quiet_since = None
        time.sleep(0.5)
    raise TimeoutException(f"charts still loading after {timeout:.0f} s")


def inspect(driver: webdriver.Chrome) -> list[dict[str, Any]]:
    """Per chart holder: its title, an error panel, an empty state, something drawn."""
    script = """
    const out = [];
    for (const h of document.querySelectorAll(arguments[0])) {
      const title = (h.querySelector("[data-test='editable-title'], .header-title, "
        + "[data-test='slice-header'] .header-title") || {}).innerText || "";
      const text = h.innerText || "";
      const error = h.querySelector("[role='alert'], .ant-alert-error, "
        + "[data-test='error-message']");
      const drawn = h.querySelector("canvas, svg, table, .header-line, .big-number, "
        + "[data-test='big-number']");
      const big = h.querySelector(".header-line");
      out.push({title: title.trim(), text: text.slice(0, 300), error: !!error,
                bigNumber: big ? big.innerText.trim() : null,
                errorText: error ? error.innerText.slice(0, 300) : "",
                drawn: !!drawn});
    }
    return out;
    """
    return driver.execute_script(script, CHART_HOLDER)


def capture(
    base: str,
    user: str,
    password: str,
    out_dir: Path,
    only: list[str] | None = None,
    filters: dict[str, str] | None = None,
    also_filtered: list[str] | None = None,
) -> list[dict[str, Any]]:
    out_dir.mkdir(parents=True, exist_ok=True)
    session = api_session(base, user, password)
    boards = [d for d in dashboards(session, base) if not only or d["slug"] in only]
    passes: list[tuple[dict[str, Any], dict[str, str]]]
    if also_filtered:  # every dashboard as is, then the named ones with the filters
        passes = [(b, {}) for b in boards]
        passes += [(b, filters or {}) for b in boards if b["slug"] in also_filtered]
    else:
        passes = [(b, filters or {}) for b in boards]
    profile = tempfile.mkdtemp(prefix="finhouse-chromium-")
    driver = chrome(profile)
    report = []
    try:
        login(driver, base, user, password)
        for board, applied in passes:
            started = time.monotonic()
            driver.set_window_size(WIDTH, 1200)
            driver.get(base + filter_url(board, applied))
            entry: dict[str, Any] = {
                **board,
                "errors": [],
                "empty": [],
                "undrawn": [],
                "big_numbers": {},
                "filters": applied,
            }
            try:
                WebDriverWait(driver, 60).until(
                    ec.presence_of_element_located((By.CSS_SELECTOR, ".grid-container"))
                )
                _settle(driver, len(board["charts"]), timeout=120)
            except TimeoutException as exc:
                entry["errors"].append(f"timeout: {exc.msg}")
            holders = inspect(driver)
            entry["rendered"] = len(holders)
            for h in holders:
                label = h["title"] or h["text"][:60]
                if h["bigNumber"] is not None:
                    entry["big_numbers"][label] = h["bigNumber"]
                if h["error"]:
                    entry["errors"].append(f"{label}: {h['errorText']}")
                elif any(t in h["text"] for t in EMPTY_TEXTS):
                    entry["empty"].append(label)
                elif not h["drawn"]:
                    entry["undrawn"].append(label)
            height = driver.execute_script(
                "const g = document.querySelector('.grid-container');"
                "const top = g ? g.getBoundingClientRect().top + window.scrollY : 0;"
                "return Math.max(document.body.scrollHeight, top + (g ? g.scrollHeight : 0));"
            )
            driver.set_window_size(WIDTH, min(max(int(height) + 40, 900), 4000))
            time.sleep(1.0)  # let ECharts redraw at the new size
            png = out_dir / (board["slug"] + ("-filtered" if applied else "") + ".png")
            driver.save_screenshot(str(png))
            entry["png"] = str(png)
            entry["seconds"] = round(time.monotonic() - started, 1)
            entry["ok"] = (
                not entry["errors"]
                and not entry["empty"]
                and not entry["undrawn"]
                and entry["rendered"] == len(board["charts"])
            )
            report.append(entry)
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument(
        "--base", default=f"http://127.0.0.1:{os.environ.get('SUPERSET_PORT', '8088')}"
    )
    parser.add_argument("--user", default=os.environ.get("SUPERSET_ADMIN_USERNAME", "admin"))
    parser.add_argument("--password-env", default="SUPERSET_ADMIN_PASSWORD")
    parser.add_argument("--dashboard", action="append", default=None)
    parser.add_argument("--filter", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--also-filtered", action="append", default=None, metavar="SLUG")
    args = parser.parse_args()
    password = os.environ.get(args.password_env)
    if not password:
        sys.stderr.write(f"{args.password_env} is not set\n")
        return 2
    filters = dict(item.split("=", 1) for item in args.filter)
    report = capture(
        args.base, args.user, password, args.out_dir, args.dashboard, filters, args.also_filtered
    )
    print(json.dumps(report, indent=2))  # noqa: T201
    return 0 if report and all(entry["ok"] for entry in report) else 1


if __name__ == "__main__":
    sys.exit(main())
