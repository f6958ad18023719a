"""The ``finhouse`` command line (docs/interfaces.md §4).

Operators use it outside Airflow; tests and benchmarks use it; the DAG tasks call the same
library functions. Every user error is one line on stderr and a non-zero exit.

The one module of ``finhouse`` that may import the local tooling (``finhouse_local``: the
embedded PostgreSQL, the local Airflow, dbt and platform). It does so inside the commands that
need it, and to supply the embedded cluster's DSNs when the environment names no server
(``FINHOUSE_OLTP_DSN`` …); the library itself never falls back to a local server. Where the
local tooling is not installed (the Airflow image), those commands say so in one line.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import math
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TypeVar

import click
import psycopg

from finhouse import __version__, config
from finhouse.errors import FinhouseError

if TYPE_CHECKING:
    from finhouse.config import OltpPurpose, WarehouseRole
    from finhouse.targets.base import Mode

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"finhouse: error: {message}", err=True)
    sys.exit(code)


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name="finhouse")
def cli() -> None:
    """finhouse: the analytics platform of a microfinance institution.

    \b
    Connections come from the environment: FINHOUSE_OLTP_DSN and FINHOUSE_WAREHOUSE_DSN.
    Without them, the embedded PostgreSQL started by `finhouse db up` is used.
    """
    from finhouse import settings  # noqa: PLC0415

    # every FINHOUSE_* setting is checked before any command runs: a bad value is one line
    for warning in settings.validate_all():
        click.echo(f"finhouse: warning: {warning}", err=True)


# ---------------------------------------------------------------------------- local tooling
@contextlib.contextmanager
def local_tooling(what: str) -> Iterator[None]:
    """Around imports of ``finhouse_local``: where it is not installed (the Airflow image
    carries only the pipeline), one line saying that ``what`` needs it."""
    try:
        yield
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("finhouse_local"):
            raise
        raise FinhouseError(
            f"{what} needs the local tooling (the finhouse_local package), which is not "
            "installed here"
        ) from None


def _oltp_dsn(purpose: OltpPurpose = "app") -> str:
    """The configured OLTP, else the embedded cluster's (``finhouse db up``)."""
    if dsn := config.configured_oltp_dsn(purpose):
        return dsn
    with local_tooling("FINHOUSE_OLTP_DSN is not set, and the embedded PostgreSQL instead"):
        from finhouse_local import dsns  # noqa: PLC0415
    return dsns.oltp_dsn(purpose)


def _warehouse_dsn(role: WarehouseRole = "loader") -> str:
    """The configured warehouse as ``role``, else the embedded cluster's."""
    if dsn := config.configured_warehouse_dsn(role):
        return dsn
    with local_tooling("FINHOUSE_WAREHOUSE_DSN is not set, and the embedded PostgreSQL instead"):
        from finhouse_local import dsns  # noqa: PLC0415
    return dsns.warehouse_dsn(role)


# ---------------------------------------------------------------------------- db
@cli.group(context_settings=CONTEXT)
def db() -> None:
    """Start, stop and describe the embedded PostgreSQL (databases oltp, warehouse, airflow)."""


@db.command("up")
def db_up() -> None:
    """Start the embedded PostgreSQL, creating its databases and roles on first use.

    Starting twice is harmless. With FINHOUSE_OLTP_DSN / FINHOUSE_WAREHOUSE_DSN set, the
    servers they name are used instead and nothing is started.
    """
    with local_tooling("`finhouse db up`"):
        from finhouse_local.cluster import default_cluster  # noqa: PLC0415
        from finhouse_local.dsns import uses_external_servers  # noqa: PLC0415

    if uses_external_servers():
        click.echo(
            "using the servers of FINHOUSE_OLTP_DSN / FINHOUSE_WAREHOUSE_DSN; nothing to start"
        )
        return
    cluster = default_cluster()
    started = cluster.up()
    state = "started" if started else "already running"
    click.echo(
        f"embedded PostgreSQL {state} on {cluster.host}:{cluster.port} (data in {cluster.data_dir})"
    )
    if cluster.relocated:
        click.echo(
            f"  (its service user cannot reach {cluster.link.parent}, so the cluster lives in "
            f"{cluster.root}; {cluster.link} links to it and `make clean` deletes both)"
        )


@db.command("down")
def db_down() -> None:
    """Stop the embedded PostgreSQL (its data is kept; `make clean` deletes it)."""
    with local_tooling("`finhouse db down`"):
        from finhouse_local.cluster import default_cluster  # noqa: PLC0415
        from finhouse_local.dsns import uses_external_servers  # noqa: PLC0415

    if uses_external_servers():
        click.echo("using external servers; nothing to stop")
        return
    stopped = default_cluster().down()
    click.echo("embedded PostgreSQL stopped" if stopped else "embedded PostgreSQL was not running")


