"""Spreadsheet and CSV sources: the files managers keep beside the core system.

A drop folder (``FINHOUSE_FILES_DIR``) holds one sub-folder per dataset of :data:`DATASETS`
(``branches``, ``branch_targets``, ``officer_targets``); each holds any number of ``.csv`` and
``.xlsx`` files, merged by column name (a header row, then one row per record; the first
worksheet of a workbook). ``finhouse files load`` and the ``finhouse_files_<dataset>`` DAGs load
a dataset into RAW (``raw.file_<dataset>``) with the promises of the OLTP tables:

* **every file version once**: a file is known by its path and the SHA-256 of its bytes
  (``finhouse_meta.file_states``); an unchanged file is not read again;
* **a changed file replaces its earlier rows**, in one transaction with its state and audit
  row (``finhouse_meta.file_loads``); **a deleted file's rows are marked** (``_deleted_at``);
* **schema drift**: a column the dataset does not declare is added to RAW as text (older rows
  null); a declared column missing from a file is null there, unless it is required;
* **a malformed file is quarantined** — an unreadable file, a missing required column, a value
  of the wrong type, an empty or repeated key (also across the dataset's files) — with one line
  naming the file, the row and the column (never a value); nothing of it is loaded (an earlier
  version of it stays current), the other files still load, and the file is tried again
  when it or another file of the dataset changes.

Each RAW row carries ``_file`` (its path inside the dataset's folder), ``_file_sha256``,
``_row`` (its row in the file; the header is row 1), ``_loaded_at``, ``_batch_id`` and
``_deleted_at``. The current rows are those with ``_deleted_at`` null; their key is unique.
A file is read as a stream (memory stays bounded whatever its size) into a staging table,
checked there, then published.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

from finhouse import settings
from finhouse.drift import Column
from finhouse.errors import ConfigError, FinhouseError
from finhouse.tables import IDENTIFIER

log = logging.getLogger("finhouse.files")

Kind = Literal["text", "integer", "bigint", "date", "month", "money", "fraction"]
#: the warehouse type of each kind of column
SQL_TYPES: dict[str, str] = {
    "text": "text",
    "integer": "integer",
    "bigint": "bigint",
    "date": "date",
    "month": "date",
    "money": "numeric(18,2)",
    "fraction": "numeric(7,4)",
}
SUFFIXES = (".csv", ".xlsx")
#: RAW's columns of every file row, beside the dataset's own
META_COLUMNS = ("_file", "_file_sha256", "_row", "_loaded_at", "_batch_id", "_deleted_at")
#: rows per bulk write into the staging table (the stream's memory)
BATCH_ROWS = 10_000
#: a progress line at most this often while a file is read (seconds)
PROGRESS_EVERY = 10.0


@dataclass(frozen=True)
class FileColumn:
    name: str
    kind: Kind
    #: the header must be there and no row may leave it empty
    required: bool = False
    description: str = ""

    @property
    def sql_type(self) -> str:
        return SQL_TYPES[self.kind]


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    key: tuple[str, ...]
    columns: tuple[FileColumn, ...]
    description: str

    def __post_init__(self) -> None:
        if not IDENTIFIER.match(self.name):
            raise ConfigError(f"dataset name {self.name!r} is not a valid identifier")
        names = [c.name for c in self.columns]
        for column in self.columns:
            if not IDENTIFIER.match(column.name) or column.name.startswith("_"):
                raise ConfigError(f"dataset {self.name}: bad column name {column.name!r}")
        for key in self.key:
            if key not in names or not self.column(key).required:
                raise ConfigError(f"dataset {self.name}: key {key!r} must be a required column")

    @property
    def raw_table(self) -> str:
        return f"file_{self.name}"

    def column(self, name: str) -> FileColumn:
        return next(c for c in self.columns if c.name == name)


def _col(name: str, kind: Kind, description: str, *, required: bool = False) -> FileColumn:
    return FileColumn(name, kind, required, description)


TARGET_COLUMNS = (
    _col("disbursement_target", "money", "amount to disburse in the month"),
    _col("new_borrowers_target", "integer", "borrowers to disburse a first loan to"),
    _col("par30_ceiling", "fraction", "highest acceptable PAR30 ratio at month end (5% or 0.05)"),
)

DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            "branches",
            key=("branch_code",),
            columns=(
                _col("branch_code", "text", "the core system's branch code", required=True),
                _col("branch_name", "text", "the branch's name", required=True),
                _col("region", "text", "the region it reports to", required=True),
                _col("country", "text", "its country", required=True),
                _col("manager", "text", "the branch manager's name"),
                _col("opened_on", "date", "when it opened"),
                _col("branch_type", "text", "branch, satellite, agency…"),
            ),
            description="branch master data: one row per branch",
        ),
        DatasetSpec(
            "branch_targets",
            key=("month", "branch_code"),
            columns=(
                _col("month", "month", "the month (2026-03 or its first day)", required=True),
                _col("branch_code", "text", "the branch", required=True),
                *TARGET_COLUMNS,
            ),
            description="monthly targets per branch",
        ),
        DatasetSpec(
            "officer_targets",
            key=("month", "loan_officer_id"),
            columns=(
                _col("month", "month", "the month (2026-03 or its first day)", required=True),
                _col("loan_officer_id", "bigint", "the officer's user id", required=True),
                _col("branch_code", "text", "the officer's branch"),
                _col("loan_officer_name", "text", "the officer's name, for readers"),
                *TARGET_COLUMNS,
            ),
            description="monthly targets per loan officer",
        ),
    )
}


def get_dataset(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        raise ConfigError(
            f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}"
        ) from None


def files_dir() -> Path:
    configured = settings.load()
    return configured.files_dir or configured.state_dir / "files"


# ---------------------------------------------------------------------------- values
class RejectedFileError(FinhouseError):
    """A file that cannot be loaded: the message names the row and column, never a value."""


class BadValueError(ValueError):
    """Why a value does not fit its column (never the value itself)."""


_INTEGER = re.compile(r"^[+-]?\d+$")
_DECIMAL_PARTS = re.compile(r"^([+-]?)(?=\.?\d)(\d*)(?:\.(\d*))?$")
_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _integer(text: str, bits: int) -> int:
    if not _INTEGER.match(text):
        raise BadValueError("not a whole number")
    value = int(text)
    if not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
        raise BadValueError("a whole number out of range")
    return value


def _decimal(text: str, precision: int, scale: int, what: str) -> Decimal:
    match = _DECIMAL_PARTS.match(text)
    if match is None:
        raise BadValueError(f"not {what}")
    whole, fraction = match.group(2), (match.group(3) or "").rstrip("0")
    if len(fraction) > scale:
        raise BadValueError(f"more than {scale} decimal places")
    if len(whole.lstrip("0")) > precision - scale:
        raise BadValueError(f"more than {precision - scale} digits before the point")
    return Decimal(f"{match.group(1)}{whole or '0'}.{fraction.ljust(scale, '0')}")


def _fraction(text: str) -> Decimal:
    if text.endswith("%"):
        return _decimal(
            str(_decimal(text[:-1].strip(), 9, 2, "a percentage") / 100), 7, 4, "a fraction"
        )
    return _decimal(text, 7, 4, "a fraction (0.05) or a percentage (5%)")


def _date(text: str) -> dt.date:
    if not _DATE.match(text):
        raise BadValueError("not a date (YYYY-MM-DD)")
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise BadValueError("not a valid date (no such day)") from None


def _month(text: str) -> dt.date:
    if m := _MONTH.match(text):
        year, month = int(m.group(1)), int(m.group(2))
        if not 1 <= month <= 12:
            raise BadValueError("not a month (YYYY-MM)")
        return dt.date(year, month, 1)
    if _DATE.match(text):
        day = _date(text)
        if day.day != 1:
            raise BadValueError("a date that is not the first day of a month")
        return day
    raise BadValueError("not a month (YYYY-MM, or its first day YYYY-MM-DD)")


CONVERTERS: dict[str, Callable[[str], Any]] = {
    "text": lambda text: text,
    "integer": lambda text: _integer(text, 32),
    "bigint": lambda text: _integer(text, 64),
    "date": _date,
    "month": _month,
    "money": lambda text: _decimal(text, 18, 2, "an amount (digits, a point, cents)"),
    "fraction": _fraction,
}


# ---------------------------------------------------------------------------- reading
Cell = str | None


def _header_name(raw: Cell, position: int) -> str:
    name = re.sub(r"[^0-9a-z]+", "_", (raw or "").strip().lower()).strip("_")
    if not name or not IDENTIFIER.match(name):
        raise RejectedFileError(f"row 1, column {position}: the header is not a usable column name")
    return name


def _csv_rows(path: Path) -> Iterator[list[Cell]]:
    """The rows of a CSV file: UTF-8 (a BOM is dropped), comma, semicolon or tab separated
    (as the header line shows)."""
    with path.open("rb") as raw:
        first = raw.readline()
    delimiter = max((",", ";", "\t"), key=lambda c: first.count(c.encode()))
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter, strict=True)
        try:
            for row in reader:
                yield [value.strip() or None for value in row]
        except UnicodeDecodeError:
            raise RejectedFileError(
                f"row {reader.line_num + 1}: the file is not UTF-8 text"
            ) from None
        except csv.Error:
            raise RejectedFileError(
                f"row {reader.line_num}: not well-formed CSV (an unclosed quote?)"
            ) from None


def _cell_text(value: object) -> Cell:
    """A workbook cell as the text a CSV export would hold."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e18:
            return str(int(value))
        # what Excel shows: 15 significant digits (a formula's 1100.0000000000002 is 1100,
        # 0.1 + 0.2 is 0.3); the shortest exact text beyond that range
        text = f"{value:.15g}"
        return repr(value) if "e" in text else text
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.isoformat()
    text = str(value).strip()
    return text or None


