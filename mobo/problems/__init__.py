"""Standard multi-objective test problems, wrapping ``botorch.test_functions.multi_objective``.

BoTorch's functions are minimization problems; here they are negated (so every objective
is maximized, as everywhere in :mod:`mobo`) and carry BoTorch's reference point and the
known maximum hypervolume. :func:`make` builds one by name, which is how a journal
rebuilds the problem of a resumed study.

Constrained problems (``ConstrainedBraninCurrin``, ``C2DTLZ2``, ``DiscBrake``) carry
BoTorch's outcome constraints as black-box constraints: BoTorch's slack ``s_i(x) >= 0``
(feasible) becomes ``c_i(x) = -s_i(x) <= 0``, evaluated with the objectives.
"""

from __future__ import annotations

from typing import Any

import torch
from botorch.test_functions import multi_objective as mo
from botorch.test_functions.base import ConstrainedBaseTestProblem
from torch import Tensor

from mobo.problem import Problem

_FUNCTIONS: dict[str, type[mo.MultiObjectiveTestProblem]] = {
    "BraninCurrin": mo.BraninCurrin,
    "ZDT1": mo.ZDT1,
    "ZDT2": mo.ZDT2,
    "ZDT3": mo.ZDT3,
    "DTLZ1": mo.DTLZ1,
    "DTLZ2": mo.DTLZ2,
    "VehicleSafety": mo.VehicleSafety,
    "ConstrainedBraninCurrin": mo.ConstrainedBraninCurrin,
    "C2DTLZ2": mo.C2DTLZ2,
    "DiscBrake": mo.DiscBrake,
}
# Sizes used when the caller gives none (the DTLZ/ZDT families need them).
_DEFAULT_KWARGS: dict[str, dict[str, int]] = {
    "ZDT1": {"dim": 4},
    "ZDT2": {"dim": 4},
    "ZDT3": {"dim": 4},
    "DTLZ1": {"dim": 6, "num_objectives": 2},
    "DTLZ2": {"dim": 6, "num_objectives": 2},
    "C2DTLZ2": {"dim": 4, "num_objectives": 2},
}


class BoTorchTestProblem(Problem):
    """A BoTorch multi-objective test function as a (maximized) :class:`Problem`.

    Args:
        name: One of :func:`available_problems`.
        noise_std: Observation noise standard deviation, passed to BoTorch.
        **kwargs: Size arguments of the BoTorch function (``dim``, ``num_objectives``).
    """

    def __init__(self, name: str, *, noise_std: float | None = None, **kwargs: Any) -> None:
        if name not in _FUNCTIONS:
            raise ValueError(f"unknown problem {name!r}; choose one of {available_problems()}")
        self.kwargs = {**_DEFAULT_KWARGS.get(name, {}), **kwargs}
        if noise_std is not None:
            self.kwargs["noise_std"] = noise_std
        try:
            function = _FUNCTIONS[name](negate=True, **self.kwargs)
        except (TypeError, ValueError) as err:
            raise ValueError(f"problem {name!r}: bad arguments {self.kwargs}: {err}") from err
        try:
            max_hv = float(function.max_hv)
        except NotImplementedError:
            max_hv = None
        m = function.num_objectives
        k = function.num_constraints if isinstance(function, ConstrainedBaseTestProblem) else 0
        super().__init__(
            function.bounds,
            m,
            function.ref_point,
            max_hv=max_hv,
            objective_names=[f"f{j}" for j in range(m)],
            senses=["min"] * m,
            name=name,
            num_constraints=k,
        )
        self.function = function

    def _evaluate(self, X: Tensor) -> Tensor:
        if not self.num_constraints:
            return self.function(X)
        return torch.cat([self.function(X), -self.function.evaluate_slack(X)], dim=-1)

    def spec(self) -> dict[str, Any]:
        return {**super().spec(), "make": {"name": self.name, "kwargs": self.kwargs}}


def available_problems() -> list[str]:
    """Names accepted by :func:`make`."""
    return list(_FUNCTIONS)


def make(name: str, **kwargs: Any) -> BoTorchTestProblem:
    """Build the test problem ``name`` (e.g. ``make("ZDT1", dim=4)``)."""
    return BoTorchTestProblem(name, **kwargs)


def from_journal(path: Any, spec: dict[str, Any]) -> BoTorchTestProblem:
    """The test problem a journal's header ``spec`` records (``Study.load`` without a
    problem); a journal of any other problem cannot rebuild it."""
    if "make" not in spec:
        from mobo.journal import JournalError

        raise JournalError(
            f"journal {str(path)!r} is for problem {spec['name']!r}, which it cannot "
            "rebuild: pass problem=..."
        )
    return make(spec["make"]["name"], **spec["make"]["kwargs"])


__all__ = ["BoTorchTestProblem", "available_problems", "from_journal", "make"]
