"""What a :class:`mobo.Result` reads from hand-made evaluations: feasibility, costs, the
Pareto table of minimized objectives (mutation sweep s76 of the numeric core)."""

from __future__ import annotations

import math

import mobo


def _problem(**kwargs) -> mobo.FunctionProblem:
    return mobo.FunctionProblem(lambda X: X, [[0, 0], [1, 1]], 2, [-1.0, -1.0], **kwargs)


def _result(problem, evaluations) -> mobo.Result:
    return mobo.Result.from_evaluations(problem, "hand", 0, evaluations)


def test_a_failed_evaluation_of_an_unconstrained_problem_is_not_feasible():
    # An unconstrained result's C has no columns, so every row satisfies "every constraint":
    # only the failure itself says a failed evaluation is not feasible (dropping it passed).
    result = _result(
        _problem(),
        [mobo.Evaluation(0, [0.2, 0.3], [0.2, 0.3]), mobo.Evaluation(1, [0.5, 0.5], None, "boom")],
    )
    assert result.feasible.tolist() == [True, False]
    assert result.counted.tolist() == [True, False]


def test_the_pareto_table_shows_a_minimized_objective_in_its_sign_sorted_by_it():
    # f0 is minimized, so the problem reports -f0: the table shows f0 = 1 and 2 (not -1
    # and -2), in ascending natural order (sorting by the reported -f0 reversed it).
    problem = _problem(senses=["min", "max"])
    result = _result(
        problem,
        [mobo.Evaluation(0, [0.1, 0.1], [-2.0, 0.8]), mobo.Evaluation(1, [0.2, 0.2], [-1.0, 0.5])],
    )
    rows = [line.split() for line in result.pareto_table().splitlines()[1:]]
    assert [(row[2], row[3]) for row in rows] == [("1", "0.5"), ("2", "0.8")]


def test_the_summary_does_not_count_a_failed_evaluation_as_infeasible():
    problem = _problem(num_constraints=1)
    result = _result(
        problem,
        [
            mobo.Evaluation(0, [0.2, 0.3], [0.2, 0.3], c=[-1.0]),
            mobo.Evaluation(1, [0.4, 0.3], [0.4, 0.3], c=[1.0]),
            mobo.Evaluation(2, [0.5, 0.5], None, "boom"),
        ],
    )
    assert "(1 failed, 1 infeasible)" in result.summary()


def test_an_empty_table_of_a_failed_target_run_says_the_target_fidelity_is_missing():
    # The failed target-fidelity evaluation is no successful one (counting it blamed the
    # constraints, which this problem has none of).
    problem = _problem(fidelity_levels=[0.5, 1.0], fidelity_costs=[0.1, 1.0])
    result = _result(
        problem,
        [mobo.Evaluation(0, [0.2, 0.5], [0.2, 0.5]), mobo.Evaluation(1, [0.3, 1.0], None, "x")],
    )
    assert result.pareto_table().splitlines()[1] == (
        "(no Pareto set: no successful evaluation at the target fidelity)"
    )


class _Noisy(mobo.Problem):
    """Observed outcomes are the noiseless ones minus 0.1."""

    def __init__(self) -> None:
        super().__init__([[0, 0], [1, 1]], 2, [0.0, 0.0], name="noisy")

    def _evaluate(self, X):
        return X - 0.1

    def evaluate_true(self, X):
        return X.clone()


def test_the_noiseless_hypervolume_gives_a_failed_evaluation_no_credit():
    result = _result(
        _Noisy(),
        [mobo.Evaluation(0, [0.5, 0.5], [0.4, 0.4]), mobo.Evaluation(1, [0.9, 0.9], None, "x")],
    )
    assert result.true_hypervolume.tolist() == [0.25, 0.25]
    assert math.isclose(float(result.hypervolume[-1]), 0.16)