def _xlsx_rows(path: Path) -> Iterator[list[Cell]]:
    """The rows of a workbook's first worksheet (read-only: streamed)."""
    import zipfile  # noqa: PLC0415

    from openpyxl import load_workbook  # noqa: PLC0415 - only for workbooks

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError):
        raise RejectedFileError("row 1: not a readable .xlsx workbook") from None
    try:
        sheet = book.worksheets[0]
        for row in sheet.iter_rows(values_only=True):
            yield [_cell_text(value) for value in row]
    finally:
        book.close()


def read_rows(path: Path) -> Iterator[list[Cell]]:
    if path.suffix.lower() == ".xlsx":
        return _xlsx_rows(path)
    return _csv_rows(path)


@dataclass
class Layout:
    """A file's columns: the dataset's it has, in file order, and those it adds (drift)."""

    positions: list[tuple[int, str]]  # (index in the row, column name)
    converters: list[Callable[[str], Any]]
    required: list[bool]
    extra: list[str]


def layout(spec: DatasetSpec, header: list[Cell]) -> Layout:
    names: dict[str, int] = {}
    width = len(header)
    while width and header[width - 1] is None:
        width -= 1  # empty cells after the last header
    for index in range(width):
        name = _header_name(header[index], index + 1)
        if name in names:
            raise RejectedFileError(
                f"row 1, column {index + 1}: the header repeats column {names[name] + 1}'s "
                f"name ({name})"
            )
        names[name] = index
    for column in spec.columns:
        if column.required and column.name not in names:
            raise RejectedFileError(f"row 1: the required column {column.name} is missing")
    declared = {c.name: c for c in spec.columns}
    shape = Layout([], [], [], [])
    for name, index in names.items():
        shape.positions.append((index, name))
        found = declared.get(name)
        shape.converters.append(CONVERTERS[found.kind] if found else CONVERTERS["text"])
        shape.required.append(bool(found and found.required))
        if found is None:
            shape.extra.append(name)
    return shape