@db.command("status")
@click.option(
    "--role",
    default=None,
    help="print DSNs for this role instead of the administrator "
    "(e.g. oltp_extract, loader, transformer, reporter)",
)
@click.option(
    "--show-password",
    is_flag=True,
    help="print the passwords (redacted by default, so the output can go into logs)",
)
def db_status(role: str | None, show_password: bool) -> None:
    """Print one `NAME DSN` line per database; exit 1 when the server is not running."""
    from finhouse.connections import redact  # noqa: PLC0415

    def shown(dsn: str) -> str:
        return dsn if show_password else redact(dsn)

    with local_tooling("`finhouse db status`"):
        from finhouse_local.cluster import DATABASES, default_cluster  # noqa: PLC0415
        from finhouse_local.dsns import uses_external_servers  # noqa: PLC0415

    if uses_external_servers():
        for name, dsn in (
            ("oltp", config.configured_oltp_dsn()),
            ("warehouse", config.configured_warehouse_dsn()),
        ):
            if dsn:
                click.echo(f"{name} {shown(dsn)}")
        return
    cluster = default_cluster()
    if not cluster.status().running:
        _fail(
            f"embedded PostgreSQL is not running on {cluster.host}:{cluster.port} "
            "(start it with `finhouse db up`)"
        )
    for name in DATABASES:
        click.echo(f"{name} {shown(cluster.dsn(name, role))}")


# ---------------------------------------------------------------------------- oltp
@cli.group(context_settings=CONTEXT)
def oltp() -> None:
    """The OLTP stand-in: the institution's Django app (schema, synthetic data, live activity)."""


@oltp.command("init")
@click.option("--drop", is_flag=True, help="drop the six tables first (destroys their data)")
def oltp_init(drop: bool) -> None:
    """Create the OLTP schema (users, accounts, loans, payments, transactions, investments)."""
    from finhouse.oltp import schema  # noqa: PLC0415 - the CLI drives the stand-in

    dsn = _oltp_dsn("app")
    schema.init(dsn, drop=drop)
    click.echo("OLTP schema ready: " + ", ".join(schema.TABLES))


@oltp.command("summary")
@click.option(
    "--require-data",
    is_flag=True,
    help="exit with status 3 when the tables are empty (for scripts)",
)
def oltp_summary(require_data: bool) -> None:
    """Print the row count and latest change of each OLTP table."""
    from finhouse.oltp import schema  # noqa: PLC0415

    rows = schema.summary(_oltp_dsn("app"))
    click.echo(f"{'table':<14}{'rows':>12}  latest change (UTC)")
    for table, count, latest in rows:
        stamp = latest.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S") if latest else "-"
        click.echo(f"{table:<14}{count:>12,}  {stamp}")
    if require_data and not any(count for _t, count, _l in rows):
        sys.exit(3)


def _positive_scale(_ctx: click.Context, _param: click.Parameter, value: float) -> float:
    if value <= 0:
        raise click.BadParameter(f"must be greater than 0, got {value:g}")
    return value


@oltp.command("seed")
@click.option(
    "--scale",
    type=float,
    default=1.0,
    show_default=True,
    callback=_positive_scale,
    help="1 = ~2,000 users, ~3,000 loans, ~100,000 ledger rows; grows linearly",
)
@click.option(
    "--seed",
    "seed",
    type=int,
    default=42,
    show_default=True,
    help="random seed: the same seed and as-of date give identical data",
)
@click.option(
    "--as-of",
    "as_of",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="history ends before this date (YYYY-MM-DD)  [default: today, UTC]",
)
@click.option("--replace", is_flag=True, help="empty the tables first if they already hold data")
def oltp_seed(scale: float, seed: int, as_of: dt.datetime | None, replace: bool) -> None:
    """Fill the OLTP with ~3 years of realistic, deterministic synthetic history."""
    from finhouse.oltp import seed as seeding  # noqa: PLC0415

    as_of_date = as_of.date() if as_of else dt.datetime.now(dt.UTC).date()
    summary = seeding.seed(
        _oltp_dsn("app"),
        scale=scale,
        seed=seed,
        as_of=as_of_date,
        replace=replace,
        progress=True,
    )
    click.echo(summary.describe())


@oltp.command("simulate")
@click.option(
    "--ticks",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="rounds of application activity",
)
@click.option(
    "--seed",
    "seed",
    type=int,
    default=None,
    help="random seed for reproducible activity [default: random]",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="seconds to sleep between ticks",
)
@click.option(
    "--hold-open",
    "hold_open",
    type=click.FloatRange(min=0),
    default=0.0,
    help="also run one long transaction that writes rows stamped at its start and "
    "commits after this many seconds (reproduces late commits)",
)
def oltp_simulate(ticks: int, seed: int | None, interval: float, hold_open: float) -> None:
    """Mutate the OLTP like the live app: sign-ups, loans, payments, deposits, deletes."""
    from finhouse.oltp import simulate as simulation  # noqa: PLC0415

    stats = simulation.simulate(
        _oltp_dsn("app"),
        ticks=ticks,
        seed=seed,
        interval=interval,
        hold_open=hold_open,
        progress=True,
    )
    click.echo(stats.describe())


# ---------------------------------------------------------------------------- ingest
def _tables(names: tuple[str, ...], all_tables: bool) -> list[str]:
    from finhouse.tables import TABLES, get_table  # noqa: PLC0415

    if all_tables and names:
        raise click.UsageError("name tables or use --all, not both")
    if not all_tables and not names:
        raise click.UsageError("name at least one table, or use --all")
    chosen = list(TABLES) if all_tables else list(dict.fromkeys(names))
    for name in chosen:
        get_table(name)  # every name is checked before anything runs
    return chosen


