"""Checks of a design search's settings, made before anything is built: a setting that
would only fail at the first evaluation (minutes in), or silently mislead (levels (2.7, 3.9)
truncated to (2, 3), a negative accuracy margin that zeroes every hypervolume), is refused
by name when :class:`leanet.design.DesignProblem` is made."""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from leanet.confidence import CONFIDENCES
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


class SearchSpace(NamedTuple):
    """A design search space's settings, checked and normalized."""

    levels: tuple[int, int]
    first_fraction: tuple[float, float]
    fraction_step: float
    head_hidden: tuple[int, ...]
    confidences: tuple[str, ...]
    epochs: tuple[int, ...]  # fine-tune epochs; two or more: a fidelity, the last the target


def check_search_space(
    *,
    levels: Any,
    first_fraction: Any,
    fraction_step: Any,
    head_hidden: Any,
    confidences: Any,
    fine_tune_epochs: Any,
    fidelity_costs: Any,
    continue_fidelities: bool,
) -> SearchSpace:
    """:class:`leanet.design.DesignProblem`'s search space, or an error naming the setting."""
    lo, hi = pair(levels, "levels", int)
    if not 2 <= lo <= hi:
        raise ValueError(f"levels must be (min, max) with 2 <= min <= max, got {levels}")
    f_lo, f_hi = pair(first_fraction, "first_fraction", float)
    if not 0.0 < f_lo <= f_hi < 1.0:
        raise ValueError(
            f"first_fraction must be (min, max) with 0 < min <= max < 1, got {first_fraction}"
        )
    number = isinstance(fraction_step, numbers.Real) and not isinstance(fraction_step, bool)
    if not number or not 0.0 < fraction_step <= 1.0:  # "0.1" failed on comparison unnamed
        raise ValueError(f"fraction_step must be in (0, 1], got {fraction_step!r}")
    epochs = fine_tune_epochs if isinstance(fine_tune_epochs, Sequence) else [fine_tune_epochs]
    space = SearchSpace(
        levels=(lo, hi),
        first_fraction=(f_lo, f_hi),
        fraction_step=float(fraction_step),
        head_hidden=choices(head_hidden, "head_hidden", int, lambda v: v >= 0),
        confidences=choices(confidences, "confidences", str, lambda v: v in CONFIDENCES),
        epochs=choices(epochs, "fine_tune_epochs", int, lambda v: v >= 0),
    )
    fidelity = len(space.epochs) > 1
    if fidelity and list(space.epochs) != sorted(set(space.epochs)):
        raise ValueError(f"fine_tune_epochs must ascend strictly, got {list(space.epochs)}")
    if fidelity_costs is not None and not fidelity:
        raise ValueError("fidelity_costs needs fine_tune_epochs with two or more values")
    if fidelity_costs is not None and not len(fidelity_costs):  # else the defaults, unsaid
        raise ValueError("fidelity_costs must give one cost per fidelity, got none")
    if fidelity_costs is not None and list(fidelity_costs) != sorted(set(fidelity_costs)):
        raise ValueError(
            f"fidelity_costs must ascend strictly with the epochs (a cheaper fidelity costs "
            f"less), got {list(fidelity_costs)}"
        )
    if continue_fidelities and not fidelity:
        raise ValueError("continue_fidelities needs fine_tune_epochs with two or more values")
    return space


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
