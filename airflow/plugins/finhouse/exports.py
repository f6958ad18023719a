"""Mart exports: a mart written as CSV and Parquet files with a manifest, published atomically
to a folder or an object-store URL (one file-system layer: fsspec).

Which marts: those marked ``meta: {export: …}`` in their YAML (:func:`specs`). Who runs it:
the ``finhouse_export`` DAG after each successful build
(:mod:`finhouse.orchestration.exporting`) and ``finhouse export`` by hand; both call
:func:`export_mart`, which reads the mart in one read-only snapshot, ``BATCH_ROWS`` rows at a
time (memory bounded), publishes it and applies the retention.

Layout under the destination (``FINHOUSE_EXPORT_URL``, or ``--to``)::

    <mart>/<export_id>/<mart>.csv
    <mart>/<export_id>/parquet/month=YYYY-MM/part-00000.parquet   (a mart with a date)
    <mart>/<export_id>/parquet/part-00000.parquet                  (one without)
    <mart>/<export_id>/_manifest.json
    <mart>/LATEST.json                                             (the current export)

* **Atomic**: an export is written under ``<mart>/_incomplete/<uuid>/``, moved to its own
  ``<export_id>`` folder, and only then named by ``LATEST.json`` (written last; locally a
  rename, on an object store one PUT). A reader that starts from ``LATEST.json`` or a
  manifest never sees half an export; a killed export leaves an ``_incomplete`` folder that
  no manifest names, removed by a later run.
* **Idempotent**: the export id is the as-of date and a digest of the files' contents; the
  same mart content exported again finds its export complete and writes nothing.
* **Exact**: money stays decimal (``numeric(18,2)`` -> ``decimal128(18,2)``, written as
  "12.30" in the CSV), dates stay dates, timestamps keep UTC.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

MANIFEST = "_manifest.json"
LATEST = "LATEST.json"
INCOMPLETE = "_incomplete"
FORMAT_VERSION = 1
CHUNK = 1 << 20


@dataclass(frozen=True)
class ExportFile:
    path: str  # relative to the export's folder
    format: str  # "csv" or "parquet"
    rows: int
    bytes: int
    sha256: str
    partition: str | None = None


@dataclass
class Manifest:
    mart: str
    export_id: str
    as_of_date: str
    exported_at: str
    rows: int
    columns: list[dict[str, str]]
    files: list[ExportFile] = field(default_factory=list)
    dbt_run_id: str | None = None

    def to_json(self) -> str:
        body = {
            "format_version": FORMAT_VERSION,
            "mart": self.mart,
            "export_id": self.export_id,
            "as_of_date": self.as_of_date,
            "exported_at": self.exported_at,
            "dbt_run_id": self.dbt_run_id,
            "rows": self.rows,
            "columns": self.columns,
            "files": [f.__dict__ for f in self.files],
        }
        return json.dumps(body, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        body = json.loads(text)
        return cls(
            mart=body["mart"],
            export_id=body["export_id"],
            as_of_date=body["as_of_date"],
            exported_at=body["exported_at"],
            rows=int(body["rows"]),
            columns=list(body["columns"]),
            files=[ExportFile(**f) for f in body["files"]],
            dbt_run_id=body.get("dbt_run_id"),
        )


def filesystem(url: str) -> tuple[Any, str]:
    """``(fsspec file system, root path)`` of a destination URL or local folder."""
    import fsspec  # noqa: PLC0415

    fs, root = fsspec.core.url_to_fs(url)
    return fs, root.rstrip("/")


def _sha256(fs: Any, path: str) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with fs.open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _month(value: Any) -> str:
    return f"{value.year:04d}-{value.month:02d}"


def write_files(
    fs: Any,
    folder: str,
    mart: str,
    schema: Any,
    batches: Iterable[Any],
    partition_by: str | None,
) -> tuple[int, list[ExportFile]]:
    """Write the batches (pyarrow RecordBatches of ``schema``) as one CSV file and Parquet
    files (one per month of ``partition_by`` when given) under ``folder``; returns the rows
    and the files with their checksums."""
    fs.makedirs(folder, exist_ok=True)
    csv_path = f"{folder}/{mart}.csv"
    parquet: dict[str | None, tuple[Any, Any, str]] = {}
    counts: dict[str | None, int] = {}
    try:
        rows = _write_batches(fs, folder, csv_path, schema, batches, partition_by, parquet, counts)
    finally:
        for writer, handle, _path in parquet.values():
            writer.close()
            handle.close()
    files = []
    digest, size = _sha256(fs, csv_path)
    files.append(ExportFile(f"{mart}.csv", "csv", rows, size, digest))
    for key in sorted(parquet, key=lambda k: k or ""):
        path = parquet[key][2]
        digest, size = _sha256(fs, path)
        files.append(ExportFile(path[len(folder) + 1 :], "parquet", counts[key], size, digest, key))
    return rows, files


def _write_batches(
    fs: Any,
    folder: str,
    csv_path: str,
    schema: Any,
    batches: Iterable[Any],
    partition_by: str | None,
    parquet: dict[str | None, tuple[Any, Any, str]],
    counts: dict[str | None, int],
) -> int:
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.compute as pc  # noqa: PLC0415
    import pyarrow.csv as pa_csv  # noqa: PLC0415
    import pyarrow.parquet as pq  # noqa: PLC0415

    rows = 0
    with fs.open(csv_path, "wb") as csv_handle, pa_csv.CSVWriter(csv_handle, schema) as writer:
        for batch in batches:
            if batch.num_rows == 0:
                continue
            rows += batch.num_rows
            writer.write_batch(batch)
            for key, part in _split_by_month(pa, pc, batch, partition_by):
                if key not in parquet:
                    name = f"parquet/month={key}" if key else "parquet"
                    fs.makedirs(f"{folder}/{name}", exist_ok=True)
                    path = f"{folder}/{name}/part-00000.parquet"
                    handle = fs.open(path, "wb")
                    parquet[key] = (pq.ParquetWriter(handle, schema), handle, path)
                    counts[key] = 0
                parquet[key][0].write_batch(part)
                counts[key] += part.num_rows
    return rows


def _split_by_month(
    pa: Any, pc: Any, batch: Any, partition_by: str | None
) -> Iterator[tuple[str | None, Any]]:
    if not partition_by:
        yield None, batch
        return
    column = batch.column(batch.schema.get_field_index(partition_by))
    months = pc.strftime(column, format="%Y-%m")
    for key in pc.unique(months).to_pylist():
        mask = pc.is_null(months) if key is None else pc.equal(months, pa.scalar(key))
        yield (key or "none"), batch.filter(mask)


def export_id(as_of: dt.date, files: Iterable[ExportFile]) -> str:
    """The as-of date and a digest of the files' contents (paths and checksums)."""
    digest = hashlib.sha256()
    for f in sorted(files, key=lambda f: f.path):
        digest.update(f"{f.path}\0{f.sha256}\n".encode())
    return f"{as_of.isoformat()}_{digest.hexdigest()[:12]}"


