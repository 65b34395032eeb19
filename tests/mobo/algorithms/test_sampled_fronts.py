"""NSGA-II on cheap constrained problems (``nsga2_pareto_sets``), on a known problem
(mutation sweep s74)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mobo.algorithms._sampled_fronts import (
    _non_dominated,
    fill_distinct,
    nsga2_pareto_sets,
    select_distinct,
)


def _problem(X: np.ndarray) -> np.ndarray:
    """Maximize x0 and 1 - x0 - x1 / 2 subject to 0.2 - x1 <= 0 and x0 - 0.9 <= 0: the
    front is x1 = 0.2, x0 <= 0.9."""
    objectives = [X[..., 0], 1 - X[..., 0] - 0.5 * X[..., 1]]
    return np.stack([*objectives, 0.2 - X[..., 1], X[..., 0] - 0.9], axis=-1)


def test_a_constrained_front_is_feasible_non_dominated_and_in_the_problems_units():
    fronts = nsga2_pareto_sets(
        _problem,
        num_problems=2,
        dim=2,
        num_objectives=2,
        pop_size=16,
        n_gen=2,
        seed=0,
        num_constraints=2,
    )
    for X, F in fronts:
        assert len(X) >= 2
        np.testing.assert_allclose(F, _problem(X))  # objectives maximized, then c
        assert (F[:, 2:] <= 0).all()  # every constraint held
        assert _non_dominated(-F[:, :2]).all()
    # No feasible point at all: the least-violating one.
    [(X, F)] = nsga2_pareto_sets(
        lambda X: _problem(X) + [0, 0, 1, 0],
        num_problems=1,
        dim=2,
        num_objectives=2,
        pop_size=8,
        n_gen=2,
        seed=0,
        num_constraints=2,
    )
    assert len(X) == 1 and X[0, 1] > 0.8


def test_a_point_tied_in_one_objective_and_worse_in_another_is_dominated():
    F = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 0.0], [-1.0, 2.0]])  # minimized
    assert _non_dominated(F).tolist() == [True, False, False, True, True]


@pytest.mark.parametrize(
    "initial",
    [[[0.3, 0.7], [0.9, 0.9]], [[0.9, 0.9], [0.3, 0.7]]],
    ids=["peak-first", "peak-second"],
)
def test_every_initial_point_is_in_every_initial_population(initial):
    # Two equal objectives peaked at (0.3, 0.7): seeded there (MESMO seeds the observed
    # Pareto set), every search's front is that point, whichever initial point it is; a
    # uniform start, or one seeded with the first initial point alone, does not reach it in
    # two generations (mutation sweeps s75 and s78: dropping either passed every test).
    def peaked(X: np.ndarray) -> np.ndarray:
        f = -((X - [0.3, 0.7]) ** 2).sum(axis=-1)
        return np.stack([f, f], axis=-1)

    fronts = nsga2_pareto_sets(
        peaked, num_problems=2, dim=2, num_objectives=2, pop_size=8, n_gen=2, seed=0,
        initial=np.array(initial),
    )  # fmt: skip
    for X, F in fronts:  # (the point may be there twice: duplicates are not eliminated)
        assert len(X) and (X == [0.3, 0.7]).all() and (F == 0.0).all()


def test_a_constraint_at_exactly_zero_holds():
    # c(x) = 0 everywhere: every point is feasible (c <= 0), so the front is the
    # unconstrained one, not a single least-violating point.
    def on_the_boundary(X: np.ndarray) -> np.ndarray:
        return np.concatenate([_problem(X)[..., :2], np.zeros_like(X[..., :1])], axis=-1)

    [(X, F)] = nsga2_pareto_sets(
        on_the_boundary, num_problems=1, dim=2, num_objectives=2, pop_size=16, n_gen=2,
        seed=0, num_constraints=1,
    )  # fmt: skip
    assert len(X) >= 2 and (F[:, 2] == 0).all()


def test_with_no_feasible_point_the_least_violating_counts_only_violations():
    # c1 = 0.5 + x0 is always violated, least at x0 = 0; c2 = -10 x0 always holds. A
    # satisfied constraint's slack must not offset a violated one (the raw sum of the
    # constraint values is least at x0 = 1).
    def violated(X: np.ndarray) -> np.ndarray:
        x0 = X[..., 0]
        return np.stack([x0, X[..., 1], 0.5 + x0, -10 * x0], axis=-1)

    [(X, F)] = nsga2_pareto_sets(
        violated, num_problems=1, dim=2, num_objectives=2, pop_size=16, n_gen=3, seed=0,
        num_constraints=2,
    )  # fmt: skip
    assert len(X) == 1 and X[0, 0] < 0.2


def test_select_distinct_accepts_a_candidate_exactly_min_distance_away():
    candidates = torch.tensor([[0.0, 0.0], [0.5, 0.0], [0.25, 0.0]], dtype=torch.float64)
    scores = torch.tensor([3.0, 2.0, 1.0], dtype=torch.float64)
    assert select_distinct(candidates, scores, 3, min_distance=0.5).tolist() == [0, 1]


def test_fill_distinct_keeps_the_fill_apart_from_the_chosen_the_avoided_and_itself():
    torch.manual_seed(0)
    chosen = torch.tensor([[0.5, 0.5]], dtype=torch.float64)
    avoid = torch.tensor([[0.1, 0.1], [0.9, 0.9], [0.1, 0.9]], dtype=torch.float64)
    filled = fill_distinct(chosen, 4, min_distance=0.3, avoid=avoid)
    assert filled.shape == (4, 2) and ((filled >= 0) & (filled <= 1)).all()
    assert torch.equal(filled[:1], chosen)
    assert torch.pdist(filled).min() >= 0.3
    assert torch.cdist(filled, avoid).min() >= 0.3
    # No point can pass a guard wider than the cube: the batch is still full.
    assert fill_distinct(chosen, 3, min_distance=10.0, avoid=avoid).shape == (3, 2)
