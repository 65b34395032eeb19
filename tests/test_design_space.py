"""The design-space benchmark (``benchmarks/design_space.py``): fronts are chosen on validation
and scored on test, the best design is the best on validation, and the cache is read back."""

from __future__ import annotations

import pytest
import torch

import leanet
from leanet.checkpoints import save_leanet
from leanet.design import Design
from tests.benchmark_scripts import load_benchmark
from tests.leanet.conftest import tiny_base


@pytest.fixture(scope="module")
def module():
    return load_benchmark("design_space")


def _point(name: str, val: list[tuple[float, float]], test: list[tuple[float, float]]) -> dict:
    """A design's dense front: (accuracy, energy ratio) per point on validation and test."""
    return {
        "design": name,
        "val": torch.tensor([[a, -e] for a, e in val], dtype=torch.float64),
        "test": {"accuracy": [a for a, _ in test], "energy_ratio": [e for _, e in test]},
        "dense": [0],
    }


def test_the_union_front_is_chosen_on_validation_and_scored_on_test(module):
    lucky = _point("lucky", [(0.979, 0.3)], [(0.90, 0.3)])  # best on validation, poor on test
    honest = _point("honest", [(0.97, 0.3), (0.98, 0.5)], [(0.97, 0.3), (0.98, 0.5)])
    full = 0.98  # reference (0.93, 1.25): lucky's test point adds nothing
    hv, designs = module.union_hv([lucky, honest], full, dense=False)
    assert designs == ["honest", "lucky"]  # honest's 0.98 point survives, its 0.97 does not
    assert hv == pytest.approx((0.98 - 0.93) * (1.25 - 0.5))
    alone, _ = module.union_hv([honest], full, dense=False)
    assert alone > hv  # the lucky point displaced a better one: the winner's curse
    dense, _ = module.union_hv([honest], full, dense=True)  # only point 0 of each design
    assert dense == pytest.approx((0.97 - 0.93) * (1.25 - 0.3))
    for p in (lucky, honest):
        p["val_hv"] = module.val_hv(p, full)
    assert module.best_by_validation([lucky, honest], full, dense=False) == 0.0


def test_rank_correlation_and_spread(module):
    assert module.rank_correlation([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert module.rank_correlation([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    spread = module.spread([float(v) for v in range(10)])
    assert spread == {"median": 4.5, "p10": 1.0, "p90": 9.0}


def test_cached_designs_reads_the_target_fidelity_designs_back(module, tmp_path):
    from leanet.data import load_dataset

    digits = load_dataset("digits8x8", seed=0)
    base = tiny_base("convnet")
    leanet.train_base(base, digits.train, epochs=1, progress=False)
    kept, old = Design(2, 0.5, fine_tune_epochs=0), Design(2, 0.7, fine_tune_epochs=0)
    # named with their search's source (two searches built `kept`), and from before that
    files = [(kept, "-" + "a" * 12), (kept, "-" + "b" * 12), (old, "")]
    files += [(Design(3, 0.5, fine_tune_epochs=2), "")]
    for design, source in files:
        net = design.build(base, digits.train, head_epochs=1)
        path = tmp_path / f"{design.key}-s0{source}.pt"
        save_leanet(path, net, meta={"design": vars(design)})
    assert module.cached_designs(tmp_path, seed=0, epochs=0) == [kept, old]
    assert module.cached_designs(tmp_path, seed=1, epochs=0) == []


def test_cross_fitted_rules_choose_on_held_out_halves(module):
    # lucky looks best on its full validation front but not on the half it was not tuned on
    lucky = _point("lucky", [(0.979, 0.3)], [(0.90, 0.3)])
    honest = _point("honest", [(0.97, 0.3), (0.98, 0.5)], [(0.97, 0.3), (0.98, 0.5)])
    lucky["cross"] = {
        "held": torch.tensor([[0.95, -0.3]], dtype=torch.float64),
        "test": torch.tensor([[0.90, 0.3]], dtype=torch.float64),
    }
    honest["cross"] = {
        "held": torch.tensor([[0.97, -0.3], [0.98, -0.5]], dtype=torch.float64),
        "test": torch.tensor([[0.965, 0.3], [0.98, 0.5]], dtype=torch.float64),
    }
    full = 0.98  # reference (0.93, 1.25)
    points = module.cross_fit_hv([lucky, honest], full, designs_only=False)
    expected = (0.98 - 0.93) * (1.25 - 0.5) + (0.965 - 0.93) * (0.5 - 0.3)
    assert points == pytest.approx(expected)  # the cross-fitted points' own test objectives
    designs = module.cross_fit_hv([lucky, honest], full, designs_only=True)
    assert designs == pytest.approx(module.union_hv([honest], full, dense=False)[0])
    assert designs > module.union_hv([lucky, honest], full, dense=False)[0]


def test_cross_fitted_fronts_are_fit_on_one_half_and_measured_on_the_other(module):
    from leanet.evaluator import ThresholdEvaluator

    gen = torch.Generator().manual_seed(0)
    confidence = torch.rand(2, 40, generator=gen)
    correct = torch.rand(2, 40, generator=gen) > 0.3
    correct[1] = True  # the last level is always right: accuracy rises with the threshold
    val = ThresholdEvaluator(confidence, correct, torch.tensor([0.3, 1.0]), 1.0)
    cross = module.cross_fitted(val, val, samples=256)
    held, test = cross["held"], cross["test"]
    assert held.shape[1] == 2 and test.shape == held.shape
    # a held-out half holds 20 inputs: every accuracy is a multiple of 1/20
    assert torch.allclose(held[:, 0] * 20, (held[:, 0] * 20).round(), atol=1e-6)
    assert (test[:, 0] <= 1).all() and (test[:, 1] > 0).all()
