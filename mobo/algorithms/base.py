"""The contract every optimization algorithm fulfils (the registry that names them is
:mod:`mobo.algorithms.registry`).

An :class:`Algorithm` proposes points from the observations so far. It holds no
observations of its own: the study passes every completed evaluation to :meth:`ask`, so
a study resumed from its journal proposes exactly what an uninterrupted one would.
Randomness comes only from the study's ``seed`` and the number of evaluations made so far,
from which each call derives its own seed. What else an algorithm carries between asks (the
GP algorithms' last fitted hyperparameters) it exposes as :meth:`Algorithm.state_dict`, which
the study journals.

Black-box constraints: an algorithm that models them sets ``supports_constraints``; every
other one refuses a constrained problem when it is built, rather than optimize the
objectives as if any point were feasible. Likewise an algorithm whose acquisition needs a
Pareto front (hypervolume improvement, entropy of the front's maxima) sets
``min_objectives = 2`` and refuses a single-objective problem when it is built, not after
the initial design has been paid for.

Known plateaus: when the problem says which points give equal outcomes
(:meth:`mobo.Problem.outcome_keys`), :meth:`Algorithm.ask` spends no evaluation on an
outcome already evaluated or pending, for every algorithm alike: a model's repeat is
proposed again with the repeats pending (once), and what still repeats is replaced by the
first Sobol point of a new plateau. On LEANet thresholds a GP-based algorithm otherwise
spent a fifth of its evaluations on repeats (``benchmarks/results/threshold_search.md``).
A point within :data:`REPEAT_TOLERANCE` of a failed, evaluated or pending one (or of an
earlier point of the same batch) is such a repeat for every problem: a flat acquisition
clamped to a corner proposed a failing corner again (qParEGO paid twice), and MESMO and
MESMOC, pushed to a bound, evaluated x = 1.0 three times on a deterministic step problem
(sweepF, stop 74): no algorithm here means to replicate a point
(``benchmarks/results/repeat_rule.md``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

# The registry's names stay importable from here, where code written before it moved found them.
from mobo.algorithms.registry import available_algorithms as available_algorithms
from mobo.algorithms.registry import constrained_algorithms as constrained_algorithms
from mobo.algorithms.registry import make_algorithm as make_algorithm
from mobo.algorithms.registry import register as register
from mobo.algorithms.registry import single_objective_algorithms as single_objective_algorithms
from mobo.expected_warnings import counting_expected_warnings
from mobo.problem import DTYPE, Problem, positive_int

#: How failed evaluations reach a model (the ``failures`` option of the model-based
#: algorithms: :class:`~mobo.algorithms.bayesian.BayesianAlgorithm`, ``ax``).
FAILURES = ("auto", "learn", "ignore")


def failures_as_observations(
    failures: str,
    pending: bool,
    m: int,
    U: Tensor,
    Y: Tensor,
    U_failed: Tensor,
    in_a_row: Tensor,
) -> tuple[Tensor, Tensor, Tensor | None]:
    """The observations a model sees under the ``failures`` option (``FAILURES``), and the
    failed points to count as pending (``pending``: the isolated ones, under ``"auto"``).
    ``"learn"``, and ``"auto"`` for failures that came ``in_a_row``, add a failed point at
    the worst outcome observed (every objective's minimum of the ``m``, every constraint's
    maximum): SMAC's treatment of crashed runs; no BoTorch model learns from a failure."""
    learn = {"learn": torch.ones_like(in_a_row), "auto": in_a_row}.get(failures)
    if learn is None:
        return U, Y, None
    isolated = U_failed[~learn] if pending else None
    if not learn.any():
        return U, Y, isolated
    worst = torch.cat([Y[:, :m].min(dim=0).values, Y[:, m:].max(dim=0).values])
    U = torch.cat([U, U_failed[learn]])
    return U, torch.cat([Y, worst.expand(int(learn.sum()), -1)]), isolated


