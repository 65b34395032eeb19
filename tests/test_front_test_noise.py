"""The test-split resolution benchmark (``benchmarks/front_test_noise.py``): a front's
per-image outcomes give its recorded test HV on the whole split, and a resample reweights
the same images."""

from __future__ import annotations

import pytest
import torch

from leanet.design_recipe import Design
from leanet.evaluator import ThresholdEvaluator
from tests.benchmark_scripts import load_benchmark


@pytest.fixture(scope="module")
def module():
    return load_benchmark("front_test_noise")


def test_a_design_key_names_its_design(module):
    for design in (Design(6, 0.25, 0, "max_softmax", 10), Design(3, 0.45, 32, "margin", 4, 10)):
        assert module.design_of(design.key) == design
    with pytest.raises(ValueError, match="not a design key"):
        module.design_of("L6-f0.25-h0")


def test_per_image_outcomes_give_the_evaluators_front_and_resample_it(module):
    g = torch.Generator().manual_seed(0)
    L, N = 3, 400
    evaluator = ThresholdEvaluator(
        torch.rand(L, N, generator=g),
        torch.rand(L, N, generator=g) < torch.tensor([[0.8], [0.9], [0.97]]),
        torch.tensor([0.2, 0.5, 1.1]),
        1.0,
        standalone=(False, True, False),
    )
    thresholds = torch.tensor([[0.3, 0.6], [0.7, 0.9], [1.0, 0.5], [1.0, 1.0]])
    full = torch.rand(N, generator=g) < 0.96
    front = module.PerImage([(evaluator, t) for t in thresholds])
    metrics = evaluator.evaluate(thresholds)
    expected = module.front_hypervolume(
        metrics.accuracy, metrics.energy_ratio, float(full.double().mean())
    )
    assert front.hv(torch.arange(N), full) == pytest.approx(expected)
    # a resample that repeats the first half and drops the second weighs only its images
    half = torch.arange(N // 2).repeat(2)
    on_half = module.PerImage(
        [
            (
                ThresholdEvaluator(
                    evaluator.confidence[:, : N // 2],
                    evaluator.correct[:, : N // 2],
                    evaluator.exit_cost,
                    1.0,
                    standalone=(False, True, False),
                ),
                t,
            )
            for t in thresholds
        ]
    )
    assert front.hv(half, full) == pytest.approx(on_half.hv(torch.arange(N // 2), full[: N // 2]))
    assert front.hv(half, full) != pytest.approx(expected)


def test_an_interval_says_how_often_the_difference_is_positive(module):
    summary = module.interval([float(v) for v in range(-10, 30)])
    assert summary["positive"] == pytest.approx(29 / 40)
    assert summary["low"] < 0 < summary["median"] < summary["high"]