def _instant(value: str | None, option: str) -> dt.datetime | None:
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time", param_hint=option) from None
    if parsed.tzinfo is None:
        raise click.BadParameter(f"{value!r} needs a time zone (e.g. {value}Z)", param_hint=option)
    return parsed


T = TypeVar("T")


def _each_table(names: list[str], run: Callable[[str], T]) -> Iterator[tuple[str, T]]:
    """Run each table in turn; a table that fails is one line on stderr and the others go
    on (a single table's failure is the command's error); any failure exits non-zero."""
    failed = []
    for name in names:
        try:
            result = run(name)
        except FinhouseError as exc:
            if len(names) == 1:
                raise
            click.echo(f"finhouse: error: {name}: {exc}", err=True)
            failed.append(name)
            continue
        yield name, result
    if failed:
        _fail(f"{len(failed)} of {len(names)} tables failed: {', '.join(failed)}")


def _lock_wait(_ctx: click.Context, _param: click.Parameter, value: float) -> float:
    if not math.isfinite(value) or value < 0:
        raise click.BadParameter(f"must be a finite number of seconds >= 0, got {value!r}")
    return value


_LOCK_WAIT = click.option(
    "--lock-wait",
    type=float,
    default=600,
    show_default=True,
    callback=_lock_wait,
    help="seconds to wait for another run of the same table",
)


@cli.command("ingest")
@click.argument("tables", nargs=-1)
@click.option("--all", "all_tables", is_flag=True, help="every configured table")
@click.option(
    "--full-refresh",
    is_flag=True,
    help="make RAW equal to the source: a bulk copy into an empty RAW table, else a "
    "comparison of every row that reloads what differs and marks deletions",
)
@click.option("--since", help="reprocess the window starting here (ISO 8601 with time zone)")
@click.option("--until", help="... and ending here (exclusive); never moves the watermark")
@_LOCK_WAIT
def ingest_cmd(
    tables: tuple[str, ...],
    all_tables: bool,
    full_refresh: bool,
    since: str | None,
    until: str | None,
    lock_wait: float,
) -> None:
    """Extract-load TABLES from the OLTP into the warehouse's RAW schema.

    \b
    Without options: incremental, every change committed in the source since the last run
    (the source's commit order, whatever the rows' timestamps say). Tables: users, accounts,
    loans, payments, transactions, investments.
    """
    from finhouse import endpoints, pipeline  # noqa: PLC0415
    from finhouse.tables import get_table  # noqa: PLC0415

    names = _tables(tables, all_tables)
    start, end = _instant(since, "--since"), _instant(until, "--until")
    if full_refresh and (start or end):
        raise click.UsageError("--full-refresh reloads everything; it takes no window")
    if (start is None) != (end is None):
        raise click.UsageError("--since and --until go together")
    mode: Mode = "full" if full_refresh else "window" if start else "incremental"
    source = endpoints.source(_oltp_dsn("extract"))
    target = endpoints.target(_warehouse_dsn("loader"))
    for _name, summary in _each_table(
        names,
        lambda name: pipeline.ingest(
            get_table(name),
            source,
            target,
            mode=mode,
            since=start,
            until=end,
            lock_wait=lock_wait,
        ),
    ):
        click.echo(summary.describe())


@cli.command("reconcile")
@click.argument("tables", nargs=-1)
@click.option("--all", "all_tables", is_flag=True, help="every configured table")
@click.option("--no-mark", is_flag=True, help="report only; do not mark hard deletes in RAW")
@click.option(
    "--repair",
    is_flag=True,
    help="also reload the keys that are missing or differ, in one transaction",
)
@_LOCK_WAIT
def reconcile_cmd(
    tables: tuple[str, ...], all_tables: bool, no_mark: bool, repair: bool, lock_wait: float
) -> None:
    """Prove RAW's current state equals the source: every column of every row (row hashes),
    keys, counts and sums; mark hard deletes.

    \b
    First loads what changed since the last run (an ordinary incremental run), then compares
    in the same snapshot of the source. Exits 1 on any difference left (also when the table
    was never loaded).
    """
    from finhouse import endpoints, pipeline  # noqa: PLC0415
    from finhouse.tables import get_table  # noqa: PLC0415

    names = _tables(tables, all_tables)
    source = endpoints.source(_oltp_dsn("extract"))
    target = endpoints.target(_warehouse_dsn("loader"))
    dirty = []
    for name, report in _each_table(
        names,
        lambda name: pipeline.reconcile(
            get_table(name),
            source,
            target,
            mark_deleted=not no_mark,
            repair=repair,
            lock_wait=lock_wait,
        ),
    ):
        click.echo(report.describe())
        if not report.clean:
            dirty.append(name)
    if dirty:
        _fail("differences found in " + ", ".join(dirty))


# ---------------------------------------------------------------------------- report
@cli.group("report", invoke_without_command=True, context_settings=CONTEXT)
@click.pass_context
def report_cmd(ctx: click.Context) -> None:
    """Print a portfolio summary from the marts (GLP, PAR30, borrowers, deposits, loads);
    `finhouse report monthly` writes a closed month's report pack."""
    if ctx.invoked_subcommand is not None:
        return
    from finhouse.reporting import portfolio_summary  # noqa: PLC0415

    dsn = _warehouse_dsn("reporter")
    click.echo(portfolio_summary(dsn).describe())


