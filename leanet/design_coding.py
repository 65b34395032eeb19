"""How a :class:`leanet.design.DesignProblem` input codes a design and its thresholds.

An input is the number of levels, the first level's width fraction, the head hidden
size's index and the confidence measure's index, then one threshold per level but the last
(for the most levels), and, when the fine-tune epochs are a fidelity, the epochs last.
Integers and categories round to the nearest value; the fraction rounds to its grid, so that
nearby proposals share one built design. The thresholds are searched in the log space of
:class:`~leanet.problem.ThresholdProblem` (:meth:`DesignCoding.to_unit`), the rest linearly.

A mixin, so that every method stays on :class:`~leanet.design.DesignProblem`, which sets
what it reads (``levels``, ``fraction_range``, ``fraction_step``, ``head_hidden``,
``confidences``, ``epochs``, ``continue_fidelities``, ``base``, ``log_decades``) and
provides :class:`mobo.Problem`'s bounds and fidelities.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

import torch
from torch import Tensor

from leanet.design_recipe import Design
from leanet.problem import log_unit_to_thresholds, thresholds_to_log_unit


class DesignCoding:
    """Decoding inputs into designs and thresholds, and the warped search space (see the
    module docstring); inherited by :class:`~leanet.design.DesignProblem` before
    :class:`mobo.Problem`."""

    # -- decoding --------------------------------------------------------------------------
    @property
    def threshold_columns(self) -> slice:
        """The columns of an input that hold the thresholds (for the most levels)."""
        return slice(4, 4 + self.levels[1] - 1)

    def decode(self, X: Tensor) -> list[tuple[Design, Tensor]]:
        """Per row of ``X`` (``n x d``, in the bounds): its design and its ``L - 1``
        thresholds. A design whose narrow levels would have the same channel counts as the
        next level's (too many levels for the base's width) drops levels until they differ."""
        X = torch.as_tensor(X, dtype=torch.float64).reshape(-1, self.dim)
        out = []
        for x in X:
            epochs = (
                int(self.epochs[int(self.fidelity_index(x[None])[0])])
                if self.has_fidelities
                else self.epochs[0]
            )
            design = Design(
                num_levels=int(torch.round(x[0]).clamp(*self.levels)),
                first_fraction=self._fraction(float(x[1])),
                head_hidden=self.head_hidden[_index(x[2], len(self.head_hidden))],
                confidence=self.confidences[_index(x[3], len(self.confidences))],
                fine_tune_epochs=epochs,
                schedule_epochs=self._schedule(epochs),
            )
            design = design.fitted_to(self.base)
            thresholds = x[self.threshold_columns][: design.num_levels - 1].clamp(0.0, 1.0)
            out.append((design, thresholds))
        return out

    def design_of(self, x: Tensor) -> Design:
        """The design of one input ``x`` (its thresholds dropped)."""
        decoded = self.decode(x)
        if len(decoded) != 1:
            raise ValueError(f"design_of takes one input, got {len(decoded)} rows")
        return decoded[0][0]

    def _schedule(self, epochs: int) -> int:
        """``Design.schedule_epochs`` of a design fine-tuned ``epochs``."""
        continued = self.continue_fidelities and 0 < epochs < self.epochs[-1]
        return self.epochs[-1] if continued else 0

    def _fraction(self, value: float) -> float:
        """The nearest grid value inside the range (the range's ends if none is)."""
        lo, hi = self.fraction_range
        step = self.fraction_step
        grid = round(round(value / step) * step, 6)
        if grid < lo:
            grid = round(math.ceil(lo / step - 1e-9) * step, 6)
        if grid > hi:
            grid = round(math.floor(hi / step + 1e-9) * step, 6)
        return grid if lo <= grid <= hi else lo

    def describe(self, x: Tensor) -> dict[str, Any]:
        """One point as a user reads it: the design's fields and its thresholds."""
        design, thresholds = self.decode(x)[0]
        return {
            **asdict(design),
            "fractions": list(design.fractions),
            "thresholds": thresholds.tolist(),
        }

    # -- the warped search space -----------------------------------------------------------
    def to_unit(self, X: Tensor) -> Tensor:
        U = super().to_unit(X)
        U[..., self.threshold_columns] = thresholds_to_log_unit(
            X[..., self.threshold_columns], self.log_decades
        )
        return U

    def from_unit(self, U: Tensor) -> Tensor:
        X = super().from_unit(U)
        X[..., self.threshold_columns] = log_unit_to_thresholds(
            U[..., self.threshold_columns], self.log_decades
        )
        return X


def _index(value: Tensor, n: int) -> int:
    return int(torch.round(value).clamp(0, n - 1))
