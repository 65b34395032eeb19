"""PESMO and JES through BoTorch: the sampled optimal sets and the contract."""

from __future__ import annotations

import pytest
import torch

import mobo
from tests.mobo.algorithms._contract import assert_algorithm_contract
from tests.mobo.algorithms.conftest import FAST, FAST_NSGA2

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
    assert_algorithm_contract("jes", branin_currin, X, Y, q=2, **SMALL)


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
    with pytest.raises(ValueError, match="max_ep_iterations"):
        mobo.make_algorithm("pesmo", branin_currin, max_ep_iterations=0)


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
