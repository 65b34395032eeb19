"""Standard multi-objective test problems, wrapping ``botorch.test_functions.multi_objective``.

BoTorch's functions are minimization problems; here they are negated (so every objective
is maximized, as everywhere in :mod:`mobo`) and carry BoTorch's reference point and the
best known maximum hypervolume: BoTorch's, except where evaluated points beat it
(BraninCurrin, ConstrainedBraninCurrin and 2-objective C2DTLZ2, which BoTorch approximates
with NSGA-II, and DTLZ1, whose formula is off by 0.5^M (1 - 1/M!)): there the values of
``benchmarks/results/max_hv.md``, rounded up; ``None`` for C2DTLZ2 with other than 2
objectives (BoTorch's is the 2-objective value). :func:`make` builds one by name, which is
how a journal rebuilds the problem of a resumed study.

Constrained problems (``ConstrainedBraninCurrin``, ``C2DTLZ2``, ``DiscBrake``) carry
BoTorch's outcome constraints as black-box constraints: BoTorch's slack ``s_i(x) >= 0``
(feasible) becomes ``c_i(x) = -s_i(x) <= 0``, evaluated with the objectives. ``C2DTLZ2`` is
BoTorch's variant of C2-DTLZ2 [Jain2014]: its central feasible disk has radius ``r sqrt(M)``,
not ``r`` as in the paper and pymoo (on 2 objectives, the arc 45 +- 16.3 degrees instead of
+- 11.5), so its figures compare with BoTorch's, not with the paper's.

[Jain2014] Jain, Deb. An evolutionary many-objective optimization algorithm using
reference-point based nondominated sorting approach, part II. IEEE TEVC 18(4), 2014.
"""

from __future__ import annotations

import hashlib
import json
import math
import operator
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
# Evaluated points beat BoTorch's maximum here (benchmarks/max_hv.py, rounded up); by name
# and number of objectives.
_BEST_KNOWN_MAX_HV: dict[tuple[str, int], float] = {
    ("BraninCurrin", 2): 59.40501,
    ("ConstrainedBraninCurrin", 2): 609.2165,
    ("C2DTLZ2", 2): 0.400056,
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
        noise_std: Observation noise standard deviation of the objectives (a number, or one
            per objective).
        noise_seed: Seeds the noise. The noise of a point is drawn from a generator seeded
            by ``noise_seed`` and the point itself, not from torch's global generator (as
            BoTorch's own noise is): the same study seed then gives the same study, also
            after a resume, whatever else the process drew. Evaluating one point twice
            returns the same value.
        **kwargs: Size arguments of the BoTorch function (``dim``, ``num_objectives``).
    """

    def __init__(
        self, name: str, *, noise_std: Any = None, noise_seed: int = 0, **kwargs: Any
    ) -> None:
        if name not in _FUNCTIONS:
            raise ValueError(f"unknown problem {name!r}; choose one of {available_problems()}")
        sizes = {**_DEFAULT_KWARGS.get(name, {}), **kwargs}
        self.kwargs = dict(sizes)  # what rebuilds the problem (the journal's spec)
        if noise_std is not None:
            self.kwargs.update(noise_std=noise_std, noise_seed=noise_seed)
        try:
            function = _FUNCTIONS[name](negate=True, **sizes)
        except (TypeError, ValueError) as err:
            raise ValueError(f"problem {name!r}: bad arguments {self.kwargs}: {err}") from err
        m = function.num_objectives
        max_hv = _max_hv(name, function)
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
        # Through float32 whatever the input, as a Python float always went: a float64 0.3
        # was journaled as 0.3 and rebuilt as float32 0.30000001, so the study refused its
        # own journal (and would have drawn other noise).
        self.noise_std = None if noise_std is None else torch.as_tensor(noise_std).float().double()
        try:
            if isinstance(noise_seed, float) and noise_seed.is_integer():
                # A journal from before seeds were checked: kept as written, since the
                # noise is keyed by its text ("7.0:"), so it draws the noise it drew.
                self.noise_seed = noise_seed
            else:
                self.noise_seed = operator.index(noise_seed)  # a numpy or tensor int too
        except TypeError as err:
            raise ValueError(
                f"problem {name!r}: noise_seed must be an int, got {noise_seed!r}"
            ) from err
        if self.noise_std is not None and (
            self.noise_std.numel() not in (1, m) or bool((self.noise_std < 0).any())
        ):
            raise ValueError(
                f"problem {name!r}: noise_std must be a number >= 0 or {m} of them, "
                f"got {noise_std!r}"
            )
        if self.noise_std is not None and not bool(torch.isfinite(self.noise_std).all()):
            # NaN passed the check above and a study failed on "non-finite objective values"
            raise ValueError(f"problem {name!r}: noise_std must be finite, got {noise_std!r}")
        if self.noise_std is not None:  # plain numbers, which a journal can record
            self.kwargs.update(noise_std=self.noise_std.tolist(), noise_seed=self.noise_seed)

    def _evaluate(self, X: Tensor) -> Tensor:
        return self._outcomes(X, noisy=True)

    def evaluate_true(self, X: Tensor) -> Tensor | None:
        """The outcomes of ``X`` without the noise (None if there is none): the regret
        metrics measure where a noisy study's points are, as BoTorch's tutorials measure
        ``problem(X, noise=False)``, not how lucky their draws were."""
        return None if self.noise_std is None else self._outcomes(X, noisy=False)

    def _outcomes(self, X: Tensor, *, noisy: bool) -> Tensor:
        Y = self.function(X)
        if noisy and self.noise_std is not None:
            Y = Y + self._noise(X).to(Y)
        if not self.num_constraints:
            return Y
        return torch.cat([Y, -self.function.evaluate_slack(X)], dim=-1)

    def _noise(self, X: Tensor) -> Tensor:
        """Standard normal draws, one row per point of ``X``, from a generator seeded by
        ``noise_seed`` and the point's float64 bytes, times ``noise_std``."""
        rows, m = [], self.num_objectives
        for x in X.detach().to("cpu", torch.float64):
            key = hashlib.sha256(f"{self.noise_seed}:".encode() + x.numpy().tobytes())
            generator = torch.Generator().manual_seed(int.from_bytes(key.digest()[:8]) >> 1)
            rows.append(torch.randn(m, generator=generator, dtype=torch.float64))
        return torch.stack(rows) * self.noise_std

    def spec(self) -> dict[str, Any]:
        return {**super().spec(), "make": {"name": self.name, "kwargs": self.kwargs}}

    #: Bump whenever fingerprint() computes differently (see mobo.Problem).
    fingerprint_version = 1

    def fingerprint(self) -> str:
        """The arguments that build the problem, noise included, as canonical JSON: a
        journal of the same function with another ``noise_std`` or ``noise_seed`` (or
        none) is refused, and the refusal shows what differs."""
        what = {"name": self.name, **self.kwargs}
        return json.dumps(what, sort_keys=True, separators=(",", ":"), default=str)


def _max_hv(name: str, function: mo.MultiObjectiveTestProblem) -> float | None:
    """The best known maximum hypervolume (see the module docstring)."""
    m = function.num_objectives
    if (name, m) in _BEST_KNOWN_MAX_HV:
        return _BEST_KNOWN_MAX_HV[name, m]
    if name == "DTLZ1":  # the simplex front sum f = 1/2 leaves 0.5^M / M! undominated
        return float(function.ref_point.abs().prod()) - 0.5**m / math.factorial(m)
    if name == "C2DTLZ2":  # BoTorch's value is the 2-objective one whatever M is
        return None
    try:
        return float(function.max_hv)
    except NotImplementedError:
        return None


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
