"""Mart exports' files (finhouse.exports), on a local folder and an in-memory object store:
exact values, month partitions, checksums in the manifest, idempotent re-runs, atomic
publication (a killed export leaves the previous one current), retention."""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from finhouse import exports

pytestmark = pytest.mark.unit

SCHEMA = pa.schema(
    [
        ("as_of_date", pa.date32()),
        ("branch_code", pa.string()),
        ("gross_loan_portfolio", pa.decimal128(18, 2)),
        ("active_loans", pa.int64()),
    ]
)
D = decimal.Decimal


def _batches(days: int = 70, start: dt.date = dt.date(2026, 1, 1)) -> list[Any]:
    rows = [
        (start + dt.timedelta(days=i), branch, D(f"{1000 + i}.{i % 100:02d}"), i)
        for i in range(days)
        for branch in ("NBO01", "MSA01")
    ]
    columns = list(zip(*rows, strict=True))
    table = pa.table(
        {
            name: pa.array(values, type)
            for (name, type), values in zip(
                [(f.name, f.type) for f in SCHEMA], columns, strict=True
            )
        },
        schema=SCHEMA,
    )
    return table.to_batches(max_chunksize=25)


@pytest.fixture(params=["local", "memory"])
def destination(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "local":
        return str(tmp_path / "exports")
    return f"memory://bucket-{uuid.uuid4().hex[:8]}/exports"


def test_an_export_holds_the_mart_exactly_with_a_manifest(destination: str) -> None:
    fs, root = exports.filesystem(destination)
    manifest, wrote = exports.publish(
        fs, root, "portfolio_daily", SCHEMA, _batches(), as_of=dt.date(2026, 3, 11),
        partition_by="as_of_date", dbt_run_id="run-1",
    )  # fmt: skip
    assert wrote
    assert manifest.rows == 140
    folder = f"{root}/portfolio_daily/{manifest.export_id}"
    parts = [f for f in manifest.files if f.format == "parquet"]
    assert [p.partition for p in parts] == ["2026-01", "2026-02", "2026-03"]
    assert sum(p.rows for p in parts) == 140
    # the CSV: money to the cent, as written
    with fs.open(f"{folder}/portfolio_daily.csv", "r") as handle:
        rows = list(csv.DictReader(io.StringIO(handle.read())))
    assert len(rows) == 140
    assert rows[0] == {
        "as_of_date": "2026-01-01",
        "branch_code": "NBO01",
        "gross_loan_portfolio": "1000.00",
        "active_loans": "0",
    }
    assert sum(D(r["gross_loan_portfolio"]) for r in rows) == sum(
        D(f"{1000 + i}.{i % 100:02d}") * 2 for i in range(70)
    )
    # Parquet: decimal stays decimal
    with fs.open(f"{folder}/{parts[1].path}", "rb") as handle:
        february = pq.read_table(handle)
    assert february.schema.field("gross_loan_portfolio").type == pa.decimal128(18, 2)
    assert february.num_rows == 56
    # the manifest is what LATEST names, and the files match it
    assert exports.latest(fs, root, "portfolio_daily") == manifest
    assert exports.verify(fs, root, "portfolio_daily").export_id == manifest.export_id
    assert manifest.dbt_run_id == "run-1"
    assert manifest.columns[2] == {"name": "gross_loan_portfolio", "type": "decimal128(18, 2)"}


def test_the_same_content_again_writes_nothing_and_a_change_is_a_new_export(
    destination: str,
) -> None:
    fs, root = exports.filesystem(destination)
    first, _ = exports.publish(fs, root, "m", SCHEMA, _batches(), as_of=dt.date(2026, 3, 11))
    again, wrote = exports.publish(fs, root, "m", SCHEMA, _batches(), as_of=dt.date(2026, 3, 11))
    assert not wrote
    assert again.export_id == first.export_id
    changed, wrote = exports.publish(
        fs, root, "m", SCHEMA, _batches(days=71), as_of=dt.date(2026, 3, 12)
    )
    assert wrote
    assert changed.export_id != first.export_id
    assert exports.latest(fs, root, "m") == changed
    # nothing half-done is left behind
    assert not fs.exists(f"{root}/m/{exports.INCOMPLETE}") or not fs.ls(
        f"{root}/m/{exports.INCOMPLETE}"
    )


def test_a_killed_export_leaves_the_previous_one_current_and_is_cleaned_later(
    destination: str,
) -> None:
    fs, root = exports.filesystem(destination)
    first, _ = exports.publish(fs, root, "m", SCHEMA, _batches(), as_of=dt.date(2026, 3, 11))

    def dying() -> Any:
        yield from _batches(days=80)[:3]
        raise KeyboardInterrupt  # the process is stopped mid-export

    with pytest.raises(KeyboardInterrupt):
        exports.publish(fs, root, "m", SCHEMA, dying(), as_of=dt.date(2026, 3, 12))
    assert exports.latest(fs, root, "m") == first
    assert exports.verify(fs, root, "m").export_id == first.export_id
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    removed = exports.prune(fs, root, "m", keep_days=30, now=later)
    assert [r for r in removed if r.startswith(exports.INCOMPLETE)]
    assert exports.latest(fs, root, "m") == first


def test_retention_removes_old_exports_but_never_the_current_one(destination: str) -> None:
    fs, root = exports.filesystem(destination)
    old_time = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    old, _ = exports.publish(
        fs, root, "m", SCHEMA, _batches(days=10), as_of=dt.date(2026, 1, 1), now=old_time
    )
    new, _ = exports.publish(
        fs, root, "m", SCHEMA, _batches(days=11), as_of=dt.date(2026, 1, 2), now=old_time
    )
    removed = exports.prune(fs, root, "m", keep_days=30, now=old_time + dt.timedelta(days=31))
    assert removed == [old.export_id]
    assert exports.latest(fs, root, "m") == new
    assert fs.exists(f"{root}/m/{new.export_id}/{exports.MANIFEST}")


def test_a_tampered_file_fails_verification(tmp_path: Path) -> None:
    fs, root = exports.filesystem(str(tmp_path))
    manifest, _ = exports.publish(fs, root, "m", SCHEMA, _batches(), as_of=dt.date(2026, 3, 1))
    csv_file = tmp_path / "m" / manifest.export_id / "m.csv"
    csv_file.write_text(csv_file.read_text().replace("1000.00", "1000.01"))
    with pytest.raises(ValueError, match=r"m\.csv differs from its manifest"):
        exports.verify(fs, root, "m")