def _put_text(fs: Any, path: str, text: str) -> None:
    """Write a small file so that a reader sees the old or the new content, never a part:
    a temporary file renamed over it (an object store's PUT is whole already)."""
    temporary = f"{path}.{uuid.uuid4().hex}.tmp"
    with fs.open(temporary, "w") as handle:
        handle.write(text)
    fs.mv(temporary, path)


def latest(fs: Any, root: str, mart: str) -> Manifest | None:
    path = f"{root}/{mart}/{LATEST}"
    if not fs.exists(path):
        return None
    with fs.open(path, "r") as handle:
        return Manifest.from_json(handle.read())


def publish(
    fs: Any,
    root: str,
    mart: str,
    schema: Any,
    batches: Iterable[Any],
    *,
    as_of: dt.date,
    partition_by: str | None = None,
    dbt_run_id: str | None = None,
    now: dt.datetime | None = None,
) -> tuple[Manifest, bool]:
    """Export one mart (see the module's doc); returns its manifest and whether anything was
    written (False: the same content was exported already)."""
    now = now or dt.datetime.now(dt.UTC)
    staging = f"{root}/{mart}/{INCOMPLETE}/{uuid.uuid4().hex}"
    rows, files = write_files(fs, staging, mart, schema, batches, partition_by)
    manifest = Manifest(
        mart=mart,
        export_id=export_id(as_of, files),
        as_of_date=as_of.isoformat(),
        exported_at=now.isoformat(timespec="seconds"),
        rows=rows,
        columns=[{"name": f.name, "type": str(f.type)} for f in schema],
        files=files,
        dbt_run_id=dbt_run_id,
    )
    return _publish_staged(fs, root, staging, manifest)


