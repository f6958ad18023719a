"""The Snowflake emulator (fakesnow 0.12.1 on DuckDB) as the Snowflake tests use it.

fakesnow runs a ``MERGE`` as several DuckDB statements around a *temporary* candidates table.
DuckDB keeps temporary tables in another attached database, and one DuckDB transaction may
write to one database only, so a ``MERGE`` inside ``BEGIN … COMMIT`` fails there (Snowflake
runs it fine). :func:`install_shims` makes the candidates table an ordinary table next to the
merge's target, in the same database, so the loader's one-transaction publish (MERGE,
watermark, audit, lock row) is exercised as written. Test-only: nothing in finhouse's
production code knows about the emulator.

Statements the emulator does not implement (warehouses, roles, grants, users, tags, masking
policies) are no-ops through fakesnow's ``nop_regexes`` (:data:`NOP_REGEXES`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
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
    _installed = True


@contextmanager
def emulated(db_path: str | None = None) -> Iterator[None]:
    """``snowflake.connector.connect`` answered in process by the emulator (shims installed,
    :data:`NOP_REGEXES` skipped) for the block."""
    import fakesnow  # noqa: PLC0415

    install_shims()
    with fakesnow.patch(nop_regexes=NOP_REGEXES, db_path=db_path):
        yield
