"""Black-box constraints: declaration, journal, resume, results, plots and algorithms."""

from __future__ import annotations

import json

import matplotlib
import pytest
import torch

import mobo
from tests.mobo.conftest import FAST_BO, FAST_BO_NSGA2, TINY_BO, toy_function

matplotlib.use("Agg")

#: MESMOC settings small enough for unit tests.
FAST_MESMOC = FAST_BO_NSGA2
#: MESMOC in the paper's form (per-objective and per-slack maxima).
MAXIMA_MESMOC = {**FAST_MESMOC, "information": "maxima"}


def constrained_toy(X: torch.Tensor) -> torch.Tensor:
    """The toy objectives and one constraint: feasible inside the disc of radius 0.35
    around (0.5, 0.5), which cuts the unconstrained front."""
    c = ((X - 0.5) ** 2).sum(-1, keepdim=True) - 0.35**2
    return torch.cat([toy_function(X), c], dim=-1)


def toy(**kwargs) -> mobo.Problem:
    return mobo.FunctionProblem(
        constrained_toy,
        [[0.0, 0.0], [1.0, 1.0]],
        2,
        [-1.0, -1.0],
        name="ctoy",
        num_constraints=1,
        **kwargs,
    )


def observed_toy(n: int, seed: int):
    """The toy problem, ``n`` seeded uniform inputs and their outcomes (objectives, then
    the constraint)."""
    problem = toy()
    X = problem.from_unit(
        torch.rand(n, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    )
    return problem, X, problem.evaluate(X)


# ------------------------------------------------------------------ declaration
@pytest.mark.parametrize("bad", [-1, 1.5, True, "1"])
def test_num_constraints_must_be_a_non_negative_int(bad):
    with pytest.raises(ValueError, match=f"num_constraints must be an int >= 0, got {bad!r}"):
        mobo.FunctionProblem(toy_function, [[0, 0], [1, 1]], 2, [0, 0], num_constraints=bad)


def test_constraint_names_must_match_num_constraints():
    with pytest.raises(ValueError, match=r"constraint_names must have num_constraints=1 names"):
        toy(constraint_names=["a", "b"])
    with pytest.raises(ValueError, match="constraint_names must have num_constraints=1"):
        toy(constraint_names="a")  # a string is not a list of names
    assert toy(constraint_names=["disc"]).constraint_names == ["disc"]
    assert toy().constraint_names == ["c0"]


def test_evaluate_without_the_constraint_columns_names_what_is_missing():
    problem = mobo.FunctionProblem(
        toy_function, [[0, 0], [1, 1]], 2, [0, 0], name="short", num_constraints=1
    )
    with pytest.raises(mobo.EvaluationShapeError, match=r"expected \(3, 3\): 2 objectives then 1"):
        problem.evaluate(torch.rand(3, 2))


def test_unconstrained_algorithms_refuse_a_constrained_problem_naming_the_others():
    for name in ["mesmo", "qparego", "pesmo", "jes"]:
        with pytest.raises(ValueError, match=f"algorithm '{name}' cannot handle black-box"):
            mobo.make_algorithm(name, toy())
    assert set(mobo.constrained_algorithms()) == {
        "ax",  # as Ax's outcome constraints
        "mesmoc",
        "momf",  # with fidelities
        "qlognehvi",
        "usemo",
        "nsga2",
        "sobol",
        "random",
    }
    # The message names only those that can run the problem: not MOMF without fidelities.
    with pytest.raises(ValueError, match="choose one of") as refused:
        mobo.make_algorithm("qparego", toy())
    assert "'qlognehvi'" in str(refused.value) and "'momf'" not in str(refused.value)


def test_botorch_constrained_problems_give_constraints_as_minus_slack():
    for name, k in [("ConstrainedBraninCurrin", 1), ("C2DTLZ2", 1), ("DiscBrake", 4)]:
        problem = mobo.problems.make(name)
        assert problem.num_constraints == k and problem.spec()["num_constraints"] == k
        X = problem.from_unit(torch.rand(64, problem.dim, dtype=torch.float64))
        Y, C = problem.split_outcomes(problem.evaluate(X))
        torch.testing.assert_close(Y, problem.function(X))
        torch.testing.assert_close(C, -problem.function.evaluate_slack(X))
        assert (C <= 0).all(-1).any() and (C > 0).any(-1).any()
    assert "num_constraints" not in mobo.problems.make("BraninCurrin").spec()


# ------------------------------------------------------------------ study and result
def test_result_counts_only_feasible_points_for_front_and_hypervolume():
    problem = toy()
    result = mobo.optimize(problem, "sobol", n_evals=24, seed=0, show_progress=False)
    feasible = (result.C <= 0).all(-1)
    assert result.C.shape == (24, 1)
    assert feasible.any() and (~feasible).any()
    assert torch.equal(result.feasible, feasible)
    assert result.feasible[result.pareto_mask].all()
    expected = mobo.hypervolume(result.Y[feasible], problem.ref_point)
    assert float(result.hypervolume[-1]) == pytest.approx(expected)
    # An infeasible point that would dominate the feasible front does not count.
    assert float(result.hypervolume[-1]) < mobo.hypervolume(result.Y, problem.ref_point)
    text = result.summary()
    assert f"{int((~feasible).sum())} infeasible" in text and "feasible hypervolume" in text
    assert result.pareto_table().splitlines()[0].split()[-1] == "c0"


def test_journal_round_trip_keeps_constraint_values(tmp_path):
    path = tmp_path / "c.jsonl"
    result = mobo.optimize(toy(), "nsga2", n_evals=12, seed=3, journal=path, show_progress=False)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert records[0]["problem"]["num_constraints"] == 1
    evals = [r for r in records if r["type"] == "eval"]
    assert all(len(r["c"]) == 1 for r in evals)
    loaded = mobo.Study.load(path, toy(), read_only=True).result()
    torch.testing.assert_close(loaded.C, result.C)
    torch.testing.assert_close(loaded.hypervolume, result.hypervolume)
    # The same journal cannot be resumed with an unconstrained problem of the same name.
    unconstrained = mobo.FunctionProblem(toy_function, [[0, 0], [1, 1]], 2, [-1, -1], name="ctoy")
    with pytest.raises(mobo.JournalError, match="its num_constraints is 1"):
        mobo.Study.load(path, unconstrained, read_only=True)


def test_old_journal_without_constraints_loads(tmp_path):
    path = tmp_path / "old.jsonl"
    problem = mobo.FunctionProblem(toy_function, [[0, 0], [1, 1]], 2, [-1, -1], name="toy")
    mobo.optimize(problem, "random", n_evals=4, journal=path, show_progress=False)
    text = path.read_text()
    assert '"c"' not in text and "num_constraints" not in text  # the format as before
    study = mobo.Study.load(path, problem, read_only=True)
    assert study.n_evaluated == 4 and study.C.shape == (4, 0)
    assert study.result().feasible.all()


def test_journal_with_a_malformed_constraint_record_is_named(tmp_path):
    path = tmp_path / "bad.jsonl"
    mobo.optimize(toy(), "random", n_evals=2, journal=path, show_progress=False)
    lines = path.read_text().splitlines()
    record = json.loads(lines[-1])
    record["c"] = "oops"
    path.write_text("\n".join([*lines[:-1], json.dumps(record)]) + "\n")
    with pytest.raises(mobo.JournalError, match="constraint values c must be a list"):
        mobo.Study.load(path, toy(), read_only=True)


def test_tell_checks_the_outcome_width():
    study = mobo.Study(toy(), "sobol")
    with pytest.raises(ValueError, match=r"Y must have shape \(1, 3\) \(2 objectives then 1"):
        study.tell(torch.rand(1, 2), torch.rand(1, 2))
    study.tell(torch.rand(1, 2), torch.tensor([[0.0, 0.0, float("nan")]]))
    assert study.evaluations[0].failed  # a NaN constraint value is a failed evaluation


@pytest.mark.parametrize("name", ["nsga2", "qlognehvi", "mesmoc", "usemo"])
def test_resumed_constrained_study_proposes_what_an_uninterrupted_one_does(tmp_path, name):
    # The tiniest optimizers: an exact resume does not depend on their quality.
    tiny = {**TINY_BO, "raw_samples": 8}
    options = {"n_initial": 5, **({} if name == "nsga2" else tiny)}
    if name in ("mesmoc", "usemo"):
        options.update(pop_size=8, n_gen=4)
    straight = mobo.optimize(toy(), name, n_evals=8, seed=2, show_progress=False, **options)
    path = tmp_path / "r.jsonl"
    with mobo.Study(toy(), name, seed=2, journal=path, **options) as study:
        study.optimize(6, show_progress=False)
    resumed = mobo.Study.load(path, toy())
    result = resumed.optimize(8, show_progress=False)
    resumed.close()
    torch.testing.assert_close(result.X, straight.X)
    torch.testing.assert_close(result.C, straight.C)


def test_same_seed_gives_the_same_constrained_study_and_another_seed_does_not():
    options = {"n_initial": 5, **FAST_MESMOC}  # one model step shows it
    runs = [
        mobo.optimize(toy(), "mesmoc", n_evals=6, seed=seed, show_progress=False, **options)
        for seed in (1, 1, 2)
    ]
    torch.testing.assert_close(runs[0].X, runs[1].X, rtol=0, atol=0)
    torch.testing.assert_close(runs[0].C, runs[1].C, rtol=0, atol=0)
    assert not torch.equal(runs[0].X, runs[2].X)


def test_plot_draws_infeasible_points_apart():
    result = mobo.optimize(toy(), "sobol", n_evals=16, seed=0, show_progress=False)
    ax = mobo.plotting.plot_pareto_front(result)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "feasible" in labels and "infeasible" in labels
    assert "feasible Pareto front" in ax.get_title()
    drawn = {c.get_label(): len(c.get_offsets()) for c in ax.collections}
    assert drawn == {
        "feasible": int(result.feasible.sum()),
        "infeasible": int((~result.feasible).sum()),
    }
    assert 0 < drawn["infeasible"] < 16


def test_plot_draws_no_failed_evaluation_as_infeasible():
    base = toy()

    def evaluate(X):
        outcomes = base.evaluate(X).clone()
        outcomes[X[:, 0] > 0.7] = float("nan")
        return outcomes

    problem = mobo.FunctionProblem(
        evaluate, [[0.0, 0.0], [1.0, 1.0]], 2, [-1.0, -1.0], name="failing", num_constraints=1
    )
    result = mobo.optimize(problem, "sobol", n_evals=16, seed=0, show_progress=False)
    assert result.failed.any()
    ax = mobo.plotting.plot_pareto_front(result)
    (crosses,) = [c for c in ax.collections if c.get_label() == "infeasible"]
    assert len(crosses.get_offsets()) == int((~result.failed & ~result.feasible).sum())


# ------------------------------------------------------------------ algorithms
def test_nsga2_prefers_feasible_parents():
    problem, X, outcomes = observed_toy(20, 0)
    algorithm = mobo.make_algorithm("nsga2", problem, pop_size=4)
    Y, C = problem.split_outcomes(outcomes)
    proposed = algorithm.ask(8, X, Y, C=C, seed=0, n_evaluated=20)
    _, C_new = problem.split_outcomes(problem.evaluate(proposed))
    # Children of feasible parents near the disc: most are feasible (Sobol gives ~38%).
    assert (C_new <= 0).float().mean() >= 0.6
    with pytest.raises(ValueError, match=r"C must be the 20 x 1 constraint values"):
        algorithm.ask(1, X, Y, seed=0)


def test_mesmoc_samples_maxima_of_objectives_and_slacks_and_is_seeded():
    problem, X, outcomes = observed_toy(12, 1)
    Y, C = problem.split_outcomes(outcomes)
    algorithm = mobo.make_algorithm("mesmoc", problem, n_initial=4, **MAXIMA_MESMOC)
    first = algorithm.ask(2, X, Y, C=C, seed=4)
    max_values = algorithm.last_max_values
    assert max_values.shape == (1, 3)
    # y* is at least the best feasible observation (standardized as the model sees it).
    scaled = algorithm.model_objectives(torch.cat([Y, C], -1))
    feasible = (C <= 0).all(-1)
    assert (max_values[0, :2] >= scaled[feasible, :2].max(0).values - 1e-9).all()
    again = mobo.make_algorithm("mesmoc", problem, n_initial=4, **MAXIMA_MESMOC).ask(
        2, X, Y, C=C, seed=4
    )
    torch.testing.assert_close(first, again)
    assert torch.cdist(first, first)[0, 1] > 1e-6
    with pytest.raises(ValueError, match="feasibility must be one of"):
        mobo.make_algorithm("mesmoc", problem, feasibility="pof", information="maxima")


def test_mesmoc_observed_front_is_that_of_the_feasible_observations_only():
    """An infeasible observation that dominates every feasible one is not on the front the
    sampled fronts are merged with and NSGA-II is seeded from (it is no solution)."""
    problem = toy()
    algorithm = mobo.make_algorithm("mesmoc", problem, n_initial=4, **FAST_MESMOC)
    U = torch.tensor([[0.1, 0.1], [0.5, 0.5], [0.9, 0.9]], dtype=torch.float64)
    outcomes = torch.tensor(
        [[1.0, 0.0, -1.0], [0.0, 1.0, -0.5], [5.0, 5.0, 2.0]], dtype=torch.float64
    )  # objectives (maximized), then the constraint (feasible if <= 0)
    initial, observed = algorithm.observed_front(U, outcomes)
    assert initial.tolist() == U[:2].tolist()
    assert observed.tolist() == [[1.0, 0.0], [0.0, 1.0]]


def test_mesmoc_front_information_models_the_feasible_front_and_the_infeasible_region():
    problem, X, outcomes = observed_toy(12, 1)
    Y, C = problem.split_outcomes(outcomes)
    options = {"n_initial": 4, "information": "front", **FAST_MESMOC}
    boxes_of = mobo.make_algorithm("mesmoc", problem, **options)
    U, outcomes = problem.to_unit(X), torch.cat([Y, C], -1)
    initial, observed = boxes_of.observed_front(U, outcomes)
    fronts = boxes_of.sampled_fronts(boxes_of.fit_model(U, outcomes), 0, initial=initial)
    boxes = boxes_of.front_boxes(fronts, observed)
    assert boxes.shape[0] == 1 and boxes.shape[-1] == 3  # 2 objectives, then 1 constraint
    # Feasible-front boxes bound the constraint at <= 0; the last box is the infeasible
    # region (constraint >= 0, any objective values).
    assert (boxes[0, 1, :-1, 2] == 0).all() and (boxes[0, 0, -1, 2] == 0).all()
    assert (boxes[0, 0, -1, :2] < -1e9).all() and (boxes[0, 1, -1, :2] > 1e9).all()
    with pytest.raises(ValueError, match="constraint_information: only for information='maxima'"):
        mobo.make_algorithm("mesmoc", problem, information="front", constraint_information="none")
    # (a fresh instance each: a surrogate keeps its last fit, e.g. for warm_start=True)
    first = mobo.make_algorithm("mesmoc", problem, **options).ask(2, X, Y, C=C, seed=4)
    again = mobo.make_algorithm("mesmoc", problem, **options).ask(2, X, Y, C=C, seed=4)
    torch.testing.assert_close(first, again, rtol=0, atol=0)
    assert torch.cdist(first, first)[0, 1] > 1e-6


def _fitted_toy_and_mean_inside():
    """The 2-objective, 1-constraint toy on 16 points, its fitted surrogate, a point inside
    the cube and the posterior mean of its objectives there."""
    problem, X, outcomes = observed_toy(16, 2)
    model = mobo.Surrogate().fit(problem.to_unit(X), outcomes)
    inside = torch.tensor([[[0.5, 0.5]]], dtype=torch.float64)
    with torch.no_grad():
        mean = model.posterior(inside).mean[0, 0, :2]
    return problem, X, outcomes, model, inside, mean


def test_mesmoc_box_information_can_be_kept_to_means_that_improve_the_front():
    # require_improvement with the box measures: the information only where the posterior
    # mean is inside the reference box and weakly dominated by no observed front point.
    from botorch.acquisition import AcquisitionFunction

    from mobo.algorithms.mesmoc import PENALTY, ImprovingMeans

    problem, X, outcomes, model, inside, mean = _fitted_toy_and_mean_inside()

    class Constant(AcquisitionFunction):
        def forward(self, X):
            return torch.full(X.shape[:-2], 0.7, dtype=X.dtype)

    def value(ref, *offsets):
        front = mean + torch.tensor(offsets, dtype=torch.float64).reshape(-1, 2)
        acqf = ImprovingMeans(Constant(model), model, front, ref)
        with torch.no_grad():
            return float(acqf(inside))

    assert value(mean - 5.0, (0.5, -0.5), (-0.5, 0.5)) == pytest.approx(0.7)  # a knee point
    assert value(mean - 5.0, (1.0, 0.5)) == pytest.approx(-PENALTY - 0.5 - 1e-6)  # dominated
    assert value(mean + 1.0) == pytest.approx(-PENALTY - 2.0)  # outside the reference box
    Y, C = problem.split_outcomes(outcomes)
    U = problem.to_unit(X)
    for asked, wrapped in ((None, False), (True, True)):
        algorithm = mobo.make_algorithm(
            "mesmoc", problem, n_initial=4, require_improvement=asked, **FAST_MESMOC
        )
        initial, observed = algorithm.observed_front(U, algorithm.model_objectives(outcomes))
        fitted = algorithm.fit_model(U, algorithm.model_objectives(outcomes))
        fronts = algorithm.sampled_fronts(fitted, 0, initial=initial)
        acqf = algorithm.front_information(fitted, fronts, observed, None)
        assert isinstance(acqf, ImprovingMeans) is wrapped
    first = algorithm.ask(1, X, Y, C=C, seed=3)
    assert torch.equal(first, algorithm.ask(1, X, Y, C=C, seed=3))


def test_mesmoc_probability_weighs_the_objectives_information_by_feasibility():
    from botorch.models import ModelListGP

    from mobo.algorithms.mesmo import FrontInformation

    problem, X, outcomes = observed_toy(12, 1)
    Y, C = problem.split_outcomes(outcomes)
    options = {"n_initial": 4, "feasibility": "probability", **FAST_MESMOC}
    algorithm = mobo.make_algorithm("mesmoc", problem, **options)
    U, outcomes = problem.to_unit(X), torch.cat([Y, C], -1)
    model = algorithm.fit_model(U, outcomes)
    initial, observed = algorithm.observed_front(U, outcomes)
    fronts = algorithm.sampled_fronts(model, 0, initial=initial)
    acqf = algorithm.front_information(model, fronts, observed, None)
    boxes = algorithm.front_boxes(fronts, observed, constraints=False)
    assert boxes.shape[-1] == 2  # the objectives only: feasibility enters as a weight
    points = torch.rand(64, 1, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        information = FrontInformation(ModelListGP(*model.models[:2]), boxes)(points)
        constraint = model.models[2].posterior(points)
        z = -constraint.mean.squeeze(-1).squeeze(-1) / constraint.variance.sqrt().squeeze()
        feasible = torch.distributions.Normal(0.0, 1.0).cdf(z)
        value = acqf(points)
    assert ((feasible > 0.05) & (feasible < 0.95)).sum() >= 5  # the weight matters here
    torch.testing.assert_close(value.exp(), information.clamp_min(1e-12) * feasible)
    first = mobo.make_algorithm("mesmoc", problem, **options).ask(2, X, Y, C=C, seed=4)
    again = mobo.make_algorithm("mesmoc", problem, **options).ask(2, X, Y, C=C, seed=4)
    torch.testing.assert_close(first, again, rtol=0, atol=0)
    assert torch.cdist(first, first)[0, 1] > 1e-6
    with pytest.raises(ValueError, match=r"feasibility must be one of \['boxes', 'probability'\]"):
        mobo.make_algorithm("mesmoc", problem, feasibility="mean")
    with pytest.raises(ValueError, match=r"feasibility must be one of \['mean', 'probability'\]"):
        mobo.make_algorithm("mesmoc", problem, feasibility="boxes", information="maxima")


def test_mesmoc_penalizes_points_whose_mean_is_infeasible():
    from mobo.algorithms.mesmoc import PENALTY, ConstrainedMaxValueEntropyAcquisition

    problem, X, outcomes = observed_toy(16, 2)
    model = mobo.Surrogate().fit(problem.to_unit(X), outcomes)
    acqf = ConstrainedMaxValueEntropyAcquisition(model, 1, torch.tensor([[0.0, 0.0, 0.0]]))
    inside, corner = torch.tensor([[[0.5, 0.5]]]), torch.tensor([[[0.0, 0.0]]])
    with torch.no_grad():
        assert float(acqf(corner)) < -PENALTY < float(acqf(inside))


def test_mesmoc_penalizes_points_the_observed_front_dominates():
    from mobo.algorithms.mesmoc import PENALTY, ConstrainedMaxValueEntropyAcquisition

    problem, X, outcomes, model, inside, mean = _fitted_toy_and_mean_inside()
    max_values = torch.tensor([[0.0, 0.0, 0.0]])
    ahead = ConstrainedMaxValueEntropyAcquisition(
        model, 1, max_values, front=(mean - 1.0).unsqueeze(0)
    )
    behind = ConstrainedMaxValueEntropyAcquisition(
        model, 1, max_values, front=(mean + 1.0).unsqueeze(0)
    )
    with torch.no_grad():
        assert float(ahead(inside)) > -PENALTY
        assert float(behind(inside)) == pytest.approx(-PENALTY - 1.0 - 1e-6)

    # The rule is "some front point weakly dominates the mean", not "the mean strictly
    # dominates no front point": a mean at the knee of a two-point front would add
    # hypervolume and keeps its information.
    def value(*offsets):
        front = mean + torch.tensor(offsets, dtype=torch.float64)
        acqf = ConstrainedMaxValueEntropyAcquisition(model, 1, max_values, front=front)
        with torch.no_grad():
            return float(acqf(inside))

    assert value((0.5, -0.5), (-0.5, 0.5)) > -PENALTY
    # Dominated by the first point by 0.5 (its smaller margin), not by the second at all.
    assert value((1.0, 0.5), (3.0, -3.0)) == pytest.approx(-PENALTY - 0.5 - 1e-6)


def test_mesmoc_floors_sampled_slack_maxima_at_the_largest_observed_slack():
    problem, X, outcomes = observed_toy(12, 1)
    values = {}
    for rule in ("floored", "front"):
        algorithm = mobo.make_algorithm(
            "mesmoc", problem, constraint_information=rule, n_initial=4, **MAXIMA_MESMOC
        )
        algorithm.ask(1, X, outcomes[:, :2], C=outcomes[:, 2:], seed=0)
        values[rule] = algorithm.last_max_values
        scaled = algorithm.model_objectives(outcomes)
    largest_slack = float((-scaled[:, 2]).max())
    expected = max(float(values["front"][0, 2]), largest_slack)
    assert float(values["floored"][0, 2]) == pytest.approx(expected)
    torch.testing.assert_close(values["floored"][:, :2], values["front"][:, :2])


# ------------------------------------------------------------------ USeMO with constraints


def test_usemo_weights_its_cheap_problem_by_the_probability_of_feasibility():
    problem, X, outcomes = observed_toy(20, 0)
    algorithm = mobo.make_algorithm("usemo", problem, **FAST_MESMOC)
    # EI and UCB per objective, P(feasible improvement), P(feasible)
    assert algorithm.num_cheap_objectives == 2 * 2 + 1 + 1
    U, Y = problem.to_unit(X), algorithm.model_objectives(outcomes)
    evaluate = algorithm.cheap_objectives(algorithm.fit_model(U, Y), Y, t=U.shape[0])
    values = torch.as_tensor(evaluate(torch.tensor([[0.5, 0.5], [0.0, 0.0]]).numpy()))
    assert values.shape == (2, 6)
    feasible = values[:, -1]  # log P(c <= 0): the disc's centre yes, the corner no
    assert feasible[0] > -0.1 and feasible[1] < -2.0
    # log P(feasible improvement) = log P(improvement) + log P(feasible) <= log P(feasible)
    joint = values[:, -2]
    assert (joint <= feasible + 1e-9).all()


def test_usemo_evaluates_feasible_candidates():
    problem, X, outcomes = observed_toy(20, 0)
    algorithm = mobo.make_algorithm("usemo", problem, **FAST_MESMOC)
    proposed = algorithm.ask(4, X, outcomes[:, :2], C=outcomes[:, 2:], seed=0, n_evaluated=20)
    _, C_new = problem.split_outcomes(problem.evaluate(proposed))
    # The disc is 38% of the square; the constraint-weighted EHVI picks inside it.
    assert (C_new <= 0).float().mean() >= 0.75


def test_usemo_measures_improvement_over_the_feasible_front_only():
    """The plain EHVI score's partition and the ``"pihv"`` region are built from the
    feasible observations: the first objective's best observation here is infeasible and
    would otherwise sit on the front every candidate is measured against."""
    from botorch.utils.multi_objective.box_decompositions.non_dominated import (
        FastNondominatedPartitioning,
    )
    from botorch.utils.multi_objective.pareto import is_non_dominated

    from mobo.algorithms._improvement import ImprovementRegion, log_probability_feasible

    problem, X, outcomes = observed_toy(20, 0)
    algorithm = mobo.make_algorithm("usemo", problem, noisy=False, **FAST_MESMOC)
    U = problem.to_unit(X)
    Y = algorithm.model_objectives(outcomes)
    model = algorithm.fit_model(U, Y)
    feasible = outcomes[:, 2] <= 0
    front = Y[feasible, :2][is_non_dominated(Y[feasible, :2])]
    assert Y[~feasible, 0].max() > front[:, 0].max()  # the best of objective 1: infeasible
    acqf = algorithm.ehvi_acquisition(model, U, Y, seed=0)
    cells = FastNondominatedPartitioning(algorithm.ref_point, front).get_hypercell_bounds()
    torch.testing.assert_close(acqf.cell_lower_bounds, cells[0])
    torch.testing.assert_close(acqf.cell_upper_bounds, cells[1])
    points = torch.rand(30, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    values = torch.as_tensor(algorithm.cheap_objectives(model, Y, t=20)(points[None].numpy()))
    with torch.no_grad():
        posterior = model.posterior(points)
    mean, sigma = posterior.mean, posterior.variance.sqrt()
    expected = ImprovementRegion(Y[feasible, :2], algorithm.ref_point).log_probability(
        mean[:, :2], sigma[:, :2]
    ) + log_probability_feasible(mean[:, 2:], sigma[:, 2:])
    torch.testing.assert_close(values[0, :, -2], expected)


def test_usemo_box_rule_refuses_constraints_naming_the_way_out():
    with pytest.raises(ValueError, match="selection='box' does not model constraints.*'ehvi'"):
        mobo.make_algorithm("usemo", toy(), selection="box")


def test_usemo_proposes_before_any_observation_is_feasible():
    problem, X, outcomes = observed_toy(20, 0)
    infeasible = outcomes[:, 2:].abs() + 0.01  # no feasible front, EI incumbent or region yet
    algorithm = mobo.make_algorithm("usemo", problem, **FAST_MESMOC)
    proposed = algorithm.ask(2, X, outcomes[:, :2], C=infeasible, seed=0, n_evaluated=20)
    assert proposed.shape == (2, 2) and torch.isfinite(proposed).all()
    assert not torch.equal(proposed[0], proposed[1])


def test_usemo_ei_improves_on_the_best_feasible_observation_not_an_infeasible_one():
    """With constraints the incumbents are the feasible observations: taken over all of
    them, EI and PI measured improvement over an infeasible point the search may not keep
    (here the first objective's best, -0.002, lies outside the disc; the best feasible
    is -0.043)."""
    problem, X, outcomes = observed_toy(20, 0)
    algorithm = mobo.make_algorithm("usemo", problem, acquisitions=("ei", "pi"), **FAST_MESMOC)
    U = problem.to_unit(X)
    model = algorithm.fit_model(U, outcomes)
    feasible = outcomes[:, 2] <= 0
    best = outcomes[feasible, :2].max(dim=0).values
    assert best[0] < outcomes[:, 0].max()  # the best observation is infeasible
    points = torch.rand(30, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    evaluate = algorithm.cheap_objectives(model, outcomes, t=20)
    ei, pi = torch.as_tensor(evaluate(points[None].numpy()))[0, :, :4].split(2, dim=-1)
    with torch.no_grad():
        posterior = model.posterior(points)
    z = (posterior.mean[:, :2] - best) / posterior.variance[:, :2].sqrt()
    cdf = 0.5 * torch.erfc(-z / 2**0.5)
    pdf = torch.exp(-0.5 * z**2) / (2 * torch.pi) ** 0.5
    torch.testing.assert_close(pi, cdf, rtol=1e-9, atol=1e-12)
    sigma = posterior.variance[:, :2].sqrt()
    torch.testing.assert_close(ei, sigma * (z * cdf + pdf), rtol=1e-9, atol=1e-12)


def test_mesmoc_on_an_unconstrained_problem_warns_nothing():
    import warnings

    problem = mobo.problems.make("BraninCurrin")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mobo.optimize(problem, "mesmoc", n_evals=7, n_initial=6, show_progress=False, **FAST_BO)
    assert not [w for w in caught if "degrees of freedom" in str(w.message)]


def test_a_pareto_table_without_a_counted_point_says_why_it_is_empty():
    # sweepF (stop 74): a study that found no feasible point printed the table's header
    # alone, which reads as a table cut off.
    def never_feasible(X):
        return torch.cat([X, torch.ones(X.shape[0], 1, dtype=X.dtype)], dim=-1)

    problem = mobo.FunctionProblem(never_feasible, [[0, 0], [1, 1]], 2, [0, 0], num_constraints=1)
    result = mobo.optimize(problem, "sobol", n_evals=4, seed=0, show_progress=False)
    header, why = result.pareto_table().splitlines()
    assert header.split() == ["x0", "x1", "f0", "f1", "c0"]
    assert why == "(no Pareto set: none of the 4 successful evaluations satisfies every constraint)"

    # Every evaluation failed (told NaN; optimize itself stops such a study with an error).
    study = mobo.Study(problem, "sobol", seed=0)
    X = study.ask(3)
    study.tell(X, torch.full((3, 3), float("nan"), dtype=X.dtype))
    assert study.result().pareto_table().splitlines()[1] == (
        "(no Pareto set: all 3 evaluations failed)"
    )


def test_a_pareto_table_of_cheap_evaluations_only_says_the_target_fidelity_is_missing():
    from mobo.problems.multi_fidelity import BiasedFidelityProblem

    problem = BiasedFidelityProblem("ConstrainedBraninCurrin", levels=(0.25, 1.0), costs=(0.1, 1.0))
    X = torch.rand(3, problem.dim, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    X = problem.from_unit(X)
    X[:, -1] = 0.25  # every evaluation at the cheap fidelity
    study = mobo.Study(problem, "sobol", seed=0)
    study.tell(X, problem.evaluate(X))
    assert study.result().pareto_table().splitlines()[1] == (
        "(no Pareto set: no successful evaluation at the target fidelity)"
    )