@report_cmd.command("monthly")
@click.option("--month", "month", default=None, help="YYYY-MM  [default: the last complete month]")
@click.option(
    "--close",
    "close_id",
    default=None,
    help="a close id (2026-11-v1)  [default: the month's latest]",
)
@click.option(
    "--out",
    "out",
    default=None,
    help="a folder or an fsspec URL  [default: FINHOUSE_EXPORT_URL, with the exports]",
)
def report_monthly_cmd(month: str | None, close_id: str | None, out: str | None) -> None:
    """Write a closed month's report pack - a PDF (portfolio quality, provisioning and risk
    coverage, collections, the financial summary, the trend, the restatement) and an Excel
    workbook (one sheet per table) - from its month-end close, with a manifest, under
    OUT/monthly_report/CLOSE_ID/. What the finhouse_close DAG does after each close."""
    from finhouse import closes, exports, report_pack, settings  # noqa: PLC0415

    which = (
        closes.parse_month(month)
        if month
        else closes.previous_month(dt.datetime.now(dt.UTC).date())
    )
    if out is not None:
        settings.validate_export_url(out)
    destination = out if out is not None else exports.destination()
    pack = report_pack.read_pack(_warehouse_dsn("reporter"), which, close_id)
    _manifest, wrote = report_pack.publish(
        pack, destination, keep_days=settings.load().report_retention_days
    )
    click.echo(report_pack.describe(pack, destination, wrote))


# ---------------------------------------------------------------------------- quality
@cli.command("quality")
@click.option(
    "--since",
    "since",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="the record from this day on (YYYY-MM-DD)  [default: the last 7 days]",
)
def quality_cmd(since: dt.datetime | None) -> None:
    """Print the data-quality record: per day the dbt runs' tests and freshness checks by
    status, the checks not passing now (severity, model, column, failing rows, since when)
    and each table's latest reconcile. What the Pipeline health dashboard shows."""
    from finhouse import endpoints, quality  # noqa: PLC0415

    day = since.date() if since else dt.datetime.now(dt.UTC).date() - dt.timedelta(days=6)
    target = endpoints.target(_warehouse_dsn("loader"))
    for line in quality.format_report(quality.read_report(target, day), day):
        click.echo(line)


# ---------------------------------------------------------------------------- files
@cli.group("files")
def files_group() -> None:
    """The spreadsheet sources: a drop folder (FINHOUSE_FILES_DIR) with one sub-folder per
    dataset (branches, branch_targets, officer_targets) of .csv and .xlsx files."""


@files_group.command("load")
@click.argument("datasets", nargs=-1)
@click.option("--all", "all_datasets", is_flag=True, help="every dataset")
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="the drop folder  [default: FINHOUSE_FILES_DIR]",
)
@_LOCK_WAIT
def files_load(
    datasets: tuple[str, ...], all_datasets: bool, folder: Path | None, lock_wait: float
) -> None:
    """Load new and changed files into RAW (raw.file_<dataset>), mark deleted files' rows and
    quarantine malformed files (one line each, naming the file, row and column). Exits 1 when
    a file was quarantined by this run; the other files are loaded all the same."""
    from finhouse import endpoints, files, pipeline  # noqa: PLC0415

    if all_datasets == bool(datasets):
        raise click.UsageError("name the datasets, or --all")
    specs = [files.get_dataset(name) for name in datasets or tuple(files.DATASETS)]
    if folder is not None and not folder.is_dir():
        raise click.UsageError(f"--dir {folder}: no such folder")
    target = endpoints.target(_warehouse_dsn("loader"))
    quarantined = 0
    try:
        for spec in specs:
            result = files.load_dataset(
                target,
                spec.name,
                run_id=pipeline.new_run_id("files"),
                folder=folder,
                lock_wait=lock_wait,
            )
            for outcome in result.files:
                # a quarantine's line is the library's warning (stderr): not said twice
                if outcome.status != "unchanged" and not outcome.error:
                    click.echo(outcome.describe(spec.name))
            click.echo(result.summary())
            quarantined += len(result.newly_quarantined)
    finally:
        target.close()
    if quarantined:
        raise SystemExit(1)


@files_group.command("status")
def files_status() -> None:
    """Every file the loader knows: its dataset, state, rows and the quarantine reason."""
    from finhouse import endpoints, files  # noqa: PLC0415

    target = endpoints.target(_warehouse_dsn("loader"))
    try:
        states = files.file_states(target)
    finally:
        target.close()
    if not states:
        click.echo("no file loaded yet (finhouse files load --all)")
    for dataset, path, status, rows, seen, error in states:
        rows_text = f"{rows:,} rows" if rows is not None else "-"
        line = f"{dataset}/{path}: {status}, {rows_text}, seen {seen:%Y-%m-%d %H:%M} UTC"
        click.echo(line + (f": {error}" if error else ""))


@files_group.command("seed")
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="the drop folder  [default: FINHOUSE_FILES_DIR]",
)
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--replace", is_flag=True, help="write them even where the folder has files")
def files_seed(folder: Path | None, seed: int, replace: bool) -> None:
    """Write the demo's spreadsheets (branches, branch and officer targets) from the OLTP
    stand-in's branches, officers and disbursements. A drop folder that already holds files
    is left as it is (--replace overwrites the demo's own files)."""
    from finhouse import files  # noqa: PLC0415
    from finhouse.oltp.spreadsheets import write_demo_files  # noqa: PLC0415

    where = folder or files.files_dir()
    held = sum(len(files.dataset_files(where / name)) for name in files.DATASETS)
    if held and not replace:
        click.echo(f"==> {where} already holds {held} spreadsheet files: left as they are")
        return
    written = write_demo_files(_oltp_dsn("app"), where, seed=seed)
    for dataset, paths in written.items():
        click.echo(f"{dataset}: {len(paths)} files in {where / dataset}")