class Algorithm(ABC):
    """Proposes batches of points to evaluate.

    Subclasses set ``name`` and implement :meth:`propose`, working in the unit cube
    ``[0, 1]^d``; the base class maps to and from the problem's bounds, seeds torch and
    numpy for the call, and serves the initial space-filling design.

    Args:
        problem: The problem to optimize.
        n_initial: Size of the initial scrambled-Sobol design that model-based
            algorithms evaluate before they use a model; default ``2 * (d + 1)``.
    """

    name: ClassVar[str]
    #: Whether the first ``n_initial`` points come from the Sobol design rather than
    #: :meth:`propose` (model-based and population-based algorithms need such a start).
    uses_initial_design: ClassVar[bool] = True
    #: Whether the points after the initial design come from a model (a budget within
    #: the design leaves it none, which :meth:`mobo.Study.optimize` warns of).
    model_based: ClassVar[bool] = False
    #: Whether the algorithm handles black-box constraints; one that does not refuses a
    #: constrained problem. One that does gets ``m + k`` outcome columns in :meth:`propose`.
    supports_constraints: ClassVar[bool] = False
    #: Whether the algorithm chooses the fidelity of a problem with fidelities (the last
    #: input). One that does not sees only target-fidelity observations and proposes at
    #: the target fidelity; one that does gets every observation and its proposals'
    #: fidelities are snapped to the nearest level (the initial design's too).
    supports_fidelities: ClassVar[bool] = False
    #: Whether the algorithm refuses a problem without fidelities (multi-fidelity ones),
    #: naming :attr:`single_fidelity_alternative` instead.
    needs_fidelities: ClassVar[bool] = False
    single_fidelity_alternative: ClassVar[str] = "qlognehvi"
    #: Whether an algorithm that cannot choose the fidelity proposes without seeing the
    #: fidelity input (model-based algorithms: every observation they see is at the
    #: target, and along an input that never varies the model cannot tell the acquisition
    #: anything, which then wanders there; measured on BraninCurrin with a fidelity input,
    #: 30 evaluations, 2 seeds: qLogNEHVI 41.4 / 41.3 with it, 56.7 / 56.2 without).
    hide_target_fidelity: ClassVar[bool] = False
    #: The fidelity values this instance snaps its proposals to when the problem's fidelity
    #: is continuous (e.g. iMOCA's grid); None: the problem's levels if discrete, else any
    #: value between its first and last level.
    fidelity_grid: Tensor | None = None
    #: The fewest objectives the algorithm handles.
    min_objectives: ClassVar[int] = 1
    #: How failed evaluations reach :meth:`propose` (one of ``FAILURES``; model-based
    #: algorithms take it as an option, see :func:`check_failures`): here ``"ignore"``, the
    #: observations alone.
    failures: str = "ignore"
    #: Whether ``failures="auto"`` counts the isolated failures as pending points (explored
    #: neighbourhoods) rather than ignoring them: measured better for qLogNEHVI (15% of
    #: points failing at random: 55.3 against 48.6 median hypervolume), much worse for
    #: MESMO, whose entropy over pending points then drowns the candidate's (0.8 against
    #: 51.9); ``benchmarks/results/failures.md``.
    failures_pending: ClassVar[bool] = False

    def __init__(self, problem: Problem, *, n_initial: int | None = None) -> None:
        if self.needs_fidelities and not problem.has_fidelities:
            raise ValueError(
                f"algorithm {self.name!r} needs a problem with fidelities (fidelity_levels, "
                f"fidelity_costs); problem {problem.name!r} declares none: use "
                f"{self.single_fidelity_alternative!r}"
            )
        if problem.num_objectives < self.min_objectives:
            raise ValueError(
                f"algorithm {self.name!r} needs at least {self.min_objectives} objectives, and "
                f"problem {problem.name!r} has {problem.num_objectives}; choose one of "
                f"{single_objective_algorithms()}"
            )
        if problem.num_constraints and not self.supports_constraints:
            raise ValueError(
                f"algorithm {self.name!r} cannot handle black-box constraints, and problem "
                f"{problem.name!r} declares {problem.num_constraints}; choose one of "
                f"{constrained_algorithms(problem)}"
            )
        if n_initial is not None:
            n_initial = positive_int(n_initial, "n_initial")
        self.problem = problem
        #: Whether this instance chooses fidelities (an algorithm that can may be asked
        #: to stay at the target, e.g. as the full-fidelity baseline).
        self.chooses_fidelity = self.supports_fidelities
        self.n_initial = n_initial if n_initial is not None else 2 * (problem.dim + 1)
        #: Expected library warnings the last :meth:`ask` handled, by kind (see
        #: :mod:`mobo.expected_warnings`).
        self.last_warnings: dict[str, int] = {}

    def ask(
        self,
        q: int,
        X: Tensor,
        Y: Tensor,
        *,
        seed: int,
        C: Tensor | None = None,
        X_pending: Tensor | None = None,
        X_failed: Tensor | None = None,
        failed_in_a_row: Tensor | None = None,
        n_evaluated: int | None = None,
        n_extra: int = 0,
    ) -> Tensor:
        """Propose ``q`` points.

        Args:
            q: Number of points wanted.
            X: An ``n x d`` tensor of the successfully evaluated points (problem bounds).
            Y: An ``n x m`` tensor of their objective values (maximized).
            C: An ``n x k`` tensor of their constraint values (``<= 0`` feasible); required
                when the problem declares constraints.
            seed: The study's seed. This call's random choices use a seed derived from it
                and ``n_evaluated``, so the same history gives the same proposal.
            X_pending: A ``p x d`` tensor of points proposed but not yet evaluated.
            X_failed: An ``f x d`` tensor of points whose evaluation failed: never proposed
                again (nor a point within :data:`REPEAT_TOLERANCE` of one), and given to
                the model as :meth:`with_failures` says.
            failed_in_a_row: An ``f`` bool tensor: whether each failed evaluation came
                right before or after another failed one (default: none did).
            n_evaluated: Evaluations made so far, failed ones included (default ``n``);
                the initial design is indexed by it so failures do not repeat points.
            n_extra: How many of those were told as extras (``Study.tell(extra=True)``):
                the initial design counts and indexes only the others.

        Returns:
            A ``q x d`` float64 tensor inside the problem's bounds.
        """
        if not isinstance(q, int) or q < 1:
            raise ValueError(f"q must be a positive int, got {q!r}")
        n_evaluated = X.shape[0] if n_evaluated is None else n_evaluated
        failed = None if X_failed is None or not X_failed.numel() else X_failed.to(DTYPE)
        if failed is not None:
            in_a_row = (
                torch.zeros(failed.shape[0], dtype=torch.bool)
                if failed_in_a_row is None
                else failed_in_a_row.to(torch.bool)
            )
        if self.problem.has_fidelities and not self.chooses_fidelity:
            target = self.problem.at_target(X)
            X, Y = X[target], Y[target]
            C = None if C is None else C[target]
            if failed is not None:
                at_target = self.problem.at_target(failed)
                failed, in_a_row = failed[at_target], in_a_row[at_target]
                failed = failed if failed.numel() else None
        k = self.problem.num_constraints
        if k:
            if C is None or C.shape != (X.shape[0], k):
                got = None if C is None else tuple(C.shape)
                raise ValueError(
                    f"C must be the {X.shape[0]} x {k} constraint values of problem "
                    f"{self.problem.name!r}, got {got}"
                )
            Y = torch.cat([Y.to(DTYPE), C.to(DTYPE)], dim=-1)
        U = (
            self.problem.to_unit(X.to(DTYPE))
            if X.numel()
            else X.to(DTYPE).reshape(0, self.problem.dim)
        )
        U_pending = None
        if X_pending is not None and X_pending.numel():
            U_pending = self.problem.to_unit(X_pending.to(DTYPE))
        U_model, Y_model = U, Y
        U_failed = None if failed is None else self.problem.to_unit(failed)
        if U_failed is not None and U.shape[0]:
            U_model, Y_model, U_explored = self.with_failures(U, Y, U_failed, in_a_row)
            if U_explored is not None and U_explored.shape[0]:
                U_pending = U_explored if U_pending is None else torch.cat([U_pending, U_explored])
        step_seed = step_seed_for(seed, n_evaluated)
        with seeded(step_seed):
            n_designed = n_evaluated - n_extra  # the initial design's points so far
            n_design = (
                max(0, min(q, self.n_initial - n_designed)) if self.uses_initial_design else 0
            )
            # Too few points for a model (e.g. failures ate the initial design): keep filling.
            if self.uses_initial_design and U.shape[0] < 2:
                n_design = q
            parts = []
            if n_design:
                parts.append(sobol_points(self.problem.dim, n_designed, n_design, seed=seed))
            self.last_warnings = {}
            if q - n_design:
                parts.append(
                    self._propose(
                        q - n_design, U_model, Y_model, seed=step_seed, U_pending=U_pending
                    )
                )
            U_new = torch.cat(parts).to(DTYPE).clamp(0.0, 1.0)
            X_new = self._in_problem(U_new)
            # The outcomes already evaluated or pending, computed once for this ask.
            taken = X if X_pending is None else torch.cat([X, X_pending.to(X.dtype)])
            if failed is not None:
                taken = torch.cat([taken, failed.to(X.dtype)])
            known = set(self.problem.outcome_keys(taken) or ()) if taken.numel() else set()
            U_taken = self.problem.to_unit(taken.to(DTYPE)) if taken.numel() else None
            repeats = self._repeats(X_new, known, U_taken)
            if repeats.any() and not n_design:
                # A model proposed a known plateau or a point already taken: ask it once
                # more with those points pending, which its acquisition then counts as taken.
                pending = (
                    U_new[repeats] if U_pending is None else torch.cat([U_pending, U_new[repeats]])
                )
                again = self._propose(
                    int(repeats.sum()), U_model, Y_model, seed=step_seed + 1, U_pending=pending
                )
                U_new[repeats] = again.to(DTYPE).clamp(0.0, 1.0)
                X_new = self._in_problem(U_new)
                repeats = self._repeats(X_new, known, U_taken)
            if repeats.any():
                X_new = self._replace_repeats(X_new, repeats, known, U_taken, seed=step_seed)
        return X_new

    @property
    def hides_fidelity(self) -> bool:
        """Whether :meth:`propose` sees the problem without its fidelity input (see
        :attr:`hide_target_fidelity`)."""
        return (
            self.hide_target_fidelity
            and self.problem.has_fidelities
            and not self.supports_fidelities
        )

    @property
    def search_dim(self) -> int:
        """The number of inputs :meth:`propose` sees."""
        return self.problem.dim - int(self.hides_fidelity)

    def with_failures(
        self, U: Tensor, Y: Tensor, U_failed: Tensor, in_a_row: Tensor
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """The observations :meth:`propose` sees, given the failed points ``U_failed``
        (unit cube; ``in_a_row`` as at :meth:`ask`), and failed points to count as pending,
        as :attr:`failures` says (:func:`failures_as_observations`); :meth:`ask` never
        proposes a failed point again in any case."""
        return failures_as_observations(
            self.failures, self.failures_pending, self.problem.num_objectives,
            U, Y, U_failed, in_a_row,
        )  # fmt: skip

    def _propose(
        self, q: int, U: Tensor, Y: Tensor, *, seed: int, U_pending: Tensor | None
    ) -> Tensor:
        """:meth:`propose` in the algorithm's search space (without the fidelity input when
        :attr:`hides_fidelity`); returns ``q x d`` unit-cube points and adds the expected
        warnings it handled to :attr:`last_warnings`."""
        if self.hides_fidelity:
            U = U[:, :-1]
            U_pending = None if U_pending is None else U_pending[:, :-1]
        with counting_expected_warnings() as counts:
            new = self.propose(
                q, U, self.model_objectives(Y.to(DTYPE)), seed=seed, U_pending=U_pending
            )
        for kind, n in counts.items():
            self.last_warnings[kind] = self.last_warnings.get(kind, 0) + n
        new = new.reshape(q, self.search_dim).to(DTYPE)
        if self.hides_fidelity:  # at the target (:meth:`_in_problem` sets it)
            new = torch.cat([new, torch.ones(q, 1, dtype=DTYPE)], dim=-1)
        return new

    def _in_problem(self, U: Tensor) -> Tensor:
        """Unit-cube points in the problem's bounds, fidelities snapped to their levels (or
        to :attr:`fidelity_grid`; a continuous fidelity without a grid clamped to its range,
        and put on the target within :data:`TARGET_SNAP` of it)."""
        X_new = self.problem.from_unit(U)
        levels = self.fidelity_grid
        levels = self.problem.fidelity_levels if levels is None else levels
        if levels is None:
            return X_new
        if not self.chooses_fidelity:
            X_new[:, -1] = levels[-1]
        elif self.problem.fidelity_continuous and self.fidelity_grid is None:
            s = X_new[:, -1].clamp(levels[0], levels[-1])
            near = levels[-1] - s <= TARGET_SNAP * (levels[-1] - levels[0])
            X_new[:, -1] = torch.where(near, levels[-1], s)
        else:
            X_new[:, -1] = levels[(X_new[:, -1:] - levels).abs().argmin(dim=-1)]
        return X_new

    def _repeats(self, X_new: Tensor, known: set, U_taken: Tensor | None) -> Tensor:
        """Mask of the rows of ``X_new`` whose outcome the problem says is already known
        (its key in ``known``, or an earlier row's), or that are within
        :data:`REPEAT_TOLERANCE` of a taken point (``U_taken``: evaluated, pending or failed,
        unit cube) or of an earlier row."""
        U_new = self.problem.to_unit(X_new)
        repeats = self._near(U_new, U_taken)
        seen = set(known)
        for i, key in enumerate(self.problem.outcome_keys(X_new) or ()):
            if key in seen:
                repeats[i] = True
            seen.add(key)
        for i in range(1, U_new.shape[0]):
            repeats[i] |= bool(self._near(U_new[i : i + 1], U_new[:i]))
        return repeats

    @staticmethod
    def _near(U_new: Tensor, U_taken: Tensor | None) -> Tensor:
        """Mask of the rows of ``U_new`` within :data:`REPEAT_TOLERANCE` of a row of
        ``U_taken`` in every input (both in the unit cube)."""
        if U_taken is None or not U_taken.shape[0]:
            return torch.zeros(U_new.shape[0], dtype=torch.bool)
        gap = torch.cdist(U_new, U_taken.to(U_new.dtype), p=float("inf"))
        return (gap <= REPEAT_TOLERANCE).any(dim=-1)

    def _replace_repeats(
        self, X_new: Tensor, repeats: Tensor, known: set, U_taken: Tensor | None, *, seed: int
    ) -> Tensor:
        """Replace repeated rows by the first points of a scrambled Sobol sequence whose
        outcomes are not known yet and that are not near a taken point or a kept row (a
        repeat is kept if 256 such points hold none)."""
        pool = self._in_problem(sobol_points(self.problem.dim, 0, 256, seed=seed))
        pool_keys = self.problem.outcome_keys(pool)
        kept = self.problem.to_unit(X_new[~repeats])
        avoid = kept if U_taken is None else torch.cat([U_taken.to(kept.dtype), kept])
        near = self._near(self.problem.to_unit(pool), avoid).tolist()
        seen = known | set(self.problem.outcome_keys(X_new[~repeats]) or ())
        X_new, j = X_new.clone(), 0
        for i in repeats.nonzero().flatten().tolist():
            while j < len(pool) and (near[j] or (pool_keys and pool_keys[j] in seen)):
                j += 1
            if j == len(pool):
                break
            X_new[i] = pool[j]
            seen.add(pool_keys[j] if pool_keys else None)
            j += 1
        return X_new

    @abstractmethod
    def propose(
        self, q: int, U: Tensor, Y: Tensor, *, seed: int, U_pending: Tensor | None
    ) -> Tensor:
        """Return a ``q x d`` tensor of new points in the unit cube.

        Args:
            q: Number of points wanted.
            U: An ``n x d`` tensor of evaluated points in the unit cube.
            Y: An ``n x m`` tensor of their objective values (maximized); for a
                constrained problem ``n x (m + k)`` outcomes, the ``k`` constraint values
                (``<= 0`` feasible) after the objectives.
            seed: Seed for this call (torch's global RNG is already seeded with it).
            U_pending: Points proposed but not yet evaluated, in the unit cube, or None.
        """

    def model_objectives(self, Y: Tensor) -> Tensor:
        """The objective values :meth:`propose` sees (default: as observed). Model-based
        algorithms put them on a sane scale here (see :class:`BayesianAlgorithm`)."""
        return Y

    def state_dict(self) -> dict[str, Any]:
        """What the next :meth:`ask` depends on beyond the observations and the seed, as
        JSON-serializable data (empty: nothing). A study journals it after each ask, so a
        study resumed from its journal proposes what an uninterrupted one would."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (after a resume).

        Raises:
            ValueError: If ``state`` is not empty: this algorithm keeps no state.
        """
        if state:
            raise ValueError(f"algorithm {self.name!r} keeps no state, got {sorted(state)}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(problem={self.problem.name!r})"


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed torch's and numpy's global RNGs inside the block and restore them after.

    Explicit generators are passed where libraries take them; this catches the rest
    (BoTorch's restart sampling, pymoo operators that draw from ``np.random``).
    """
    numpy_state = np.random.get_state()  # noqa: NPY002 - the legacy global RNG is the target
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        np.random.seed(seed % 2**32)  # noqa: NPY002
        try:
            yield
        finally:
            np.random.set_state(numpy_state)  # noqa: NPY002


def check_failures(failures: str) -> str:
    """``failures`` if it is one of ``FAILURES`` (a model-based algorithm's option)."""
    if failures not in FAILURES:
        raise ValueError(f"failures must be one of {list(FAILURES)}, got {failures!r}")
    return failures


#: How close (in every input, as a fraction of its range) a proposal may come to a failed,
#: evaluated or pending point before :meth:`Algorithm.ask` counts it as that point again:
#: float noise of an optimizer stopped at a bound (USeMO's second proposal was 1.2e-5 from
#: the failed corner, and failed too); a point further away is a new point, which may be
#: worth evaluating.
REPEAT_TOLERANCE = 1e-4

#: How close below the target (as a fraction of the range from the first level) a proposed
#: continuous fidelity is put on the target: L-BFGS-B stopped MOMF 1e-8 to 1e-4 below it, at
#: the target's cost, yet such evaluations never counted in a result (3 of 12 cost units).
TARGET_SNAP = 1e-3

#: Study seeds are below this: step seeds are taken modulo it (a prime), so seeds a
#: multiple of it apart made the same study, and the Sobol design keeps 32 bits.
MAX_SEED = 2**31 - 1


def step_seed_for(seed: int, n_evaluated: int) -> int:
    """The seed of the proposal made after ``n_evaluated`` evaluations of study ``seed``."""
    return (int(seed) * 1_000_003 + int(n_evaluated) * 7919 + 17) % MAX_SEED


def sobol_points(d: int, start: int, n: int, *, seed: int) -> Tensor:
    """Points ``start .. start+n-1`` of one scrambled Sobol sequence in ``[0, 1]^d``.

    Indexing into a single sequence keeps the design space-filling across calls and makes
    it the same whether a study ran straight through or was resumed.
    """
    engine = torch.quasirandom.SobolEngine(d, scramble=True, seed=seed)
    if start:
        engine.fast_forward(start)
    return engine.draw(n, dtype=DTYPE)
