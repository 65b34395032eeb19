"""The black-box problem that a study optimizes.

A :class:`Problem` has box bounds, ``num_objectives`` objectives that are *maximized*
(BoTorch's convention; a problem that minimizes a cost exposes its negative), a reference
point for hypervolume, and a batch ``evaluate``. Algorithms see the problem only through
this interface, so any black box (a LEANet threshold search, a simulator) plugs in.

Black-box constraints. A problem may declare ``num_constraints = k`` constraints
``c_i(x) <= 0`` (feasible), measured by the same evaluation as the objectives (as in
[Belakaria2020c]_ and BoTorch's constrained test problems, whose slack is ``-c``). Then
``evaluate`` returns ``n x (m + k)`` *outcomes*: the ``m`` objectives, then the ``k``
constraint values; :meth:`Problem.split_outcomes` separates them. Only feasible points
count for the Pareto set and the hypervolume.

Multiple fidelities. A problem may declare that its last input ``x[d-1]`` is a fidelity
taking discrete ``fidelity_levels`` (ascending; the last is the *target* fidelity whose
results count) at ``fidelity_costs`` per evaluation, as in [Belakaria2020m]_: a cheaper,
biased evaluation (fewer epochs, part of the data). With ``fidelity_continuous=True`` the
fidelity may take any value between the first and the last level, at a cost interpolated
linearly between the levels' costs (two levels: an affine cost, as BoTorch's
``AffineFidelityCostModel``), as in [Belakaria2020i]_. Results and hypervolume count only
target-fidelity evaluations; algorithms that cannot choose a fidelity evaluate at the
target only.

.. [Belakaria2020m] S. Belakaria, A. Deshwal, J. R. Doppa. Multi-Fidelity Multi-Objective
   Bayesian Optimization: An Output Space Entropy Search Approach. AAAI 2020.
.. [Belakaria2020i] S. Belakaria, A. Deshwal, J. R. Doppa. Information-Theoretic
   Multi-Objective Bayesian Optimization with Continuous Approximations. arXiv:2009.05700,
   2020.
.. [Belakaria2020c] S. Belakaria, A. Deshwal, J. R. Doppa. Max-value Entropy Search for
   Multi-Objective Bayesian Optimization with Constraints. arXiv:2009.01721, 2020.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import torch
from torch import Tensor

from mobo.digest import function_fingerprint
from mobo.journal import NEW_JOURNAL

DTYPE = torch.float64


def as_tensor(value: Any, name: str) -> Tensor:
    """``value`` as a float64 tensor of its own, with an error that names the argument.
    Detached: a user's tensor that requires grad (a reference point computed by a model)
    carried its graph into the GP's training data, and every fit failed. A tensor on the
    ``meta`` device, which holds no values, is refused here rather than at its first use."""
    try:
        tensor = torch.as_tensor(value, dtype=DTYPE).detach().clone()
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(f"{name} must be numeric array-like, got {type(value).__name__}") from err
    if tensor.is_meta:
        raise TypeError(
            f"{name} is a tensor on the meta device, which holds no values; give it on the CPU"
        )
    return tensor


def plain_number(value: Any) -> Any:
    """``value`` as the Python ``int`` or ``float`` it stands for if it is a number of
    another type (NumPy's ``int64`` or ``float32``), else unchanged for the caller's check
    to judge (a bool stays a bool, which no count takes). Settings read with NumPy or
    pandas were refused as "n_evals must be a positive int, got np.int64(6)", and
    journals hold plain JSON numbers."""
    if isinstance(value, bool) or type(value) in (int, float):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    return float(value) if isinstance(value, numbers.Real) else value


def positive_int(value: Any, name: str) -> int:
    """``value`` as a Python ``int`` if it is a positive whole number (a NumPy integer too,
    :func:`plain_number`; never a bool), else a ``ValueError`` naming the setting ``name``."""
    value = plain_number(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


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
        num_constraints: Number ``k`` of black-box constraints ``c_i(x) <= 0`` (feasible)
            that :meth:`_evaluate` returns after the objectives; default 0.
        constraint_names: Names for reports and plots, default ``c0..c{k-1}``.
        fidelity_levels: Values the last input (the fidelity) may take, ascending, at
            least two, inside its bounds; the last is the target fidelity. None: no
            fidelities (the default).
        fidelity_costs: Positive cost of one evaluation at each level (e.g. seconds),
            one per level; required with ``fidelity_levels``.
        fidelity_continuous: Whether the fidelity may take any value from the first level
            to the last (the levels are then the knots of its piecewise-linear cost); by
            default only the levels themselves.
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
        num_constraints: int = 0,
        constraint_names: Sequence[str] | None = None,
        fidelity_levels: Sequence[float] | None = None,
        fidelity_costs: Sequence[float] | None = None,
        fidelity_continuous: bool = False,
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
        num_objectives = positive_int(num_objectives, "num_objectives")
        num_constraints = plain_number(num_constraints)
        ref_point = as_tensor(ref_point, "ref_point")
        if ref_point.shape != (num_objectives,):
            raise ValueError(
                f"ref_point must have length num_objectives={num_objectives}, "
                f"got shape {tuple(ref_point.shape)}"
            )
        if not torch.isfinite(ref_point).all():
            raise ValueError(f"ref_point must be finite, got {ref_point.tolist()}")
        if max_hv is not None:
            if isinstance(max_hv, Tensor):
                max_hv = max_hv.detach()
            try:  # a float, numpy or 0-d tensor number; not a string or a bool
                value = float(max_hv) if not isinstance(max_hv, str | bool) else math.nan
            except (TypeError, ValueError):
                value = math.nan
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"max_hv must be a positive finite number, got {max_hv!r}")
            max_hv = value  # a plain float: a tensor that requires grad failed the plots
        if isinstance(objective_names, str):
            raise TypeError(f"objective_names must be a list of names, got {objective_names!r}")
        if objective_names is not None and len(objective_names) != num_objectives:
            raise ValueError(
                f"objective_names must have {num_objectives} names, got {list(objective_names)}"
            )
        senses = list(senses) if senses is not None else ["max"] * num_objectives
        if len(senses) != num_objectives or any(s not in ("max", "min") for s in senses):
            raise ValueError(
                f"senses must be {num_objectives} entries of 'max' or 'min', got {senses}"
            )
        if (
            not isinstance(num_constraints, int)
            or isinstance(num_constraints, bool)
            or num_constraints < 0
        ):
            raise ValueError(f"num_constraints must be an int >= 0, got {num_constraints!r}")
        if constraint_names is not None and (
            isinstance(constraint_names, str) or len(constraint_names) != num_constraints
        ):
            raise ValueError(
                f"constraint_names must have num_constraints={num_constraints} names, got "
                f"{constraint_names!r}"
            )
        self.num_constraints = num_constraints
        self.constraint_names = list(constraint_names or [f"c{i}" for i in range(num_constraints)])
        self.fidelity_levels, self.fidelity_costs = _check_fidelities(
            fidelity_levels, fidelity_costs, bounds
        )
        if not isinstance(fidelity_continuous, bool):
            raise TypeError(f"fidelity_continuous must be a bool, got {fidelity_continuous!r}")
        if fidelity_continuous and fidelity_levels is None:
            raise ValueError("fidelity_continuous needs fidelity_levels and fidelity_costs")
        self.fidelity_continuous = fidelity_continuous
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

    @property
    def num_outcomes(self) -> int:
        """Columns of :meth:`evaluate`'s output: ``m`` objectives plus ``k`` constraints."""
        return self.num_objectives + self.num_constraints

    @property
    def has_fidelities(self) -> bool:
        """Whether the last input is a fidelity (see ``fidelity_levels``)."""
        return self.fidelity_levels is not None

    def fidelity_index(self, X: Tensor) -> Tensor:
        """Per row of ``X`` (``n x d``), the index of the nearest fidelity level (0 for
        every row of a problem without fidelities, whose one level is its target)."""
        if self.fidelity_levels is None:
            return torch.zeros(X.shape[0], dtype=torch.long)
        return (X[:, -1:] - self.fidelity_levels).abs().argmin(dim=-1)

    def at_target(self, X: Tensor) -> Tensor:
        """An ``n`` boolean mask: the rows evaluated at the target fidelity (every row of a
        problem without fidelities)."""
        if self.fidelity_levels is None:
            return torch.ones(X.shape[0], dtype=torch.bool)
        if self.fidelity_continuous:
            low, target = self.fidelity_levels[0], self.fidelity_levels[-1]
            return (X[:, -1] - target).abs() <= 1e-9 * (target - low)
        return self.fidelity_index(X) == len(self.fidelity_levels) - 1

    def cost(self, X: Tensor) -> Tensor:
        """The ``n`` costs of evaluating the rows of ``X`` (1 each without fidelities)."""
        if self.fidelity_costs is None:
            return torch.ones(X.shape[0], dtype=DTYPE)
        if self.fidelity_continuous:
            return interpolate(X[:, -1].to(DTYPE), self.fidelity_levels, self.fidelity_costs)
        return self.fidelity_costs[self.fidelity_index(X)]

    def current_cost(self, X: Tensor) -> Tensor:
        """What evaluating the rows of ``X`` would cost now: :meth:`cost`, unless the
        problem knows part of the work is done (a design search continuing a cheaper
        fidelity's training run: :class:`leanet.design.DesignProblem`). MF-OSEMO weighs
        moving an evaluated point to the target fidelity by it."""
        return self.cost(X)

    def split_outcomes(self, outcomes: Tensor) -> tuple[Tensor, Tensor]:
        """Split ``... x (m + k)`` outcomes into objectives (``... x m``) and constraint
        values (``... x k``, feasible where ``<= 0``)."""
        m = self.num_objectives
        return outcomes[..., :m], outcomes[..., m:]

    @property
    def _outcome_layout(self) -> str:
        """How a constrained problem's outcome rows are laid out, for error messages."""
        m, k = self.num_objectives, self.num_constraints
        return f"{m} objectives then {k} constraint values per row"

    def check_told(self, X: Tensor, Y: Tensor) -> None:
        """Refuse evaluations told to a study that are not this problem's: ``X`` must be
        ``q x d``, finite and within the bounds, at one of the fidelity levels if they are
        discrete (one between two levels was counted at the nearest, e.g. a biased cheap
        run as a target result), ``Y`` ``q x (m + k)`` (a NaN in ``Y`` is allowed: it
        records a failed evaluation)."""
        if X.dim() != 2 or X.shape[1] != self.dim:
            raise ValueError(f"X must have shape q x {self.dim}, got {tuple(X.shape)}")
        lower, upper = self.bounds
        tolerance = 1e-9 * (upper - lower)
        outside = ~torch.isfinite(X).all(-1) | (X < lower - tolerance).any(-1)
        outside |= (X > upper + tolerance).any(-1)
        if outside.any():
            row = int(outside.nonzero()[0, 0])
            raise ValueError(
                f"X row {row} ({X[row].tolist()}) is not a point of the problem: every "
                f"coordinate must be finite and within the bounds {self.bounds.tolist()}"
            )
        if self.fidelity_levels is not None and not self.fidelity_continuous:
            levels = self.fidelity_levels.to(X)
            gap = (X[:, -1] - levels[self.fidelity_index(X)]).abs()
            off = gap > 1e-9 * (levels[-1] - levels[0]).abs().clamp_min(1e-12)
            if off.any():
                row = int(off.nonzero()[0, 0])
                raise ValueError(
                    f"X row {row} is at fidelity {float(X[row, -1])}, not one of the problem's "
                    f"levels {self.fidelity_levels.tolist()}"
                )
        if Y.shape != (X.shape[0], self.num_outcomes):
            what = f" ({self._outcome_layout})" if self.num_constraints else ""
            raise ValueError(
                f"Y must have shape {(X.shape[0], self.num_outcomes)}{what}, got {tuple(Y.shape)}"
            )

    def evaluate(self, X: Any) -> Tensor:
        """Evaluate a batch.

        Args:
            X: An ``n x d`` array inside ``bounds`` (a single ``d`` vector is accepted).

        Returns:
            An ``n x (m + k)`` float64 tensor: objective values (to maximize), then the
            ``k`` constraint values (feasible where ``<= 0``; ``k = 0`` unless declared).
            A row may hold NaN for a failed evaluation; a study records such rows as failed.
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
            if isinstance(output, Tensor):  # a tensor that is not data: as_tensor says why
                raise EvaluationShapeError(str(err)) from err
            raise EvaluationShapeError(
                f"{self.name}._evaluate must return an n x {self.num_outcomes} numeric "
                f"array, got {type(output).__name__}"
            ) from err
        if Y.shape != (X.shape[0], self.num_outcomes):
            expected = f"{(X.shape[0], self.num_outcomes)}"
            if self.num_constraints:
                expected += f": {self._outcome_layout}"
            raise EvaluationShapeError(
                f"{self.name}._evaluate returned shape {tuple(Y.shape)}, expected {expected}"
            )
        return Y

    def _evaluate(self, X: Tensor) -> Tensor:
        raise NotImplementedError

    def evaluate_true(self, X: Tensor) -> Tensor | None:
        """The outcomes of ``X`` (``n x d``) without observation noise, laid out as
        :meth:`evaluate`'s, for a problem that knows them (a noisy test problem; BoTorch's
        test functions call it so). The regret metrics measure them
        (:attr:`mobo.Result.true_hypervolume`). None (the default): no noise, or unknown."""
        return None

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

    def fidelity_to_unit(self, values: Tensor) -> Tensor:
        """Map values of the fidelity (the last input) to its unit-cube coordinate, the
        scale in which algorithms fix or search it."""
        low, high = self.bounds[0, -1], self.bounds[1, -1]
        return (values.to(DTYPE) - low) / (high - low)

    def outcome_keys(self, X: Tensor) -> list[Any] | None:
        """What is known of the black box's plateaus: per row of ``X`` (``n x d``, in the
        bounds), a hashable key such that points with equal keys give equal outcomes (a
        problem whose outcomes are piecewise constant, such as a threshold search over a
        finite data set, knows its pieces). Algorithms then spend no evaluation on a point
        whose key an evaluated or pending point already has (see
        :meth:`mobo.Algorithm.ask`), as Ax deduplicates arms. None (the default): nothing
        is known, every point is new."""
        return None

    #: Whether the fidelity is continuous (see ``fidelity_continuous``).
    fidelity_continuous: bool = False

    #: GP surrogate options this problem is known to need (:class:`mobo.surrogate.Surrogate`
    #: keyword arguments), the defaults of every model-based algorithm on it; options a user
    #: passes as ``surrogate=`` win. Empty: the surrogate's own defaults.
    surrogate_options: Mapping[str, Any] = MappingProxyType({})  # read-only: shared by all

    def spec(self) -> dict[str, Any]:
        """What identifies this problem in a journal; a resumed study must match it.
        (``num_constraints`` only when there are some, so an unconstrained problem's spec,
        and journal, is what it was before constraints existed.)"""
        spec = {
            "name": self.name,
            "dim": self.dim,
            "num_objectives": self.num_objectives,
            "bounds": self.bounds.tolist(),
            "ref_point": self.ref_point.tolist(),
        }
        if self.num_constraints:
            spec["num_constraints"] = self.num_constraints
        if self.fidelity_levels is not None:
            spec["fidelity_levels"] = self.fidelity_levels.tolist()
            spec["fidelity_costs"] = self.fidelity_costs.tolist()
            if self.fidelity_continuous:  # absent otherwise: older journals stay valid
                spec["fidelity_continuous"] = True
        fingerprint = self.fingerprint()
        if fingerprint is not None:
            spec["fingerprint"] = fingerprint
            spec["fingerprint_version"] = self.fingerprint_version
        return spec

    #: How :meth:`fingerprint` is computed, journaled beside it. Bump it whenever a
    #: subclass's fingerprint changes definition: a journal of the older definition is then
    #: refused as one that cannot be checked, not as one of another problem.
    fingerprint_version: int = 1

    def fingerprint(self) -> str | None:
        """A digest of what the objectives are computed from, for problems whose name and
        bounds do not tell it (e.g. a LEANet's cached records and costs): a journal made
        with another fingerprint is refused. None (the default): not checked."""
        return None

    def fingerprint_advice(self, journaled: Any) -> str:
        """What a refusal of a journal whose fingerprint ``journaled`` differs tells the user
        to do (a :class:`FunctionProblem` may resume under the journaled fingerprint)."""
        return NEW_JOURNAL

    def __repr__(self) -> str:
        k = f", k={self.num_constraints}" if self.num_constraints else ""
        return (
            f"{type(self).__name__}(name={self.name!r}, d={self.dim}, m={self.num_objectives}{k})"
        )


def _check_fidelities(
    levels: Sequence[float] | None, costs: Sequence[float] | None, bounds: Tensor
) -> tuple[Tensor | None, Tensor | None]:
    if levels is None and costs is None:
        return None, None
    if levels is None or costs is None:
        raise ValueError("fidelity_levels and fidelity_costs must be given together")
    if bounds.shape[-1] < 2:
        # The fidelity is the last input; with no other input there is nothing to
        # optimize at the target, and BoTorch's models fail on an empty design space.
        raise ValueError(
            "a problem with a fidelity needs at least one input besides it (the fidelity "
            f"is the last of the bounds' columns), got bounds with {bounds.shape[-1]} column"
        )
    levels, costs = as_tensor(levels, "fidelity_levels"), as_tensor(costs, "fidelity_costs")
    if levels.dim() != 1 or levels.numel() < 2 or not (levels[1:] > levels[:-1]).all():
        raise ValueError(
            f"fidelity_levels must be at least two ascending values, got {levels.tolist()}"
        )
    low, high = float(bounds[0, -1]), float(bounds[1, -1])
    if levels[0] < low or levels[-1] > high:
        raise ValueError(
            f"fidelity_levels {levels.tolist()} must lie inside the bounds of the last input "
            f"(the fidelity), [{low}, {high}]"
        )
    if costs.shape != levels.shape or not (torch.isfinite(costs) & (costs > 0)).all():
        raise ValueError(
            f"fidelity_costs must be {levels.numel()} positive finite costs (one per level), "
            f"got {costs.tolist()}"
        )
    return levels, costs


def interpolate(x: Tensor, knots: Tensor, values: Tensor) -> Tensor:
    """Piecewise-linear interpolation of ``values`` at ascending ``knots``, clamped to
    the end values outside them (``torch.interp`` does not exist; ``numpy.interp`` would
    leave torch)."""
    x = x.clamp(knots[0], knots[-1])
    i = torch.searchsorted(knots, x.contiguous()).clamp(1, len(knots) - 1)
    left, right = knots[i - 1], knots[i]
    share = (x - left) / (right - left)
    return values[i - 1] + share * (values[i] - values[i - 1])


class FunctionProblem(Problem):
    """A :class:`Problem` around a plain function ``f(X: n x d) -> n x (m + k)`` (``k``
    constraint columns after the ``m`` objectives when ``num_constraints=k`` is given).

    Its fingerprint is a digest of the function, taken when the problem is made
    (:func:`mobo.digest.function_fingerprint`: its bytecode and constants, defaults, and the
    values it closes over or reads as globals, not its source), so a journal of another
    function is refused and the same function resumes in a new process. ``fingerprint``
    (a string) replaces the digest: a name for what the function computes, e.g. for one
    that reads a value changing as it runs, or the journaled fingerprint a refusal names, to
    resume after an edit that changes no result. Other keyword arguments are
    :class:`Problem`'s.
    """

    #: Bump whenever fingerprint() computes differently (see mobo.Problem).
    fingerprint_version = 1

    def __init__(
        self,
        function,
        bounds: Any,
        num_objectives: int,
        ref_point,
        *,
        fingerprint: str | None = None,
        **kwargs,
    ) -> None:
        if not callable(function):
            raise TypeError(f"function must be callable, got {type(function).__name__}")
        if fingerprint is not None and not (isinstance(fingerprint, str) and fingerprint):
            raise TypeError(f"fingerprint must be a non-empty string, got {fingerprint!r}")
        super().__init__(bounds, num_objectives, ref_point, **kwargs)
        self.function = function
        # Digested once, as made: a function that logs into a list it reads would otherwise
        # change its fingerprint as it runs, and the same study be refused in one process.
        self._fingerprint = fingerprint or function_fingerprint(function)

    def fingerprint(self) -> str:
        """The function's digest, or the ``fingerprint`` given (see the class)."""
        return self._fingerprint

    def fingerprint_advice(self, journaled: Any) -> str:
        """How to go on from a journal of another function (see :class:`Problem`)."""
        return (
            "if it is another function, or one changed on purpose, start a new journal; if "
            "every journaled result still holds (an edit that changes none, a counter or log "
            "the function keeps, another Python version, whose bytecode differs), resume it "
            "with "
            f"FunctionProblem(..., fingerprint={journaled!r})"
        )

    def _evaluate(self, X: Tensor) -> Tensor:
        return self.function(X)
