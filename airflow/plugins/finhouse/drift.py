"""Schema drift between the source table and what RAW has recorded of it.

The source may gain columns at any time (docs/interfaces.md §1). Before a load, the source's
columns are compared with the columns RAW recorded at earlier loads (``finhouse_meta``):

* a new column is added to RAW (older rows null) before the rows are loaded;
* a widened type (longer varchar, more numeric digits, a larger integer) widens RAW;
* a narrowed or otherwise changed type, or a dropped column RAW needs (a contract column),
  is incompatible: the load fails naming the table and column, and loads nothing;
* a dropped column RAW does not need (one that arrived by drift) stays in RAW, null for new
  versions.

Types are PostgreSQL's ``format_type`` spellings of the source; each target maps them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from finhouse.errors import SchemaDriftError

_INTEGERS = {"smallint": 1, "integer": 2, "bigint": 3}
_VARCHAR = re.compile(r"^character varying\((\d+)\)$")
_CHAR = re.compile(r"^character\((\d+)\)$")
_NUMERIC = re.compile(r"^numeric\((\d+),(\d+)\)$")


@dataclass(frozen=True)
class Column:
    name: str
    type: str


@dataclass
class DriftPlan:
    add: list[Column] = field(default_factory=list)
    widen: list[Column] = field(default_factory=list)
    missing: list[Column] = field(default_factory=list)

    @property
    def changes(self) -> bool:
        return bool(self.add or self.widen)


def _text_length(type_: str) -> int | None:
    """Length of a character type; None for unbounded text, -1 when not a text type."""
    if type_ in ("text", "character varying"):
        return None
    for pattern in (_VARCHAR, _CHAR):
        if m := pattern.match(type_):
            return int(m.group(1))
    return -1


def is_widening(old: str, new: str) -> bool:
    """Can every value of type ``old`` be stored exactly in type ``new``?"""
    if old == new:
        return True
    old_len, new_len = _text_length(old), _text_length(new)
    if old_len != -1 and new_len != -1:
        return new_len is None or (old_len is not None and new_len >= old_len)
    if old in _INTEGERS and new in _INTEGERS:
        return _INTEGERS[new] >= _INTEGERS[old]
    if old in _INTEGERS and new == "numeric":
        return True
    old_num, new_num = _NUMERIC.match(old), _NUMERIC.match(new)
    if old_num and new == "numeric":
        return True
    if old_num and new_num:
        (p1, s1), (p2, s2) = map(int, old_num.groups()), map(int, new_num.groups())
        return p2 - s2 >= p1 - s1 and s2 >= s1
    if old in _INTEGERS and new_num:
        digits = {1: 5, 2: 10, 3: 19}[_INTEGERS[old]]
        p2, s2 = map(int, new_num.groups())
        return p2 - s2 >= digits
    return False


def plan_drift(
    table: str, source: list[Column], recorded: list[Column], required: tuple[str, ...]
) -> DriftPlan:
    """Compare the source's columns with RAW's record; raise on incompatible changes."""
    plan = DriftPlan()
    known = {c.name: c for c in recorded}
    current = {c.name: c for c in source}
    for name in required:
        if name not in current:
            raise SchemaDriftError(
                f"incompatible schema change in {table}: column {name!r} was dropped from the "
                "source, and RAW needs it (a contract column); nothing was loaded"
            )
    for column in source:
        before = known.get(column.name)
        if before is None:
            plan.add.append(column)
        elif before.type != column.type:
            if not is_widening(before.type, column.type):
                raise SchemaDriftError(
                    f"incompatible schema change in {table}: column {column.name!r} changed "
                    f"type from {before.type} to {column.type}; nothing was loaded"
                )
            plan.widen.append(column)
    plan.missing = [c for c in recorded if c.name not in current]
    return plan
