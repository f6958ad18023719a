"""The data-quality record: what every dbt run's tests and source freshness found, kept in
the control schema beside the reconciles.

dbt writes what a run did to its target folder: ``run_results.json`` (each node's status,
failing rows and message), ``manifest.json`` (what each test checks: its model, column and
severity) and, after ``dbt source freshness``, ``sources.json``. :func:`checks` reads them
into one :class:`Check` per test or source; :func:`record` keeps, in one transaction:

* ``finhouse_meta.quality_runs`` - one row per dbt run: its checks counted by status;
* ``finhouse_meta.quality_results`` - one row per check of a run that did not pass (a
  warning, a failure, an error): the history of problems, small whatever the cadence (a
  passing test costs no row);
* ``finhouse_meta.quality_states`` - one row per check: its latest status and since when it
  has had it (the current state per model).

Severity is dbt's (``warn`` or ``error``, the test's ``config.severity``; a stale source is
``warn`` or ``error`` by the criterion it crossed). A warn-severity test never fails a
build (dbt reports it ``warn``, :mod:`finhouse.orchestration.builds` judges ``fail`` and
``error`` only) but is always in the record. Messages are dbt's one line ("Got 3 results,
configured to fail if != 0"); an error's database text loses its quoted values
(:func:`finhouse.errors.safe_text`): never row values.

The dbt DAG records its build (the producer's callback) and its freshness check; ``finhouse
dbt`` records the runs made by hand; ``finhouse quality`` prints the record.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finhouse.errors import safe_text

#: dbt statuses of a check that passed / that the record keeps as problems
PASSED = ("pass", "success")
PROBLEMS = ("warn", "fail", "error", "runtime error")
#: the counts of a quality run, by status
COUNTED = ("pass", "warn", "fail", "error", "skipped")
MESSAGE_MAX = 300


@dataclass(frozen=True)
class Check:
    """One test or source freshness check, and what one run found."""

    kind: str  # "test" or "freshness"
    unique_id: str
    name: str
    #: what it checks: a model ("stg_oltp__accounts"), a seed, or a source ("oltp.users")
    subject: str | None
    column_name: str | None
    severity: str  # "warn" or "error"
    status: str  # "pass", "warn", "fail", "error", "skipped"
    failures: int | None
    message: str | None

    @property
    def problem(self) -> bool:
        return self.status in PROBLEMS


def _short(unique_id: str | None) -> str | None:
    """``model.finhouse.stg_oltp__users`` -> ``stg_oltp__users``; ``source.finhouse.oltp.users``
    -> ``oltp.users``."""
    if not unique_id:
        return None
    parts = unique_id.split(".")
    return ".".join(parts[2:]) if len(parts) > 2 else unique_id


def _status(value: Any) -> str:
    status = str(value or "").lower()
    return "error" if status == "runtime error" else status


def _message(value: Any) -> str | None:
    if not value:
        return None
    return safe_text(str(value))[:MESSAGE_MAX] or None


def test_checks(run_results: Mapping[str, Any], manifest: Mapping[str, Any]) -> list[Check]:
    """The tests of a dbt run (``run_results.json``), described by the manifest."""
    nodes: Mapping[str, Any] = manifest.get("nodes") or {}
    found = []
    for result in run_results.get("results") or []:
        unique_id = str(result.get("unique_id") or "")
        if not unique_id.startswith("test."):
            continue
        node = nodes.get(unique_id) or {}
        metadata = node.get("test_metadata") or {}
        kwargs = metadata.get("kwargs") or {}
        column = node.get("column_name") or kwargs.get("column_name")
        if not column and isinstance(kwargs.get("columns"), list):
            column = ", ".join(str(c) for c in kwargs["columns"])
        subject = _short(node.get("attached_node"))
        if subject is None:  # a singular test: what it reads
            read = [n for n in (node.get("depends_on") or {}).get("nodes") or [] if n]
            subject = ", ".join(sorted(filter(None, map(_short, read)))) or None
        severity = str((node.get("config") or {}).get("severity") or "error").lower()
        failures = result.get("failures")
        found.append(
            Check(
                kind="test",
                unique_id=unique_id,
                name=str(node.get("name") or unique_id.split(".")[2]),
                subject=subject,
                column_name=str(column) if column else None,
                severity="warn" if severity == "warn" else "error",
                status=_status(result.get("status")),
                failures=int(failures) if isinstance(failures, int) else None,
                message=_message(result.get("message")),
            )
        )
    return found


def _age(seconds: Any) -> str:
    minutes = float(seconds) / 60
    return f"{minutes:.0f} min" if minutes < 120 else f"{minutes / 60:.1f} h"


def _criterion(value: Any) -> str | None:
    if not isinstance(value, Mapping) or not value.get("count"):
        return None
    return f"{value['count']} {value.get('period', '')}".strip()


def freshness_checks(sources: Mapping[str, Any]) -> list[Check]:
    """The sources of a ``dbt source freshness`` run (``sources.json``)."""
    found = []
    for result in sources.get("results") or []:
        unique_id = str(result.get("unique_id") or "")
        if not unique_id.startswith("source."):
            continue
        status = _status(result.get("status"))
        criteria = result.get("criteria") or {}
        warn_after, error_after = (
            _criterion(criteria.get("warn_after")),
            _criterion(criteria.get("error_after")),
        )
        age = result.get("max_loaded_at_time_ago_in_s")
        if status == "error" and "max_loaded_at" not in result:
            message = _message(result.get("error") or result.get("message"))
        elif age is not None:
            limits = ", ".join(
                f"{word} after {value}"
                for word, value in (("warn", warn_after), ("error", error_after))
                if value
            )
            message = f"last loaded {_age(age)} ago" + (f" ({limits})" if limits else "")
        else:
            message = None
        found.append(
            Check(
                kind="freshness",
                unique_id=unique_id,
                name=f"freshness of {_short(unique_id)}",
                subject=_short(unique_id),
                column_name=None,
                severity="warn" if status == "warn" else "error",
                status=status,
                failures=None,
                message=message,
            )
        )
    return found


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


@dataclass(frozen=True)
class DbtRun:
    """What a dbt run left in its target folder, as the record keeps it."""

    invocation_id: str | None
    command: str | None
    checks: list[Check]


def read_target(target_dir: Path | str, command: str | None = None) -> DbtRun | None:
    """The checks of the dbt run whose target folder this is (None: it left no results).
    ``command``: ``freshness`` reads ``sources.json``, anything else ``run_results.json``;
    None: whichever the run left (``sources.json`` when it left no other)."""
    folder = Path(target_dir)
    sources = _read_json(folder / "sources.json") if command in (None, "freshness") else None
    run_results = None if command == "freshness" else _read_json(folder / "run_results.json")
    if sources is not None and run_results is None:
        metadata = sources.get("metadata") or {}
        return DbtRun(metadata.get("invocation_id"), "freshness", freshness_checks(sources))
    if run_results is None:
        return None
    manifest = _read_json(folder / "manifest.json") or {}
    metadata = run_results.get("metadata") or {}
    command = (run_results.get("args") or {}).get("which")
    return DbtRun(metadata.get("invocation_id"), command, test_checks(run_results, manifest))


def counts(checks: Iterable[Check]) -> dict[str, int]:
    found = Counter(c.status if c.status in COUNTED else "error" for c in checks)
    return {status: found.get(status, 0) for status in COUNTED}


def record(target: Any, run_id: str, run: DbtRun) -> dict[str, int]:
    """Keep one run's checks (see the module's doc); returns its counts by status. A run
    recorded again (a retried task) replaces its earlier record."""
    target.setup()
    by_status = counts(run.checks)
    with target.control_connection() as conn:
        target.control.record_quality(
            conn,
            run_id=run_id,
            invocation_id=run.invocation_id,
            command=run.command,
            counts=by_status,
            checks=run.checks,
        )
    return by_status


def record_target(
    target: Any, run_id: str, target_dir: Path | str, command: str | None = None
) -> dict[str, int] | None:
    """:func:`record` the run whose target folder this is; None when it left no results."""
    run = read_target(target_dir, command)
    if run is None or not run.checks:
        return None
    return record(target, run_id, run)


def describe(by_status: Mapping[str, int]) -> str:
    """``312 passed, 1 warned, 1 failed`` (the statuses that occurred)."""
    words = {"pass": "passed", "warn": "warned", "fail": "failed", "error": "errored"}
    words["skipped"] = "skipped"
    said = [f"{by_status[s]} {words[s]}" for s in COUNTED if by_status.get(s)]
    return ", ".join(said) or "no checks"


# ---------------------------------------------------------------------- reading it back
@dataclass(frozen=True)
class Report:
    """The record since a day: per day and kind, the runs and their checks by status; the
    checks whose latest status is not a pass; and the reconciles beside them."""

    days: list[tuple[dt.date, str, int, dict[str, int]]]
    current: list[tuple[Any, ...]]
    reconciles: list[tuple[Any, ...]]


def read_report(target: Any, since: dt.date) -> Report:
    target.setup()
    with target.control_connection() as conn:
        days, current, reconciles = target.control.quality_report(conn, since)
    return Report(
        days=[
            (
                day if isinstance(day, dt.date) else dt.date.fromisoformat(str(day)[:10]),
                str(kind),
                int(runs),
                dict(zip(COUNTED, (int(v or 0) for v in values), strict=True)),
            )
            for day, kind, runs, *values in days
        ],
        current=current,
        reconciles=reconciles,
    )


def format_report(report: Report, since: dt.date) -> list[str]:
    """The lines ``finhouse quality`` prints."""
    lines = [f"data quality since {since.isoformat()}", ""]
    header = f"{'day':<10}  {'kind':<9}  {'runs':>5}  " + "  ".join(f"{s:>7}" for s in COUNTED)
    lines.append(header)
    for day, kind, runs, by_status in report.days:
        cells = "  ".join(f"{by_status[s]:>7,}" for s in COUNTED)
        lines.append(f"{day.isoformat():<10}  {kind:<9}  {runs:>5,}  {cells}")
    if not report.days:
        lines.append("(no dbt run recorded since then)")
    lines += ["", "checks not passing now (latest status):"]
    for (
        kind,
        name,
        subject,
        column,
        severity,
        status,
        failures,
        since_at,
        message,
    ) in report.current:
        where = f"{subject}.{column}" if subject and column else subject or "-"
        rows = f", {failures:,} rows" if failures else ""
        lines.append(
            f"  {severity:<5} {status:<5} {kind:<9} {name} on {where}{rows}, since "
            f"{since_at:%Y-%m-%d %H:%M}" + (f": {message}" if message else "")
        )
    if not report.current:
        lines.append("  none")
    lines += ["", "latest reconcile per table:"]
    for table, finished, missing, stale, extra in report.reconciles:
        differences = int(missing or 0) + int(stale or 0) + int(extra or 0)
        verdict = "equal" if differences == 0 else f"{differences:,} keys differ"
        lines.append(f"  {table:<13} {finished:%Y-%m-%d %H:%M}  {verdict}")
    if not report.reconciles:
        lines.append("  none recorded")
    return lines


def problems(checks: Sequence[Check]) -> list[Check]:
    return [c for c in checks if c.problem]
