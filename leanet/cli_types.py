"""Argparse types for the ``leanet`` command line: numbers checked for kind and range, and
comma-separated lists of them, so a bad value is a usage error that names the option."""

from __future__ import annotations

import argparse
import math


def number(kind: type, low: float | None = None, high: float | None = None, *, above=False):
    """An argparse type: a ``kind`` (int or float) in [low, high] ((low, high] if ``above``)."""
    name = "an integer" if kind is int else "a number"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {name}, got {text!r}") from None
        if kind is float and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        too_low = low is not None and (value <= low if above else value < low)
        if too_low or (high is not None and value > high):
            lo = "" if low is None else f"{'>' if above else '>='} {low}"
            hi = "" if high is None else f"<= {high}"
            raise argparse.ArgumentTypeError(
                f"expected {name} {' and '.join(x for x in (lo, hi) if x)}, got {text!r}"
            )
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def list_of(item):
    """An argparse type: comma-separated values, each parsed by ``item``."""

    def parse(text: str) -> list:
        values = [item(v) for v in text.split(",") if v.strip()]
        if not values:
            raise argparse.ArgumentTypeError(f"expected comma-separated values, got {text!r}")
        return values

    return parse


FRACTIONS = list_of(number(float, 0.0, 1.0))  # fractions, losses: in [0, 1]
POSITIVE_INTS = list_of(number(int, 1))
SEED = number(int, 0, 2**32 - 1)  # numpy's seed range
COUNT = number(int, 1)


def level(text: str) -> float:
    """An argparse type: a confidence level, strictly between 0 and 1."""
    value = number(float)(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number > 0 and < 1, got {text!r}")
    return value


level.__name__ = "float"

EPOCHS = number(int, 1)
