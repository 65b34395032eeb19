"""PESMO and JES through BoTorch: the sampled optimal sets and the contract."""

from __future__ import annotations

import pytest
import torch

import mobo
from tests.mobo.algorithms._contract import assert_algorithm_contract
from tests.mobo.algorithms.conftest import FAST, FAST_NSGA2
from tests.mobo.conftest import TINY_BO

SMALL = {"num_pareto_samples": 2, "num_pareto_points": 5, **FAST, **FAST_NSGA2}


def test_optimal_sets_have_equal_size_and_are_non_dominated(branin_currin, observations):
    X, Y = observations
    algorithm = mobo.make_algorithm("jes", branin_currin, **SMALL)
    U = branin_currin.to_unit(X)
    model = algorithm.fit_model(U, Y)
    torch.manual_seed(0)
    sets, fronts = algorithm.optimal_sets(model, U, Y, seed=0)
    assert sets.shape == (2, 5, 2) and fronts.shape == (2, 5, 2)
    assert ((sets >= 0) & (sets <= 1)).all()
    for front in fronts:
        better_eq = (front.unsqueeze(1) >= front.unsqueeze(0)).all(-1)
        strictly = (front.unsqueeze(1) > front.unsqueeze(0)).any(-1)
        assert not (better_eq & strictly).any()


#: PESMO's expectation propagation with finite-difference gradients is slow: few steps.
SMALL_PESMO = {**SMALL, "num_restarts": 1, "raw_samples": 8, "maxiter": 3}


def test_jes_contract(branin_currin, observations):
    X, Y = observations
    assert_algorithm_contract("jes", branin_currin, X, Y, q=2, **{**SMALL, **TINY_BO})


@pytest.mark.slow
def test_pesmo_contract(branin_currin, observations):
    X, Y = observations
    assert_algorithm_contract("pesmo", branin_currin, X, Y, q=2, **SMALL_PESMO)


def test_pesmo_batch_is_valid(branin_currin, observations):
    X, Y = observations
    x = mobo.make_algorithm("pesmo", branin_currin, **SMALL_PESMO).ask(2, X, Y, seed=0)
    assert x.shape == (2, 2) and torch.isfinite(x).all()
    assert (x >= branin_currin.bounds[0]).all() and (x <= branin_currin.bounds[1]).all()
    assert torch.cdist(branin_currin.to_unit(x), branin_currin.to_unit(x))[0, 1] > 1e-6


def test_pesmo_defaults_are_the_affordable_settings(branin_currin):
    pesmo = mobo.make_algorithm("pesmo", branin_currin)
    assert (pesmo.max_ep_iterations, pesmo.num_restarts, pesmo.raw_samples, pesmo.maxiter) == (
        50,
        2,
        128,
        30,
    )
    # measured ahead of "spread" (benchmarks/results/pesmo_design.md)
    assert pesmo.subset == "hypervolume"
    assert mobo.make_algorithm("jes", branin_currin).subset == "spread"  # not measured
    with pytest.raises(ValueError, match="max_ep_iterations"):
        mobo.make_algorithm("pesmo", branin_currin, max_ep_iterations=0)


def test_pesmo_defaults_to_the_worst_mean_and_guarded_restarts_from_the_sampled_sets(
    branin_currin, observations, monkeypatch
):
    # Together they end the DTLZ2 stall (benchmarks/results/pesmo_design.md).
    import copy

    pesmo = mobo.make_algorithm("pesmo", branin_currin)
    assert pesmo.guard and pesmo.surrogate.prior_mean == "worst"
    # The user's surrogate options, then the problem's, override PESMO's default.
    fitted = mobo.make_algorithm("pesmo", branin_currin, surrogate={"prior_mean": "fitted"})
    assert fitted.surrogate.prior_mean == "fitted"
    problem = copy.copy(branin_currin)
    problem.surrogate_options = {"prior_mean": "fitted"}
    assert mobo.make_algorithm("pesmo", problem).surrogate.prior_mean == "fitted"

    seen = {}
    from mobo.algorithms.bayesian import BayesianAlgorithm

    real = BayesianAlgorithm.maximize_from

    def recording(self, acqf, q, candidates, **kwargs):
        seen.update(candidates=candidates, **kwargs)
        return real(self, acqf, q, candidates, **kwargs)

    monkeypatch.setattr(BayesianAlgorithm, "maximize_from", recording)
    X, Y = observations
    mobo.make_algorithm("pesmo", branin_currin, **SMALL_PESMO).ask(1, X, Y, seed=0)
    # every sampled Pareto set's points (2 sets of 5 here) are starts, each ascent guarded
    assert seen["candidates"].shape == (10, 2) and seen["guard"] is True
    seen.clear()
    mobo.make_algorithm("pesmo", branin_currin, guard=False, **SMALL_PESMO).ask(1, X, Y, seed=0)
    assert not seen


