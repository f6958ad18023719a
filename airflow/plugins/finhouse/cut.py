"""The cut a dbt build reads RAW as of: one load per table, consistent across the tables.

Why
---
Each RAW table is loaded by its own DAG at its own moment, so RAW can hold an account whose
new user has not been loaded yet. A dbt build reading RAW as it stands would see that account
without its user (a failed ``relationships`` test, a loan without its borrower in a mart). A
build therefore reads every table **up to one of its loads**, chosen here, and records that
choice (``finhouse_meta.mart_cuts``).

The rule
--------
Every load reads the source in one snapshot (:mod:`finhouse.extract.postgres`) and the load
audit keeps that snapshot (``load_runs.snapshot``: ``xmin:xmax:xip…``, 64-bit xids). After an
incremental, full or repair load, RAW's current state of its table equals the source's in that
snapshot; loads of one table never overlap, so a table read up to a load holds exactly what
the source had committed when that load's snapshot was taken. Snapshot *A* **precedes**
snapshot *B* when every transaction *A* sees as committed, *B* sees too (compared exactly,
from the xids, never from a clock).

The tables name the tables their rows point to (:attr:`finhouse.tables.TableSpec.references`,
the source's foreign keys). Going through the tables referenced tables first, each table is
read up to its **latest load whose snapshot precedes the chosen snapshots of every table it
references**; a table nothing constrains takes its latest load. A row visible in the
referencing table's snapshot was committed after (or with) the rows it references (the
source's foreign keys), so those are visible in every later snapshot: a row is never in a
build before the rows it references, whatever order the loads ran in. A real orphan in the
source is still one in the build.

A referencing table loaded after the table it references would have to fall back to an older
load, a schedule behind. So before choosing, the dbt DAG loads every table once more
(:func:`refresh_order`: each table after every table that references it, e.g. payments before
loans, loans before accounts, accounts before users) — ordinary incremental loads — and the
latest load of every table qualifies: the build reads what the source had committed when it
began.

How dbt reads it
----------------
The build gets ``{table: horizon}`` (the var ``raw_cut``): a horizon is the chosen load's
``_loaded_at``. The ``*_versions`` staging views keep the RAW rows that first landed by then
(``coalesce(_first_loaded_at, _loaded_at) <= horizon``), ignore deletion marks made later, and
present later rewrites of those rows at the horizon (docs/interfaces.md §2): loads that land
while the build runs change nothing it reads, and the next build sees them as changed.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from finhouse.errors import ConfigError
from finhouse.tables import TABLES, references_first

log = logging.getLogger("finhouse.cut")

#: the load modes after which RAW's current state equals the source's in the load's snapshot
#: (a window load reloads part of the table: it is not a point RAW is complete at)
COMPLETE_MODES = ("incremental", "full", "repair")
#: loads considered per table, newest first
CANDIDATES = 200


@dataclass(frozen=True)
class SourceSnapshot:
    """A PostgreSQL snapshot (``pg_current_snapshot()``): transactions below ``xmin`` had
    ended, those from ``xmax`` on had not begun, ``xip`` were running."""

    xmin: int
    xmax: int
    xip: frozenset[int] = field(default_factory=frozenset)

    @classmethod
    def parse(cls, text: str) -> SourceSnapshot:
        try:
            xmin, xmax, xip = text.strip().split(":")
            running = frozenset(int(x) for x in xip.split(",") if x)
            found = cls(int(xmin), int(xmax), running)
        except ValueError:
            raise ConfigError(f"not a snapshot: {text[:80]!r}") from None
        if not found.xmin <= found.xmax or any(not found.xmin <= x < found.xmax for x in running):
            raise ConfigError(f"not a snapshot: {text[:80]!r}")
        return found

    def sees(self, xid: int) -> bool:
        """Whether a transaction that ended counts as committed here."""
        return xid < self.xmin or (xid < self.xmax and xid not in self.xip)

    def precedes(self, other: SourceSnapshot) -> bool:
        """Every transaction this snapshot sees as ended, ``other`` sees as ended too."""
        if self.xmax > other.xmax:
            # xids from other.xmax on were not yet assigned for other: seen here, they would
            # be missing there, unless they were still running here
            if self.xmax - other.xmax > len(self.xip):
                return False
            if any(x not in self.xip for x in range(other.xmax, self.xmax)):
                return False
        return all(not self.sees(x) for x in other.xip)


@dataclass(frozen=True)
class Load:
    """A load a table can be read up to."""

    table: str
    run_id: str
    loaded_at: dt.datetime
    snapshot: SourceSnapshot
    #: the source's clock when the snapshot was taken: every commit before it is in RAW
    snapshot_at: dt.datetime | None


@dataclass(frozen=True)
class Cut:
    """Per table, the load a build reads it up to (None: the table has no recorded load
    yet, and is read as it stands)."""

    loads: Mapping[str, Load | None]
    #: tables that could not take their latest load (a load of a table they reference came
    #: first): read a load earlier
    held_back: tuple[str, ...] = ()

    def horizons(self) -> dict[str, str | None]:
        """The dbt var ``raw_cut``: ``{table: horizon}`` (ISO 8601, UTC)."""
        return {
            table: (load.loaded_at.astimezone(dt.UTC).isoformat() if load else None)
            for table, load in self.loads.items()
        }

    @property
    def as_of(self) -> dt.datetime | None:
        """The source time every table of the build is complete up to: the oldest of the
        chosen loads' snapshot times."""
        times = [load.snapshot_at for load in self.loads.values() if load and load.snapshot_at]
        return min(times) if times and len(times) == len(self.loads) else None

    def describe(self) -> str:
        parts = []
        for table, load in self.loads.items():
            if load is None:
                parts.append(f"{table} as it stands (no load recorded)")
            else:
                at = load.snapshot_at.strftime("%H:%M:%S") if load.snapshot_at else "?"
                late = " (held back)" if table in self.held_back else ""
                parts.append(f"{table} to {load.run_id} ({at}){late}")
        return "; ".join(parts)