def _publish_staged(fs: Any, root: str, staging: str, manifest: Manifest) -> tuple[Manifest, bool]:
    """Move the files written under ``staging`` to their export's folder with ``manifest``,
    then name it in ``LATEST.json``; when that export is complete already, drop ``staging``
    and return the export on record (and False)."""
    name, identity = manifest.mart, manifest.export_id
    final = f"{root}/{name}/{identity}"
    if fs.exists(f"{final}/{MANIFEST}"):
        fs.rm(staging, recursive=True)
        return _already_published(fs, root, name, identity), False
    with fs.open(f"{staging}/{MANIFEST}", "w") as handle:
        handle.write(manifest.to_json())
    if fs.exists(final):  # a folder without a manifest: an earlier move cut short
        fs.rm(final, recursive=True)
    fs.mv(staging, final, recursive=True)
    _put_text(fs, f"{root}/{name}/{LATEST}", manifest.to_json())
    return manifest, True


def _already_published(fs: Any, root: str, name: str, identity: str) -> Manifest:
    """The complete export ``identity``, named current in ``LATEST.json`` if it was not."""
    with fs.open(f"{root}/{name}/{identity}/{MANIFEST}", "r") as handle:
        done = Manifest.from_json(handle.read())
    current = latest(fs, root, name)
    if current is None or current.export_id != identity:
        _put_text(fs, f"{root}/{name}/{LATEST}", done.to_json())
    return done


def publish_files(
    fs: Any,
    root: str,
    name: str,
    identity: str,
    contents: dict[str, bytes],
    *,
    as_of: dt.date,
    now: dt.datetime | None = None,
) -> tuple[Manifest, bool]:
    """Publish ready-made files (a report pack) as the export ``identity`` of ``name``, with
    the marts' manifest, atomicity and retention (:func:`prune`); an export of that identity
    already complete is left as it is (False)."""
    now = now or dt.datetime.now(dt.UTC)
    if fs.exists(f"{root}/{name}/{identity}/{MANIFEST}"):
        return _already_published(fs, root, name, identity), False
    staging = f"{root}/{name}/{INCOMPLETE}/{uuid.uuid4().hex}"
    fs.makedirs(staging, exist_ok=True)
    files = []
    for path, data in sorted(contents.items()):
        with fs.open(f"{staging}/{path}", "wb") as handle:
            handle.write(data)
        files.append(
            ExportFile(
                path,
                path.rsplit(".", 1)[-1],
                0,
                len(data),
                hashlib.sha256(data).hexdigest(),
            )
        )
    manifest = Manifest(
        mart=name,
        export_id=identity,
        as_of_date=as_of.isoformat(),
        exported_at=now.isoformat(timespec="seconds"),
        rows=0,
        columns=[],
        files=files,
    )
    return _publish_staged(fs, root, staging, manifest)


def prune(
    fs: Any,
    root: str,
    mart: str,
    *,
    keep_days: float,
    now: dt.datetime | None = None,
    incomplete_after: dt.timedelta = dt.timedelta(hours=1),
) -> list[str]:
    """Remove the mart's exports older than ``keep_days`` (the current one always stays) and
    incomplete ones older than ``incomplete_after``; returns the folders removed."""
    now = now or dt.datetime.now(dt.UTC)
    current = latest(fs, root, mart)
    removed: list[str] = []
    base = f"{root}/{mart}"
    if not fs.exists(base):
        return removed
    for entry in fs.ls(base, detail=False):
        name = entry.rstrip("/").rsplit("/", 1)[-1]
        if name in (LATEST, INCOMPLETE) or name.endswith(".tmp"):
            continue
        manifest_path = f"{entry}/{MANIFEST}"
        if not fs.exists(manifest_path):
            continue
        with fs.open(manifest_path, "r") as handle:
            manifest = Manifest.from_json(handle.read())
        if current is not None and manifest.export_id == current.export_id:
            continue
        exported = dt.datetime.fromisoformat(manifest.exported_at)
        if now - exported > dt.timedelta(days=keep_days):
            fs.rm(entry, recursive=True)
            removed.append(name)
    incomplete = f"{base}/{INCOMPLETE}"
    if fs.exists(incomplete):
        for entry in fs.ls(incomplete, detail=True):
            modified = entry.get("mtime") or entry.get("created")
            if isinstance(modified, (int, float)):
                modified = dt.datetime.fromtimestamp(modified, dt.UTC)
            if modified is None or now - modified > incomplete_after:
                fs.rm(entry["name"], recursive=True)
                removed.append(f"{INCOMPLETE}/{entry['name'].rstrip('/').rsplit('/', 1)[-1]}")
    return removed


