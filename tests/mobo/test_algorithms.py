"""The contract every built-in algorithm keeps: shapes, bounds, seeds, batches, names."""

from __future__ import annotations

import math

import pytest
import torch
from botorch.utils.multi_objective.scalarization import get_chebyshev_scalarization

import mobo
from mobo.algorithms import qparego, registry
from mobo.algorithms.nsga2 import NSGA2
from mobo.algorithms.sobol import RandomSearch
from mobo.problems.multi_fidelity import BiasedFidelityProblem
from tests.mobo.conftest import FAST_BO, TINY_BO

BASELINES = ["sobol", "random", "nsga2", "qlognehvi", "qparego"]


def _options(name, fast=FAST_BO):
    return fast if name in ("qlognehvi", "qparego") else {}


def _fit_once(algorithm):
    """Fit the algorithm's GP at its first ask only, and reuse it."""
    fit, models = algorithm.fit_model, []

    def fit_once(U, Y):
        if not models:
            models.append(fit(U, Y))
        return models[0]

    algorithm.fit_model = fit_once


def _history(problem, n=8, seed=0):
    generator = torch.Generator().manual_seed(seed)
    X = problem.from_unit(torch.rand(n, problem.dim, generator=generator, dtype=torch.float64))
    return X, problem.evaluate(X)


@pytest.mark.parametrize("name", BASELINES)
def test_batches_are_inside_the_bounds_distinct_and_seeded(name):
    problem = mobo.problems.make("ZDT1", dim=3)
    algorithm = mobo.make_algorithm(name, problem, n_initial=4, **_options(name, TINY_BO))
    X, Y = _history(problem)
    first = algorithm.ask(3, X, Y, seed=5)
    assert first.shape == (3, 3) and first.dtype == torch.float64
    assert torch.all(first >= problem.bounds[0]) and torch.all(first <= problem.bounds[1])
    assert torch.cdist(first, first).add(torch.eye(3)).min() > 1e-6, "duplicate proposals"
    again = mobo.make_algorithm(name, problem, n_initial=4, **_options(name, TINY_BO))
    torch.testing.assert_close(first, again.ask(3, X, Y, seed=5))
    other = algorithm.ask(3, X, Y, seed=6)
    assert not torch.allclose(first, other)


@pytest.mark.parametrize("name", ["qlognehvi", "qparego"])
def test_a_model_based_batch_is_distinct_before_the_repeat_guard(name):
    """The q points of one batch come from the joint acquisition, not q copies of one
    optimum: Algorithm.ask's repeat guard would replace copies by other points and hide it,
    so this asks the algorithm's own proposal."""
    problem = mobo.problems.make("ZDT1", dim=3)
    algorithm = mobo.make_algorithm(name, problem, n_initial=4, **_options(name))
    X, Y = _history(problem)
    U = algorithm._propose(3, problem.to_unit(X), Y, seed=5, U_pending=None)
    assert U.shape == (3, 3)
    assert torch.cdist(U, U).add(torch.eye(3)).min() > 1e-3, U


@pytest.mark.parametrize("name", ["qlognehvi", "qparego"])
def test_model_based_algorithms_value_a_pending_point_at_almost_nothing(name, toy_problem):
    # Both acquisitions are incremental: a pending point joins the baseline, so proposing it
    # again adds no improvement whatever the GP fit, and its log-acquisition falls to the
    # smoothing floor. (How far the next proposal lands from it is incidental: measured
    # 0.013 for qparego, which has no distance guard.)
    algorithm = mobo.make_algorithm(name, toy_problem, **FAST_BO)
    acquisitions = []
    maximize = algorithm.maximize

    def recording(acqf, q, **kwargs):
        acquisitions.append(acqf)
        return maximize(acqf, q, **kwargs)

    algorithm.maximize = recording
    X, Y = _history(toy_problem, n=10)
    pending = algorithm.ask(1, X, Y, seed=0)
    nxt = algorithm.ask(1, X, Y, seed=0, X_pending=pending)
    without, with_pending = acquisitions
    U, U_next = toy_problem.to_unit(pending).unsqueeze(0), toy_problem.to_unit(nxt).unsqueeze(0)
    with torch.no_grad():
        before, after, after_next = without(U), with_pending(U), with_pending(U_next)
    # Measured: 7.4 (qlognehvi) and 7.9 (qparego) nats lower; require 100x (4.6 nats).
    assert after < before - math.log(100), (float(before), float(after))
    # And the optimizer then proposes something worth more than the pending point
    # (measured: 6 and 3.7 nats more).
    assert after_next > after + 1.0, (float(after_next), float(after))


def test_initial_design_is_a_sobol_prefix_then_the_model_takes_over(toy_problem):
    algorithm = mobo.make_algorithm("qlognehvi", toy_problem, n_initial=5, **FAST_BO)
    empty = torch.empty(0, 2, dtype=torch.float64)
    design = algorithm.ask(5, empty, empty, seed=3)
    sobol = mobo.make_algorithm("sobol", toy_problem).ask(5, empty, empty, seed=3)
    torch.testing.assert_close(design, sobol)


