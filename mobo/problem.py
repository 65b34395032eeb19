"""The black-box problem that a study optimizes.

A :class:`Problem` has box bounds, ``num_objectives`` objectives that are *maximized*
(BoTorch's convention; a problem that minimizes a cost exposes its negative), a reference
point for hypervolume, and a batch ``evaluate``. Algorithms see the problem only through
this interface, so any black box (a LEANet threshold search, a simulator) plugs in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

DTYPE = torch.float64


def as_tensor(value: Any, name: str) -> Tensor:
    """``value`` as a float64 tensor, with an error that names the argument."""
    try:
        return torch.as_tensor(value, dtype=DTYPE).clone()
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(f"{name} must be numeric array-like, got {type(value).__name__}") from err


class EvaluationShapeError(ValueError):
    """A problem's evaluation returned the wrong shape or type: a bug in the problem's code,
    so a study stops at the first one instead of recording every evaluation as failed."""


class Problem:
    """A box-bounded multi-objective black box with objectives to maximize.

    Subclasses implement :meth:`_evaluate`; :meth:`evaluate` checks shapes around it.

    Args:
        bounds: A ``2 x d`` array of lower and upper bounds, lower < upper.
        num_objectives: Number of objectives ``m`` (at least 1).
        ref_point: A length-``m`` point in objective space (maximization) that every
            point of interest dominates; hypervolume is measured from it.
        max_hv: The hypervolume of the true Pareto front from ``ref_point``, if known.
            Enables the hypervolume difference (regret) metrics.
        objective_names: Names for reports and plots, default ``f0..f{m-1}``.
        senses: Per objective, ``"max"`` if its natural form is maximized or ``"min"`` if
            the problem reports its negative (e.g. energy); reports and plots show
            ``natural = y`` or ``-y`` accordingly. Default: all ``"max"``.
        name: A name that identifies the problem in journals and reports.
    """

    def __init__(
        self,
        bounds: Any,
        num_objectives: int,
        ref_point: Sequence[float] | Tensor,
        *,
        max_hv: float | None = None,
        objective_names: Sequence[str] | None = None,
        senses: Sequence[str] | None = None,
        name: str | None = None,
    ) -> None:
        bounds = as_tensor(bounds, "bounds")
        if bounds.dim() != 2 or bounds.shape[0] != 2 or bounds.shape[1] < 1:
            raise ValueError(f"bounds must have shape 2 x d with d >= 1, got {tuple(bounds.shape)}")
        if not torch.isfinite(bounds).all():
            raise ValueError(f"bounds must be finite, got {bounds.tolist()}")
        bad = (bounds[0] >= bounds[1]).nonzero().flatten().tolist()
        if bad:
            i = bad[0]
            raise ValueError(
                f"bounds: lower must be < upper in every dimension; dimension {i} has "
                f"lower={bounds[0, i].item()} >= upper={bounds[1, i].item()}"
            )
        if not isinstance(num_objectives, int) or num_objectives < 1:
            raise ValueError(f"num_objectives must be a positive int, got {num_objectives!r}")
        ref_point = as_tensor(ref_point, "ref_point")
        if ref_point.shape != (num_objectives,):
            raise ValueError(
                f"ref_point must have length num_objectives={num_objectives}, "
                f"got shape {tuple(ref_point.shape)}"
            )
        if not torch.isfinite(ref_point).all():
            raise ValueError(f"ref_point must be finite, got {ref_point.tolist()}")
        if max_hv is not None and not (math.isfinite(max_hv) and max_hv > 0):
            raise ValueError(f"max_hv must be a positive finite number, got {max_hv!r}")
        if objective_names is not None and len(objective_names) != num_objectives:
            raise ValueError(
                f"objective_names must have {num_objectives} names, got {list(objective_names)}"
            )
        senses = list(senses) if senses is not None else ["max"] * num_objectives
        if len(senses) != num_objectives or any(s not in ("max", "min") for s in senses):
            raise ValueError(
                f"senses must be {num_objectives} entries of 'max' or 'min', got {senses}"
            )
        self.senses = senses
        self.bounds = bounds
        self.num_objectives = num_objectives
        self.ref_point = ref_point
        self.max_hv = max_hv
        self.objective_names = list(objective_names or [f"f{j}" for j in range(num_objectives)])
        self.name = name or type(self).__name__

    @property
    def dim(self) -> int:
        """Number of inputs ``d``."""
        return self.bounds.shape[1]

    def evaluate(self, X: Any) -> Tensor:
        """Evaluate a batch.

        Args:
            X: An ``n x d`` array inside ``bounds`` (a single ``d`` vector is accepted).

        Returns:
            An ``n x m`` float64 tensor of objective values (to maximize). A row may hold
            NaN for a failed evaluation; a study records such rows as failed.
        """
        X = as_tensor(X, "X")
        if X.dim() == 1:
            X = X.unsqueeze(0)
        if X.dim() != 2 or X.shape[1] != self.dim:
            raise ValueError(f"X must have shape n x {self.dim}, got {tuple(X.shape)}")
        output = self._evaluate(X)
        try:
            Y = as_tensor(output, f"{self.name}._evaluate output")
        except TypeError as err:
            raise EvaluationShapeError(
                f"{self.name}._evaluate must return an n x {self.num_objectives} numeric "
                f"array, got {type(output).__name__}"
            ) from err
        if Y.shape != (X.shape[0], self.num_objectives):
            raise EvaluationShapeError(
                f"{self.name}._evaluate returned shape {tuple(Y.shape)}, "
                f"expected {(X.shape[0], self.num_objectives)}"
            )
        return Y

    def _evaluate(self, X: Tensor) -> Tensor:
        raise NotImplementedError

    def natural(self, Y: Tensor) -> Tensor:
        """Objective values in their natural sign (``-y`` for ``"min"`` objectives)."""
        signs = torch.tensor([1.0 if s == "max" else -1.0 for s in self.senses], dtype=Y.dtype)
        return Y * signs

    def to_unit(self, X: Tensor) -> Tensor:
        """Map points from ``bounds`` to the unit cube."""
        return (X - self.bounds[0]) / (self.bounds[1] - self.bounds[0])

    def from_unit(self, U: Tensor) -> Tensor:
        """Map points from the unit cube to ``bounds``."""
        return self.bounds[0] + U * (self.bounds[1] - self.bounds[0])

    def spec(self) -> dict[str, Any]:
        """What identifies this problem in a journal; a resumed study must match it."""
        return {
            "name": self.name,
            "dim": self.dim,
            "num_objectives": self.num_objectives,
            "bounds": self.bounds.tolist(),
            "ref_point": self.ref_point.tolist(),
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, d={self.dim}, m={self.num_objectives})"


class FunctionProblem(Problem):
    """A :class:`Problem` around a plain function ``f(X: n x d) -> n x m``."""

    def __init__(self, function, bounds: Any, num_objectives: int, ref_point, **kwargs) -> None:
        if not callable(function):
            raise TypeError(f"function must be callable, got {type(function).__name__}")
        super().__init__(bounds, num_objectives, ref_point, **kwargs)
        self.function = function

    def _evaluate(self, X: Tensor) -> Tensor:
        return self.function(X)
