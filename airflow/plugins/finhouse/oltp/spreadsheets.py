"""The demo's spreadsheets: what an institution's managers keep beside the core system.

Written from the OLTP stand-in (its branches, loan officers and disbursements), so the demo's
targets are plausible against its actuals: per branch and month the disbursement target is the
month's actual disbursements times a manager's optimism (0.85-1.3, rounded to 10,000), the new
borrowers' target likewise, and a PAR30 ceiling of 5 % (8 % in the more remote regions); the
two months after the as-of date have targets too. Deterministic for a seed.

The files mix the forms the loader accepts: the branch list as a workbook plus a CSV of the
newest branches, branch targets as one workbook per year (percentages as numbers), officer
targets as one CSV per year (semicolon-separated, ceilings written as "5%").
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import psycopg
from faker import Faker

from .seed import BRANCHES

#: the files' headers, as managers name the columns (the loader matches them to its datasets
#: case-insensitively, spaces as _; tests/unit/oltp checks they are the datasets' columns)
HEADERS = {
    "branches": [
        "Branch Code",
        "Branch Name",
        "Region",
        "Country",
        "Manager",
        "Opened On",
        "Branch Type",
    ],
    "branch_targets": [
        "month",
        "branch_code",
        "disbursement_target",
        "new_borrowers_target",
        "par30_ceiling",
    ],
    "officer_targets": [
        "Month",
        "Loan Officer ID",
        "Branch Code",
        "Loan Officer Name",
        "Disbursement Target",
        "New Borrowers Target",
        "PAR30 Ceiling",
    ],
}

REMOTE_REGIONS = {"North Eastern", "Coast"}
BRANCH_TYPES = ("branch", "branch", "branch", "satellite", "agency")


def _round_to(value: Decimal, step: int) -> Decimal:
    return max(Decimal(step), (value / step).quantize(Decimal(1), ROUND_HALF_UP) * step)


def _month_add(month: dt.date, n: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + n
    return dt.date(index // 12, index % 12 + 1, 1)


def _write_xlsx(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    from openpyxl import Workbook  # noqa: PLC0415

    book = Workbook(write_only=True)
    sheet = book.create_sheet("data")
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)


def _actuals(dsn: str) -> dict[str, Any]:
    """What the OLTP holds: branches and officers in use, disbursements and new borrowers per
    month by the borrower's branch and by officer."""
    with psycopg.connect(dsn) as conn:
        branches = [r[0] for r in conn.execute("select distinct branch_code from users order by 1")]
        officers = conn.execute(
            "select id, branch_code, first_name || ' ' || last_name from users "
            "where role = 'loan_officer' order by id"
        ).fetchall()
        disbursed = conn.execute(
            "with loans as (select l.borrower_id, l.loan_officer_id, l.principal, "
            "date_trunc('month', l.disbursed_at at time zone 'UTC')::date as month, "
            "row_number() over (partition by l.borrower_id order by l.disbursed_at, l.id) = 1 "
            "as first_loan from loans l where l.disbursed_at is not null) "
            "select month, u.branch_code, l.loan_officer_id, sum(principal), "
            "count(*) filter (where first_loan) from loans l join users u on u.id = l.borrower_id "
            "group by 1, 2, 3"
        ).fetchall()
    return {"branches": branches, "officers": officers, "disbursed": disbursed}