def verify(fs: Any, root: str, mart: str, export: str | None = None) -> Manifest:
    """Check an export's files against its manifest (rows are the manifest's word; sizes and
    SHA-256 are recomputed); raises ValueError naming the first file that differs."""
    manifest = latest(fs, root, mart) if export is None else None
    if export is not None:
        with fs.open(f"{root}/{mart}/{export}/{MANIFEST}", "r") as handle:
            manifest = Manifest.from_json(handle.read())
    if manifest is None:
        raise ValueError(f"{mart}: no export at {root}")
    folder = f"{root}/{mart}/{manifest.export_id}"
    for f in manifest.files:
        digest, size = _sha256(fs, f"{folder}/{f.path}")
        if (digest, size) != (f.sha256, f.bytes):
            raise ValueError(f"{mart}: {f.path} differs from its manifest")
    return manifest


# ---------------------------------------------------------------------- reading a mart
#: rows per Arrow batch read from the warehouse (memory stays bounded by it: the rows of a
#: batch are Python objects first; portfolio_daily at scale 10 peaked at 537 MB RSS with
#: 50,000 rows a batch, 247 MB with 10,000, at the same speed: docs/benchmarks.md)
BATCH_ROWS = 10_000
_INTEGERS = {"bigint": "int64", "integer": "int32", "smallint": "int16"}


@dataclass(frozen=True)
class MartColumn:
    name: str
    data_type: str
    precision: int | None
    scale: int | None

    def arrow(self) -> Any:
        """The Arrow type that keeps the column's values exactly."""
        import pyarrow as pa  # noqa: PLC0415

        kind = self.data_type.lower()
        if kind == "numeric" and self.precision and self.precision <= 38:
            return pa.decimal128(self.precision, self.scale or 0)
        if kind in _INTEGERS:
            return getattr(pa, _INTEGERS[kind])()
        if kind == "boolean":
            return pa.bool_()
        if kind == "date":
            return pa.date32()
        if kind == "timestamp with time zone":
            return pa.timestamp("us", tz="UTC")
        if kind == "timestamp without time zone":
            return pa.timestamp("us")
        if kind == "double precision":
            return pa.float64()
        if kind == "real":
            return pa.float32()
        return pa.string()  # text, and anything else as its text

    @property
    def as_text(self) -> bool:
        import pyarrow as pa  # noqa: PLC0415

        return self.arrow() == pa.string() and self.data_type.lower() not in (
            "text",
            "character varying",
            "character",
        )


def mart_columns(conn: Any, schema: str, mart: str) -> list[MartColumn]:
    rows = conn.execute(
        "select column_name, data_type, numeric_precision, numeric_scale "
        "from information_schema.columns where table_schema = %s and table_name = %s "
        "order by ordinal_position",
        (schema, mart),
    ).fetchall()
    return [MartColumn(name, kind, precision, scale) for name, kind, precision, scale in rows]


def read_mart(
    conn: Any,
    schema: str,
    mart: str,
    columns: list[MartColumn],
    *,
    partition_by: str | None = None,
    until: dt.date | None = None,
    batch_rows: int = BATCH_ROWS,
) -> tuple[Any, Iterator[Any]]:
    """The mart's Arrow schema, and its rows as Arrow batches in a fixed order (the partition
    column, then every column: the same content gives the same files), read through a
    server-side cursor ``batch_rows`` at a time; ``until`` keeps the rows whose partition
    date is on or before it."""
    import pyarrow as pa  # noqa: PLC0415
    from psycopg import sql  # noqa: PLC0415

    arrow_schema = pa.schema([(c.name, c.arrow()) for c in columns])
    selected = sql.SQL(", ").join(
        sql.SQL("{}::text").format(sql.Identifier(c.name)) if c.as_text else sql.Identifier(c.name)
        for c in columns
    )
    order = [partition_by] if partition_by else []
    order += [c.name for c in columns if c.name != partition_by]
    query = sql.SQL("select {cols} from {table}").format(
        cols=selected, table=sql.Identifier(schema, mart)
    )
    params: tuple[Any, ...] = ()
    if until is not None and partition_by:
        query += sql.SQL(" where {} <= %s").format(sql.Identifier(partition_by))
        params = (until,)
    query += sql.SQL(" order by {}").format(
        sql.SQL(", ").join(sql.Identifier(name) for name in order)
    )

    def batches() -> Iterator[Any]:
        with conn.cursor(name=f"finhouse_export_{uuid.uuid4().hex[:8]}") as cursor:
            cursor.itersize = batch_rows
            cursor.execute(query, params)
            while rows := cursor.fetchmany(batch_rows):
                yield pa.RecordBatch.from_arrays(
                    [
                        pa.array([row[i] for row in rows], type=field.type)
                        for i, field in enumerate(arrow_schema)
                    ],
                    schema=arrow_schema,
                )

    return arrow_schema, batches()