def typed_rows(
    spec: DatasetSpec, rows: Iterator[list[Cell]]
) -> tuple[Layout, Iterator[tuple[Any, ...]]]:
    """The file's layout, and its rows as ``(row number, value, …)`` in layout order; raises
    :class:`RejectedFileError` at the first bad row."""
    try:
        header = next(rows)
    except StopIteration:
        raise RejectedFileError("row 1: the file is empty (no header row)") from None
    shape = layout(spec, header)
    width = max((i for i, _ in shape.positions), default=-1) + 1

    columns = [
        (index, name, convert, needed)
        for (index, name), convert, needed in zip(
            shape.positions, shape.converters, shape.required, strict=True
        )
    ]

    def typed() -> Iterator[tuple[Any, ...]]:
        number = 1
        for row in rows:
            number += 1
            cells = len(row)
            if cells > width and any(v is not None for v in row[width:]):
                raise RejectedFileError(f"row {number}: it has more cells than the header")
            out: list[Any] = [number]
            for index, name, convert, needed in columns:
                text = row[index] if index < cells else None
                if text is None:
                    if needed:
                        if not any(row):
                            break  # an empty line or row
                        raise RejectedFileError(f"row {number}, column {name}: the value is empty")
                    out.append(None)
                    continue
                try:
                    out.append(convert(text))
                except BadValueError as exc:
                    raise RejectedFileError(f"row {number}, column {name}: {exc}") from None
                except (ValueError, InvalidOperation, ArithmeticError):
                    # a library's message may quote the value: never shown
                    raise RejectedFileError(
                        f"row {number}, column {name}: not a valid value"
                    ) from None
            else:
                # (every dataset has a required key, so an empty row stops at it, above)
                yield tuple(out)

    return shape, typed()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def dataset_files(folder: Path) -> list[str]:
    """The dataset's files, as paths inside its folder (sub-folders included; hidden files,
    Office's lock files and other suffixes skipped)."""
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if any(part.startswith((".", "~$", "_")) for part in relative.parts):
            continue
        if path.is_file() and path.suffix.lower() in SUFFIXES:
            found.append(relative.as_posix())
    return found