# ---------------------------------------------------------------------------- export
@cli.command("export")
@click.argument("marts", nargs=-1)
@click.option("--all", "all_marts", is_flag=True, help="every mart marked for export")
@click.option(
    "--as-of",
    "as_of",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="the rows up to this day (YYYY-MM-DD) of a mart with a date  [default: all, today]",
)
@click.option(
    "--to",
    "url",
    default=None,
    help="a folder or an fsspec URL (s3://bucket/prefix…)  [default: FINHOUSE_EXPORT_URL]",
)
def export_cmd(
    marts: tuple[str, ...], all_marts: bool, as_of: dt.datetime | None, url: str | None
) -> None:
    """Write marts as CSV and Parquet with a manifest (rows, columns, types, SHA-256 per
    file), atomically: what the finhouse_export DAG does after each successful build. The
    marts marked for export (`meta: {export: …}` in their YAML) are the ones it takes."""
    from finhouse import config, exports, settings  # noqa: PLC0415
    from finhouse.errors import ConfigError  # noqa: PLC0415

    manifest_file = config.dbt_project_dir() / "target" / "manifest.json"
    try:
        marked = exports.specs(json.loads(manifest_file.read_text()))
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"cannot read dbt's manifest {manifest_file}: run `make install`"
        ) from exc
    if all_marts == bool(marts):
        raise click.UsageError("name the marts, or --all")
    unknown = [m for m in marts if m not in marked]
    if unknown:
        raise click.UsageError(
            f"not marked for export: {', '.join(unknown)} (marked: {', '.join(marked) or 'none'})"
        )
    destination = url if url is not None else exports.destination()
    if url is not None:
        settings.validate_export_url(url)
    keep_days = settings.load().export_retention_days
    dsn = _warehouse_dsn("reporter")
    for name in marts or tuple(marked):
        manifest, wrote = exports.export_mart(
            dsn,
            marked[name],
            destination,
            as_of=as_of.date() if as_of else None,
            keep_days=keep_days,
        )
        click.echo(exports.describe(manifest, destination, wrote))


# ---------------------------------------------------------------------------- close
@cli.command("close")
@click.argument("month", required=False)
@click.option("--list", "list_them", is_flag=True, help="list the closes instead")
def close_cmd(month: str | None, list_them: bool) -> None:
    """Freeze MONTH's (YYYY-MM) month-end figures from the marts into the warehouse's
    `closes` schema, immutable, as a new close version; closing a month again writes a
    new version only when a figure changed, with its restatement (every changed figure, and
    the loans and payments that changed it). What the finhouse_close DAG runs after each
    month-end; without MONTH, the last complete month."""
    from finhouse import closes, settings  # noqa: PLC0415

    dsn = _warehouse_dsn("transformer")
    if list_them:
        if month:
            raise click.UsageError("--list takes no MONTH")
        click.echo(closes.describe_closes(closes.list_closes(dsn)))
        return
    which = (
        closes.parse_month(month)
        if month
        else closes.previous_month(dt.datetime.now(dt.UTC).date())
    )
    result = closes.close_month(dsn, which, reader_role=settings.load().reporter_role)
    click.echo(result.describe())


# ---------------------------------------------------------------------------- ml
@cli.group("ml", context_settings=CONTEXT)
def ml_group() -> None:
    """The default model (docs/ml.md): train and validate out of time, score the active
    loans. Models are kept in FINHOUSE_ML_DIR (default <state dir>/ml), a folder per version
    with its model card; the figures go to the warehouse's ml schema and marts."""


@ml_group.command("train")
@click.option("--seed", type=int, default=7, show_default=True, help="the model's random seed")
@click.option(
    "--no-promote", is_flag=True, help="keep the serving model even if the new one beats it"
)
def ml_train(seed: int, no_promote: bool) -> None:
    """Train a gradient-boosted model (LightGBM) and a logistic-regression baseline on
    marts.ml_training_set, measure both on marts.ml_testing_set (out of time: AUC, KS, Brier,
    calibration), store the new version with its model card, and make it the serving model
    when it beats the serving one on the test set. What the finhouse_ml_train DAG runs."""
    from finhouse import ml  # noqa: PLC0415

    oltp: str | None
    try:
        oltp = _oltp_dsn("app")
    except FinhouseError:
        oltp = None  # the generator's risk is an optional comparison
    result = ml.train(
        _warehouse_dsn("transformer"), seed=seed, oltp_dsn=oltp, promote=not no_promote
    )
    click.echo(result.describe())


@ml_group.command("score")
def ml_score() -> None:
    """Score every active loan with the serving model (ml.loan_default_scores; the marts
    loan_default_scores and expected_loss_by_segment add the risk band and expected loss) and
    measure each feature's drift since training. What the finhouse_ml_score DAG runs."""
    from finhouse import ml  # noqa: PLC0415

    click.echo(ml.score(_warehouse_dsn("transformer")).describe())


