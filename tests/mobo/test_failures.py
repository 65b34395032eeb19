"""Failed evaluations reach the GP-based algorithms as their ``failures`` option says, and
no algorithm proposes a failed point again."""

from __future__ import annotations

import warnings

import pytest
import torch

import mobo
from mobo.algorithms.base import REPEAT_TOLERANCE
from mobo.evaluate import evaluate_batch, failed_points
from mobo.problem import DTYPE
from tests.mobo.conftest import FAST_BO, FAST_BO_NSGA2, toy_function


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


# USeMO's case is slow (27 s on an AVX2 EPYC): failures reach every model through
# Algorithm.with_failures (USeMO's and qLogNEHVI's tested above), which qLogNEHVI's case
# runs end to end.
@pytest.mark.parametrize("algorithm", ["qlognehvi", pytest.param("usemo", marks=pytest.mark.slow)])
def test_a_failing_region_is_left_instead_of_proposed_until_the_study_stops(algorithm):
    """Half the box fails. The model never seeing a failure ("ignore", as before), the
    search proposed into that half until 10 failures in a row stopped the study; by default
    it learns the failures that come in a row and finishes its budget on the working half
    (benchmarks/results/failures.md)."""
    problem = _failing_on_the_right_half()
    options = {**FAST_BO, "n_initial": 6}
    if algorithm == "usemo":  # a small NSGA-II: the test is of what the model sees
        options.update(pop_size=40, n_gen=20)
    study = mobo.Study(problem, algorithm, seed=0, **options)
    result = study.optimize(20, show_progress=False)
    assert result.n_evaluations == 20 and int(result.failed.sum()) <= 8
    failed, _ = failed_points(study.evaluations, 2)
    assert len({tuple(x) for x in failed.tolist()}) == failed.shape[0]  # no failed point twice
    before = mobo.Study(problem, algorithm, seed=0, failures="ignore", **options)
    with pytest.raises(mobo.StudyFailedError, match="failed in a row"):
        before.optimize(20, show_progress=False)


def _failing_corner(X):
    """Constant outcomes (a flat acquisition, which its optimizer clamps to a corner),
    failing (NaN) near the corner (1, 0)."""
    Y = torch.ones(X.shape[0], 2, dtype=X.dtype)
    Y[(X[:, 0] > 0.999) & (X[:, 1] < 0.001)] = float("nan")
    return Y


@pytest.mark.parametrize("algorithm", ["qparego", "usemo"])
def test_a_failed_corner_is_not_proposed_again(algorithm):
    # qParEGO proposed the failed corner (1, 0) again exactly, USeMO within 2e-5 of it:
    # 2 failed evaluations each in 3 model steps.
    problem = mobo.FunctionProblem(_failing_corner, [[0, 0], [1, 1]], 2, [0.0, 0.0])
    study = mobo.Study(problem, algorithm, seed=0, n_initial=6)
    study.optimize(9, show_progress=False)
    failed, _ = failed_points(study.evaluations, 2)
    assert failed.shape[0] == 1


def test_ask_refuses_a_point_near_a_failed_one_under_failures_ignore():
    # The model never sees the failure, so it proposed the same corner again.
    problem = mobo.FunctionProblem(lambda X: None, [[0, 0], [10, 1]], 2, [0.0, 0.0])
    X = problem.from_unit(torch.rand(6, 2, generator=torch.Generator().manual_seed(1), dtype=DTYPE))
    Y = torch.ones(6, 2, dtype=DTYPE)
    algorithm = mobo.make_algorithm("qlognehvi", problem, n_initial=1, failures="ignore")
    first = algorithm.ask(1, X, Y, seed=0)
    again = algorithm.ask(1, X, Y, seed=0, X_failed=first, n_evaluated=7)
    gap = (problem.to_unit(again) - problem.to_unit(first)).abs().max()
    assert gap > REPEAT_TOLERANCE


class _Stubborn(mobo.Algorithm):
    """Always proposes the corner (1, 0), with float noise."""

    name = "stubborn"
    uses_initial_design = False

    def propose(self, q, U, Y, *, seed, U_pending):
        return torch.tensor([[1.0 - 1e-7, 1e-8]], dtype=DTYPE).expand(q, -1)


