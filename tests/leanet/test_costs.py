"""Costs are counted on the code that runs, and charged honestly."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import leanet
from leanet.costs import PLATFORMS, LevelCosts, Work, count_work, measure_costs
from tests.leanet.conftest import tiny_base


@pytest.mark.parametrize("scheme", ["triangular", "slice", "hybrid"])
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
    # Latency with its spread (the quartiles of the repeats), the full network's last.
    q = costs.latency_quartiles
    medians = torch.cat([costs.exit_latency, torch.tensor([costs.full_latency]).double()])
    assert q.shape == (6, 2) and torch.all(q[:, 0] <= medians) and torch.all(medians <= q[:, 1])
    table = costs.table()
    assert "quartiles (ms)" in table
    full_row = table.splitlines()[-1].split()
    assert full_row[0] == "full" and full_row[-1] == f"{q[-1, 0] * 1e3:.3f}-{q[-1, 1] * 1e3:.3f}"
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
    # Two levels may cost the same (a head too small to measure): not a decrease.
    equal = LevelCosts.from_joules([1e-3, 1e-3, 2e-3], full_joules=2e-3)
    assert equal.exit_energy_ratio.tolist() == [0.5, 0.5, 1.0]
    # No level runs for free: a 0 J entry would make exiting there a saving of 100%.
    with pytest.raises(ValueError, match="joules must be positive"):
        LevelCosts.from_joules([0.0, 1e-3, 2e-3], full_joules=2e-3)
    with pytest.raises(ValueError, match="unknown platform 'tpu'"):
        measure_costs(None, platform="tpu")


def _executed_macs(fn, *args) -> int:
    with FlopCounterMode(display=False) as counter:
        fn(*args)
    return counter.get_total_flops() // 2


@pytest.mark.parametrize("scheme", ["triangular", "slice", "hybrid"])
@pytest.mark.parametrize("arch", ["convnet", "mobilenet"])
def test_static_widths_are_charged_for_exactly_what_they_run(arch, scheme):
    # The static baseline runs each level alone (run_level, then its head): on a batch,
    # the counted work is the batch size times the work charged per input.
    net = leanet.build(tiny_base(arch), scheme=scheme)
    costs = measure_costs(net, latency=False)
    x = torch.randn(16, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    for k in range(1, net.num_levels + 1):
        executed = _executed_macs(lambda k=k: net.heads[k - 1](net.levels.run_level(x, k)))
        assert executed == 16 * costs.static_work[k - 1].macs
        priced = costs.static_work[k - 1].energy(costs.platform)
        assert float(costs.static_energy[k - 1]) == pytest.approx(priced)


@pytest.mark.parametrize("arch", ["convnet", "mobilenet"])
def test_a_triangular_level_alone_is_not_charged_for_masked_out_weights(arch):
    # Level k alone runs bands 1..k and nothing else: the incremental backbone work of
    # levels 1..k plus head k. Its top level is cheaper than the dense full network, where a
    # masked dense slice would cost as much.
    net = leanet.build(tiny_base(arch), scheme="triangular")
    costs = measure_costs(net, latency=False)
    backbone = net.level_macs(heads=False)
    with_heads = net.level_macs(heads=True)
    for k in range(1, net.num_levels + 1):
        head_k = with_heads[k - 1] - backbone[k - 1]
        assert costs.static_work[k - 1].macs == sum(backbone[:k]) + head_k
    full_backbone = _executed_macs(net.base.features, torch.zeros(1, 1, 8, 8))
    assert sum(backbone) < full_backbone


def test_hybrid_top_level_is_the_pretrained_network_charged_after_the_levels_below():
    base = tiny_base("convnet")
    net = leanet.build(base, scheme="hybrid")
    costs = measure_costs(net, latency=False)
    x = torch.randn(32, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    never_exit = [1.0] * (net.num_levels - 1)
    with torch.no_grad():
        decision = net(x, never_exit)
        assert torch.equal(decision.prediction, base(x).argmax(dim=-1))
    assert (decision.exit_level == net.num_levels).all()
    below = costs.exit_macs[-2]
    full = _executed_macs(base, torch.zeros(1, 1, 8, 8))
    assert costs.exit_macs[-1] == below + full
    assert costs.static_work[-1].macs == full


def test_each_exit_latency_times_its_own_level(tiny_convnet, monkeypatch):
    """Exit latency k times the runtime run through level k (mutation sweep s76: lambdas
    without ``k=k`` timed the last level for every exit, and every costs test passed)."""
    from types import SimpleNamespace

    import leanet.timing
    from leanet.runtime import Runtime

    ran = []
    monkeypatch.setattr(Runtime, "run_through", lambda self, x, level: ran.append(level))

    def once(fns, repeats):  # each callable once, its order in fns as its "time"
        out = {}
        for i, (name, fn) in enumerate(fns.items()):
            fn()
            out[name] = SimpleNamespace(median=i + 1.0, q1=i + 0.5, q3=i + 1.5)
        return out

    monkeypatch.setattr(leanet.timing, "cpu_times", once)
    costs = measure_costs(leanet.build(tiny_convnet))
    assert ran == [1, 2, 3, 4, 5]
    assert costs.exit_latency.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert costs.full_latency == 6.0


def test_head_work_is_each_heads_own(tiny_convnet):
    """``head_work`` is what each head alone executes (the part a headless level is not
    charged), and is part of its level's work (mutation sweep s76: recording the level's
    body as its head passed every costs test). The hybrid's standalone top is recorded."""
    net = leanet.build(tiny_convnet, scheme="hybrid").eval()
    costs = measure_costs(net, latency=False)
    assert costs.standalone == (False,) * (net.num_levels - 1) + (True,)
    x = torch.zeros(1, 1, 8, 8)
    assert costs.full_work == count_work(tiny_convnet, x)[1]  # the base, classifier included
    with torch.no_grad():
        for k in range(net.num_levels):
            _, head = count_work(net.heads[k], net.levels.run_level(x, k + 1))
            assert costs.head_work[k] == head and head.macs > 0
            assert costs.level_work[k].macs > head.macs
            assert float(costs.head_energy[k]) == pytest.approx(head.energy(costs.platform))
