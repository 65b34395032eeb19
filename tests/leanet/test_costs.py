"""Costs are counted on the code that runs, and charged honestly."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import leanet
from leanet.costs import PLATFORMS, LevelCosts, Work, count_work, measure_costs
from tests.leanet.conftest import tiny_base


@pytest.mark.parametrize("scheme", ["triangular", "slice"])
@pytest.mark.parametrize("arch", ["convnet", "mobilenet"])
def test_adaptive_runtime_executes_exactly_the_macs_the_cost_model_charges(arch, scheme):
    net = leanet.build(tiny_base(arch), scheme=scheme)
    costs = measure_costs(net, latency=False)
    x = torch.randn(64, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    for thresholds in ([0.15, 0.2, 0.25, 0.3], [0.0] * 4, [1.0] * 4, [0.12, 1.0, 0.14, 0.5]):
        with FlopCounterMode(display=False) as counter:
            decision = net(x, thresholds)
        executed = counter.get_total_flops() // 2
        exits = torch.tensor(costs.exit_macs)[decision.exit_level - 1]
        assert executed == int(exits.sum()), (thresholds, decision.exit_level.bincount())


def test_levels_cost_more_as_they_go_and_the_energy_model_adds_up(tiny_convnet):
    net = leanet.build(tiny_convnet)
    costs = measure_costs(net, repeats=3)
    assert all(
        w.macs > 0 and w.weight_words > 0 and w.activation_words > 0 for w in costs.level_work
    )
    assert torch.all(costs.exit_energy[1:] > costs.exit_energy[:-1])
    platform = PLATFORMS["45nm-fp32"]
    first = costs.level_work[0]
    assert float(costs.exit_energy[0]) == pytest.approx(
        first.macs * 4.6e-12 + first.weight_words * 640e-12 + first.activation_words * 5e-12
    )
    assert costs.full_energy == pytest.approx(costs.full_work.energy(platform))
    assert costs.exit_latency.shape == (5,) and torch.all(costs.exit_latency > 0)
    assert "full" in costs.table()
    # Level 1 alone is exactly exiting at level 1; later levels alone skip earlier heads.
    assert float(costs.static_energy[0]) == pytest.approx(float(costs.exit_energy[0]))
    assert torch.all(costs.static_energy[1:] < costs.exit_energy[1:])


def test_word_counts_of_a_linear_layer_are_its_operands():
    layer = torch.nn.Linear(7, 3)
    _, work = count_work(layer, torch.zeros(1, 7))
    assert work == Work(macs=21, weight_words=7 * 3 + 3, activation_words=7 + 3)


def test_a_measured_joules_table_replaces_the_model():
    costs = LevelCosts.from_joules([1e-3, 1.5e-3, 2.2e-3], full_joules=2e-3)
    torch.testing.assert_close(
        costs.exit_energy_ratio, torch.tensor([0.5, 0.75, 1.1], dtype=torch.float64)
    )
    with pytest.raises(ValueError, match="must not decrease"):
        LevelCosts.from_joules([2e-3, 1e-3], full_joules=2e-3)
    with pytest.raises(ValueError, match="unknown platform 'tpu'"):
        measure_costs(None, platform="tpu")