def test_unknown_algorithm_and_bad_options_are_named():
    problem = mobo.problems.make("BraninCurrin")
    with pytest.raises(ValueError, match=r"unknown algorithm 'qnehvi'; choose one of \["):
        mobo.make_algorithm("qnehvi", problem)
    with pytest.raises(ValueError, match="algorithm 'nsga2': bad options"):
        mobo.make_algorithm("nsga2", problem, raw_samples=3)
    # README's warm_start=True was refused with no word of where it goes.
    with pytest.raises(ValueError, match=r"pass it as surrogate=\{'warm_start': True\}$"):
        mobo.optimize(problem, "qlognehvi", n_evals=2, warm_start=True, show_progress=False)
    with pytest.raises(ValueError, match=r"'warm_start'$"):  # sobol fits no GP: no hint
        mobo.make_algorithm("sobol", problem, warm_start=True)
    with pytest.raises(ValueError, match="num_restarts must be a positive int, got 0"):
        mobo.make_algorithm("qlognehvi", problem, num_restarts=0)
    with pytest.raises(ValueError, match="candidate_filter must be one of"):
        mobo.make_algorithm("usemo", problem, candidate_filter="mean")
    with pytest.raises(ValueError, match="max_ep_iterations must be >= 1"):
        mobo.make_algorithm("pesmo", problem, max_ep_iterations=0)
    assert set(BASELINES) <= set(mobo.available_algorithms())
    # A problem without fidelities: the multi-fidelity ones, which refuse it, left out.
    single = set(mobo.available_algorithms(fidelities=False))
    assert set(mobo.available_algorithms()) - single == {"imoca", "mfosemo", "momf"}


def test_qparego_scales_objectives_between_the_reference_point_and_the_best():
    problem = mobo.problems.make("BraninCurrin")  # reference point (-18, -6)
    algorithm = mobo.make_algorithm("qparego", problem, n_initial=4, **FAST_BO)
    ref = algorithm.ref_point
    mean = torch.tensor([[-10.0, -5.0], [-15.0, -1.0]], dtype=torch.float64)
    far_outside = torch.tensor([[-500.0, -3.0]], dtype=torch.float64)  # a face-like outlier
    scaled = algorithm.scaling_outcomes(mean)
    torch.testing.assert_close(scaled.min(dim=0).values, ref)
    torch.testing.assert_close(scaled.max(dim=0).values, mean.max(dim=0).values)
    # An outcome far below the reference point no longer stretches the scale ...
    with_outlier = algorithm.scaling_outcomes(torch.cat([mean, far_outside]))
    torch.testing.assert_close(with_outlier.min(dim=0).values, ref)
    # ... as it does in BoTorch's recipe, kept as an option.
    recipe = mobo.make_algorithm("qparego", problem, scale_to_reference=False, **FAST_BO)
    assert recipe.scaling_outcomes(torch.cat([mean, far_outside]))[:, 0].min() == -500.0


def test_nsga2_population_defaults_to_the_initial_design_and_is_checked(toy_problem):
    assert mobo.make_algorithm("nsga2", toy_problem).pop_size == 6  # n_initial 2 * (d + 1)
    assert mobo.make_algorithm("nsga2", toy_problem, n_initial=10).pop_size == 10
    assert mobo.make_algorithm("nsga2", toy_problem, n_initial=3).pop_size == 4  # at least 4
    assert mobo.make_algorithm("nsga2", toy_problem, pop_size=2).pop_size == 2
    for bad in (1, 0, 2.5, "8"):
        with pytest.raises(ValueError, match=f"pop_size must be an int >= 2, got {bad!r}"):
            mobo.make_algorithm("nsga2", toy_problem, pop_size=bad)


def test_nsga2_breeds_only_from_the_best_pop_size_points(toy_problem):
    # Two points on the Pareto set of the toy problem (between its corners (0.2, 0.2) and
    # (0.8, 0.6)) among ten poor ones near (0, 1): with pop_size=2 the parents are those
    # two, so every child lands near them, far from the poor cluster.
    generator = torch.Generator().manual_seed(0)
    poor = torch.tensor([0.0, 0.9]) + 0.1 * torch.rand(10, 2, generator=generator)
    good = torch.tensor([[0.35, 0.3], [0.65, 0.5]])
    X = torch.cat([poor, good]).double()
    Y = toy_problem.evaluate(X)
    algorithm = mobo.make_algorithm("nsga2", toy_problem, pop_size=2)
    children = algorithm.ask(8, X, Y, seed=0)
    to_good = torch.cdist(children, good.double()).min(dim=1).values
    to_poor = torch.cdist(children, poor.double()).min(dim=1).values
    assert torch.all(to_good < to_poor), (to_good, to_poor)


