"""Typed, validated ``FINHOUSE_*`` settings: a bad value is one line naming the variable."""

from __future__ import annotations

import math
import os

from finhouse.errors import ConfigError


def seconds_setting(
    name: str, default: float, *, minimum: float = 0.0, maximum: float | None = None
) -> float:
    """A finite number of seconds from the environment variable ``name``."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not math.isfinite(value) or value < minimum or (maximum is not None and value > maximum):
        upper = f" and at most {maximum:g}" if maximum is not None else ""
        raise ConfigError(
            f"{name} must be a finite number at least {minimum:g}{upper}, got {raw!r}"
        )
    return value