def test_pesmo_passes_its_ep_options_to_botorch(branin_currin, observations, monkeypatch):
    import mobo.algorithms.pesmo as pesmo_module

    seen = {}
    real = pesmo_module.qMultiObjectivePredictiveEntropySearch

    def recording(**kwargs):
        seen.update(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(pesmo_module, "qMultiObjectivePredictiveEntropySearch", recording)
    X, Y = observations
    options = {"max_ep_iterations": 7, "ep_jitter": 1e-3, "test_jitter": 1e-5, "threshold": 0.05}
    mobo.make_algorithm("pesmo", branin_currin, **options, **SMALL_PESMO).ask(1, X, Y, seed=0)
    assert {k: seen[k] for k in options} == options


def test_hypervolume_subset_keeps_what_adds_volume_and_drops_extremes_outside_the_box():
    from mobo.algorithms._sampled_fronts import hypervolume_subset, spread_subset
    from mobo.metrics import hypervolume

    # A front whose two extremes lie beyond the reference point (0, 0) in one objective.
    F = torch.tensor(
        [[-1.0, 5.0], [1.0, 4.0], [2.0, 3.0], [3.0, 2.0], [4.0, 1.0], [5.0, -1.0]],
        dtype=torch.float64,
    )
    X = torch.arange(6, dtype=torch.float64).unsqueeze(-1) / 5
    ref = torch.zeros(2, dtype=torch.float64)
    _, F_spread = spread_subset(X, F, 3, seed=0)
    assert {tuple(f) for f in F_spread.tolist()} >= {(-1.0, 5.0), (5.0, -1.0)}
    X_kept, F_kept = hypervolume_subset(X, F, 3, ref, seed=0)
    assert (F_kept > ref).all(), "every kept point adds volume, so none lies outside the box"
    best = max(
        hypervolume(F[[i, j, k]], ref)
        for i in range(1, 5) for j in range(i + 1, 5) for k in range(j + 1, 5)
    )  # fmt: skip
    assert hypervolume(F_kept, ref) == pytest.approx(best)  # greedy is exact on this front
    assert torch.allclose(X_kept.squeeze(-1) * 5, F_kept[:, 0])  # inputs stay with their values


def test_hypervolume_subset_fills_with_spread_when_too_few_points_add_volume():
    from mobo.algorithms._sampled_fronts import hypervolume_subset

    F = torch.tensor([[1.0, 1.0], [-1.0, 3.0], [3.0, -1.0], [-2.0, 4.0]], dtype=torch.float64)
    X = torch.rand(4, 2, dtype=torch.float64)
    X_kept, F_kept = hypervolume_subset(X, F, 3, torch.zeros(2, dtype=torch.float64), seed=0)
    assert F_kept.shape == (3, 2) and X_kept.shape == (3, 2)
    assert F_kept[0].tolist() == [1.0, 1.0]  # the only point in the box comes first
    assert len({tuple(f) for f in F_kept.tolist()}) == 3  # the fill repeats nothing


def test_pesmo_hypervolume_subset_option(branin_currin, observations):
    X, Y = observations
    with pytest.raises(ValueError, match="subset"):
        mobo.make_algorithm("pesmo", branin_currin, subset="crowding")
    algorithm = mobo.make_algorithm("jes", branin_currin, subset="hypervolume", **SMALL)
    U = branin_currin.to_unit(X)
    model = algorithm.fit_model(U, algorithm.model_objectives(Y))
    torch.manual_seed(0)
    sets, fronts = algorithm.optimal_sets(model, U, Y, seed=0)
    assert sets.shape == (2, 5, 2) and fronts.shape == (2, 5, 2)
    # Each sampled front's kept points, in the order kept, add volume while any can.
    for front in fronts:
        inside = (front > algorithm.ref_point).all(-1)
        assert not (~inside[:-1] & inside[1:]).any(), "a point in the box after one outside"


def test_jes_on_a_plateau_proposes_a_point_instead_of_crashing():
    # Constant observations: BoTorch's JES estimate is NaN at a few points (6 of 512 random
    # ones here), and optimize_acqf's start sampling raised on them, ending the study.
    problem = mobo.FunctionProblem(lambda X: None, [[0, 0], [1, 1]], 2, ref_point=[0.0, 0.0])
    U = torch.rand(5, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    x = mobo.make_algorithm("jes", problem, n_initial=1).ask(1, U, torch.ones(5, 2), seed=2)
    assert x.shape == (1, 2) and torch.isfinite(x).all()
    assert ((x >= 0) & (x <= 1)).all()


def test_optional_settings_are_validated(branin_currin):
    for options in [
        {"num_pareto_samples": 0},
        {"num_pareto_points": 0},
        {"pop_size": 3},
        {"n_gen": 0},
    ]:
        with pytest.raises(ValueError, match="need num_pareto_samples >= 1, num_pareto_points"):
            mobo.make_algorithm("jes", branin_currin, **options)


def test_optimal_sets_are_cut_to_the_smallest_front_and_seeded_with_the_observed_set(
    branin_currin, observations, monkeypatch
):
    # BoTorch needs equal-sized sets: with more points asked for than the smallest sampled
    # front holds, every set is cut to that front's size.
    from botorch.utils.multi_objective.pareto import is_non_dominated

    import mobo.algorithms.pesmo as pesmo_module

    X, Y = observations
    U = branin_currin.to_unit(X)
    seen = {}
    sampled_pareto_sets = pesmo_module.sampled_pareto_sets

    def sampling(model, **kwargs):
        seen["initial"] = kwargs["initial"]
        seen["fronts"] = sampled_pareto_sets(model, **kwargs)
        return seen["fronts"]

    monkeypatch.setattr(pesmo_module, "sampled_pareto_sets", sampling)
    algorithm = mobo.make_algorithm("jes", branin_currin, **{**SMALL, "num_pareto_points": 1000})
    model = algorithm.fit_model(U, Y)
    torch.manual_seed(0)
    sets, fronts = algorithm.optimal_sets(model, U, Y, seed=0)
    smallest = min(len(S) for S, _ in seen["fronts"])
    assert sets.shape == (2, smallest, 2) and fronts.shape == (2, smallest, 2)
    torch.testing.assert_close(seen["initial"], U[is_non_dominated(Y)])


@pytest.mark.parametrize("name", ["pesmo", "jes"])
def test_pending_points_reach_the_acquisition(branin_currin, observations, monkeypatch, name):
    import mobo.algorithms.pesmo as pesmo_module

    attribute = {
        "pesmo": "qMultiObjectivePredictiveEntropySearch",
        "jes": "_FiniteJointEntropySearch",
    }[name]
    seen = {}
    real = getattr(pesmo_module, attribute)

    def recording(**kwargs):
        seen.update(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(pesmo_module, attribute, recording)
    X, Y = observations
    pending = X[:1] * 0.5 + branin_currin.bounds[1] * 0.5
    options = SMALL_PESMO if name == "pesmo" else SMALL
    mobo.make_algorithm(name, branin_currin, **options).ask(1, X, Y, seed=0, X_pending=pending)
    torch.testing.assert_close(seen["X_pending"], branin_currin.to_unit(pending))