@ml_group.command("list")
def ml_list() -> None:
    """The model versions trained, their test AUC beside the baseline's, and the serving one."""
    from finhouse import ml  # noqa: PLC0415

    rows = ml.list_versions(_warehouse_dsn("transformer"))
    serving = ml.serving_version(ml.model_dir())
    if not rows:
        click.echo("no model trained yet: `finhouse ml train`")
        return
    click.echo(f"{'version':<20} {'trained at (UTC)':<20} {'AUC':>6} {'baseline':>8} {'truth':>6}")
    for version, trained_at, _promoted, auc, baseline, truth in rows:
        mark = "  <- serving" if version == serving else ""
        click.echo(
            f"{version:<20} {trained_at:%Y-%m-%d %H:%M:%S}  {ml.fmt(auc):>6} "
            f"{ml.fmt(baseline):>8} {ml.fmt(truth):>6}{mark}"
        )


# ---------------------------------------------------------------------------- dbt
@cli.command(
    "dbt", context_settings={**CONTEXT, "ignore_unknown_options": True, "help_option_names": []}
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def dbt_cmd(args: tuple[str, ...]) -> None:
    """Run dbt on dbt/finhouse as the warehouse's transformer role (dbt's options follow)."""
    with local_tooling("`finhouse dbt`"):
        from finhouse_local.dbt_env import dbt_environment, dbt_executable  # noqa: PLC0415

    exe = str(dbt_executable())
    os.execve(exe, [exe, *args], {**os.environ, **dbt_environment()})  # noqa: S606


# ---------------------------------------------------------------------------- dags
@cli.group(context_settings=CONTEXT)
def dags() -> None:
    """The Airflow DAGs, run through Airflow itself."""


@dags.command("run")
@click.argument("dag_ids", nargs=-1)
@click.option("--ingestion", is_flag=True, help="the six ingestion DAGs (ingest_<table>)")
@click.option("--conf", "conf_json", help="run conf (params) for every run, as JSON")
@click.option("--json", "as_json", is_flag=True, help="print the results as JSON")
@click.option(
    "--verbose", is_flag=True, help="Airflow's task logs on the console (default: a log file)"
)
def dags_run(
    dag_ids: tuple[str, ...], ingestion: bool, conf_json: str | None, as_json: bool, verbose: bool
) -> None:
    """Run DAGs once each, in order, through Airflow (`dag.test()`, one process; Airflow's
    metadata database must be migrated: `finhouse airflow db migrate`)."""
    import json  # noqa: PLC0415

    from finhouse.tables import TABLES  # noqa: PLC0415

    ids = [f"ingest_{name}" for name in TABLES] if ingestion else []
    ids += list(dag_ids)
    if not ids:
        _fail("name DAGs to run, or --ingestion", 2)
    try:
        conf = json.loads(conf_json) if conf_json else None
    except json.JSONDecodeError as exc:
        _fail(f"--conf is not JSON: {exc}", 2)
    if conf is not None and not isinstance(conf, dict):
        _fail("--conf must be a JSON object", 2)
    with local_tooling("`finhouse dags run`"):
        from finhouse_local import dag_runner  # noqa: PLC0415
        from finhouse_local.airflow_env import airflow_environment  # noqa: PLC0415
        from finhouse_local.paths import state_dir  # noqa: PLC0415

    # before Airflow is imported (by the runner's first DagBag): it reads its configuration once
    os.environ.update(airflow_environment())
    log_file = None
    if not verbose:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
        log_file = state_dir() / "logs" / f"dags-run-{stamp}.log"
    with dag_runner.output_to(log_file) as terminal:

        def start() -> None:
            if log_file:
                terminal.write(f"  (Airflow's task logs: {log_file})\n")

        def done(result: dag_runner.RunResult) -> None:
            terminal.write(dag_runner.describe([result]) + "\n")
            terminal.flush()

        results = dag_runner.run_dags(
            [(dag_id, conf) for dag_id in ids], on_start=start, on_done=done, progress=terminal
        )
    if as_json:
        click.echo("@@RESULT@@" + json.dumps([r.as_json() for r in results]))
    if not all(r.ok for r in results):
        failed = ", ".join(r.dag_id for r in results if not r.ok)
        where = f"see {log_file}" if log_file else "see the task logs above"
        _fail(f"DAG runs failed: {failed} ({where})")


# ---------------------------------------------------------------------------- platform
@cli.group(context_settings=CONTEXT)
def platform() -> None:
    """The whole platform running locally without Docker (`make up` / `make down`).

    \b
    State under FINHOUSE_STATE_DIR; Airflow on FINHOUSE_AIRFLOW_PORT (8080); the simulator
    ticks every FINHOUSE_SIMULATE_INTERVAL seconds (60, or off).
    """


def _prepare_oltp(ctx: click.Context) -> None:
    """The OLTP `platform up` needs: its schema, seeded (scale 1) when empty; the demo's
    spreadsheets in the drop folder when it has none."""
    from finhouse.oltp import schema  # noqa: PLC0415

    ctx.invoke(oltp_init, drop=False)
    if any(count for _t, count, _l in schema.summary(_oltp_dsn("app"))):
        click.echo("==> OLTP already seeded: the simulator keeps it live")
    else:
        click.echo("==> seeding the OLTP (scale 1, seed 42)")
        ctx.invoke(oltp_seed, scale=1.0)
    ctx.invoke(files_seed, folder=None, seed=42, replace=False)


@platform.command("up")
@click.pass_context
def platform_up(ctx: click.Context) -> None:
    """Start PostgreSQL, the OLTP (seeded once, then live) and Airflow in the background.

    Creates and seeds the OLTP when empty (scale 1), migrates Airflow's metadata database,
    starts `airflow standalone` and the OLTP simulator, waits until Airflow is healthy and
    unpauses the finhouse DAGs. Starting twice is harmless.
    """
    with local_tooling("`finhouse platform up`"):
        from finhouse_local import services  # noqa: PLC0415

    services.up(prepare_oltp=lambda: _prepare_oltp(ctx), echo=click.echo)


@platform.command("soak")
@click.option(
    "--minutes",
    type=click.FloatRange(min=0, min_open=True),
    default=60.0,
    show_default=True,
    help="how long the platform runs once Airflow is healthy",
)
@click.option(
    "--schedule-minutes",
    type=click.IntRange(1, 60),
    default=2,
    show_default=True,
    help="every ingestion DAG runs every this many minutes",
)
@click.option(
    "--simulate-seconds",
    type=click.FloatRange(min=0, min_open=True),
    default=20.0,
    show_default=True,
    help="seconds between the OLTP simulator's ticks",
)
@click.option(
    "--reconcile-minutes",
    type=click.IntRange(1, 60),
    default=10,
    show_default=True,
    help="every reconcile DAG runs every this many minutes",
)
@click.option(
    "--sample-seconds",
    type=click.FloatRange(min=1),
    default=30.0,
    show_default=True,
    help="seconds between two RSS samples of the platform's processes",
)
@click.option(
    "--freshness-goal-minutes",
    type=click.FloatRange(min=0, min_open=True),
    default=5.0,
    show_default=True,
    help="commit -> mart freshness p95 must not exceed this",
)
@click.option(
    "--rss-growth-max-pct",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help="a long-lived process's RSS may grow this much over the second half",
)
@click.option(
    "--log-mb-per-hour-max",
    type=click.FloatRange(min=0),
    default=20.0,
    show_default=True,
    help="the platform's logs may grow this many MB per hour",
)
@click.option(
    "--warm-up-minutes",
    type=click.FloatRange(min=0),
    default=20.0,
    show_default=True,
    help="measure from the first successful dbt build on (the marts built), waiting at most "
    "this long; 0: from the moment Airflow is healthy",
)
@click.option(
    "--report",
    "report_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="where the JSON report goes  [default: <state>/soak/report.json]",
)
@click.pass_context
def platform_soak(
    ctx: click.Context,
    minutes: float,
    schedule_minutes: int,
    simulate_seconds: float,
    reconcile_minutes: int,
    sample_seconds: float,
    freshness_goal_minutes: float,
    rss_growth_max_pct: float,
    log_mb_per_hour_max: float,
    warm_up_minutes: float,
    report_file: Path | None,
) -> None:
    """Run the platform for a while with fast schedules and the simulator, then report.

    \b
    Starts the platform (as `platform up`) with every ingestion DAG every --schedule-minutes,
    every reconcile DAG every --reconcile-minutes and the simulator every --simulate-seconds;
    after --minutes: per DAG runs, successes and failures, dbt build durations, commit ->
    mart freshness (p50, p95, max), the processes' RSS over time, log and database growth,
    and a final reconcile (the simulator stopped); then stops what it started. The report is
    printed and written as JSON; exits 1 with one line per criterion it fails (a failed run,
    freshness p95 over the goal, RSS growth, log growth, a reconcile that is not exact).
    """
    with local_tooling("`finhouse platform soak`"):
        from finhouse_local import services, soak  # noqa: PLC0415

    options = soak.Options(
        minutes=minutes,
        schedule_minutes=schedule_minutes,
        simulate_seconds=simulate_seconds,
        reconcile_minutes=reconcile_minutes,
        sample_seconds=sample_seconds,
        freshness_goal_minutes=freshness_goal_minutes,
        rss_growth_max_pct=rss_growth_max_pct,
        log_mb_per_hour_max=log_mb_per_hour_max,
        warm_up_minutes=warm_up_minutes,
    )
    if services.status().running:
        _fail(
            "the platform is running already (`make down` first): the soak starts its own, "
            "with its fast schedules"
        )
    # read by `platform up` and by every process it starts (the DAGs' schedules)
    os.environ.update(soak.platform_environment(options))
    began = dt.datetime.now(dt.UTC)
    try:
        services.up(prepare_oltp=lambda: _prepare_oltp(ctx), echo=click.echo)
        report = soak.run(options, began, echo=click.echo)
    finally:
        click.echo("==> stopping the platform")
        services.down(echo=click.echo)
    path = report_file or soak.report_path()
    soak.write_report(report, path)
    click.echo("")
    click.echo(soak.describe(report))
    click.echo(f"report: {path}")
    if report["violations"]:
        for violation in report["violations"]:
            click.echo(f"finhouse: soak: {violation}", err=True)
        sys.exit(1)


@platform.command("down")
def platform_down() -> None:
    """Stop what `platform up` started (Airflow, the simulator, and PostgreSQL if up started
    it). Stopping twice is harmless."""
    with local_tooling("`finhouse platform down`"):
        from finhouse_local import services  # noqa: PLC0415

    services.down(echo=click.echo)


@platform.command("next")
def platform_next() -> None:
    """Say what to open after `make demo` (the URLs, where the logins are) and how."""
    with local_tooling("`finhouse platform next`"):
        from finhouse_local import services  # noqa: PLC0415

    click.echo(services.next_steps())


@platform.command("status")
def platform_status() -> None:
    """Print what runs; exit 1 when Airflow does not."""
    with local_tooling("`finhouse platform status`"):
        from finhouse_local import services  # noqa: PLC0415

    st = services.status()
    click.echo(services.describe(st))
    if not st.running:
        sys.exit(1)


@platform.command("clean-logs")
def platform_clean_logs() -> None:
    """Rotate the platform's logs past FINHOUSE_LOG_MAX_MB and delete Airflow's task logs
    older than FINHOUSE_LOG_RETENTION_DAYS, now (what the log keeper of `platform up` does
    every few minutes). Airflow's metadata is cleaned by the finhouse_maintenance DAG."""
    with local_tooling("`finhouse platform clean-logs`"):
        from finhouse_local import logkeeper  # noqa: PLC0415

    click.echo(logkeeper.sweep())


# ---------------------------------------------------------------------------- snowflake
@cli.group(context_settings=CONTEXT)
def snowflake() -> None:
    """The Snowflake production warehouse (setup scripts in snowflake/scripts/)."""


@snowflake.command("apply")
@click.option("--dry-run", is_flag=True, help="print each statement; connect to nothing")
@click.option(
    "--var",
    "var_items",
    multiple=True,
    metavar="NAME=VALUE",
    help="a script variable (&{NAME}), e.g. --var transforming_warehouse_size=MEDIUM",
)
@click.option(
    "--dsn",
    help="snowflake://USER@ACCOUNT/?role=ACCOUNTADMIN… (default: FINHOUSE_SNOWFLAKE_ADMIN_DSN, "
    "else the SNOWFLAKE_* variables with role ACCOUNTADMIN)",
)
@click.option(
    "--scripts-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="run the scripts of this folder instead of snowflake/scripts/",
)
def snowflake_apply(
    dry_run: bool, var_items: tuple[str, ...], dsn: str | None, scripts_dir: Path | None
) -> None:
    """Run the idempotent setup scripts in order: warehouses, database and schemas, roles,
    grants, file format and stage, PII masking, service users."""
    from finhouse.targets import snowflake_connection, snowflake_setup  # noqa: PLC0415

    overrides = {}
    for item in var_items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            _fail(f"--var wants NAME=VALUE, got {item!r}", 2)
        overrides[name.strip().lower()] = value
    values = snowflake_setup.variables(overrides)
    directory = scripts_dir or snowflake_setup.SCRIPTS_DIR
    if dry_run:
        count = snowflake_setup.dry_run(directory=directory, values=values, echo=click.echo)
        click.echo(f"-- dry run: {count} statements would run")
        return
    from finhouse import settings  # noqa: PLC0415

    dsn = dsn or settings.load().snowflake_admin_dsn
    params = (
        snowflake_connection.params_from_url(dsn)
        if dsn
        else snowflake_connection.params_from_env("ACCOUNTADMIN")
    )
    conn = snowflake_connection.connect(params)
    try:
        executed, skipped = snowflake_setup.apply(
            conn, directory=directory, values=values, echo=click.echo
        )
    finally:
        conn.close()
    click.echo(
        f"Snowflake setup applied on {snowflake_connection.describe(params)}: "
        f"{executed} statements, {skipped} skipped"
    )


# ---------------------------------------------------------------------------- airflow
@cli.command(
    "airflow", context_settings={**CONTEXT, "ignore_unknown_options": True, "help_option_names": []}
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def airflow_cmd(args: tuple[str, ...]) -> None:
    """Run the `airflow` command configured for this project (AIRFLOW_HOME, metadata DB, DAGs)."""
    with local_tooling("`finhouse airflow`"):
        from finhouse_local.airflow_env import airflow_environment  # noqa: PLC0415

    env = airflow_environment()
    exe = str(Path(sys.executable).with_name("airflow"))
    os.execve(exe, [exe, *args], {**os.environ, **env})  # noqa: S606


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="finhouse: %(levelname)s: %(message)s")
    if sys.stderr.isatty():  # someone watches: long loads and comparisons show progress
        logging.getLogger("finhouse.progress").setLevel(logging.INFO)
    try:
        cli.main(standalone_mode=False, prog_name="finhouse")
    except click.exceptions.Abort:
        _fail("aborted", 130)
    except click.UsageError as exc:
        hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx else ""
        _fail(exc.format_message().replace("\n", " ") + hint, 2)
    except click.ClickException as exc:
        _fail(exc.format_message(), exc.exit_code)
    except FinhouseError as exc:
        _fail(str(exc))
    except psycopg.OperationalError as exc:
        from finhouse.errors import safe_error_text  # noqa: PLC0415

        _fail(f"database unreachable: {safe_error_text(exc)}")
    except psycopg.Error as exc:
        from finhouse.errors import safe_error_text  # noqa: PLC0415

        _fail(f"database error: {safe_error_text(exc)}")
    except KeyboardInterrupt:
        _fail("interrupted", 130)


if __name__ == "__main__":
    main()
