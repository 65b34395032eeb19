"""What a :class:`mobo.Result` reads from hand-made evaluations: feasibility, costs, the
Pareto table of minimized objectives (mutation sweep s76 of the numeric core)."""

from __future__ import annotations

import math

import pytest
import torch

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


def test_an_evaluation_is_feasible_when_it_succeeded_and_every_constraint_is_at_most_0():
    """``Evaluation.feasible``: a constraint value of exactly 0 is feasible (as in
    :func:`mobo.feasible_mask`); one positive value, or a failure, is not (mutation sweep R:
    ``< 0`` passed every test)."""
    assert mobo.Evaluation(0, [0.1, 0.1], [1.0, 1.0], c=[0.0, -1.0]).feasible
    assert not mobo.Evaluation(0, [0.1, 0.1], [1.0, 1.0], c=[0.0, 0.5]).feasible
    assert mobo.Evaluation(0, [0.1, 0.1], [1.0, 1.0]).feasible
    assert not mobo.Evaluation(0, [0.1, 0.1], None, "boom").feasible


def test_a_journal_record_keeps_a_cost_of_0_and_leaves_out_unused_fields():
    """A free evaluation's cost 0.0 is a recorded cost (dropping it as falsy made a resumed
    result price it at its fidelity); unused optional fields stay out of the journal, and a
    record reads back as the evaluation it was written from (mutation sweep R)."""
    free = mobo.Evaluation(0, [0.1, 0.5], [1.0, 1.0], cost=0.0)
    record = free.to_record()
    assert record["cost"] == 0.0 and record["type"] == "eval"
    assert not {"c", "extra", "ask_cpu_seconds"} & set(record)
    assert mobo.Evaluation.from_record(record) == free


def test_a_failed_evaluation_has_no_constraint_values_in_the_result():
    """``Result.C`` has NaN rows where evaluations failed, even when a journal holds
    constraint values for one (mutation sweep R: keeping them passed)."""
    problem = _problem(num_constraints=1)
    result = _result(
        problem,
        [
            mobo.Evaluation(0, [0.2, 0.3], [0.2, 0.3], c=[-1.0]),
            mobo.Evaluation(1, [0.4, 0.3], None, "boom", c=[-1.0]),
        ],
    )
    assert result.C[0].tolist() == [-1.0]
    assert result.C[1].isnan().all()
    assert result.feasible.tolist() == [True, False]


def test_times_and_warnings_are_counted_once_per_ask_and_a_batch_takes_its_slowest_point():
    """Every point of a batch carries its ask's time and warnings: the result counts them
    once per ask, a batch evaluated together took as long as its slowest point, and the
    summary's wall time is the mean over asks; CPU time is shown only when every ask
    recorded it (mutation sweep R: counting warnings per point, summing a batch's times, a
    CPU time of 0 for an unrecorded ask and the total for the mean each passed)."""
    ask = {"ask_warnings": {"jitter": 2}, "ask_seconds": 2.0, "ask_cpu_seconds": 1.0}
    result = _result(
        _problem(),
        [
            mobo.Evaluation(0, [0.1, 0.1], [0.1, 0.1], step=0, eval_seconds=1.0, **ask),
            mobo.Evaluation(1, [0.2, 0.2], [0.2, 0.2], step=0, eval_seconds=3.0, **ask),
            mobo.Evaluation(
                2,
                [0.3, 0.3],
                [0.3, 0.3],
                step=1,
                ask_seconds=4.0,
                eval_seconds=0.5,
                ask_warnings={"jitter": 1, "lbfgs": 1},
            ),
        ],
    )
    assert result.warnings == {"jitter": 3, "lbfgs": 1}
    assert result.seconds_per_iteration.tolist() == [2.0, 4.0]
    assert result.eval_seconds.tolist() == [3.0, 0.5]
    cpu = result.cpu_seconds_per_iteration
    assert cpu[0] == 1.0 and cpu[1].isnan()
    summary = result.summary()
    assert ", 3.000 wall s/iteration; library warnings handled: jitter 3, lbfgs 1" in summary
    assert "CPU" not in summary


def _fidelity_result() -> mobo.Result:
    """A constrained problem with a cheap fidelity 0.5 (cost 0.1) and the target 1.0."""
    problem = _problem(num_constraints=1, fidelity_levels=[0.5, 1.0], fidelity_costs=[0.1, 1.0])
    return _result(
        problem,
        [
            mobo.Evaluation(0, [0.2, 0.5], [0.9, 0.9], c=[-1.0]),  # cheap, best of all
            mobo.Evaluation(1, [0.3, 1.0], [0.4, 0.3], c=[-1.0]),  # the Pareto set
            mobo.Evaluation(2, [0.4, 1.0], [0.8, 0.8], c=[1.0]),  # infeasible at the target
            mobo.Evaluation(3, [0.6, 0.5], [0.1, 0.1], c=[1.0], cost=0.0),  # recorded: free
            mobo.Evaluation(4, [0.7, 1.0], None, "boom", cost=1.0),
            mobo.Evaluation(5, [0.8, 1.0], [0.2, 0.2], c=[-2.0]),  # dominated by 1
            mobo.Evaluation(6, [0.9, 0.5], [0.1, 0.1], c=[2.0]),  # cheap, infeasible
        ],
    )