class NoConsistentCutError(ConfigError):
    """No load of a table precedes the loads chosen for the tables it references."""


def choose(
    loads: Mapping[str, Sequence[Load]],
    references: Mapping[str, Iterable[str]] | None = None,
) -> Cut:
    """The cut (see the module's doc): ``loads`` are each table's loads, newest first;
    ``references`` each table's referenced tables (default: :data:`finhouse.tables.TABLES`).
    Raises :class:`NoConsistentCutError` when a table has loads but none precedes what its
    referenced tables were read up to (load the referenced tables again)."""
    given = references if references is not None else {n: s.references for n, s in TABLES.items()}
    refs = {table: tuple(names) for table, names in given.items()}
    order = _order(list(loads), refs)
    chosen: dict[str, Load | None] = {}
    held_back: list[str] = []
    for table in order:
        candidates = list(loads.get(table) or ())
        if not candidates:
            chosen[table] = None
            continue
        bounds = [chosen[r] for r in refs.get(table, ()) if chosen.get(r) is not None]
        fit = next(
            (c for c in candidates if all(c.snapshot.precedes(b.snapshot) for b in bounds if b)),
            None,
        )
        if fit is None:
            raise NoConsistentCutError(
                f"no load of {table} precedes the loads of "
                f"{', '.join(b.table for b in bounds if b)} the build reads: load "
                f"{', '.join(b.table for b in bounds if b)} again"
            )
        if fit is not candidates[0]:
            held_back.append(table)
        chosen[table] = fit
    return Cut({t: chosen[t] for t in loads}, tuple(t for t in loads if t in held_back))


def _order(tables: list[str], refs: Mapping[str, tuple[str, ...]]) -> list[str]:
    """``tables``, referenced tables first."""
    ordered: list[str] = []
    remaining = list(tables)
    while remaining:
        ready = [
            t for t in remaining if all(r in ordered or r not in tables for r in refs.get(t, ()))
        ]
        if not ready:
            raise ConfigError(f"the tables' references form a cycle: {', '.join(remaining)}")
        ordered += ready
        remaining = [t for t in remaining if t not in ready]
    return ordered


def refresh_order() -> list[str]:
    """Every table, each after every table that references it: loaded in this order just
    before a cut, every table's latest load precedes those of the tables it references."""
    return list(reversed(references_first()))


# ---------------------------------------------------------------------- the warehouse
def read_loads(
    target: Any, tables: Iterable[str], limit: int = CANDIDATES
) -> dict[str, list[Load]]:
    """Each table's recent complete loads with a recorded snapshot, newest first."""
    target.setup()
    found: dict[str, list[Load]] = {}
    with target.control_connection() as conn:
        for table in tables:
            rows = target.control.complete_loads(conn, table, COMPLETE_MODES, limit)
            found[table] = [
                Load(
                    table=table,
                    run_id=run_id,
                    loaded_at=target.dialect.utc(loaded_at),
                    snapshot=SourceSnapshot.parse(snapshot),
                    snapshot_at=target.dialect.utc(snapshot_at),
                )
                for run_id, loaded_at, snapshot, snapshot_at in rows
            ]
    return found


def record(target: Any, cut_id: str, cut: Cut, *, dag_run_id: str | None = None) -> None:
    """Record the cut (``mart_cuts``) and a ``running`` build (``mart_builds``)."""
    with target.control_connection() as conn:
        target.control.record_cut(conn, cut_id, cut, dag_run_id=dag_run_id)


def built(target: Any, cut_id: str) -> None:
    """The build's dbt command ended: the marts hold the cut from now on (``built_at``)."""
    with target.control_connection() as conn:
        target.control.mark_built(conn, cut_id)


def finish(target: Any, cut_id: str, *, failed_nodes: Sequence[str]) -> None:
    """The build ended: ``success``, or ``failed`` naming what failed."""
    with target.control_connection() as conn:
        target.control.finish_build(conn, cut_id, failed_nodes)
