"""Multiple fidelities: declaration, cost, journal, resume, results and MF-OSEMO."""

from __future__ import annotations

import contextlib
import json
import math
import warnings
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

import mobo
from mobo.algorithms.mesmo import FrontInformation, mesmo_information
from mobo.algorithms.mfosemo import MultiFidelityFrontInformationPerCost, lower_fidelity_information
from mobo.problems.multi_fidelity import BiasedFidelityProblem
from tests.mobo.conftest import (
    FAST_BO,
    FAST_BO_NSGA2,
    TINY_BO,
    resumed_and_straight,
    toy_function,
)

FAST_MF = {**FAST_BO_NSGA2, "n_initial": 5}
#: Smaller still, for tests of bookkeeping (a warning, a resume) that no search quality shows.
TINY_MF = {**TINY_BO, "raw_samples": 8, "pop_size": 8, "n_gen": 4, "n_initial": 5}


def _two_levels(X: torch.Tensor) -> torch.Tensor:
    """The toy objectives on x[:, :2], shifted by 0.3 at the low fidelity x[:, 2] = 0."""
    return toy_function(X[:, :2]) + 0.3 * (1 - X[:, 2:3])


def toy(**kwargs) -> mobo.Problem:
    options = {"fidelity_levels": [0.0, 1.0], "fidelity_costs": [0.2, 1.0], **kwargs}
    return mobo.FunctionProblem(
        _two_levels, [[0, 0, 0], [1, 1, 1]], 2, [-1.0, -1.0], name="mftoy", **options
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"fidelity_costs": None}, "fidelity_levels and fidelity_costs must be given together"),
        ({"fidelity_levels": [1.0, 0.0]}, "fidelity_levels must be at least two ascending"),
        ({"fidelity_levels": [1.0]}, "fidelity_levels must be at least two ascending"),
        ({"fidelity_levels": [0.0, 2.0]}, r"must lie inside the bounds of the last input"),
        ({"fidelity_costs": [0.2, -1.0]}, "fidelity_costs must be 2 positive finite costs"),
        ({"fidelity_costs": [0.2]}, "fidelity_costs must be 2 positive finite costs"),
    ],
)
def test_malformed_fidelity_declarations_are_named(options, message):
    with pytest.raises(ValueError, match=message):
        toy(**options)


def test_a_fidelity_with_no_other_input_is_refused():
    """It was accepted; MF-OSEMO then failed inside BoTorch on a 0-column design space."""
    with pytest.raises(ValueError, match="needs at least one input besides it"):
        mobo.FunctionProblem(
            lambda X: torch.cat([X, -X], dim=-1),
            [[0.0], [1.0]],
            2,
            [-2.0, -2.0],
            fidelity_levels=[0.25, 1.0],
            fidelity_costs=[0.1, 1.0],
        )


def test_cost_and_target_follow_the_fidelity_column():
    problem = toy()
    X = torch.tensor([[0.1, 0.2, 0.0], [0.1, 0.2, 1.0], [0.3, 0.3, 0.9]], dtype=torch.float64)
    torch.testing.assert_close(problem.cost(X), torch.tensor([0.2, 1.0, 1.0], dtype=torch.float64))
    assert problem.at_target(X).tolist() == [False, True, True]
    assert problem.spec()["fidelity_costs"] == [0.2, 1.0]


def test_algorithms_that_cannot_choose_stay_at_the_target_and_see_only_its_data():
    problem = toy()
    empty = torch.empty(0, 3, dtype=torch.float64)
    X = mobo.make_algorithm("sobol", problem).ask(6, empty, empty[:, :2], seed=0)
    assert (X[:, -1] == 1.0).all()
    mixed = mobo.make_algorithm("mfosemo", problem, **FAST_MF).ask(6, empty, empty[:, :2], seed=0)
    assert set(mixed[:, -1].tolist()) == {0.0, 1.0}  # the initial design snapped to levels