# ---------------------------------------------------------------------------- loading
FileStatus = Literal["loaded", "quarantined", "deleted"]


@dataclass
class FileOutcome:
    path: str
    status: FileStatus | Literal["unchanged", "still quarantined", "changing"]
    rows: int = 0
    deleted: int = 0
    error: str = ""
    seconds: float = 0.0

    def describe(self, dataset: str) -> str:
        where = f"{dataset}/{self.path}"
        if self.status == "loaded":
            return f"{where}: loaded {self.rows:,} rows in {self.seconds:.1f} s"
        if self.status == "deleted":
            return f"{where}: deleted from the folder; {self.deleted:,} rows marked deleted"
        if self.status in ("quarantined", "still quarantined"):
            return f"{where}: {self.status}: {self.error}; nothing of this file was loaded"
        if self.status == "changing":
            return f"{where}: changed while being read; it is read again at the next run"
        return f"{where}: unchanged"


@dataclass
class DatasetResult:
    dataset: str
    run_id: str
    files: list[FileOutcome] = field(default_factory=list)
    added_columns: list[str] = field(default_factory=list)

    def count(self, *statuses: str) -> int:
        return sum(1 for f in self.files if f.status in statuses)

    @property
    def newly_quarantined(self) -> list[FileOutcome]:
        return [f for f in self.files if f.status == "quarantined"]

    def summary(self) -> str:
        rows = sum(f.rows for f in self.files if f.status == "loaded")
        parts = [
            f"{self.dataset}: {len(self.files)} files",
            f"{self.count('loaded')} loaded ({rows:,} rows)",
            f"{self.count('unchanged')} unchanged",
            f"{self.count('deleted')} deleted",
            f"{self.count('quarantined', 'still quarantined')} quarantined",
        ]
        if self.added_columns:
            parts.append(f"new columns {', '.join(self.added_columns)}")
        return ", ".join(parts)


