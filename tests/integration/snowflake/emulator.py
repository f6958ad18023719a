"""The Snowflake emulator (fakesnow 0.12.1 on DuckDB) as the Snowflake tests use it.

Shims (:func:`install_shims`), test-only, nothing in finhouse's production code knows
about the emulator:

* fakesnow runs a ``MERGE`` as several DuckDB statements around a *temporary* candidates table.
DuckDB keeps temporary tables in another attached database, and one DuckDB transaction may
write to one database only, so a ``MERGE`` inside ``BEGIN … COMMIT`` fails there (Snowflake
runs it fine). :func:`install_shims` makes the candidates table an ordinary table next to the
merge's target, in the same database, so the loader's one-transaction publish (MERGE,
  watermark, audit, lock row) is exercised as written.
* ``SUM``/``AVG`` of ``NUMBER`` stay exact (fakesnow cast their arguments to DOUBLE);
* table comments with an apostrophe (dbt's ``persist_docs``) are quoted before fakesnow
  records them;
* fakesnow has no ``REMOVE @stage/path``: it is implemented on fakesnow's local stage
  folders, so the loader's clean-up of staged files is observable (``LIST``).

Statements the emulator does not implement (warehouses, roles, grants, users, tags, masking
policies) are no-ops through fakesnow's ``nop_regexes`` (:data:`NOP_REGEXES`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

#: statements the emulator skips (the setup scripts' account-level and governance objects)
NOP_REGEXES = [
    r"^\s*(create|alter|drop)\s+(or\s+replace\s+|or\s+alter\s+)?warehouse\b",
    r"^\s*(create|alter|drop)\s+(or\s+replace\s+|or\s+alter\s+)?role\b",
    r"^\s*(create|alter|drop)\s+(or\s+replace\s+|or\s+alter\s+)?user\b",
    r"^\s*(create|alter|drop)\s+(or\s+replace\s+|or\s+alter\s+)?tag\b",
    r"^\s*(create|alter|drop)\s+(or\s+replace\s+|or\s+alter\s+)?masking\s+policy\b",
    r"^\s*(grant|revoke)\b",
    r"^\s*use\s+(role|warehouse|secondary\s+roles)\b",
    r"^\s*alter\s+(table|view)\s+.*\s(un)?set\s+tag\b",
    r"^\s*alter\s+(schema|database)\s+.*\s(un)?set\s+tag\b",
    r"^\s*alter\s+tag\b",
]

_installed = False


def install_shims() -> None:
    """Patch fakesnow's MERGE rewrite to stay inside the target's database (idempotent)."""
    global _installed  # noqa: PLW0603
    if _installed:
        return
    import sqlglot  # noqa: PLC0415
    from fakesnow import transforms  # noqa: PLC0415
    from sqlglot import exp  # noqa: PLC0415

    original = transforms.merge

    def merge(expression: Any) -> list[Any]:
        parts = original(expression)
        if len(parts) == 1 or not isinstance(expression, exp.Merge):
            return parts
        target = expression.this
        name = f"_FS_MERGE_{target.name}".upper()
        qualified = ".".join(p for p in (target.catalog, target.db, name) if p)
        replacement = sqlglot.parse_one(qualified, into=exp.Table)
        out = []
        for part in parts:
            part = part.transform(lambda node: _renamed(node, replacement))  # noqa: PLW2901
            if isinstance(part, exp.Create) and (props := part.args.get("properties")):
                kept = [p for p in props.expressions if not isinstance(p, exp.TemporaryProperty)]
                part.set("properties", exp.Properties(expressions=kept) if kept else None)
            out.append(part)
        return out

    def _renamed(node: Any, replacement: Any) -> Any:
        if isinstance(node, exp.Table) and node.name.lower() == "merge_candidates":
            new = replacement.copy()
            if alias := node.args.get("alias"):
                new.set("alias", alias.copy())
            return new
        return node

    transforms.merge = merge
    _install_remove()
    _install_comment_quoting()
    # fakesnow wraps every SUM/AVG argument in TRY_CAST(… AS DOUBLE) (meant for VARCHAR
    # arguments): sums of NUMBER(18,2) money became floats. Snowflake sums NUMBER exactly.
    transforms.numeric_agg_implicit_cast = lambda expression: expression
    _installed = True


def _install_comment_quoting() -> None:
    """fakesnow splices a table comment into its catalog INSERT unquoted: a comment with an
    apostrophe (dbt's persist_docs of "the loader's audit…") broke it."""
    from fakesnow import info_schema  # noqa: PLC0415

    original = info_schema.insert_table_comment_sql

    def quoted(catalog: str, schema: str, table: str, comment: str | None) -> str:
        return original(catalog, schema, table, (comment or "").replace("'", "''"))

    info_schema.insert_table_comment_sql = quoted


_REMOVE = re.compile(r"^\s*(?:remove|rm)\s+@([A-Za-z0-9_.$]+)(/[^\s;']*)?\s*;?\s*$", re.I)


def _install_remove() -> None:
    from fakesnow.cursor import FakeSnowflakeCursor  # noqa: PLC0415
    from fakesnow.transforms.stage import internal_dir, parts_from_var  # noqa: PLC0415

    original = FakeSnowflakeCursor.execute

    def execute(self: Any, command: str, params: Any = None, *args: Any, **kwargs: Any) -> Any:
        match = _REMOVE.match(command) if isinstance(command, str) else None
        if match is None:
            return original(self, command, params, *args, **kwargs)
        conn = self._conn
        fqname = ".".join(parts_from_var(match.group(1), conn.database, conn.schema))
        prefix = internal_dir(fqname, (match.group(2) or "/").lstrip("/"))
        root = Path(internal_dir(fqname))
        removed = 0
        if root.is_dir():
            for path in sorted(root.rglob("*"), reverse=True):
                if path.is_file() and str(path).startswith(prefix):
                    path.unlink()
                    removed += 1
                elif path.is_dir() and not any(path.iterdir()):
                    path.rmdir()
        return original(self, f"select {removed} as removed_files")

    FakeSnowflakeCursor.execute = execute  # type: ignore[method-assign]


@contextmanager
def emulated(db_path: str | None = None) -> Iterator[None]:
    """``snowflake.connector.connect`` answered in process by the emulator (shims installed,
    :data:`NOP_REGEXES` skipped) for the block."""
    import fakesnow  # noqa: PLC0415

    install_shims()
    with fakesnow.patch(nop_regexes=NOP_REGEXES, db_path=db_path):
        yield


def main(argv: list[str] | None = None) -> None:
    """Serve the emulator over HTTP (what dbt-snowflake and other processes connect to):
    ``python -m tests.integration.snowflake.emulator --port PORT``. Shims installed, the
    account-level statements no-ops for every session."""
    import argparse  # noqa: PLC0415

    import fakesnow.server  # noqa: PLC0415
    import uvicorn  # noqa: PLC0415

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    install_shims()
    fakesnow.server.shared_fs.nop_regexes = NOP_REGEXES
    uvicorn.run(fakesnow.server.app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