@pytest.mark.parametrize(
    ("algorithm", "options"),
    [("qlognehvi", FAST_BO), ("usemo", {"pop_size": 16, "n_gen": 8}), ("mesmo", FAST_MF)],
)
def test_a_model_that_cannot_choose_the_fidelity_proposes_as_if_there_were_none(algorithm, options):
    """Its data are all at the target, so the fidelity input never varies; a model that saw
    it could not learn it and its acquisition would wander along it (qLogNEHVI on
    BraninCurrin with a fidelity input fell from 56.7 to 41.4 in 30 evaluations)."""
    plain = mobo.FunctionProblem(toy_function, [[0, 0], [1, 1]], 2, [-1.0, -1.0], name="plain")
    X = torch.rand(6, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    Y = toy_function(X)
    at_target = torch.cat([X, torch.ones(6, 1, dtype=torch.float64)], dim=1)
    cheap = torch.cat([X[:2], torch.zeros(2, 1, dtype=torch.float64)], dim=1)  # not seen
    options = {**options, "n_initial": 2}
    expected = mobo.make_algorithm(algorithm, plain, **options).ask(2, X, Y, seed=4, n_evaluated=8)
    got = mobo.make_algorithm(algorithm, toy(), **options).ask(
        2, torch.cat([at_target, cheap]), torch.cat([Y, Y[:2] + 0.3]), seed=4, n_evaluated=8
    )
    torch.testing.assert_close(got[:, :2], expected)
    assert (got[:, 2] == 1.0).all()


def test_result_counts_only_target_fidelity_and_records_cost(tmp_path):
    problem = toy()
    path = tmp_path / "mf.jsonl"
    result = mobo.optimize(
        problem, "mfosemo", n_evals=8, seed=0, journal=path, show_progress=False, **FAST_MF
    )
    target = problem.at_target(result.X)
    assert target.any() and (~target).any()
    assert result.pareto_mask[~target].sum() == 0
    assert float(result.hypervolume[-1]) == pytest.approx(
        mobo.hypervolume(result.Y[target], problem.ref_point)
    )
    torch.testing.assert_close(result.cumulative_cost[-1], problem.cost(result.X).sum())
    assert "at the target fidelity, total cost" in result.summary()
    records = [json.loads(line) for line in path.read_text().splitlines()]
    costs = [r["cost"] for r in records if r["type"] == "eval"]
    assert costs == problem.cost(result.X).tolist()
    loaded = mobo.Study.load(path, problem, read_only=True)
    assert loaded.cost_spent == pytest.approx(sum(costs))
    other = toy(fidelity_costs=[0.5, 1.0])
    with pytest.raises(mobo.JournalError, match="its fidelity_costs is"):
        mobo.Study.load(path, other, read_only=True)
    # A point told between two discrete levels was counted at the nearest (a biased cheap
    # run as a target result): refused, naming the levels.
    study = mobo.Study(problem, "sobol")
    between = result.X[target][:1].clone()
    between[:, -1] = 0.7 * problem.fidelity_levels[-1] + 0.3 * problem.fidelity_levels[0]
    with pytest.raises(ValueError, match="not one of the problem's levels"):
        study.tell(between, problem.evaluate(result.X[target][:1]))


@pytest.mark.parametrize("information", ["maxima", "hypervolume"])
def test_resumed_mfosemo_study_proposes_what_an_uninterrupted_one_does(tmp_path, information):
    options = {**TINY_MF, "information": information}
    path = tmp_path / "r.jsonl"
    result, straight = resumed_and_straight(toy, "mfosemo", path, seed=3, stop=6, n=8, **options)
    torch.testing.assert_close(result.X, straight.X)


def test_box_information_is_mes_lb_at_the_target_and_no_more_below_it():
    """At the target level the multi-fidelity box information (per cost) is BoTorch's
    MES-LB on the same boxes; at the cheap level, correlated but biased, it is positive and
    (data processing) no larger than at the target, up to the bound's 1e-6 jitter."""
    problem = toy()
    generator = torch.Generator().manual_seed(0)
    X = problem.from_unit(torch.rand(14, 3, generator=generator, dtype=torch.float64))
    X[:, -1] = (torch.arange(14) % 2).double()
    algorithm = mobo.make_algorithm("mfosemo", problem, information="hypervolume", **FAST_MF)
    U, Y = problem.to_unit(X), algorithm.model_objectives(problem.evaluate(X))
    model = algorithm.fit_model(U, Y)
    fronts = algorithm.sampled_fronts(model, 0, initial=None, fixed_last=1.0)
    at_target = U[:, -1] == 1.0
    boxes = algorithm.front_boxes(fronts, algorithm.observed_front(U[at_target], Y[at_target])[1])
    acqf = MultiFidelityFrontInformationPerCost(model, boxes, target=1.0, cost=0.5)
    points = torch.rand(500, 1, 3, generator=generator, dtype=torch.float64)
    high, low = points.clone(), points.clone()
    high[..., -1], low[..., -1] = 1.0, 0.0
    with torch.no_grad():
        at_high, at_low = acqf(high), acqf(low)
        torch.testing.assert_close(at_high, 2 * FrontInformation(model, boxes)(high))
    # (The moment-matched bound can be negative where truncation to far-apart boxes widens
    # the predictive; the inequality is checked where it is not.)
    informative = at_high > 0
    assert at_low.max() > 0.01 and (at_low - at_high)[informative].max() < 1e-3
    assert at_low.max() < at_high.max()


def test_lower_fidelity_information_tends_to_mesmo_and_vanishes_without_correlation():
    gamma = torch.tensor([-1.0, 0.0, 1.0, 2.0], dtype=torch.float64)
    # MESMO's closed form: the information of the target fidelity itself (rho = 1).
    at_target = mesmo_information(
        torch.zeros(4, 1, dtype=torch.float64),
        torch.ones(4, 1, dtype=torch.float64),
        gamma.unsqueeze(-1).unsqueeze(-1),
    )
    near_one = lower_fidelity_information(gamma, torch.tensor(0.999, dtype=torch.float64))
    torch.testing.assert_close(near_one, at_target, atol=0.06, rtol=0.06)
    none = lower_fidelity_information(gamma, torch.tensor(0.0, dtype=torch.float64))
    assert none.abs().max() < 1e-9
    half = lower_fidelity_information(gamma, torch.tensor(0.5, dtype=torch.float64))
    assert ((half > 1e-6) & (half < near_one)).all()


def test_lower_fidelity_information_holds_far_below_the_sampled_maximum():
    # Against adaptive quadrature over the whole line (mpmath, 30 digits): a fixed grid on
    # [-8, 8] missed the conditional mass once gamma fell far below -8 (0.589 at -15, 0.5)
    # and was coarse at rho 0.999 (1.953 at -8).
    gamma = torch.tensor([-15.0, -15.0, -10.0, -8.0, -4.0, 0.0], dtype=torch.float64)
    rho = torch.tensor([0.5, 0.9, 0.9, 0.999, 0.999, 0.5], dtype=torch.float64)
    expected = torch.tensor(
        [0.14312, 0.82122, 0.81065, 2.22478, 1.74489, 0.08678], dtype=torch.float64
    )
    torch.testing.assert_close(lower_fidelity_information(gamma, rho), expected, atol=1e-4, rtol=0)


def test_mfosemo_refuses_a_problem_without_fidelities_and_biased_problem_is_biased():
    with pytest.raises(ValueError, match="'mfosemo' needs a problem with fidelities"):
        mobo.make_algorithm("mfosemo", mobo.problems.make("BraninCurrin"))
    problem = BiasedFidelityProblem()
    x = torch.tensor([[0.3, 0.7]], dtype=torch.float64)
    high = problem.evaluate(torch.cat([x, torch.ones(1, 1, dtype=torch.float64)], -1))
    low = problem.evaluate(torch.cat([x, torch.full((1, 1), 0.25, dtype=torch.float64)], -1))
    torch.testing.assert_close(high, problem.base.evaluate(x))
    assert (low - high).abs().min() > 1e-3


def test_a_biased_constrained_problem_biases_its_constraints_too():
    problem = BiasedFidelityProblem("ConstrainedBraninCurrin")
    assert problem.num_constraints == 1 and problem.name == "ConstrainedBraninCurrinMF"
    x = torch.tensor([[0.3, 0.7], [0.9, 0.1]], dtype=torch.float64)
    x = problem.base.from_unit(x)
    high = problem.evaluate(torch.cat([x, torch.ones(2, 1, dtype=torch.float64)], -1))
    low = problem.evaluate(torch.cat([x, torch.full((2, 1), 0.25, dtype=torch.float64)], -1))
    torch.testing.assert_close(high, problem.base.evaluate(x))  # objectives and constraint
    assert (low - high).abs().min() > 1e-3  # a cheap evaluation misjudges both


def test_plot_draws_lower_fidelity_points_apart():
    import matplotlib

    matplotlib.use("Agg")
    result = mobo.optimize(toy(), "mfosemo", n_evals=6, seed=0, show_progress=False, **FAST_MF)
    ax = mobo.plotting.plot_pareto_front(result)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "lower fidelity" in labels and "evaluated" in labels


def test_infeasible_points_at_the_target_are_drawn_and_counted_apart_from_cheaper_ones():
    # r11_mf_infeasible.py: the red crosses and the summary's "9 infeasible" mixed 6 cheap
    # (biased) evaluations with the 3 infeasible at the target fidelity, which counts.
    import matplotlib

    matplotlib.use("Agg")
    problem = BiasedFidelityProblem("ConstrainedBraninCurrin", levels=(0.25, 1.0), costs=(0.1, 1.0))
    U = torch.quasirandom.SobolEngine(2, scramble=True, seed=0).draw(24, dtype=torch.float64)
    level = [torch.full((24, 1), 0.25, dtype=torch.float64), torch.ones(12, 1, dtype=torch.float64)]
    X = torch.cat([torch.cat([U, level[0]], -1), torch.cat([U[:12], level[1]], -1)])
    study = mobo.Study(problem, "sobol", seed=0)
    study.tell(X, problem.evaluate(X))
    result = study.result()
    assert "(0 failed, 3 infeasible at the target fidelity and 6 at cheaper ones)" in (
        result.summary()
    )
    ax = mobo.plotting.plot_pareto_front(result)
    drawn = {c.get_label(): len(c.get_offsets()) for c in ax.collections}
    assert drawn["infeasible"] == 3 and drawn["infeasible, lower fidelity"] == 6
    assert drawn["feasible"] == 9 and drawn["lower fidelity"] == 18
    assert ax.lines[0].get_label() == "sobol front"


@pytest.mark.parametrize("guard", [False, True])
def test_mfosemo_passes_its_guard_to_the_restarts(monkeypatch, guard):
    # MF-OSEMO inherits MESMO's guard option; it must reach the acquisition optimizer
    # (off by default: its recorded figures were measured without it).
    from mobo.algorithms.mfosemo import MFOSEMO

    calls = []
    original = MFOSEMO.guarded_ascent

    def counting(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(MFOSEMO, "guarded_ascent", counting)
    assert not mobo.make_algorithm("mfosemo", toy()).guard
    options = {**FAST_MF, "guard": guard} if guard else FAST_MF
    mobo.optimize(toy(), "mfosemo", n_evals=6, seed=0, show_progress=False, **options)
    # one model-based step, one guarded ascent per fidelity level
    assert len(calls) == (2 if guard else 0)


class _Continued(mobo.FunctionProblem):
    """The toy problem where moving an evaluated low-fidelity point to the target costs
    ``promotion`` (its cheap run continued) instead of a target evaluation's 1.0."""

    def __init__(self, evaluated: torch.Tensor, promotion: float) -> None:
        options = {"fidelity_levels": [0.0, 1.0], "fidelity_costs": [0.2, 1.0]}
        super().__init__(_two_levels, [[0, 0, 0], [1, 1, 1]], 2, [-1.0, -1.0], **options)
        self.evaluated, self.promotion = evaluated[:, :2], promotion

    def current_cost(self, X: torch.Tensor) -> torch.Tensor:
        cost = self.cost(X)
        done = (torch.cdist(X[:, :2], self.evaluated) < 1e-9).any(dim=-1)
        return torch.where(self.at_target(X) & done, torch.full_like(cost, self.promotion), cost)


def test_only_promotions_cheaper_than_a_target_evaluation_compete():
    # Promotable: evaluated low points moved to the target, priced above 0 and below 1.0.
    U = torch.tensor([[0.1, 0.2, 0.0], [0.7, 0.4, 0.0], [0.5, 0.5, 1.0]], dtype=torch.float64)
    points, costs = mobo.make_algorithm("mfosemo", _Continued(U[:1], 0.3)).promotable(U)
    torch.testing.assert_close(points, torch.tensor([[0.1, 0.2, 1.0]], dtype=torch.float64))
    torch.testing.assert_close(costs, torch.tensor([0.3], dtype=torch.float64))
    for price in (1.0, 1.5, 0.0):
        assert mobo.make_algorithm("mfosemo", _Continued(U, price)).promotable(U) == (None, None)


@pytest.mark.parametrize("information", ["maxima", "hypervolume"])
def test_mfosemo_promotes_a_cheap_point_when_continuing_it_costs_little(information):
    X = torch.rand(8, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    X[:, 2] = torch.tensor([0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0], dtype=torch.float64)
    Y = _two_levels(X)
    low = X[X[:, 2] == 0.0]
    options = {**FAST_MF, "information": information}
    cheap = mobo.make_algorithm("mfosemo", _Continued(low, 1e-6), **options)
    (x,) = cheap.ask(1, X, Y, seed=0)
    assert x[2] == 1.0 and (torch.cdist(x[None, :2], low[:, :2]) < 1e-9).any()
    unpromoted = mobo.make_algorithm("mfosemo", _Continued(low, 1e-6), promote=False, **options)
    # priced as a target evaluation, no promotion: the proposal is the plain MF-OSEMO one
    plain = mobo.make_algorithm("mfosemo", toy(), **options).ask(1, X, Y, seed=0)
    priced = mobo.make_algorithm("mfosemo", _Continued(low, 1.0), **options)
    torch.testing.assert_close(priced.ask(1, X, Y, seed=0), plain)
    torch.testing.assert_close(unpromoted.ask(1, X, Y, seed=0), plain)
    assert not (torch.cdist(plain[:, :2], low[:, :2]) < 1e-9).any()


@pytest.mark.parametrize("information", ["maxima", "hypervolume"])
def test_mfosemo_stays_at_the_target_when_no_target_evaluation_could_follow(information):
    # Near a budget's end a cheap evaluation is wasted (the result counts the target
    # only): told the remaining cost, MF-OSEMO picks a lower level only while a full
    # target evaluation (cost 1.0) still fits after it (cost 0.01).
    X = torch.rand(8, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    X[:, 2] = torch.tensor([0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0], dtype=torch.float64)
    Y = _two_levels(X)
    options = {**FAST_MF, "information": information}

    def ask(remaining):
        problem = toy(fidelity_costs=[0.01, 1.0])
        algorithm = mobo.make_algorithm("mfosemo", problem, **options)
        algorithm.remaining_cost = remaining
        return algorithm.ask(2, X, Y, seed=0)

    free = ask(None)
    assert free[:, 2].tolist() == [0.0, 0.0]  # unbudgeted: the cheap level twice
    torch.testing.assert_close(ask(100.0), free)  # a loose budget changes nothing
    assert (ask(1.005)[:, 2] == 1.0).all()  # 1.005 - 0.01 < 1.0: target only
    # room for one cheap point and the target evaluation after it: cheap, then target
    assert ask(1.015)[:, 2].tolist() == [0.0, 1.0]


def test_mfosemo_keeps_its_target_share_of_the_budget_for_the_target():
    # target_share=0.5 of a budget of 6: a cheap point (cost 0.01) only while 3 still
    # remains after it, where the budget's end alone would allow it down to 1.0.
    X = torch.rand(8, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    X[:, 2] = torch.tensor([0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0], dtype=torch.float64)
    Y = _two_levels(X)

    def ask(remaining, budget=6.0, share=0.5):
        problem = toy(fidelity_costs=[0.01, 1.0])
        algorithm = mobo.make_algorithm("mfosemo", problem, **FAST_MF, target_share=share)
        algorithm.remaining_cost, algorithm.budget_cost = remaining, budget
        return algorithm.ask(2, X, Y, seed=0)

    assert ask(2.5, share=0.0)[:, 2].tolist() == [0.0, 0.0]  # the end rule alone: cheap
    assert (ask(2.5)[:, 2] == 1.0).all()  # inside the kept half: target only
    # a share below one target evaluation still keeps that evaluation's room
    assert (ask(1.005, share=0.05)[:, 2] == 1.0).all()
    assert ask(3.015)[:, 2].tolist() == [0.0, 1.0]  # room for one cheap point above it
    with pytest.raises(ValueError, match="target_share needs a cost budget"):
        ask(None, budget=None)
    with pytest.raises(ValueError, match=r"target_share must be in \[0, 1\)"):
        mobo.make_algorithm("mfosemo", toy(), target_share=1.0)

    # In a study, max_cost sets both: no cheap point once half the budget is spent (at 9,
    # the end rule alone took cheap points at 5.35 and 7.4 spent).
    budget, problem = 9.0, toy(fidelity_costs=[0.05, 1.0])
    result = mobo.optimize(
        problem, "mfosemo", max_cost=budget, target_share=0.5, show_progress=False, **FAST_MF
    )
    before = torch.cat([torch.zeros(1, dtype=torch.float64), result.cumulative_cost[:-1]])
    cheap = ~problem.at_target(result.X)
    n_initial = FAST_MF["n_initial"]
    assert cheap[n_initial:].any()  # it still uses the cheap level early
    assert not (cheap & (budget - before - 0.05 < budget / 2))[n_initial:].any()


def test_the_recorded_cost_is_the_price_when_asked():
    # A design search's point costs less once a cheaper fidelity of it is trained, and
    # nothing once it is: the study records what it cost when asked, not its fidelity's.
    X = torch.tensor([[0.2, 0.3, 0.0], [0.6, 0.1, 0.0]], dtype=torch.float64)
    problem = _Continued(X, promotion=0.3)
    study = mobo.Study(problem, "sobol")
    study.tell(X, _two_levels(X))  # told directly: priced when told
    promoted = X[:1].clone()
    promoted[0, 2] = 1.0
    study.tell(promoted, _two_levels(promoted))
    (asked,) = study.ask(1)
    problem.evaluated = torch.cat([problem.evaluated, asked[None, :2]])  # trained meanwhile
    study.tell(asked[None], _two_levels(asked[None]))
    assert [e.cost for e in study.evaluations] == pytest.approx([0.2, 0.2, 0.3, 1.0])
    assert study.result().cost.tolist() == pytest.approx([0.2, 0.2, 0.3, 1.0])
    assert study.cost_spent == pytest.approx(1.7)


@pytest.mark.parametrize("how", ["a crash", "an interrupt"])
def test_a_point_asked_again_after_a_crash_costs_its_first_price(tmp_path, how):
    """A design trained before a crash, its tell never journaled, was priced again on
    resume at 0 (it is cached by then): a resumed design search spent 17 where the
    uninterrupted one spent 15, then bought designs past --max-cost."""
    path = tmp_path / "priced.jsonl"
    empty = torch.empty(0, 3, dtype=torch.float64)
    problem = _Continued(empty, promotion=0.0)
    study = mobo.Study(problem, "sobol", seed=0, journal=path)
    (asked,) = study.ask(1)
    asked_cost = float(problem.current_cost(asked[None])[0])
    problem.evaluated = asked[None, :2]  # trained (and cached): now it costs nothing
    if how == "an interrupt":
        study.ledger.asked.forget(asked[None])  # what optimize does when interrupted
    else:
        study.close()
        study = mobo.Study.load(path, problem)
    (again,) = study.ask(1)
    torch.testing.assert_close(again, asked, rtol=0, atol=0)
    study.tell(again[None], _two_levels(again[None]))
    assert study.evaluations[-1].cost == pytest.approx(asked_cost) and asked_cost > 0


@pytest.mark.parametrize("cost", [[0.2, 0.2], [float("nan")], ["0.2"]], ids=["two", "nan", "str"])
def test_a_hand_edited_ask_price_is_refused_by_line(tmp_path, cost):
    """An ask's prices are what its points are charged on resume: one finite number (or
    null) per point, else the line is named, not a bare error from deep in the resume."""
    path = tmp_path / "priced.jsonl"
    mobo.optimize(toy(), "sobol", n_evals=2, journal=path, show_progress=False)
    lines = path.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if json.loads(line)["type"] == "ask")
    record = json.loads(lines[at])
    assert len(record["x"]) == 1 and record["cost"] == [1.0]  # sobol: at the target
    record["cost"] = cost
    lines[at] = json.dumps(record)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(mobo.JournalError, match=f"line {at + 1}: an ask record's cost must be one"):
        mobo.Study.load(path, toy())


def test_a_cost_budget_ends_at_the_target_and_resumes_to_it(tmp_path):
    budget, n_initial = 6.0, FAST_MF["n_initial"]

    def late_cheap(result):
        """Model-based cheap evaluations after which no target one (cost 1.0) fitted."""
        spent = result.cumulative_cost
        before = torch.cat([torch.zeros(1, dtype=spent.dtype), spent[:-1]])
        late = ~toy().at_target(result.X) & (budget - before - 0.2 < 1.0)
        return int(late[n_initial:].sum())

    # Stopped by a callback, the study does not know its budget: MF-OSEMO spends its
    # end on cheap points, wasted since the result counts the target only.
    untold = mobo.Study(toy(), "mfosemo", seed=0, **FAST_MF)
    stopped = untold.optimize(100, show_progress=False, callbacks=[_stop_at_cost(budget)])
    assert late_cheap(stopped) > 0
    result = mobo.optimize(toy(), "mfosemo", max_cost=budget, show_progress=False, **FAST_MF)
    spent = result.cumulative_cost
    assert spent[-2] < budget <= spent[-1]  # asked until the budget was spent
    assert late_cheap(result) == 0

    path = tmp_path / "budget.jsonl"
    with mobo.Study(toy(), "mfosemo", seed=0, journal=path, **FAST_MF) as study:
        study.optimize(max_cost=budget, show_progress=False, callbacks=[_stop_at_cost(3.0)])
    resumed = mobo.Study.load(path, toy())
    assert resumed.max_cost == budget and resumed.n_evals is None
    torch.testing.assert_close(resumed.optimize(show_progress=False).X, result.X)
    resumed.close()


def _stop_at_cost(cost: float):
    def callback(study, told):
        if study.cost_spent >= cost:
            study.stop()

    return callback


@pytest.mark.parametrize("executor", [None, "threads"])
def test_a_batch_stops_at_the_cost_budget_as_sequential_asks_do(executor):
    # Under fidelities the last batch was asked whole: 4 target points (cost 1 each) with
    # 0.5 left took max_cost=8.5 to 12.0, where the study without fidelities stopped at 9.
    problem = BiasedFidelityProblem("BraninCurrin")
    with ThreadPoolExecutor(2) if executor else contextlib.nullcontext() as pool:
        study = mobo.Study(problem, "sobol", seed=0)
        result = study.optimize(max_cost=8.5, batch_size=4, executor=pool, show_progress=False)
    spent = result.cumulative_cost
    assert spent[-2] < 8.5 <= spent[-1] < 8.5 + 1.0  # the last asked while budget was left
    untold = study.ledger.asked.replay.clone()  # asked, not evaluated: first if the budget grows
    assert untold.shape[0] == 4 * math.ceil(result.n_evaluations / 4) - result.n_evaluations
    study.optimize(max_cost=spent[-1].item() + 0.5, batch_size=4, show_progress=False)
    assert study.evaluations[-1].x == untold[0].tolist()


def test_a_batch_of_dear_points_is_cut_at_each_points_own_price():
    # At 3 a point, max_cost=7 is spent by the third point (9), as asked one at a time; a
    # batch priced at 1 a point had asked a fourth (12).
    problem = toy(fidelity_costs=[0.2, 3.0])
    one_by_one = mobo.optimize(problem, "sobol", max_cost=7, show_progress=False)
    batched = mobo.optimize(problem, "sobol", max_cost=7, batch_size=4, show_progress=False)
    assert one_by_one.cumulative_cost.tolist() == [3.0, 6.0, 9.0]
    assert torch.equal(batched.X, one_by_one.X)
    assert torch.equal(batched.cumulative_cost, one_by_one.cumulative_cost)


@pytest.mark.parametrize(
    ("algorithm", "problem"), [("mfosemo", toy()), ("imoca", toy(fidelity_continuous=True))]
)
def test_the_first_batched_ask_warns_of_the_measured_batch_gap_once(algorithm, problem):
    # Batches measured far weaker than sequential asks (median hypervolume 9.9 vs 29.3 for
    # MF-OSEMO on BraninCurrin with a biased fidelity, 8 seeds): the user is told once.
    def asked(algorithm, q, X):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            new = algorithm.ask(q, X, problem.evaluate(X), seed=0, n_evaluated=len(X))
        gaps = [w for w in caught if "batch_size=1" in str(w.message)]
        return torch.cat([X, new]), gaps

    chooses = mobo.make_algorithm(algorithm, problem, **TINY_MF)
    X, _ = asked(chooses, TINY_MF["n_initial"], torch.empty(0, 3, dtype=torch.float64))
    X, gaps = asked(chooses, 1, X)
    assert gaps == []
    X, gaps = asked(chooses, 2, X)
    assert len(gaps) == 1 and gaps[0].category is UserWarning
    assert f"'{algorithm}'" in str(gaps[0].message) and "median hypervolume" in str(gaps[0].message)
    assert asked(chooses, 2, X)[1] == []
    target_only = mobo.make_algorithm(algorithm, problem, target_only=True, **TINY_MF)
    assert asked(target_only, 2, X)[1] == []
