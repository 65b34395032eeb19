"""The validation-size diagnostic (``benchmarks/validation_size.py``): the test split is cut
into disjoint halves, fronts are chosen on the choosing images and scored on the other half."""

from __future__ import annotations

import pytest
import torch

from leanet.evaluator import ThresholdEvaluator
from tests.benchmark_scripts import load_benchmark


@pytest.fixture(scope="module")
def module():
    return load_benchmark("validation_size")


def _evaluator(n: int, seed: int) -> ThresholdEvaluator:
    gen = torch.Generator().manual_seed(seed)
    correct = torch.rand(2, n, generator=gen) > 0.3
    correct[1] = True
    return ThresholdEvaluator(
        torch.rand(2, n, generator=gen), correct, torch.tensor([0.3, 1.0]), 1.0
    )


def test_cuts_are_disjoint_halves_both_ways_round(module):
    halves = module.cuts(11, splits=2)
    assert len(halves) == 4
    for extra, scoring in halves:
        assert torch.equal(torch.cat([extra, scoring]).sort().values, torch.arange(11))
    assert torch.equal(halves[0][0], halves[1][1]) and torch.equal(halves[0][1], halves[1][0])
    assert not torch.equal(halves[0][0].sort().values, halves[2][0].sort().values)


def test_design_fronts_choose_on_more_images_and_score_on_the_rest(module):
    val, test = _evaluator(30, 0), _evaluator(20, 1)
    halves = module.cuts(20, splits=1)
    fronts = module.design_fronts(val, test, halves, samples=128)
    assert len(fronts) == 2
    for cut in fronts:
        for rule in module.RULES:
            chosen, scored = cut[rule]
            assert chosen.shape == scored.shape and chosen.shape[1] == 2
        # choosing accuracies: multiples of 1/30 alone, of 1/40 with the extra 10 images;
        # scoring accuracies: multiples of 1/10
        assert torch.allclose(cut["833"][0][:, 0] * 30, (cut["833"][0][:, 0] * 30).round())
        assert torch.allclose(
            cut["833 + half"][0][:, 0] * 40, (cut["833 + half"][0][:, 0] * 40).round()
        )
        assert torch.allclose(cut["833"][1][:, 0] * 10, (cut["833"][1][:, 0] * 10).round())


def test_pool_front_is_chosen_on_choosing_objectives_and_scored_elsewhere(module):
    # design "lucky" chooses best at energy 0.3 but scores poorly; "honest" scores as it chose
    lucky = (torch.tensor([[0.979, -0.3]]), torch.tensor([[0.90, -0.3]]))
    honest = (
        torch.tensor([[0.97, -0.3], [0.98, -0.5]]),
        torch.tensor([[0.97, -0.3], [0.98, -0.5]]),
    )
    full = 0.98  # reference (0.93, 1.25)
    assert module.pool_hv([lucky, honest], full) == pytest.approx((0.98 - 0.93) * (1.25 - 0.5))
    alone = (0.98 - 0.93) * (1.25 - 0.5) + (0.97 - 0.93) * (0.5 - 0.3)
    assert module.pool_hv([honest], full) == pytest.approx(alone)
