"""Checks of a design search's settings, made before anything is built: a setting that
would only fail at the first evaluation (minutes in), or silently mislead (levels (2.7, 3.9)
truncated to (2, 3), a negative accuracy margin that zeroes every hypervolume), is refused
by name when :class:`leanet.design.DesignProblem` is made."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from leanet.problem import MAX_LOG_DECADES


def pair(value: Any, name: str, kind: type) -> tuple:
    """``value`` as a ``(min, max)`` pair of ``kind``, or an error naming ``name``."""
    try:
        lo, hi = value
        converted = kind(lo), kind(hi)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a (min, max) pair, got {value!r}") from err
    if converted != (lo, hi):  # e.g. levels (2.7, 3.9) would be truncated to (2, 3)
        raise ValueError(f"{name} must be a (min, max) pair of {kind.__name__}s, got {value!r}")
    return converted


def choices(values: Any, name: str, kind: type, valid: Callable[[Any], bool]) -> tuple:
    """The non-empty sequence ``values`` as a tuple, each a valid ``kind``, or an error."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
        raise ValueError(f"{name} must be a non-empty sequence, got {values!r}")
    bad = [v for v in values if isinstance(v, bool) or not isinstance(v, kind) or not valid(v)]
    if bad:
        raise ValueError(f"{name}: invalid value(s) {bad} in {list(values)}")
    return tuple(values)


def check_settings(**settings: Any) -> None:
    """Refuse settings that would only fail (or silently mislead) after designs are built."""
    for name in ("head_epochs", "seed", "measure_inputs", "measure_repeats"):
        value, low = settings[name], 1 if name.startswith("measure") else 0
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    margin = settings["accuracy_margin"]
    if isinstance(margin, bool) or not isinstance(margin, int | float) or not 0 <= margin < 1:
        raise ValueError(f"accuracy_margin must be in [0, 1), got {margin!r}")
    decades = settings["log_decades"]
    if (
        isinstance(decades, bool)
        or not isinstance(decades, int | float)
        or not 0 < decades <= MAX_LOG_DECADES
    ):
        raise ValueError(f"log_decades must be in (0, {MAX_LOG_DECADES}], got {decades!r}")
    for name, constraint in settings["constraints"].items():
        if not callable(constraint):
            raise TypeError(f"constraints[{name!r}] must be a callable (design, metrics) -> values")
    cache = settings["cache"]
    if cache is not None and Path(cache).exists() and not Path(cache).is_dir():
        raise ValueError(f"cache {str(cache)!r} is a file; give a folder for the built designs")