def test_only_feasible_target_fidelity_evaluations_count_under_fidelities_and_constraints():
    """The Pareto set, its front and the hypervolume are of the feasible evaluations at the
    target fidelity: a cheap evaluation better than all of them does not count, nor does
    an infeasible one (mutation sweep R: ``counted`` and ``counted_objectives`` without the
    target fidelity, and the Pareto set read from ``counted``, each passed)."""
    result = _fidelity_result()
    assert result.counted.tolist() == [False, True, False, False, False, True, False]
    assert result.pareto_mask.tolist() == [False, True, False, False, False, False, False]
    assert result.pareto_X.tolist() == [[0.3, 1.0]]
    assert result.pareto_Y.tolist() == [[0.4, 0.3]]
    assert result.hypervolume.tolist() == pytest.approx([0, 1.82, 1.82, 1.82, 1.82, 1.82, 1.82])


def test_the_cost_of_each_evaluation_is_as_recorded_else_at_its_fidelity():
    """Recorded costs win (the failed one's, and a free one's 0, too); unrecorded ones are
    priced at their fidelity (mutation sweep R: ignoring the recorded costs, or a recorded
    0, passed)."""
    result = _fidelity_result()
    assert result.cost.tolist() == pytest.approx([0.1, 1.0, 1.0, 0.0, 1.0, 1.0, 0.1])
    assert result.cumulative_cost[-1] == pytest.approx(4.2)


def test_the_summary_of_a_constrained_fidelity_run_splits_infeasible_ones_by_fidelity():
    """The summary counts the failed evaluation once (not as infeasible), the infeasible
    ones at the target fidelity apart from cheaper ones, the final feasible hypervolume,
    every evaluation made at the target fidelity (counted or not) and the total cost
    (mutation sweep R: swapped infeasible counts, the first hypervolume, the counted
    evaluations and the last cost each passed)."""
    summary = _fidelity_result().summary()
    assert summary.startswith(
        "hand on FunctionProblem: 7 evaluations (1 failed, 1 infeasible at the target fidelity and "
        "2 at cheaper ones), feasible hypervolume 1.82, 4 at the target fidelity, "
        "total cost 4.2"
    ), summary


def test_the_pareto_table_of_a_constrained_problem_shows_constraint_values_last():
    """Columns: inputs, objectives, then constraint values, each under its name (mutation
    sweep R: constraint names before the objectives' passed)."""
    problem = _problem(num_constraints=1, objective_names=["acc", "speed"])
    result = _result(
        problem,
        [
            mobo.Evaluation(0, [0.2, 0.3], [0.2, 0.3], c=[-0.5]),
            mobo.Evaluation(1, [0.4, 0.6], [0.7, 0.9], c=[0.5]),  # infeasible
        ],
    )
    header, *rows = result.pareto_table().splitlines()
    assert header.split() == ["x0", "x1", "acc", "speed", "c0"]
    assert [row.split() for row in rows] == [["0.2", "0.3", "0.2", "0.3", "-0.5"]]


def test_an_empty_table_of_a_constrained_run_counts_the_successful_evaluations():
    """With no feasible evaluation the table says how many succeeded, not how many there
    were (mutation sweep R: the total passed)."""
    problem = _problem(num_constraints=1)
    result = _result(
        problem,
        [
            mobo.Evaluation(0, [0.2, 0.3], [0.2, 0.3], c=[1.0]),
            mobo.Evaluation(1, [0.4, 0.3], None, "boom"),
            mobo.Evaluation(2, [0.5, 0.3], [0.5, 0.3], c=[0.1]),
        ],
    )
    assert result.pareto_table().splitlines()[1] == (
        "(no Pareto set: none of the 2 successful evaluations satisfies every constraint)"
    )


class _NoisyConstrained(mobo.Problem):
    """Observed objectives are the noiseless ones minus 0.1; feasible where x0 <= 0.7."""

    def __init__(self) -> None:
        super().__init__(
            [[0, 0], [1, 1]], 2, [0.0, 0.0], name="noisy", num_constraints=1, max_hv=0.5
        )

    def _evaluate(self, X):
        return torch.cat([X - 0.1, X[:, :1] - 0.7], dim=-1)

    def evaluate_true(self, X):
        return torch.cat([X, X[:, :1] - 0.7], dim=-1)


def test_the_noiseless_hypervolume_counts_only_feasible_points_and_the_summary_reports_it():
    """The noiseless values of an infeasible point add nothing, and the summary's share of
    ``max_hv`` is of the noiseless hypervolume, shown next to the observed one (mutation
    sweep R: the noiseless trace of every point, the share of the observed hypervolume and
    a summary without the noiseless one each passed)."""
    result = _result(
        _NoisyConstrained(),
        [
            mobo.Evaluation(0, [0.5, 0.5], [0.4, 0.4], c=[-0.2]),
            mobo.Evaluation(1, [0.9, 0.9], [0.8, 0.8], c=[0.2]),
        ],
    )
    assert result.true_hypervolume.tolist() == [0.25, 0.25]
    assert "feasible hypervolume 0.16, noiseless hypervolume 0.25 (50.00% of max 0.5)" in (
        result.summary()
    )
