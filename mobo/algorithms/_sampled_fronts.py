"""Cheap multi-objective subproblems shared by USeMO, MESMO, PESMO and JES.

Two pieces, used by every information-theoretic and portfolio algorithm here:

* :func:`draw_posterior_paths` draws ``S`` functions from the GP posterior with BoTorch's
  pathwise (Matheron) sampler [Wilson2020]_, so a sampled objective can be evaluated
  anywhere, consistently, at the cost of a feature map.
* :func:`nsga2_pareto_sets` runs ``S`` independent pymoo NSGA-II [Deb2002]_ searches in
  lockstep: each generation, the offspring of all ``S`` searches are evaluated in one
  batched call (``S x n x d``), which is what makes ``S`` sampled problems affordable.

:func:`sampled_pareto_sets` composes the two (the "sample a function, solve it with NSGA-II"
step of [Belakaria2019]_), and :func:`spread_subset` cuts a front to a fixed size by
pymoo's rank-and-crowding survival, for acquisition functions that need equal-sized sets;
:func:`hypervolume_subset` cuts it to the points that add most hypervolume from a reference
point instead.
:func:`select_distinct` and :func:`fill_distinct` are the distance guard that keeps the
points of a batch (and pending points) apart.

All inputs live in the unit cube ``[0, 1]^d`` and all objectives are maximized. A sampled
problem may carry constraints (``<= 0`` feasible, the last outputs): NSGA-II then handles
them feasibility-first, as pymoo does, and a sampled front is its feasible non-dominated set
(MESMOC's "cheap constrained MO problem" [Belakaria2020c]_).

.. [Wilson2020] J. Wilson, V. Borovitskiy, A. Terenin, P. Mostowsky, M. Deisenroth.
   Efficiently Sampling Functions from Gaussian Process Posteriors. ICML 2020.
.. [Deb2002] K. Deb, A. Pratap, S. Agarwal, T. Meyarivan. A fast and elitist
   multiobjective genetic algorithm: NSGA-II. IEEE TEVC 6(2), 2002.
.. [Belakaria2019] S. Belakaria, A. Deshwal, J. R. Doppa. Max-value Entropy Search for
   Multi-Objective Bayesian Optimization. NeurIPS 2019.
.. [Belakaria2020c] S. Belakaria, A. Deshwal, J. R. Doppa. Max-value Entropy Search for
   Multi-Objective Bayesian Optimization with Constraints. arXiv:2009.01721, 2020.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from botorch.models import ModelListGP
from botorch.sampling.pathwise import draw_matheron_paths
from pymoo.algorithms.moo.nsga2 import NSGA2 as PymooNSGA2
from pymoo.core.evaluator import Evaluator
from pymoo.core.population import Population
from pymoo.core.problem import Problem as PymooProblem
from pymoo.operators.survival.rank_and_crowding import RankAndCrowding
from pymoo.problems.static import StaticProblem
from torch import Tensor

from mobo.metrics import hypervolume
from mobo.problem import DTYPE

#: ``evaluate(X)`` with ``X`` an ``S x n x d`` array returns an ``S x n x k`` array to maximize.
BatchedObjectives = Callable[[np.ndarray], np.ndarray]


def draw_posterior_paths(model: ModelListGP, num_samples: int) -> Callable[[Tensor], Tensor]:
    """Draw ``num_samples`` joint function samples from the posterior of every objective.

    Uses torch's global RNG (seeded by :meth:`Algorithm.ask`).

    Args:
        model: A fitted ``ModelListGP`` with ``m`` single-output GPs.
        num_samples: Number of sampled functions ``S``.

    Returns:
        ``f(U)`` mapping an ``S x n x d`` (or ``n x d``) tensor to the ``S x n x m`` tensor
        of the ``S`` sampled functions, sample ``s`` evaluated at ``U[s]`` (or at ``U``),
        in the objectives' original units (outcome transforms are undone by the paths).
    """
    paths = draw_matheron_paths(model, torch.Size([num_samples]))

    def sampled(U: Tensor) -> Tensor:
        return torch.stack(list(paths(U.to(DTYPE))), dim=-1)

    return sampled


def nsga2_pareto_sets(
    evaluate: BatchedObjectives,
    *,
    num_problems: int,
    dim: int,
    num_objectives: int,
    pop_size: int,
    n_gen: int,
    seed: int,
    initial: np.ndarray | None = None,
    num_constraints: int = 0,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Solve ``num_problems`` cheap maximization problems on ``[0, 1]^d`` with NSGA-II.

    Args:
        evaluate: Maps an ``S x n x d`` array to its ``S x n x (k + c)`` outputs: ``k``
            objectives (maximized), then ``c`` constraint values (``<= 0`` feasible); row
            ``s`` belongs to problem ``s``.
        num_problems: ``S``.
        dim: ``d``.
        num_objectives: ``k``.
        pop_size: NSGA-II population (and offspring) size.
        n_gen: Generations, the initial population included.
        seed: Seeds every search (each draws its own stream from it).
        initial: Optional ``p x d`` array of points put into every initial population
            (e.g. the observed Pareto set), the rest drawn uniformly at random.
        num_constraints: ``c``, constraints handled feasibility-first (default none).

    Returns:
        Per problem, the final non-dominated feasible set (or, if no point of the final
        population is feasible, its least-violating point): an ``n_s x d`` array of inputs
        and the ``n_s x (k + c)`` array of their outputs (objectives maximized).
    """
    problem = PymooProblem(
        n_var=dim, n_obj=num_objectives, n_ieq_constr=num_constraints, xl=0.0, xu=1.0
    )
    rng = np.random.default_rng(seed)
    searches = []
    for _ in range(num_problems):
        start = rng.random((pop_size, dim))
        if initial is not None and len(initial):
            start[: min(len(initial), pop_size // 2)] = initial[: pop_size // 2]
        search = PymooNSGA2(pop_size=pop_size, sampling=start, eliminate_duplicates=False)
        search.setup(
            problem, termination=("n_gen", n_gen), seed=int(rng.integers(2**31)), verbose=False
        )
        searches.append(search)
    for _ in range(n_gen):
        active = [(s, search) for s, search in enumerate(searches) if search.has_next()]
        batches = [(s, search, search.ask()) for s, search in active]
        batches = [(s, search, pop) for s, search, pop in batches if pop is not None and len(pop)]
        if not batches:
            break
        n = max(len(pop) for _, _, pop in batches)
        X = np.stack([_pad_rows(pop.get("X"), n) for _, _, pop in batches])
        # The sampled functions are evaluated as one batch of all S; finished searches' rows
        # are placeholders whose values are ignored.
        full = np.full((num_problems, n, dim), 0.5)
        for row, (s, _, _) in zip(X, batches, strict=True):
            full[s] = row
        out = np.asarray(evaluate(full), dtype=float)
        F, G = -out[..., :num_objectives], out[..., num_objectives:]  # pymoo minimizes F
        for s, search, pop in batches:
            values = {"F": F[s, : len(pop)]}
            if num_constraints:
                values["G"] = G[s, : len(pop)]
            Evaluator().eval(StaticProblem(problem, **values), pop)
            search.tell(infills=pop)
    fronts = []
    for search in searches:
        pop = search.pop
        F = pop.get("F")
        if num_constraints:
            G = pop.get("G")
            feasible = (G <= 0).all(axis=-1)
            if not feasible.any():
                feasible = np.arange(len(pop)) == np.argmin(np.maximum(G, 0).sum(axis=-1))
            mask = np.zeros(len(pop), dtype=bool)
            mask[feasible] = _non_dominated(F[feasible])
            fronts.append((pop.get("X")[mask], np.concatenate([-F[mask], G[mask]], axis=-1)))
        else:
            mask = _non_dominated(F)
            fronts.append((pop.get("X")[mask], -F[mask]))
    return fronts


def sampled_pareto_sets(
    model: ModelListGP,
    *,
    num_samples: int,
    pop_size: int,
    n_gen: int,
    seed: int,
    initial: Tensor | None = None,
    num_constraints: int = 0,
    fixed_last: float | None = None,
) -> list[tuple[Tensor, Tensor]]:
    """Pareto sets and fronts of ``num_samples`` posterior function samples.

    Args:
        model: The fitted ``ModelListGP`` (unit-cube inputs, ``m`` outputs; with
            constraints, the last ``num_constraints`` of them are constraint values).
        num_samples: ``S``, the number of sampled problems.
        pop_size: NSGA-II population size.
        n_gen: NSGA-II generations.
        seed: Seed of the NSGA-II searches (the paths use torch's global RNG).
        initial: Optional ``p x d`` tensor of points seeded into every population.
        num_constraints: How many of the model's outputs are constraints (``<= 0``
            feasible); the sampled fronts are then of the feasible points.
        fixed_last: Hold the last input at this value (e.g. the target fidelity) and
            search the others; ``initial`` then holds only the others.

    Returns:
        Per sample ``s``, an ``n_s x d`` tensor of Pareto-optimal inputs of sampled
        function ``s`` and the ``n_s x m`` tensor of its values there (objectives
        maximized, then constraint values).
    """
    dim = model.models[0].train_inputs[0].shape[-1]
    sampled = draw_posterior_paths(model, num_samples)
    if fixed_last is not None:
        dim -= 1

    def with_fixed(X: np.ndarray) -> Tensor:
        X = torch.as_tensor(X, dtype=DTYPE)
        if fixed_last is None:
            return X
        return torch.cat([X, torch.full_like(X[..., :1], fixed_last)], dim=-1)

    def evaluate(X: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return sampled(with_fixed(X)).numpy()

    fronts = nsga2_pareto_sets(
        evaluate,
        num_problems=num_samples,
        dim=dim,
        num_objectives=model.num_outputs - num_constraints,
        pop_size=pop_size,
        n_gen=n_gen,
        seed=seed,
        initial=None if initial is None else initial.numpy(),
        num_constraints=num_constraints,
    )
    return [(with_fixed(X), torch.as_tensor(F, dtype=DTYPE)) for X, F in fronts]


def spread_subset(X: Tensor, F: Tensor, k: int, *, seed: int) -> tuple[Tensor, Tensor]:
    """``k`` points of a front that keep its spread (NSGA-II's crowding-distance survival).

    Args:
        X: An ``n x d`` tensor of inputs, ``n >= k``.
        F: An ``n x m`` tensor of their objective values (maximized).
        k: Number of points to keep.
        seed: Seed for the survival's tie breaking.

    Returns:
        The ``k x d`` and ``k x m`` tensors of the kept points.
    """
    if len(X) <= k:
        return X, F
    pop = Population.new(X=X.numpy(), F=-F.numpy())
    problem = PymooProblem(n_var=X.shape[1], n_obj=F.shape[1], xl=0.0, xu=1.0)
    kept = RankAndCrowding().do(problem, pop, n_survive=k, random_state=np.random.default_rng(seed))
    return (
        torch.as_tensor(kept.get("X"), dtype=DTYPE),
        -torch.as_tensor(kept.get("F"), dtype=DTYPE),
    )


def hypervolume_subset(
    X: Tensor, F: Tensor, k: int, ref_point: Tensor, *, seed: int
) -> tuple[Tensor, Tensor]:
    """``k`` points of a front chosen greedily by the hypervolume they add above ``ref_point``.

    Crowding survival (:func:`spread_subset`) keeps a front's extremes first; when those lie
    outside the reference box (DTLZ2: one objective at its optimum, the other far beyond the
    reference) they say nothing about the hypervolume a study is scored by. Here every kept
    point adds volume, best first; only when no remaining point adds any is the rest filled
    by crowding survival. (Greedy hypervolume subset selection is not in pymoo or moocore.)

    Args:
        X: An ``n x d`` tensor of inputs.
        F: An ``n x m`` tensor of their objective values (maximized).
        k: Number of points to keep.
        ref_point: The ``m`` reference point, in the scale of ``F``.
        seed: Seed for the crowding survival's tie breaking (the fill only).

    Returns:
        The ``k x d`` and ``k x m`` tensors of the kept points (all ``n`` if ``n <= k``).
    """
    if len(X) <= k:
        return X, F
    chosen: list[int] = []
    remaining = [i for i in range(len(F)) if (F[i] > ref_point).all()]
    volume = 0.0
    while remaining and len(chosen) < k:
        gains = [hypervolume(F[chosen + [i]], ref_point) - volume for i in remaining]
        best = int(np.argmax(gains))
        if gains[best] <= 0.0:
            break
        volume += gains[best]
        chosen.append(remaining.pop(best))
    if len(chosen) < k:
        rest = [i for i in range(len(F)) if i not in chosen]
        X_fill, F_fill = spread_subset(X[rest], F[rest], k - len(chosen), seed=seed)
        return torch.cat([X[chosen], X_fill]), torch.cat([F[chosen], F_fill])
    return X[chosen], F[chosen]


def select_distinct(
    candidates: Tensor,
    scores: Tensor,
    q: int,
    *,
    min_distance: float,
    avoid: Tensor | None = None,
) -> Tensor:
    """Indices of up to ``q`` highest-scoring candidates, each at least ``min_distance``
    from the ones chosen before it and from every row of ``avoid``.

    Args:
        candidates: An ``n x d`` tensor.
        scores: An ``n`` tensor; larger is better.
        q: Number wanted.
        min_distance: Euclidean distance guard.
        avoid: An optional ``p x d`` tensor of points to keep away from (e.g. pending).

    Returns:
        A tensor of at most ``q`` indices into ``candidates``, best first.
    """
    chosen: list[int] = []
    taken = avoid if avoid is not None else candidates.new_zeros(0, candidates.shape[-1])
    for i in torch.argsort(scores, descending=True).tolist():
        if len(chosen) == q:
            break
        if taken.shape[0] and torch.cdist(candidates[i : i + 1], taken).min() < min_distance:
            continue
        chosen.append(i)
        taken = torch.cat([taken, candidates[i : i + 1]])
    return torch.tensor(chosen, dtype=torch.long)


def fill_distinct(chosen: Tensor, q: int, *, min_distance: float, avoid: Tensor | None) -> Tensor:
    """``chosen`` (``k x d``) completed to ``q`` rows with uniform points that pass the
    distance guard against each other, ``chosen`` and ``avoid`` (torch's global RNG)."""
    tries = 64  # uniform draws per missing row; if none passes the guard, the first is kept
    d = chosen.shape[-1]
    taken = chosen if avoid is None else torch.cat([avoid, chosen])
    rows = [chosen]
    n_missing = q - chosen.shape[0]
    while n_missing > 0:
        trial = torch.rand(tries, d, dtype=DTYPE)
        far = torch.ones(tries, dtype=torch.bool)
        if taken.shape[0]:
            far = torch.cdist(trial, taken).min(dim=-1).values >= min_distance
        point = trial[far.nonzero()[0, 0]] if far.any() else trial[0]
        rows.append(point.unsqueeze(0))
        taken = torch.cat([taken, point.unsqueeze(0)])
        n_missing -= 1
    return torch.cat(rows)


def _pad_rows(A: np.ndarray, n: int) -> np.ndarray:
    if len(A) == n:
        return A
    return np.concatenate([A, np.repeat(A[-1:], n - len(A), axis=0)])


def _non_dominated(F: np.ndarray) -> np.ndarray:
    """Mask of the rows of ``F`` (minimized) that no other row dominates."""
    better_eq = (F[:, None, :] <= F[None, :, :]).all(-1)
    strictly = (F[:, None, :] < F[None, :, :]).any(-1)
    dominated = (better_eq & strictly).any(0)
    return ~dominated