def write_demo_files(dsn: str, folder: Path, *, seed: int = 42) -> dict[str, list[Path]]:
    """Write the demo's files under ``folder`` (one sub-folder per dataset); returns them."""
    rng = random.Random(f"{seed}/spreadsheets")
    faker = Faker("en_US")
    faker.seed_instance(seed)
    found = _actuals(dsn)
    known = {code: (name, region) for code, name, region in BRANCHES}
    order = {code: index for index, (code, _, _) in enumerate(BRANCHES)}
    found["branches"].sort(key=lambda code: (order.get(code, len(order)), code))
    written: dict[str, list[Path]] = defaultdict(list)

    # ---- branches: a workbook of the older branches, a CSV of the newest two
    branch_rows = []
    for index, code in enumerate(found["branches"]):
        name, region = known.get(code, (code, "Unknown"))
        opened = dt.date(2012, 1, 1) + dt.timedelta(days=rng.randrange(0, 3650))
        kind = "head office" if index == 0 else rng.choice(BRANCH_TYPES)
        branch_rows.append([code, name, region, "Kenya", faker.name(), opened, kind])
    header = HEADERS["branches"]
    split = max(1, len(branch_rows) - 2)
    folder_of = {name: folder / name for name in HEADERS}
    _write_xlsx(folder_of["branches"] / "branch_list.xlsx", header, branch_rows[:split])
    written["branches"].append(folder_of["branches"] / "branch_list.xlsx")
    if branch_rows[split:]:
        newest = [[*row[:5], row[5].isoformat(), row[6]] for row in branch_rows[split:]]
        write_csv(folder_of["branches"] / "new_branches.csv", header, newest)
        written["branches"].append(folder_of["branches"] / "new_branches.csv")
    region_of = {row[0]: row[2] for row in branch_rows}

    # ---- actuals by month
    by_branch: dict[tuple[dt.date, str], list[Decimal]] = defaultdict(
        lambda: [Decimal(0), Decimal(0)]
    )
    by_officer: dict[tuple[dt.date, int], list[Decimal]] = defaultdict(
        lambda: [Decimal(0), Decimal(0)]
    )
    for month, branch, officer, amount, new in found["disbursed"]:
        for key, table in (((month, branch), by_branch), ((month, officer), by_officer)):
            table[key][0] += amount
            table[key][1] += new
    if not by_branch:
        return dict(written)
    months = sorted({m for m, _ in by_branch})
    last = months[-1]
    months += [_month_add(last, 1), _month_add(last, 2)]

    def plan(actual: list[Decimal], recent: list[Decimal]) -> tuple[Decimal, int]:
        basis = actual if actual[0] else recent
        optimism = Decimal(str(round(rng.uniform(0.85, 1.3), 2)))
        amount = _round_to(basis[0] * optimism, 10_000)
        borrowers = max(1, int((basis[1] * optimism).quantize(Decimal(1), ROUND_HALF_UP)))
        return amount, borrowers

    def recent_average(table: dict[Any, list[Decimal]], who: Any) -> list[Decimal]:
        window = [
            table.get((_month_add(last, -i), who), [Decimal(0), Decimal(0)]) for i in (0, 1, 2)
        ]
        return [
            sum((w[0] for w in window), Decimal(0)) / 3,
            sum((w[1] for w in window), Decimal(0)) / 3,
        ]

    # ---- branch targets: one workbook per year
    header = HEADERS["branch_targets"]
    per_year: dict[int, list[list[Any]]] = defaultdict(list)
    for branch in found["branches"]:
        recent = recent_average(by_branch, branch)
        if not recent[0]:
            continue
        for month in months:
            actual = by_branch.get((month, branch), [Decimal(0), Decimal(0)])
            amount, borrowers = plan(actual, recent)
            ceiling = 0.08 if region_of.get(branch) in REMOTE_REGIONS else 0.05
            per_year[month.year].append([month, branch, float(amount), borrowers, ceiling])
    for year, rows in sorted(per_year.items()):
        path = folder_of["branch_targets"] / f"branch_targets_{year}.xlsx"
        _write_xlsx(path, header, rows)
        written["branch_targets"].append(path)

    # ---- officer targets: one CSV per year, as a European spreadsheet saves it
    header = HEADERS["officer_targets"]
    officer_rows: dict[int, list[list[Any]]] = defaultdict(list)
    for officer, branch, name in found["officers"]:
        recent = recent_average(by_officer, officer)
        if not recent[0]:
            continue
        for month in months:
            actual = by_officer.get((month, officer), [Decimal(0), Decimal(0)])
            amount, borrowers = plan(actual, recent)
            written_ceiling = "8%" if region_of.get(branch) in REMOTE_REGIONS else "5%"
            officer_rows[month.year].append(
                [
                    month.strftime("%Y-%m"),
                    officer,
                    branch,
                    name,
                    f"{amount:.2f}",
                    borrowers,
                    written_ceiling,
                ]
            )
    for year, rows in sorted(officer_rows.items()):
        path = folder_of["officer_targets"] / f"officer_targets_{year}.csv"
        write_csv(path, header, rows, delimiter=";", encoding="utf-8-sig")
        written["officer_targets"].append(path)
    return dict(written)


def write_csv(
    path: Path,
    header: list[str],
    rows: list[list[Any]],
    *,
    delimiter: str = ",",
    encoding: str = "utf-8",
) -> None:
    """A CSV file as a spreadsheet saves it (CRLF line ends; Excel's BOM if asked)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(buffer.getvalue(), encoding=encoding)
