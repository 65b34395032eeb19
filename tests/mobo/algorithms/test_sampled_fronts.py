"""NSGA-II on cheap constrained problems (``nsga2_pareto_sets``), on a known problem
(mutation sweep s74)."""

from __future__ import annotations

import numpy as np

from mobo.algorithms._sampled_fronts import _non_dominated, nsga2_pareto_sets


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


def test_the_initial_points_are_in_every_initial_population():
    # Two equal objectives peaked at (0.3, 0.7): seeded there (MESMO seeds the observed
    # Pareto set), every search's front is that point; a uniform start does not hold it
    # (mutation sweep s75: dropping the seeding passed every test).
    def peaked(X: np.ndarray) -> np.ndarray:
        f = -((X - [0.3, 0.7]) ** 2).sum(axis=-1)
        return np.stack([f, f], axis=-1)

    initial = np.array([[0.3, 0.7], [0.9, 0.9]])
    fronts = nsga2_pareto_sets(
        peaked, num_problems=2, dim=2, num_objectives=2, pop_size=8, n_gen=2, seed=0,
        initial=initial,
    )  # fmt: skip
    for X, F in fronts:  # (the point may be there twice: duplicates are not eliminated)
        assert len(X) and (X == [0.3, 0.7]).all() and (F == 0.0).all()