class FileLoader:
    """Loads one dataset's folder into RAW through a SQL target (see the module doc)."""

    def __init__(self, target: Any, spec: DatasetSpec, folder: Path, run_id: str) -> None:
        self.target = target
        self.d = target.dialect
        self.control = target.control
        self.spec = spec
        self.folder = folder
        self.run_id = run_id
        self.raw = target.raw(spec.raw_table)
        self.stage = target.meta(f"files_stage__{spec.name}")
        self.result = DatasetResult(spec.name, run_id)

    # ------------------------------------------------------------------ the run
    def run(self, lock_wait: float) -> DatasetResult:
        self.target.setup()
        ensure_raw_tables(self.target, self.run_id)
        with (
            self.target.lock(f"files:{self.spec.name}", self.run_id, lock_wait),
            self.target.control_connection() as conn,
        ):
            states = self._states(conn)
            if not self.folder.is_dir():
                if any(state[0] != "deleted" for state in states.values()):
                    # an unmounted share must not read as "every file deleted"
                    raise ConfigError(
                        f"the drop folder {self.folder} is missing (FINHOUSE_FILES_DIR); RAW "
                        f"holds files of {self.spec.name} loaded from it: nothing was changed "
                        "(to retire them, leave the folder in place, empty)"
                    )
                log.info("%s: no folder %s yet: nothing to load", self.spec.name, self.folder)
            present = dataset_files(self.folder)
            changed = False
            for path in sorted(set(states) - set(present)):
                if states[path][0] != "deleted":
                    self.result.files.append(self._delete(conn, path))
                    changed = True
            retry: list[str] = []
            for path in present:
                file = self.folder / path
                try:
                    digest = sha256_of(file)
                except FileNotFoundError:
                    continue  # gone since the listing: the next run marks it deleted
                except OSError as exc:
                    reason = f"row 1: the file cannot be read ({exc.strerror or 'I/O error'})"
                    self.result.files.append(
                        self._quarantine(conn, path, "", 0, reason, False, time.monotonic())
                    )
                    continue
                before = states.get(path)
                if before is not None and before[1] == digest and before[0] != "deleted":
                    if before[0] == "quarantined":
                        retry.append(path)
                    else:
                        self.result.files.append(FileOutcome(path, "unchanged"))
                    continue
                outcome = self._load(conn, path, file, digest)
                changed = changed or outcome.status == "loaded"
                self.result.files.append(outcome)
            for path in retry:
                # a file quarantined before is tried again when the dataset changed (the
                # file it clashed with may be gone); otherwise it keeps its verdict
                if changed:
                    file = self.folder / path
                    outcome = self._load(conn, path, file, sha256_of(file), again=True)
                else:
                    outcome = FileOutcome(path, "still quarantined", error=states[path][2])
                    log.warning(outcome.describe(self.spec.name))
                self.result.files.append(outcome)
            self.d.execute(conn, f"drop table if exists {self.stage}")
            self._record_quality(conn)
        return self.result

    def _record_quality(self, conn: Any) -> None:
        """Each file as a check of the data-quality record (:mod:`finhouse.quality`, kind
        ``file``): an error while quarantined, a pass otherwise (a deleted file's problem is
        gone with it), so quarantined files show on Pipeline health and in `finhouse
        quality` beside the dbt tests."""
        from finhouse.quality import Check  # noqa: PLC0415

        checks = []
        for outcome in self.result.files:
            if outcome.status == "changing":
                continue  # read again at the next run
            bad = outcome.status in ("quarantined", "still quarantined")
            checks.append(
                Check(
                    kind="file",
                    unique_id=f"file.{self.spec.name}.{outcome.path}",
                    name=f"file {outcome.path}",
                    subject=f"files.{self.spec.name}",
                    column_name=None,
                    severity="error",
                    status="error" if bad else "pass",
                    failures=None,
                    message=outcome.error or None,
                )
            )
        errors = sum(1 for c in checks if c.status == "error")
        self.control.record_quality(
            conn,
            run_id=self.run_id,
            invocation_id=None,
            command=f"files {self.spec.name}",
            counts={"pass": len(checks) - errors, "error": errors},
            checks=checks,
        )

    # ------------------------------------------------------------------ RAW
    def ensure_raw(self, conn: Any) -> None:
        """RAW's table of the dataset with its declared columns (created empty, so the dbt
        project's sources exist before the first file arrives)."""
        if self.control.recorded_columns(conn, self.spec.raw_table):
            return
        d = self.d
        columns = [f"{d.ident(c.name)} {c.sql_type}" for c in self.spec.columns]
        columns += [
            f"_file {d.text} not null",
            f"_file_sha256 {d.text} not null",
            f"_row {d.bigint} not null",
            f"_loaded_at {d.timestamp} not null",
            f"_batch_id {d.text} not null",
            f"_deleted_at {d.timestamp}",
        ]
        # (no transaction of its own: see ensure_raw_tables)
        d.execute(conn, f"create table if not exists {self.raw} ({', '.join(columns)})")
        self.target.grant_read(conn, self.raw)
        self.control.record_columns(
            conn,
            self.spec.raw_table,
            [Column(c.name, c.sql_type) for c in self.spec.columns],
            self.run_id,
        )

    def _states(self, conn: Any) -> dict[str, tuple[str, str, str]]:
        rows = self.d.rows(
            conn,
            f"select file_path, status, sha256, error from {self.target.meta('file_states')} "
            "where dataset = %s",
            (self.spec.name,),
        )
        return {path: (status, sha, error or "") for path, status, sha, error in rows}

    def _loaded_at(self, conn: Any) -> dt.datetime:
        """Strictly after every ``_loaded_at``/``_deleted_at`` already in the table."""
        from finhouse.targets.sql import loaded_at  # noqa: PLC0415

        latest = self.d.rows(
            conn, f"select max(_loaded_at), max(_deleted_at), {self.d.now} from {self.raw}"
        )[0]
        now = self.d.utc(latest[2])
        assert now is not None  # noqa: S101 - the warehouse's clock
        return loaded_at(now, self.d.utc(latest[0]), self.d.utc(latest[1]))

    # ------------------------------------------------------------------ one file
    def _load(
        self, conn: Any, path: str, file: Path, digest: str, *, again: bool = False
    ) -> FileOutcome:
        started = time.monotonic()
        try:
            size = file.stat().st_size
            shape, rows = self._stage(conn, path, file)
            self._check_keys(conn, path)
        except FileNotFoundError:
            outcome = FileOutcome(path, "changing")
            log.warning(outcome.describe(self.spec.name))
            return outcome
        except OSError as exc:
            # (the OS's reason, never the content)
            reason = f"row 1: the file cannot be read ({exc.strerror or 'I/O error'})"
            return self._quarantine(conn, path, digest, 0, reason, again, started)
        except RejectedFileError as exc:
            return self._quarantine(conn, path, digest, size, str(exc), again, started)
        try:
            same = sha256_of(file) == digest
        except OSError:
            same = False
        if not same:
            outcome = FileOutcome(path, "changing")
            log.warning(outcome.describe(self.spec.name))
            return outcome
        outcome = FileOutcome(path, "loaded", rows=rows)
        new_columns = self._add_columns(conn, shape.extra)
        with self.d.transaction(conn):
            if new_columns:
                self._record_columns(conn, new_columns)
            at = self._loaded_at(conn)
            self.d.execute(conn, f"delete from {self.raw} where _file = %s", (path,))
            names = [name for _, name in shape.positions]
            listed = ", ".join(self.d.ident(n) for n in names)
            self.d.execute(
                conn,
                f"insert into {self.raw} ({listed}, _file, _file_sha256, _row, _loaded_at, "
                f"_batch_id) select {listed}, %s, %s, _row, {self.d.ts()}, %s from {self.stage}",
                (path, digest, self.d.ts_value(at), self.run_id),
            )
            outcome.seconds = time.monotonic() - started
            self._record(conn, path, "loaded", digest, size, outcome, loaded=True, at=at)
        log.info(outcome.describe(self.spec.name))
        return outcome

    def _quarantine(
        self,
        conn: Any,
        path: str,
        digest: str,
        size: int,
        error: str,
        again: bool,
        started: float,
    ) -> FileOutcome:
        outcome = FileOutcome(path, "still quarantined" if again else "quarantined", error=error)
        outcome.seconds = time.monotonic() - started
        with self.d.transaction(conn):
            self._record(conn, path, "quarantined", digest, size, outcome, loaded=False)
        log.warning(outcome.describe(self.spec.name))
        return outcome

    def _stage(self, conn: Any, path: str, file: Path) -> tuple[Layout, int]:
        """Read the file into the staging table; returns its layout and row count."""
        shape, rows = typed_rows(self.spec, read_rows(file))
        declared = {c.name: c for c in self.spec.columns}
        names = [name for _, name in shape.positions]
        columns = [
            f"{self.d.ident(n)} {declared[n].sql_type if n in declared else self.d.text}"
            for n in names
        ]
        self.d.execute(conn, f"drop table if exists {self.stage}")
        self.d.execute(
            conn, f"create table {self.stage} (_row {self.d.bigint} not null, {', '.join(columns)})"
        )
        count, last_note = 0, time.monotonic()
        batch: list[tuple[Any, ...]] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= BATCH_ROWS:
                self.target.bulk_insert(conn, self.stage, ["_row", *names], batch)
                count += len(batch)
                batch = []
                if time.monotonic() - last_note >= PROGRESS_EVERY:
                    log.info("%s/%s: %s rows read", self.spec.name, path, f"{count:,}")
                    last_note = time.monotonic()
        if batch:
            self.target.bulk_insert(conn, self.stage, ["_row", *names], batch)
            count += len(batch)
        # statistics for the key checks' plans (a hash join, not a loop over RAW per row)
        self.target.analyze(conn, self.stage)
        return shape, count

    def _check_keys(self, conn: Any, path: str) -> None:
        keys = [self.d.ident(k) for k in self.spec.key]
        named = ", ".join(self.spec.key)
        repeated = self.d.rows(
            conn,
            f"select min(_row), max(_row) from {self.stage} group by {', '.join(keys)} "
            "having count(*) > 1 order by 2 limit 1",
        )
        if repeated:
            first, second = repeated[0]
            raise RejectedFileError(
                f"row {second}, column {self.spec.key[-1]}: the key ({named}) repeats row {first}'s"
            )
        on = " and ".join(f"s.{k} = r.{k}" for k in keys)
        # the first clash by an aggregate (an ORDER BY … LIMIT 1 invites a nested loop that
        # scans RAW once per staged row), then the file it clashes with
        join = (
            f"from {self.stage} s join {self.raw} r on {on} "
            "where r._deleted_at is null and r._file <> %s"
        )
        first = self.d.one(conn, f"select min(s._row) {join}", (path,))
        clash = (
            self.d.rows(conn, f"select s._row, r._file {join} and s._row = %s", (path, first))
            if first is not None
            else []
        )
        if clash:
            row, other = clash[0]
            raise RejectedFileError(
                f"row {row}, column {self.spec.key[-1]}: the key ({named}) is already given by "
                f"{other}"
            )

    def _add_columns(self, conn: Any, extra: Sequence[str]) -> list[str]:
        """Add the file's undeclared columns RAW lacks, as text (before the publish: a DDL
        statement commits on Snowflake; ``if not exists`` makes a retry after a failed
        publish harmless); returns them, for :meth:`_record_columns`."""
        known = {c.name for c in self.control.recorded_columns(conn, self.spec.raw_table)}
        new = [name for name in extra if name not in known]
        for name in new:
            self.d.execute(
                conn,
                f"alter table {self.raw} add column if not exists {self.d.ident(name)} "
                f"{self.d.text}",
            )
        return new

    def _record_columns(self, conn: Any, new: Sequence[str]) -> None:
        """Record the added columns (inside the publish) and say so."""
        recorded = self.control.recorded_columns(conn, self.spec.raw_table)
        self.control.record_columns(
            conn,
            self.spec.raw_table,
            [*recorded, *(Column(name, "text") for name in new)],
            self.run_id,
        )
        for name in new:
            log.warning("schema drift: added column %s text to raw.%s", name, self.spec.raw_table)
        self.result.added_columns.extend(new)

    def _delete(self, conn: Any, path: str) -> FileOutcome:
        started = time.monotonic()
        outcome = FileOutcome(path, "deleted")
        with self.d.transaction(conn):
            at = self._loaded_at(conn)
            outcome.deleted = self.d.execute(
                conn,
                f"update {self.raw} set _deleted_at = {self.d.ts()} "
                "where _file = %s and _deleted_at is null",
                (self.d.ts_value(at), path),
            )
            outcome.seconds = time.monotonic() - started
            self._record(conn, path, "deleted", None, 0, outcome, loaded=False)
        log.info(outcome.describe(self.spec.name))
        return outcome

    def _record(
        self,
        conn: Any,
        path: str,
        status: FileStatus,
        digest: str | None,
        size: int,
        outcome: FileOutcome,
        *,
        loaded: bool,
        at: dt.datetime | None = None,
    ) -> None:
        """The file's state and audit row (inside the caller's transaction)."""
        states, loads = self.target.meta("file_states"), self.target.meta("file_loads")
        previous = self.d.rows(
            conn,
            f"select sha256, loaded_sha256, loaded_at from {states} "
            "where dataset = %s and file_path = %s",
            (self.spec.name, path),
        )
        seen = digest or (previous[0][0] if previous else "")
        loaded_sha = digest if loaded else (previous[0][1] if previous else None)
        loaded_at = at if loaded else (self.d.utc(previous[0][2]) if previous else None)
        self.d.execute(
            conn,
            f"delete from {states} where dataset = %s and file_path = %s",
            (self.spec.name, path),
        )
        self.d.execute(
            conn,
            f"insert into {states} (dataset, file_path, status, sha256, loaded_sha256, bytes, "
            f"rows_loaded, error, run_id, seen_at, loaded_at) select %s, %s, %s, %s, %s, %s, "
            f"%s, %s, %s, {self.d.now}, {self.d.ts()}",
            (
                self.spec.name,
                path,
                status,
                seen,
                loaded_sha,
                size,
                outcome.rows if loaded else None,
                outcome.error or None,
                self.run_id,
                self.d.ts_value(loaded_at),
            ),
        )
        self.d.execute(
            conn,
            f"insert into {loads} (run_id, dataset, file_path, status, sha256, bytes, "
            "rows_loaded, rows_deleted, error, seconds, recorded_at) select %s, %s, %s, %s, %s, "
            f"%s, %s, %s, %s, %s, {self.d.now}",
            (
                self.run_id,
                self.spec.name,
                path,
                status,
                seen,
                size,
                outcome.rows,
                outcome.deleted,
                outcome.error or None,
                round(outcome.seconds, 3),
            ),
        )


