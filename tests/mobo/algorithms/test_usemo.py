"""USeMO: max-box choice, the GP-UCB schedule, the distance guard, and the contract."""

from __future__ import annotations

import math

import pytest
import torch

import mobo
from mobo.algorithms.usemo import USeMO, gp_ucb_beta, select_distinct
from tests.mobo.algorithms._contract import assert_algorithm_contract
from tests.mobo.algorithms.conftest import FAST, FAST_NSGA2


def test_returns_largest_uncertainty_box_of_its_nsga2_set(branin_currin, observations):
    X, Y = observations
    algorithm = mobo.make_algorithm("usemo", branin_currin, n_initial=4, **FAST, **FAST_NSGA2)
    x = algorithm.ask(1, X, Y, seed=3)
    proposal = algorithm.last_proposal
    candidates = proposal["candidates"]
    assert candidates.shape[0] > 1
    # Recompute the boxes prod_j 2 beta^{1/2} sigma_j independently from the model.
    beta = gp_ucb_beta(X.shape[0], branin_currin.dim)
    with torch.no_grad():
        sigma = proposal["model"].posterior(candidates).variance.sqrt()
    boxes = (2 * math.sqrt(beta) * sigma).prod(dim=-1)
    best = candidates[boxes.argmax()]
    torch.testing.assert_close(branin_currin.to_unit(x)[0], best)
    assert boxes.argmax() == proposal["log_box"].argmax()


def test_batch_takes_largest_boxes_in_order(branin_currin, observations):
    X, Y = observations
    algorithm = mobo.make_algorithm("usemo", branin_currin, n_initial=4, **FAST, **FAST_NSGA2)
    x = algorithm.ask(3, X, Y, seed=3)
    proposal = algorithm.last_proposal
    chosen = proposal["chosen"]
    assert len(chosen) == 3
    torch.testing.assert_close(branin_currin.to_unit(x), proposal["candidates"][chosen])
    log_box = proposal["log_box"][chosen]
    assert (log_box[:-1] >= log_box[1:]).all()


def test_distance_guard_skips_near_duplicates():
    candidates = torch.tensor([[0.5, 0.5], [0.505, 0.5], [0.9, 0.9], [0.1, 0.1]])
    scores = torch.tensor([4.0, 3.0, 2.0, 1.0])
    assert select_distinct(candidates, scores, 2, min_distance=0.05).tolist() == [0, 2]
    pending = torch.tensor([[0.5, 0.52]])
    chosen = select_distinct(candidates, scores, 2, min_distance=0.05, avoid=pending)
    assert chosen.tolist() == [2, 3]


def test_gp_ucb_schedule_grows_like_log_t():
    assert gp_ucb_beta(1, 2) == pytest.approx(2 * math.log(math.pi**2 / 0.3))
    assert gp_ucb_beta(100, 2) > gp_ucb_beta(10, 2) > gp_ucb_beta(1, 2)
    assert gp_ucb_beta(10, 2) - gp_ucb_beta(1, 2) == pytest.approx(2 * 3 * math.log(10))


@pytest.mark.parametrize("acquisitions", [("ei", "ucb"), ("ts", "pi", "lcb")])
def test_contract(branin_currin, observations, acquisitions):
    X, Y = observations
    assert_algorithm_contract(
        "usemo", branin_currin, X, Y, acquisitions=acquisitions, **FAST, **FAST_NSGA2
    )


def test_rejects_unknown_acquisition(branin_currin):
    with pytest.raises(ValueError, match="acquisitions"):
        USeMO(branin_currin, acquisitions=("ei", "kg"))
