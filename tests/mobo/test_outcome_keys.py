"""A problem that knows its plateaus (``Problem.outcome_keys``) gets no evaluation spent on
a plateau it has measured, whatever the algorithm."""

from __future__ import annotations

import pytest
import torch

import mobo
from mobo.problem import Problem
from tests.mobo.conftest import FAST_BO, FAST_BO_NSGA2


class Steps(Problem):
    """Outcomes constant on each cell of a 3 x 3 grid of the unit square."""

    def __init__(self, *, keys: bool) -> None:
        super().__init__([[0.0, 0.0], [1.0, 1.0]], 2, [-2.0, -2.0], name="Steps")
        self.keys = keys

    @staticmethod
    def cells(X):
        return (X * 3).floor().clamp(max=2)

    def _evaluate(self, X):
        c = self.cells(X)
        return torch.stack([c[:, 0] - 0.5 * c[:, 1], c[:, 1] - 0.5 * c[:, 0]], dim=-1)

    def outcome_keys(self, X):
        return [tuple(c) for c in self.cells(X).long().tolist()] if self.keys else None


def _cells_visited(result) -> int:
    return len({tuple(c) for c in Steps.cells(result.X).long().tolist()})


@pytest.mark.parametrize("algorithm", ["sobol", "random", "nsga2", "usemo", "qlognehvi"])
def test_every_evaluation_lands_on_a_new_plateau(algorithm):
    # Cheap acquisition optimizers: the plateaus are kept by ask, not by the search.
    fast = {"usemo": FAST_BO_NSGA2, "qlognehvi": FAST_BO}
    options = {"n_initial": 4, **fast.get(algorithm, {})}
    result = mobo.optimize(
        Steps(keys=True), algorithm, n_evals=9, seed=0, show_progress=False, **options
    )
    assert _cells_visited(result) == 9


def test_without_keys_the_same_study_repeats_plateaus():
    """The control: the same Sobol study, told nothing, spends evaluations on repeats."""
    result = mobo.optimize(Steps(keys=False), "sobol", n_evals=9, seed=0, show_progress=False)
    assert _cells_visited(result) < 9


def test_a_batch_holds_no_two_points_of_one_plateau():
    study = mobo.Study(Steps(keys=True), "sobol", seed=1)
    X = study.ask(9)
    assert len({tuple(c) for c in Steps.cells(X).long().tolist()}) == 9


class _OnePlateau(mobo.Algorithm):
    """Always proposes a point of the evaluated plateau x0 >= 0.5."""

    name = "one-plateau"
    uses_initial_design = False

    def propose(self, q, U, Y, *, seed, U_pending):
        return torch.tensor([[0.9, 0.9]], dtype=torch.float64).expand(q, -1)


class _Halves(Problem):
    """Two plateaus: x0 below or above 0.5."""

    def __init__(self) -> None:
        super().__init__([[0.0, 0.0], [1.0, 1.0]], 2, [-2.0, -2.0], name="Halves")

    def _evaluate(self, X):
        return (X[:, :1] >= 0.5).double().expand(-1, 2)

    def outcome_keys(self, X):
        return (X[:, 0] >= 0.5).long().tolist()


def test_two_repeats_are_not_both_replaced_by_the_one_new_plateau():
    # One plateau is left: one repeat takes it, the other stays a repeat (mutation sweep
    # s76: not marking a replacement's plateau as taken spent both on it).
    problem = _Halves()
    X = torch.tensor([[0.7, 0.2]], dtype=torch.float64)
    new = _OnePlateau(problem).ask(2, X, problem.evaluate(X), seed=0)
    assert sorted(problem.outcome_keys(new)) == [0, 1]
