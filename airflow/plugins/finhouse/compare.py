"""Comparing a source table with RAW's current state by row hashes, in bounded memory.

Both sides hash every row (the key and every compared column, in one fixed column order) and
sum the hashes per *bucket* of ``BUCKET_WIDTH`` consecutive keys, in the database. Buckets
whose row count and hash sum agree hold the same rows (a difference would have to cancel out
in a sum of 60-bit hashes); only the others are read row by row — two sorted streams of
``(key, hash)`` merged here — to name the missing, extra and changed keys. A correct RAW
costs one hashing scan per side (run in parallel on the two servers), whatever its size; the
same comparison drives the reconcile, its repair and the full refresh of a loaded table.

The hash is the first 60 bits of the MD5 of the row's text form (PostgreSQL's record output
under fixed session settings: UTC, ISO dates, exact floats, hex bytea), so equal texts mean
equal values for every type RAW keeps, and the sums stay exact as integers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

#: keys per bucket: small enough that reading a differing bucket row by row is cheap, large
#: enough that a bucket summary per side stays small (5M keys: 1,221 buckets)
BUCKET_SHIFT = 12
BUCKET_WIDTH = 1 << BUCKET_SHIFT
#: differing buckets read row by row per round trip
DRILL_BATCH = 32
#: keys of each kind kept as examples for the report (keys only: never row values)
EXAMPLES = 5


@dataclass(frozen=True)
class BucketSum:
    rows: int
    #: the bucket's rows' hashes combined (an exact sum, or a digest: see the flavors)
    hash_sum: int | str
    #: per summed column, the exact total (Decimal, possibly NaN) or None when all null
    sums: tuple[Any, ...] = ()


def bucket_range(bucket: int) -> tuple[int, int]:
    """The inclusive key range of a bucket (buckets are ``key >> BUCKET_SHIFT``)."""
    return bucket << BUCKET_SHIFT, ((bucket + 1) << BUCKET_SHIFT) - 1


def coalesce_ranges(buckets: Iterable[int]) -> list[tuple[int, int]]:
    """Adjacent buckets as one inclusive key range each."""
    ranges: list[tuple[int, int]] = []
    for bucket in sorted(buckets):
        low, high = bucket_range(bucket)
        if ranges and ranges[-1][1] + 1 == low:
            ranges[-1] = (ranges[-1][0], high)
        else:
            ranges.append((low, high))
    return ranges


def same_total(a: Any, b: Any) -> bool:
    """Totals agree: equal numbers, both null, or both NaN (NaN is a value the source holds;
    the same NaN on both sides is no difference)."""
    if a is None or b is None:
        return a is None and b is None
    a_nan = isinstance(a, Decimal | float) and (
        a.is_nan() if isinstance(a, Decimal) else math.isnan(a)
    )
    b_nan = isinstance(b, Decimal | float) and (
        b.is_nan() if isinstance(b, Decimal) else math.isnan(b)
    )
    if a_nan or b_nan:
        return a_nan and b_nan
    return bool(a == b)


def add_totals(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    return a + b


@dataclass
class Diff:
    """What a comparison found (counts and a few example keys; no row values)."""

    source_rows: int = 0
    raw_rows: int = 0
    buckets: int = 0
    differing_buckets: int = 0
    missing: int = 0
    extra: int = 0
    changed: int = 0
    source_totals: dict[str, Any] = field(default_factory=dict)
    raw_totals: dict[str, Any] = field(default_factory=dict)
    examples: dict[str, list[int]] = field(
        default_factory=lambda: {"missing": [], "extra": [], "changed": []}
    )

    def sum_differences(self) -> dict[str, str]:
        """Totals that disagree, as ``source - RAW`` (or what is NaN or missing)."""
        out = {}
        for name, src in self.source_totals.items():
            raw = self.raw_totals.get(name)
            if same_total(src, raw):
                continue
            try:
                out[name] = f"differs by {src - raw}"
            except TypeError:  # one side has no total (all null, or no rows)
                out[name] = f"source {'null' if src is None else 'a total'}, RAW " + (
                    "null" if raw is None else "a total"
                )
        return out

    def note(self, kind: str, key: int) -> None:
        setattr(self, kind, getattr(self, kind) + 1)
        if len(self.examples[kind]) < EXAMPLES:
            self.examples[kind].append(key)


def compare_buckets(
    diff: Diff,
    names: list[str],
    source: dict[int, BucketSum],
    raw: dict[int, BucketSum],
) -> list[int]:
    """Fill counts and totals; return the buckets that differ (sorted)."""
    differing = []
    for bucket in source.keys() | raw.keys():
        src, dst = source.get(bucket), raw.get(bucket)
        if src is not None:
            diff.source_rows += src.rows
            for name, value in zip(names, src.sums, strict=True):
                diff.source_totals[name] = add_totals(diff.source_totals.get(name), value)
        if dst is not None:
            diff.raw_rows += dst.rows
            for name, value in zip(names, dst.sums, strict=True):
                diff.raw_totals[name] = add_totals(diff.raw_totals.get(name), value)
        if src is None or dst is None or (src.rows, src.hash_sum) != (dst.rows, dst.hash_sum):
            differing.append(bucket)
    for name in names:
        diff.source_totals.setdefault(name, None)
        diff.raw_totals.setdefault(name, None)
    diff.buckets = len(source.keys() | raw.keys())
    diff.differing_buckets = len(differing)
    return sorted(differing)


def merge_sorted(
    diff: Diff,
    source: Iterator[tuple[int, object]],
    raw: Iterator[tuple[int, object]],
) -> Iterator[tuple[str, int]]:
    """Walk two streams of ``(key, hash)`` sorted by key; yield ``(kind, key)`` for every key
    that is missing from RAW, extra in RAW, or changed, and count them in ``diff``."""
    src = next(source, None)
    dst = next(raw, None)
    while src is not None or dst is not None:
        if dst is None or (src is not None and src[0] < dst[0]):
            assert src is not None  # noqa: S101 - the loop condition
            diff.note("missing", src[0])
            yield "missing", src[0]
            src = next(source, None)
        elif src is None or dst[0] < src[0]:
            diff.note("extra", dst[0])
            yield "extra", dst[0]
            dst = next(raw, None)
        else:
            if src[1] != dst[1]:
                diff.note("changed", src[0])
                yield "changed", src[0]
            src = next(source, None)
            dst = next(raw, None)


def batches(items: list[int], size: int = DRILL_BATCH) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