# ---------------------------------------------------------------------- which marts
@dataclass(frozen=True)
class ExportSpec:
    """A mart marked for export in its YAML: ``config: {meta: {export: {partition_by: COL}}}``
    (Parquet partitioned by the month of that date column) or ``meta: {export: true}``."""

    mart: str
    partition_by: str | None


def specs(manifest: dict[str, Any]) -> dict[str, ExportSpec]:
    """The marts marked for export, from dbt's manifest."""
    found = {}
    for node in (manifest.get("nodes") or {}).values():
        if node.get("resource_type") != "model":
            continue
        meta = (node.get("config") or {}).get("meta") or node.get("meta") or {}
        marked = meta.get("export")
        if not marked:
            continue
        partition = marked.get("partition_by") if isinstance(marked, dict) else None
        found[node["name"]] = ExportSpec(node["name"], partition)
    return dict(sorted(found.items()))


# ---------------------------------------------------------------------- one mart, end to end
MARTS_SCHEMA = "marts"


def destination() -> str:
    """``FINHOUSE_EXPORT_URL``, else ``<state dir>/exports``."""
    from finhouse import settings  # noqa: PLC0415

    configured = settings.load()
    return configured.export_url or str(configured.state_dir / "exports")


def export_mart(
    dsn: str,
    spec: ExportSpec,
    url: str,
    *,
    as_of: dt.date | None = None,
    dbt_run_id: str | None = None,
    keep_days: float | None = None,
    schema: str = MARTS_SCHEMA,
) -> tuple[Manifest, bool]:
    """Read the mart (as the reporter: read-only on the marts) and publish it at ``url``;
    then prune the mart's exports past ``keep_days``. ``as_of``: the rows up to that day of
    a mart partitioned by a date (the day is the export's label; default today, UTC)."""
    from finhouse.connections import connect  # noqa: PLC0415
    from finhouse.errors import ConfigError  # noqa: PLC0415

    if as_of is not None and spec.partition_by is None:
        raise ConfigError(
            f"{spec.mart} has no date to export as of: it holds the marts' as-of date only"
        )
    label = as_of or dt.datetime.now(dt.UTC).date()
    fs, root = filesystem(url)
    with connect(dsn) as conn:
        conn.execute("set transaction isolation level repeatable read, read only")
        columns = mart_columns(conn, schema, spec.mart)
        if not columns:
            raise ConfigError(f"{spec.mart}: no such mart in schema {schema}")
        arrow_schema, batches = read_mart(
            conn, schema, spec.mart, columns, partition_by=spec.partition_by, until=as_of
        )
        manifest, wrote = publish(
            fs,
            root,
            spec.mart,
            arrow_schema,
            batches,
            as_of=label,
            partition_by=spec.partition_by,
            dbt_run_id=dbt_run_id,
        )
    if keep_days is not None:
        prune(fs, root, spec.mart, keep_days=keep_days)
    return manifest, wrote


def describe(manifest: Manifest, url: str, wrote: bool) -> str:
    """``portfolio_daily: 12,345 rows -> URL/portfolio_daily/ID (csv 1.2 MB, parquet 3 files
    0.4 MB)``, or that the same content was exported already."""
    where = f"{url.rstrip('/')}/{manifest.mart}/{manifest.export_id}"
    if not wrote:
        return f"{manifest.mart}: unchanged, already exported as {where}"
    csv_bytes = sum(f.bytes for f in manifest.files if f.format == "csv")
    parquet = [f for f in manifest.files if f.format == "parquet"]
    return (
        f"{manifest.mart}: {manifest.rows:,} rows -> {where} (csv {csv_bytes / 1e6:.1f} MB, "
        f"parquet {len(parquet)} file{'s' if len(parquet) != 1 else ''} "
        f"{sum(f.bytes for f in parquet) / 1e6:.1f} MB)"
    )