def test_a_proposal_that_stays_on_a_failed_point_is_replaced_by_distinct_sobol_points():
    problem = mobo.FunctionProblem(lambda X: None, [[0, 0], [10, 1]], 2, [0.0, 0.0])
    X = torch.tensor([[5.0, 0.5]], dtype=DTYPE)
    corner = torch.tensor([[10.0, 0.0]], dtype=DTYPE)
    algorithm = _Stubborn(problem)
    # Without failures the corner is proposed once: its copy in the same batch is a repeat.
    x = algorithm.ask(2, X, torch.ones(1, 2), seed=0)
    assert torch.allclose(x[0], corner[0]) and not torch.allclose(x[1], corner[0], atol=1e-2)
    x = algorithm.ask(2, X, torch.ones(1, 2), seed=0, X_failed=corner)
    assert (problem.to_unit(x) - problem.to_unit(corner)).abs().amax(dim=-1).min() > 1e-2
    assert not torch.equal(x[0], x[1])


@pytest.mark.parametrize("algorithm", ["mesmo", "mesmoc"])
def test_no_point_is_evaluated_twice_on_a_deterministic_step_problem(algorithm):
    # sweepF (stop 74): on a 1-D step problem of three outcomes, pushed to a bound, MESMO
    # evaluated x = 1.0 three times and MESMOC x = 1.0 three times and x = 0.0 twice (3 of
    # 14 evaluations), across batches of 3; qLogNEHVI, USeMO and Sobol gave 14 distinct points.
    def steps(X):
        level = torch.floor(X[:, 0] * 3) / 3
        return torch.stack([level, 1 - level], dim=-1)

    problem = mobo.FunctionProblem(steps, [[0.0], [1.0]], 2, [-0.1, -0.1], name="steps")
    fast = FAST_BO_NSGA2  # the repeats come from the bounds, not the search
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = mobo.optimize(
            problem, algorithm, n_evals=14, batch_size=3, seed=0, show_progress=False, **fast
        )
    gaps = (result.X - result.X.T).abs() + torch.eye(14) * 2
    assert result.n_evaluations == 14 and float(gaps.min()) > REPEAT_TOLERANCE


def test_a_repeat_is_near_in_every_input_not_in_euclidean_distance():
    # 0.9 REPEAT_TOLERANCE from the failed corner in both inputs is 1.27 of it in Euclidean
    # distance: still the failed point (mutation sweep s76: p=2 in the distance passed).
    class _Beside(_Stubborn):
        def propose(self, q, U, Y, *, seed, U_pending):
            step = 0.9 * REPEAT_TOLERANCE
            return torch.tensor([[1.0 - step, step]], dtype=DTYPE).expand(q, -1)

    problem = mobo.FunctionProblem(lambda X: None, [[0, 0], [10, 1]], 2, [0.0, 0.0])
    corner = torch.tensor([[10.0, 0.0]], dtype=DTYPE)
    x = _Beside(problem).ask(
        1, torch.tensor([[5.0, 0.5]], dtype=DTYPE), torch.ones(1, 2), seed=0, X_failed=corner
    )
    assert (problem.to_unit(x) - problem.to_unit(corner)).abs().max() > 1e-2


def test_a_repeat_is_not_replaced_by_an_evaluated_point():
    # The replacement pool is a Sobol sequence of the step's seed: its first point already
    # evaluated, the repeat must take another (mutation sweep s76: avoiding only the
    # batch's kept rows passed every test).
    from mobo.algorithms.base import sobol_points, step_seed_for

    problem = mobo.FunctionProblem(lambda X: None, [[0, 0], [10, 1]], 2, [0.0, 0.0])
    first = problem.from_unit(sobol_points(2, 0, 1, seed=step_seed_for(0, 1)))
    corner = torch.tensor([[10.0, 0.0]], dtype=DTYPE)
    x = _Stubborn(problem).ask(1, first, torch.ones(1, 2), seed=0, X_failed=corner, n_evaluated=1)
    for taken in (first, corner):
        assert (problem.to_unit(x) - problem.to_unit(taken)).abs().max() > REPEAT_TOLERANCE