def ensure_raw_tables(target: Any, run_id: str) -> None:
    """Every dataset's RAW table, created empty where missing: the dbt project reads them
    before any file arrives. Every ingestion run calls this (once per target object)."""
    if getattr(target, "_file_tables_ready", False):
        return
    with target.control_connection() as conn:
        missing = [
            spec
            for spec in DATASETS.values()
            if not target.control.recorded_columns(conn, spec.raw_table)
        ]
        if missing:
            # serialised with other runs' setups (concurrent CREATE … IF NOT EXISTS of one
            # name fails on PostgreSQL's catalogs); on PostgreSQL also one transaction
            with target.setup_guard(conn):
                for spec in missing:
                    FileLoader(target, spec, Path(), run_id).ensure_raw(conn)
    target._file_tables_ready = True


def load_dataset(
    target: Any,
    name: str,
    *,
    run_id: str,
    folder: Path | None = None,
    lock_wait: float = 60.0,
) -> DatasetResult:
    """Load one dataset's folder (``<files dir>/<name>``) into RAW; see the module doc."""
    spec = get_dataset(name)
    where = (folder or files_dir()) / spec.name
    return FileLoader(target, spec, where, run_id).run(lock_wait)


def file_states(target: Any) -> list[tuple[Any, ...]]:
    """Every known file: dataset, path, status, rows, seen at, error."""
    target.setup()
    with target.control_connection() as conn:
        return list(
            target.dialect.rows(
                conn,
                f"select dataset, file_path, status, rows_loaded, seen_at, error from "
                f"{target.meta('file_states')} order by dataset, file_path",
            )
        )