def test_qparego_draws_one_random_scalarization_per_point_of_a_batch_from_the_seed(
    toy_problem, monkeypatch
):
    weights, samplers = [], []

    def recording_scalarization(w, Y):
        weights.append(w)
        return get_chebyshev_scalarization(w, Y)

    def no_optimization(acq_function_list, bounds, **_):  # the weights are what counts
        samplers.append([acqf.sampler.seed for acqf in acq_function_list])
        return torch.rand(len(acq_function_list), bounds.shape[1], dtype=bounds.dtype), None

    monkeypatch.setattr(qparego, "get_chebyshev_scalarization", recording_scalarization)
    monkeypatch.setattr(qparego, "optimize_acqf_list", no_optimization)
    algorithm = mobo.make_algorithm("qparego", toy_problem, **FAST_BO)
    X, Y = _history(toy_problem, n=8)
    _fit_once(algorithm)  # the data are the same each time
    for seed in (3, 3, 4):
        algorithm.ask(3, X, Y, seed=seed)
    first, again, other = torch.stack(weights).split(3)
    for w in first:  # on the simplex
        assert torch.all(w >= 0) and float(w.sum()) == pytest.approx(1.0)
    assert torch.cdist(first, first).add(torch.eye(3)).min() > 1e-3, "a weight vector repeats"
    torch.testing.assert_close(first, again)
    assert torch.cdist(first, other).min() > 1e-3
    assert samplers[0] == samplers[1] != samplers[2] and len(set(samplers[0])) == 3


def test_algorithm_names_ignore_case_and_an_unknown_name_lists_the_known_ones(toy_problem):
    assert isinstance(mobo.make_algorithm("NSGA2", toy_problem), NSGA2)
    with pytest.raises(ValueError) as unknown:
        mobo.make_algorithm("qnehvi", toy_problem)
    assert str(unknown.value).endswith(f"choose one of {mobo.available_algorithms()}")
    with pytest.raises(ValueError, match="unknown algorithm None; choose one of"):
        mobo.make_algorithm(None, toy_problem)
    # Both surrogate options named, in the plural, where they go.
    with pytest.raises(ValueError, match="warm_start, kernel: options of the GP surrogate"):
        mobo.make_algorithm("qparego", toy_problem, warm_start=True, kernel="matern")


def test_a_users_algorithm_is_made_by_name_and_registering_it_again_replaces_it(
    toy_problem, monkeypatch
):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    @mobo.algorithms.registry.register
    class Mine(RandomSearch):
        name = "mine"

    assert isinstance(mobo.make_algorithm("mine", toy_problem), Mine)
    assert "mine" in mobo.available_algorithms()

    @mobo.algorithms.registry.register
    class Mine(RandomSearch):  # noqa: F811 - a notebook cell run again, edited
        name = "mine"

    assert isinstance(mobo.make_algorithm("mine", toy_problem), Mine)


def test_constrained_algorithms_for_a_problem_name_multi_fidelity_ones_only_if_it_has_fidelities():
    plain = mobo.constrained_algorithms(mobo.problems.make("ConstrainedBraninCurrin"))
    multi = mobo.constrained_algorithms(BiasedFidelityProblem("ConstrainedBraninCurrin"))
    assert set(multi) - set(plain) == {"momf"}
    assert multi == mobo.constrained_algorithms()


def test_qlognehvi_measures_improvement_from_the_reference_point_with_its_options(toy_problem):
    options = {**FAST_BO, "mc_samples": 24}
    algorithm = mobo.make_algorithm("qlognehvi", toy_problem, n_initial=4, **options)
    acquisitions = []

    def recording(acqf, q, **kwargs):  # the acquisition is what counts, not its optimum
        acquisitions.append(acqf)
        return torch.rand(q, toy_problem.dim, dtype=torch.float64)

    algorithm.maximize = recording
    X, Y = _history(toy_problem, n=8)
    _fit_once(algorithm)  # the data are the same each time
    for seed in (7, 7, 8):
        algorithm.ask(2, X, Y, seed=seed)
    acqf = acquisitions[0]
    torch.testing.assert_close(acqf.ref_point, algorithm.ref_point)
    assert acqf.sampler.sample_shape == torch.Size([24])
    seeds = [a.sampler.seed for a in acquisitions]  # the study's seed, the same for the same
    assert seeds[0] == seeds[1] != seeds[2]


def test_random_search_and_sobol_follow_the_study_seed_over_the_whole_box(toy_problem):
    empty = torch.empty(0, 2, dtype=torch.float64)
    points = {}
    for name in ("random", "sobol"):
        algorithm = mobo.make_algorithm(name, toy_problem, n_initial=2)
        first, again, other = (algorithm.ask(64, empty, empty, seed=s) for s in (1, 1, 2))
        torch.testing.assert_close(first, again)
        assert not torch.allclose(first, other)
        assert torch.all(first.min(dim=0).values < 0.1) and torch.all(first.max(dim=0).values > 0.9)
        points[name] = first
    # Random search draws uniform points from the first ask on: no Sobol design first.
    assert torch.cdist(points["random"][:2], points["sobol"][:2]).min() > 1e-3