class _Recording(_Stubborn):
    """Records the observations :meth:`propose` sees; learns failures (``"learn"``)."""

    failures = "learn"

    def propose(self, q, U, Y, *, seed, U_pending):
        self.seen = U
        return torch.full((q, U.shape[1]), 0.5, dtype=DTYPE)


def test_a_target_only_algorithm_does_not_learn_a_failure_at_a_cheaper_fidelity():
    # It sees target observations only; a cheap run's failure says nothing of the target
    # (mutation sweep s76: keeping every failure passed every test).
    problem = mobo.FunctionProblem(
        lambda X: X, [[0, 0], [1, 1]], 2, [0.0, 0.0], fidelity_levels=[0.5, 1.0],
        fidelity_costs=[0.1, 1.0],
    )  # fmt: skip
    X = torch.tensor([[0.1, 1.0], [0.9, 1.0]], dtype=DTYPE)
    cheap_failure = torch.tensor([[0.3, 0.5]], dtype=DTYPE)
    algorithm = _Recording(problem)
    algorithm.ask(1, X, X.clone(), seed=0, X_failed=cheap_failure)
    assert algorithm.seen.shape[0] == 2
    algorithm.ask(1, X, X.clone(), seed=0, X_failed=torch.tensor([[0.3, 1.0]], dtype=DTYPE))
    assert algorithm.seen.shape[0] == 3  # a target failure is learnt


def test_a_study_whose_last_evaluations_failed_is_not_one_whose_all_failed():
    calls = []

    def first_only(X):
        calls.append(X)
        Y = toy_function(X)
        return Y if len(calls) == 1 else torch.full_like(Y, float("nan"))

    problem = mobo.FunctionProblem(first_only, [[0, 0], [1, 1]], 2, [-1.0, -1.0], name="f")
    result = mobo.optimize(problem, "sobol", n_evals=3, show_progress=False)
    assert result.failed.tolist() == [False, True, True]
    calls.append(None)  # every evaluation from here on fails
    study = mobo.Study(problem, "sobol", seed=0)
    with pytest.raises(mobo.StudyFailedError, match="all 2 evaluations of 'f' failed"):
        study.optimize(2, show_progress=False)


def test_a_batch_that_raises_is_evaluated_row_by_row_keeping_each_error():
    def picky(X):
        if (X[:, 0] > 0.5).any():
            raise RuntimeError("x0 too large")
        return torch.stack([X[:, 0], 1 - X[:, 1]], dim=-1)

    problem = mobo.FunctionProblem(picky, [[0, 0], [1, 1]], 2, [-1.0, -1.0], name="picky")
    X = torch.tensor([[0.2, 0.1], [0.7, 0.1], [0.4, 0.3]], dtype=torch.float64)
    Y, errors = evaluate_batch(problem, X)
    assert errors == [None, "RuntimeError: x0 too large", None]
    assert Y[1].isnan().all() and not Y[[0, 2]].isnan().any()


def test_each_call_of_optimize_counts_only_its_own_failures_in_a_row(tmp_path):
    # The streak is of evaluations told in this call: a journal resumed after the study
    # stopped for failures (as its error advises, once the cause is fixed) gets its own
    # max_failures_in_a_row, not a stop at its first failure.
    def down(X):
        raise RuntimeError("the licence server is down")

    problem = mobo.FunctionProblem(down, [[0, 0], [1, 1]], 2, [-1.0, -1.0], name="down")
    path = tmp_path / "down.jsonl"
    with mobo.Study(problem, "sobol", seed=0, journal=path) as study:
        with pytest.raises(mobo.StudyFailedError, match="the last 3 evaluations"):
            study.optimize(20, max_failures_in_a_row=3, show_progress=False)
    assert study.n_evaluated == 3
    with mobo.Study.load(path, problem) as resumed:
        with pytest.raises(mobo.StudyFailedError, match="the last 3 evaluations"):
            resumed.optimize(max_failures_in_a_row=3, show_progress=False)
    assert resumed.n_evaluated == 6
