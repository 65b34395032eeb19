"""Failed evaluations reach the GP-based algorithms as their ``failures`` option says, and
no algorithm proposes a failed point again."""

from __future__ import annotations

import pytest
import torch

import mobo
from mobo.evaluate import failed_points
from mobo.problem import DTYPE
from tests.mobo.conftest import FAST_BO


def _failing_on_the_right_half() -> mobo.FunctionProblem:
    """BraninCurrin that fails (NaN) wherever x0 > 0.5: a region to leave."""
    base = mobo.problems.make("BraninCurrin")

    def evaluate(X):
        Y = base.evaluate(X).clone()
        Y[X[:, 0] > 0.5] = float("nan")
        return Y

    return mobo.FunctionProblem(evaluate, base.bounds, 2, base.ref_point, name="half-failing")


def test_the_failures_option_decides_what_the_model_sees():
    problem = mobo.problems.make("BraninCurrin")
    U = torch.tensor([[0.1, 0.2], [0.4, 0.9]], dtype=DTYPE)
    Y = torch.tensor([[-5.0, -3.0], [-9.0, -1.0]], dtype=DTYPE)
    U_failed = torch.tensor([[0.7, 0.7], [0.8, 0.1]], dtype=DTYPE)
    in_a_row = torch.tensor([True, False])
    seen = {}
    for option in ("auto", "learn", "ignore"):
        algorithm = mobo.make_algorithm("qlognehvi", problem, failures=option)
        seen[option] = algorithm.with_failures(U, Y, U_failed, in_a_row)
    worst = torch.tensor([-9.0, -3.0], dtype=DTYPE)  # every objective's minimum
    U_auto, Y_auto, pending = seen["auto"]  # the failure in a row learnt, the isolated one
    assert torch.equal(U_auto, torch.cat([U, U_failed[:1]])) and torch.equal(Y_auto[2], worst)
    assert torch.equal(pending, U_failed[1:])  # ... counted as explored by qLogNEHVI
    U_learn, Y_learn, pending = seen["learn"]
    assert U_learn.shape == (4, 2) and torch.equal(Y_learn[2:], worst.expand(2, 2))
    assert pending.shape == (0, 2)
    assert seen["ignore"] == (U, Y, None)
    usemo = mobo.make_algorithm("usemo", problem)  # ignores it (failures_pending False)
    assert usemo.with_failures(U, Y, U_failed, in_a_row)[2] is None
    with pytest.raises(ValueError, match="failures must be one of"):
        mobo.make_algorithm("usemo", problem, failures="retry")


def test_a_constrained_failure_is_learnt_as_the_most_infeasible_outcome():
    problem = mobo.problems.make("ConstrainedBraninCurrin")
    U = torch.tensor([[0.1, 0.2], [0.4, 0.9]], dtype=DTYPE)
    Y = torch.tensor([[-5.0, -3.0, -0.5], [-9.0, -1.0, 2.0]], dtype=DTYPE)  # m = 2, k = 1
    algorithm = mobo.make_algorithm("qlognehvi", problem, failures="learn")
    _, Y_model, _ = algorithm.with_failures(U, Y, U[:1] + 0.3, torch.tensor([False]))
    assert torch.equal(Y_model[-1], torch.tensor([-9.0, -3.0, 2.0], dtype=DTYPE))


def test_the_study_tells_which_failures_came_in_a_row():
    def evaluate(X):
        Y = X.clone()
        Y[(X[:, 0] > 0.3) & (X[:, 0] < 0.6)] = float("nan")
        return Y

    problem = mobo.FunctionProblem(evaluate, [[0, 0], [1, 1]], 2, [-1.0, -1.0])
    study = mobo.Study(problem, "random")
    xs = [0.1, 0.4, 0.5, 0.9, 0.45, 0.2]  # fails at 0.4, 0.5 (in a row) and 0.45 (alone)
    study.tell(
        torch.tensor([[x, 0.5] for x in xs], dtype=DTYPE),
        evaluate(torch.tensor([[x, 0.5] for x in xs], dtype=DTYPE)),
    )
    X_failed, in_a_row = failed_points(study.evaluations, 2)
    assert X_failed[:, 0].tolist() == [0.4, 0.5, 0.45]
    assert in_a_row.tolist() == [True, True, False]


@pytest.mark.parametrize("algorithm", ["qlognehvi", "usemo"])
def test_a_failing_region_is_left_instead_of_proposed_until_the_study_stops(algorithm):
    """Half the box fails. The model never seeing a failure ("ignore", as before), the
    search proposed into that half until 10 failures in a row stopped the study; by default
    it learns the failures that come in a row and finishes its budget on the working half
    (benchmarks/results/failures.md)."""
    problem = _failing_on_the_right_half()
    options = {**FAST_BO, "n_initial": 6} if algorithm == "qlognehvi" else {"n_initial": 6}
    study = mobo.Study(problem, algorithm, seed=0, **options)
    result = study.optimize(20, show_progress=False)
    assert result.n_evaluations == 20 and int(result.failed.sum()) <= 8
    failed, _ = failed_points(study.evaluations, 2)
    assert len({tuple(x) for x in failed.tolist()}) == failed.shape[0]  # no failed point twice
    before = mobo.Study(problem, algorithm, seed=0, failures="ignore", **options)
    with pytest.raises(mobo.StudyFailedError, match="failed in a row"):
        before.optimize(20, show_progress=False)
