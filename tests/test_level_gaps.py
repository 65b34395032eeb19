"""The level-gap benchmark (``benchmarks/level_gaps.py``): paired accuracy gaps to the top
level and how far validation's gap lies above test's."""

from __future__ import annotations

import math

import pytest
import torch

from tests.benchmark_scripts import load_benchmark


def test_paired_gaps_compare_each_level_with_the_top_on_the_same_inputs():
    module = load_benchmark("level_gaps")
    correct = torch.tensor(
        [
            [1, 1, 0, 0, 1, 1, 1, 1],  # level 1: wrong on inputs 2 and 3
            [1, 1, 1, 0, 1, 1, 1, 1],  # level 2: wrong on input 3
            [1, 1, 1, 1, 1, 1, 1, 0],  # top: wrong on input 7
        ],
        dtype=torch.bool,
    )
    (g1, s1), (g2, s2) = module.paired_gaps(correct)
    assert g1 == pytest.approx((6 - 7) / 8) and g2 == pytest.approx(0.0)
    diff = torch.tensor([0, 0, -1, -1, 0, 0, 0, 1], dtype=torch.float64)
    assert s1 == pytest.approx(float(diff.std()) / math.sqrt(8))
    # validation's gap above test's by one standard error of their difference
    assert module.flattery((0.0, 0.3), (-0.5, 0.4)) == pytest.approx(1.0)
    assert module.flattery((-0.5, 0.3), (0.0, 0.4)) == pytest.approx(-1.0)
