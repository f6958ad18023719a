"""Spreadsheet sources loaded into a real warehouse by the ``finhouse files`` command: every
file version once, changed files replaced, deleted files marked, drift followed, malformed
files quarantined with one line (no value) while the others load, a killed load leaving the
previous state whole, and the demo's files loading clean against the seeded OLTP."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from finhouse.oltp.spreadsheets import write_csv
from tests.conftest import FINHOUSE, Databases, SeededOltps, run_cli

pytestmark = pytest.mark.integration

SECRET = "S3CRET-VALUE-77"  # noqa: S105 - a marker no message may contain
BRANCH_HEADER = ["branch_code", "branch_name", "region", "country"]


def load(dbs: Databases, folder: Path, *datasets: str) -> subprocess.CompletedProcess[str]:
    return run_cli("files", "load", *(datasets or ("--all",)), "--dir", str(folder), env=dbs.env())


def query(dbs: Databases, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(dbs.warehouse_dsn("admin")) as conn:
        return conn.execute(statement, params).fetchall()  # type: ignore[arg-type]


def current_branches(dbs: Databases) -> dict[str, tuple[Any, ...]]:
    rows = query(
        dbs,
        "select branch_code, branch_name, _file, _row, _loaded_at from raw.file_branches "
        "where _deleted_at is null",
    )
    return {r[0]: r[1:] for r in rows}


def test_files_load_once_replace_mark_deleted_and_follow_drift(
    dbs: Databases, tmp_path: Path
) -> None:
    folder = tmp_path / "drop"
    branches = folder / "branches"
    write_csv(branches / "north.csv", BRANCH_HEADER, [["NBO01", "Nairobi", "Central", "Kenya"]])
    write_csv(
        branches / "south.csv",
        BRANCH_HEADER,
        [["MSA01", "Mombasa", "Coast", "Kenya"], ["LAM01", "Lamu", "Coast", "Kenya"]],
    )
    first = load(dbs, folder, "branches")
    assert first.returncode == 0, first.stderr
    assert "branches: 2 files, 2 loaded (3 rows)" in first.stdout
    before = current_branches(dbs)
    assert {k: v[:3] for k, v in before.items()} == {
        "NBO01": ("Nairobi", "north.csv", 2),
        "MSA01": ("Mombasa", "south.csv", 2),
        "LAM01": ("Lamu", "south.csv", 3),
    }
    # every other dataset's table exists, empty (dbt reads them before any file arrives)
    assert query(dbs, "select count(*) from raw.file_officer_targets") == [(0,)]

    # unchanged files are not read again: nothing rewritten
    again = load(dbs, folder, "branches")
    assert "0 loaded (0 rows), 2 unchanged" in again.stdout
    assert current_branches(dbs) == before

    # a changed file replaces its rows (a renamed branch, a removed one, a new column);
    # the other file's rows are left alone
    write_csv(
        branches / "south.csv",
        [*BRANCH_HEADER, "Floor Area"],
        [["MSA01", "Mombasa Old Town", "Coast", "Kenya", "140"]],
    )
    changed = load(dbs, folder, "branches")
    assert changed.returncode == 0, changed.stderr
    assert "south.csv: loaded 1 rows" in changed.stdout
    assert "new columns floor_area" in changed.stdout
    after = current_branches(dbs)
    assert set(after) == {"NBO01", "MSA01"}
    assert after["NBO01"] == before["NBO01"]  # same _loaded_at: not rewritten
    assert after["MSA01"][0] == "Mombasa Old Town"
    assert query(dbs, "select branch_code, floor_area from raw.file_branches order by 1") == [
        ("MSA01", "140"),
        ("NBO01", None),
    ]
    # a deleted file's rows stay in RAW, marked
    (branches / "north.csv").unlink()
    deleted = load(dbs, folder, "branches")
    assert "north.csv: deleted from the folder; 1 rows marked deleted" in deleted.stdout
    assert set(current_branches(dbs)) == {"MSA01"}
    marked = query(dbs, "select _deleted_at from raw.file_branches where branch_code = 'NBO01'")
    assert len(marked) == 1
    assert marked[0][0] is not None
    # back again: loaded again, current again
    write_csv(branches / "north.csv", BRANCH_HEADER, [["NBO01", "Nairobi", "Central", "Kenya"]])
    load(dbs, folder, "branches")
    assert set(current_branches(dbs)) == {"MSA01", "NBO01"}
    audit = query(
        dbs,
        "select file_path, status, rows_loaded, rows_deleted from finhouse_meta.file_loads "
        "where dataset = 'branches' order by recorded_at",
    )
    assert audit == [
        ("north.csv", "loaded", 1, 0),
        ("south.csv", "loaded", 2, 0),
        ("south.csv", "loaded", 1, 0),
        ("north.csv", "deleted", 0, 1),
        ("north.csv", "loaded", 1, 0),
    ]


def test_a_malformed_file_is_quarantined_and_the_others_still_load(
    dbs: Databases, tmp_path: Path
) -> None:
    folder = tmp_path / "drop"
    targets = folder / "branch_targets"
    header = ["month", "branch_code", "disbursement_target", "new_borrowers_target"]
    write_csv(targets / "2026.csv", header, [["2026-01", "NBO01", "1000.00", "3"]])
    write_csv(
        targets / "2027.csv",
        header,
        [["2027-01", "NBO01", "1000.00", "3"], ["2027-02", "NBO01", SECRET, "4"]],
    )
    out = load(dbs, folder, "branch_targets")
    assert out.returncode == 1
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert lines == [
        "finhouse: WARNING: branch_targets/2027.csv: quarantined: row 3, column "
        "disbursement_target: not an amount (digits, a point, cents); nothing of this file "
        "was loaded"
    ]
    assert SECRET not in out.stdout + out.stderr
    rows = query(dbs, "select month, _file from raw.file_branch_targets")
    assert rows == [(dt.date(2026, 1, 1), "2026.csv")]
    status = run_cli("files", "status", env=dbs.env(), check=True).stdout
    assert "branch_targets/2027.csv: quarantined, -, seen " in status
    assert "row 3, column disbursement_target" in status
    recorded = query(
        dbs, "select error from finhouse_meta.file_states where status = 'quarantined'"
    )
    assert SECRET not in str(recorded)

    # the quality record (Pipeline health, `finhouse quality`) shows it as a failing check
    quality = run_cli("quality", env=dbs.env(), check=True).stdout
    assert "file 2027.csv on files.branch_targets" in quality
    assert "row 3, column disbursement_target" in quality
    assert SECRET not in quality

    # unchanged, it stays quarantined without failing every run again
    quiet = load(dbs, folder, "branch_targets")
    assert quiet.returncode == 0
    assert "still quarantined" in quiet.stderr

    # a key another file gives is refused, naming that file; the row numbers count the header
    write_csv(
        targets / "2027.csv",
        header,
        [["2027-01", "NBO01", "1000.00", "3"], ["2026-01", "NBO01", "900", "4"]],
    )
    clash = load(dbs, folder, "branch_targets")
    assert clash.returncode == 1
    assert (
        "2027.csv: quarantined: row 3, column branch_code: the key (month, branch_code) is "
        "already given by 2026.csv" in clash.stderr
    )
    # repaired: loads, exactly
    write_csv(
        targets / "2027.csv",
        header,
        [["2027-01", "NBO01", "1000.00", "3"], ["2027-02", "NBO01", "1250.5", "4"]],
    )
    fixed = load(dbs, folder, "branch_targets")
    assert fixed.returncode == 0, fixed.stderr
    assert "file 2027.csv" not in run_cli("quality", env=dbs.env(), check=True).stdout
    assert query(
        dbs,
        "select month, disbursement_target, new_borrowers_target, par30_ceiling "
        "from raw.file_branch_targets where _deleted_at is null order by month",
    ) == [
        (dt.date(2026, 1, 1), Decimal("1000.00"), 3, None),
        (dt.date(2027, 1, 1), Decimal("1000.00"), 3, None),
        (dt.date(2027, 2, 1), Decimal("1250.50"), 4, None),
    ]


def test_bad_requests_are_one_line_and_change_nothing(dbs: Databases, tmp_path: Path) -> None:
    for args, expected in (
        (("files", "load", "loans"), "unknown dataset 'loans'"),
        (("files", "load"), "name the datasets, or --all"),
        (("files", "load", "--all", "--dir", str(tmp_path / "nope")), "no such folder"),
    ):
        out = run_cli(*args, env=dbs.env())
        assert out.returncode != 0
        assert expected in out.stderr
        assert len(out.stderr.strip().splitlines()) <= 3  # click's usage line(s) + the error
    assert query(dbs, "select to_regclass('finhouse_meta.file_loads')") == [(None,)]


def test_a_missing_drop_folder_never_reads_as_every_file_deleted(
    dbs: Databases, tmp_path: Path
) -> None:
    folder = tmp_path / "drop"
    write_csv(folder / "branches" / "a.csv", BRANCH_HEADER, [["NBO01", "N", "C", "Kenya"]])
    assert load(dbs, folder, "branches").returncode == 0
    (folder / "branches" / "a.csv").unlink()
    (folder / "branches").rmdir()
    out = load(dbs, folder, "branches")
    assert out.returncode != 0
    assert "the drop folder" in out.stderr
    assert "is missing (FINHOUSE_FILES_DIR)" in out.stderr
    assert "nothing was changed" in out.stderr
    assert set(current_branches(dbs)) == {"NBO01"}
    # an empty folder is a real deletion of every file
    (folder / "branches").mkdir()
    assert load(dbs, folder, "branches").returncode == 0
    assert current_branches(dbs) == {}
    # a dataset never loaded, without a folder: nothing to do, no error
    assert load(dbs, folder, "officer_targets").returncode == 0


def test_a_killed_load_leaves_the_previous_version_current(dbs: Databases, tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    targets = folder / "officer_targets"
    header = ["month", "loan_officer_id", "disbursement_target"]
    small = [["2026-01", str(i), "100.00"] for i in range(1, 4)]
    write_csv(targets / "t.csv", header, small)
    assert load(dbs, folder, "officer_targets").returncode == 0
    big = [[f"{2000 + i // 12000}-{i % 12 + 1:02d}", str(i), "250.00"] for i in range(400_000)]
    write_csv(targets / "t.csv", header, big)
    env = dbs.env()
    for delay in (0.6, 1.5):
        proc = subprocess.Popen(
            [FINHOUSE, "files", "load", "officer_targets", "--dir", str(folder)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        time.sleep(delay)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        counts = query(
            dbs,
            "select count(*), min(disbursement_target) from raw.file_officer_targets "
            "where _deleted_at is null",
        )
        assert counts in ([(3, Decimal("100.00"))], [(400_000, Decimal("250.00"))]), counts
    finished = load(dbs, folder, "officer_targets")
    assert finished.returncode == 0, finished.stderr
    assert query(
        dbs,
        "select count(*), count(distinct (month, loan_officer_id)), sum(disbursement_target) "
        "from raw.file_officer_targets where _deleted_at is null",
    ) == [(400_000, 400_000, Decimal("100000000.00"))]


def test_the_demo_files_load_clean_against_the_seeded_oltp(
    dbs: Databases, seeded_oltps: SeededOltps, tmp_path: Path
) -> None:
    seeded_oltps.restore(dbs.oltp, scale=0.1, seed=3, as_of=dt.date(2026, 6, 15))
    folder = tmp_path / "drop"
    seeded = run_cli("files", "seed", "--dir", str(folder), env=dbs.env(), check=True)
    assert "branches: 2 files" in seeded.stdout
    assert sorted(p.suffix for p in (folder / "branches").iterdir()) == [".csv", ".xlsx"]
    out = load(dbs, folder)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count(" 0 quarantined") == 3
    assert out.stderr == ""
    with psycopg.connect(dbs.oltp_dsn) as oltp:
        branches = {r[0] for r in oltp.execute("select distinct branch_code from users")}
        officers = {r[0] for r in oltp.execute("select id from users where role = 'loan_officer'")}
    assert {r[0] for r in query(dbs, "select branch_code from raw.file_branches")} == branches
    targeted = {r[0] for r in query(dbs, "select loan_officer_id from raw.file_officer_targets")}
    assert targeted
    assert targeted <= officers
    months = query(
        dbs,
        "select min(month), max(month), count(distinct branch_code) from raw.file_branch_targets",
    )[0]
    assert months[1] == dt.date(2026, 8, 1)  # two months past the as-of date's month
    assert months[2] == len(branches)
    # percentages written "5%" in the officers' CSVs, as fractions in the workbooks
    ceilings = {
        r[0]
        for r in query(
            dbs,
            "select par30_ceiling from raw.file_officer_targets union "
            "select par30_ceiling from raw.file_branch_targets",
        )
    }
    assert ceilings <= {Decimal("0.0500"), Decimal("0.0800")}
    assert Decimal("0.0500") in ceilings


def test_concurrent_first_runs_create_the_raw_tables_once(dbs: Databases, tmp_path: Path) -> None:
    """Runs of different datasets (and ingestion runs) starting together on a new warehouse
    all create the file tables: serialised, none fails on PostgreSQL's catalog race."""
    folder = tmp_path / "drop"
    write_csv(folder / "branches" / "a.csv", BRANCH_HEADER, [["NBO01", "N", "C", "Kenya"]])
    procs = [
        subprocess.Popen(
            [FINHOUSE, "files", "load", name, "--dir", str(folder)],
            env=dbs.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("branches", "branch_targets", "officer_targets", "branches")
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], outs
    columns = query(
        dbs,
        "select table_name, count(*) from finhouse_meta.source_columns "
        "where table_name like 'file_%%' group by 1 order by 1",
    )
    assert columns == [
        ("file_branch_targets", 5),
        ("file_branches", 7),
        ("file_officer_targets", 7),
    ]
