"""Baselines: static widths and a trained slimmable network with switchable batch norm."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from leanet.baselines import (
    SlimmableNet,
    SwitchableBatchNorm2d,
    evaluate_widths,
    slimmable_points,
    static_width_points,
    train_slimmable,
    width_work,
)
from leanet.costs import LevelCosts, count_work, get_platform
from leanet.evaluator import ThresholdEvaluator
from leanet.levels import WidthLevels, slice_width
from leanet.zoo import BaseNet, build_base
from tests.leanet.conftest import randomize_batchnorm, tiny_base


def _switchables(net: SlimmableNet) -> list[SwitchableBatchNorm2d]:
    return [m for m in net.features if isinstance(m, SwitchableBatchNorm2d)]


# -- static widths ------------------------------------------------------------------------
def test_static_width_points_match_hand_computation():
    correct = torch.tensor([[1, 0, 0, 1], [1, 1, 0, 1], [1, 1, 1, 1]], dtype=torch.bool)
    evaluator = ThresholdEvaluator(torch.rand(3, 4), correct, torch.tensor([1.0, 3.0, 6.0]), 4.0)
    costs = LevelCosts(
        exit_energy=torch.tensor([1.0, 3.0, 6.0]),
        full_energy=4.0,
        static_energy=torch.tensor([1.0, 2.0, 4.0]),
    )
    accuracy, ratio = static_width_points(evaluator, costs)
    assert accuracy.tolist() == [0.5, 0.75, 1.0]
    assert ratio.tolist() == [0.25, 0.5, 1.0]
    assert accuracy.dtype == ratio.dtype == torch.float64
    # The denominator is the full pretrained network, not the top level run alone.
    costs = LevelCosts(
        exit_energy=torch.tensor([1.0, 3.0, 6.0]),
        full_energy=3.0,
        static_energy=torch.tensor([0.3, 1.2, 2.7]),
    )
    _, ratio = static_width_points(evaluator, costs)
    assert torch.allclose(ratio, torch.tensor([0.1, 0.4, 0.9], dtype=torch.float64))


def test_static_width_points_refuse_costs_without_static_energies():
    evaluator = ThresholdEvaluator(
        torch.rand(2, 3), torch.ones(2, 3, dtype=torch.bool), torch.tensor([1.0, 2.0]), 2.0
    )
    with pytest.raises(ValueError, match="no static_energy"):
        static_width_points(evaluator, LevelCosts.from_joules([1.0, 2.0], 2.0))
    three = LevelCosts(exit_energy=torch.ones(3), full_energy=1.0, static_energy=torch.ones(3))
    with pytest.raises(ValueError, match="2 levels"):
        static_width_points(evaluator, three)


# -- slimmable network --------------------------------------------------------------------
def test_full_width_from_base_reproduces_the_base_exactly(tiny_any, images):
    net = SlimmableNet(tiny_any, init_from_base=True).eval()
    with torch.no_grad():
        assert torch.equal(net(images), tiny_any(images))
        assert torch.equal(net(images, 4), net(images, -1))


def test_widths_use_the_leanet_channel_counts(tiny_any):
    net = SlimmableNet(tiny_any)
    levels = WidthLevels(tiny_any.features, in_channels=1)
    assert net.channels == levels.out_channels
    convs = [m for m in net.features if isinstance(m, nn.Conv2d)]
    # Every switchable batch norm is as wide as the conv before it, at every width.
    for bn in _switchables(net):
        assert [b.num_features for b in bn.bn] == bn.num_features
    assert len(_switchables(net)) == len(convs)


@pytest.mark.parametrize(
    ("channels", "fractions", "widths"),
    [
        (10, (0.25, 0.5, 0.75, 1.0), [2, 5, 8, 10]),  # 2.5 -> 2, 7.5 -> 8: halves to even
        (6, (0.25, 0.5, 0.75, 1.0), [2, 3, 4, 6]),  # 1.5 -> 2, 4.5 -> 4
        (3, (0.1, 1.0), [1, 3]),  # 0.3 rounds to 0: at least one channel
    ],
)
def test_hidden_units_round_as_the_leanet_channels(channels, fractions, widths):
    # The baseline's hidden linear units and the LEANet's conv channels at the same
    # fraction: one rule, so the comparison stays even if the rule changes.
    features = nn.Sequential(nn.Conv2d(1, channels, 3, padding=1), nn.BatchNorm2d(channels))
    classifier = nn.Sequential(nn.Linear(channels, channels), nn.ReLU(), nn.Linear(channels, 2))
    config = {"arch": "convnet", "num_classes": 2, "in_channels": 1, "input_size": 8}
    base = BaseNet(features, classifier, config)
    levels = WidthLevels(features, in_channels=1, fractions=fractions)
    net = SlimmableNet(base, fractions, init_from_base=True)
    hidden = net._classifier_widths[0][1]
    assert levels.out_channels == net.channels == hidden == widths
    assert [slice_width(f, channels) for f in fractions] == widths


def test_a_classifier_with_dropout_is_sliced_as_well(images):
    # A user's own BaseNet may regularize its classifier with dropout, which has no width.
    features = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
    classifier = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 3))
    config = {"arch": "convnet", "num_classes": 3, "in_channels": 1, "input_size": 8}
    base = randomize_batchnorm(BaseNet(features, classifier, config))
    net = SlimmableNet(base, (0.5, 1.0), init_from_base=True).eval()
    with torch.no_grad():
        assert torch.equal(net(images), base(images))
        assert net(images, 0).shape == (6, 3)


def test_fresh_weights_are_seeded_and_the_base_is_untouched(tiny_convnet, images):
    before = {k: v.clone() for k, v in tiny_convnet.state_dict().items()}
    a = SlimmableNet(tiny_convnet, seed=3).eval()
    b = SlimmableNet(tiny_convnet, seed=3).eval()
    c = SlimmableNet(tiny_convnet, seed=4).eval()
    with torch.no_grad():
        assert torch.equal(a(images, 0), b(images, 0))
        assert not torch.equal(a(images, 0), c(images, 0))
    # The fresh weights are what build_base draws from the seed, classifier included.
    config = dict(tiny_convnet.config)
    drawn = build_base(config.pop("arch"), **config, seed=3)
    for name, value in drawn.classifier.state_dict().items():
        assert torch.equal(a.classifier.state_dict()[name], value), name
    # Fresh batch norms, not the base's randomized ones.
    assert torch.equal(
        _switchables(a)[0].bn[-1].running_mean,
        torch.zeros_like(_switchables(a)[0].bn[-1].running_mean),
    )
    a.train()
    a(images, 0).sum().backward()
    for k, v in tiny_convnet.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_training_a_width_updates_only_its_batch_norm(tiny_mobilenet, images):
    net = SlimmableNet(tiny_mobilenet, init_from_base=True)
    before = {k: v.clone() for k, v in net.state_dict().items() if "running" in k}
    net.train()
    net(images, 0)
    after = net.state_dict()
    changed = {k for k in before if not torch.equal(after[k], before[k])}
    assert changed  # width 0's statistics moved ...
    assert all(".bn.0." in k for k in changed)  # ... and no other width's
    assert len(changed) == 2 * len(_switchables(net))


def test_a_width_reads_only_its_own_channels(tiny_any, images):
    net = SlimmableNet(tiny_any, init_from_base=True).eval()
    k = 1
    with torch.no_grad():
        expected = net(images, k)
        for m, w_in, w_out in zip(net.features, net._in_widths, net._out_widths, strict=True):
            if isinstance(m, nn.Conv2d):
                m.weight[w_out[k] :] += 5.0
                if m.groups == 1:  # a depthwise conv has no cross-channel weights
                    m.weight[:, w_in[k] :] += 5.0
            elif isinstance(m, SwitchableBatchNorm2d):
                for j, bn in enumerate(m.bn):
                    if j != k:
                        bn.weight += 5.0
                        bn.running_mean += 5.0
        for m, widths in zip(net._classifier_layers(), net._classifier_widths, strict=True):
            if widths is not None:
                m.weight[widths[1][k] :] += 5.0
                m.weight[:, widths[0][k] :] += 5.0
                m.bias[widths[1][k] :] += 5.0
        assert torch.equal(net(images, k), expected)
        assert not torch.equal(net(images, k + 1), expected)  # the perturbation was real


def test_counted_work_matches_an_analytic_count():
    base = tiny_base("convnet")  # 8 px: convs of 8-8-16-16-32-32 channels, hidden 32
    net = SlimmableNet(base)
    for k, (f, work) in enumerate(zip(net.fractions, width_work(net), strict=True)):
        c1, c2, c3, hid = (max(1, round(f * c)) for c in (8, 16, 32, 32))
        convs = [(1, c1, 8), (c1, c1, 8), (c1, c2, 4), (c2, c2, 4), (c2, c3, 2), (c3, c3, 2)]
        linears = [(c3, hid), (hid, 10)]
        macs = sum(9 * i * o * s * s for i, o, s in convs) + sum(i * o for i, o in linears)
        weights = sum(9 * i * o for i, o, _ in convs) + sum(i * o + o for i, o in linears)
        acts = sum(i * s * s + o * s * s for i, o, s in convs) + sum(i + o for i, o in linears)
        assert (work.macs, work.weight_words, work.activation_words) == (macs, weights, acts), k


def test_energy_grows_with_width_and_is_one_at_full_width(tiny_any):
    net = SlimmableNet(tiny_any)
    points = slimmable_points(net, None)
    assert (points.macs[1:] > points.macs[:-1]).all()
    assert (points.energy_ratio[1:] > points.energy_ratio[:-1]).all()
    assert points.energy_ratio[-1].item() == 1.0  # only the batch norms differ from the base
    _, full = count_work(tiny_any.eval(), torch.zeros(1, 1, 8, 8))
    assert points.full_energy == full.energy(get_platform("45nm-fp32"))
    given = slimmable_points(net, None, "45nm-fp32-sram", full_energy=2 * points.full_energy)
    assert given.energy_ratio[-1].item() < 0.5  # SRAM weights are cheaper, denominator given
    assert torch.isnan(points.accuracy).all()


def test_training_learns_at_every_width(digits):
    base = build_base("convnet", num_classes=10, in_channels=1, input_size=8, width_multiplier=0.5)
    net = SlimmableNet(base, seed=0)
    before = evaluate_widths(net, digits.val)
    result = train_slimmable(
        net, digits.train, val=digits.val, epochs=2, batch_size=32, lr=3e-3, progress=False
    )
    assert len(result.history) == 2 and result.seconds > 0
    accuracy = torch.tensor(result.accuracy, dtype=torch.float64)
    assert (before < 0.3).all(), before  # chance is 0.1
    assert (accuracy > 0.85).all(), accuracy  # measured: 0.96 .. 0.98
    points = slimmable_points(net, digits.val)
    assert torch.equal(points.accuracy, accuracy)
    assert torch.equal(evaluate_widths(net, digits.val), points.accuracy)


def _train_subset(digits, n: int = 128):
    x, y = digits.train[list(range(n))]
    return torch.utils.data.TensorDataset(x, y)


def test_training_steps_run_in_training_mode_and_leave_the_net_in_eval(digits):
    # Validation between epochs runs in eval mode; the next epoch must train again (batch
    # statistics), whatever mode the caller left the network in, and the trained network
    # comes back ready to evaluate.
    subset = _train_subset(digits)
    net = SlimmableNet(tiny_base("convnet"), seed=1).eval()
    steps: list[bool] = []  # the mode of every forward pass that builds a gradient
    net.register_forward_pre_hook(
        lambda module, _: steps.append(module.training) if torch.is_grad_enabled() else None
    )
    train_slimmable(net, subset, val=subset, epochs=2, batch_size=32, progress=False)
    # 2 epochs x 128 / 32 batches x every width
    assert len(steps) == 2 * 4 * net.num_widths and all(steps)
    assert not net.training and not any(m.training for m in net.modules())


def test_training_uses_the_given_seed_learning_rate_and_weight_decay(digits):
    subset = _train_subset(digits)

    def trained(**kwargs) -> dict[str, torch.Tensor]:
        net = SlimmableNet(tiny_base("convnet"), seed=1)
        train_slimmable(net, subset, epochs=1, batch_size=32, progress=False, **kwargs)
        return {k: v.detach() for k, v in net.named_parameters()}

    def same(a: dict, b: dict) -> bool:
        return all(torch.equal(v, b[k]) for k, v in a.items())

    fresh = SlimmableNet(tiny_base("convnet"), seed=1)
    untrained = {k: v.detach() for k, v in fresh.named_parameters()}
    assert same(trained(lr=0.0, weight_decay=0.0), untrained)  # lr 0: nothing moves
    reference = trained(seed=2)
    moved = [k for k, v in reference.items() if not torch.equal(v, untrained[k])]
    assert moved == list(untrained)  # every shared weight, classifier included, is trained
    assert not same(trained(seed=3), reference)  # another shuffling
    assert not same(trained(seed=2, weight_decay=0.5), reference)


def test_evaluating_widths_counts_every_batch_and_leaves_the_net_as_it_was(digits):
    # Scored on running statistics in any batch size, whatever mode the caller is in, and
    # neither the modes nor the statistics are changed by scoring or by counting the work.
    net = SlimmableNet(tiny_base("convnet"), seed=1).eval()
    x = digits.train[list(range(100))][0]
    with torch.no_grad():  # labelled by the narrowest width: it scores 1, the others less
        data = torch.utils.data.TensorDataset(x, net(x, 0).argmax(-1))
        correct = [int((net(x, k).argmax(-1) == data.tensors[1]).sum()) for k in range(5)]
    expected = evaluate_widths(net, data)
    assert expected.tolist() == [c / 100 for c in correct]
    assert expected[0] == 1.0 > expected[-1]
    net.train()
    net.features[1].eval()  # a caller's frozen batch norm
    modes = [m.training for m in net.modules()]
    state = {k: v.clone() for k, v in net.state_dict().items()}
    assert torch.equal(evaluate_widths(net, data, batch_size=32), expected)  # 32+32+32+4
    slimmable_points(net, None)
    assert [m.training for m in net.modules()] == modes
    for k, v in net.state_dict().items():
        assert torch.equal(v, state[k]), k


def test_a_full_energy_that_is_not_positive_is_refused(tiny_convnet):
    net = SlimmableNet(tiny_convnet)
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="full_energy must be positive"):
            slimmable_points(net, None, full_energy=bad)


def test_training_is_deterministic(digits):
    x, y = digits.train[list(range(128))]
    subset = torch.utils.data.TensorDataset(x, y)
    runs = []
    for _ in range(2):
        net = SlimmableNet(tiny_base("convnet"), seed=1)
        train_slimmable(net, subset, epochs=1, batch_size=32, progress=False, seed=2)
        runs.append(net.state_dict())
    for key, value in runs[0].items():
        assert torch.equal(value, runs[1][key]), key


def test_labels_outside_the_classes_are_refused(digits):
    # 1-based labels scored every width 0.0 and trained on a shifted target, silently.
    x, y = digits.train[list(range(64))]
    shifted = torch.utils.data.TensorDataset(x, y + 1)
    net = SlimmableNet(tiny_base("convnet"), seed=1)
    with pytest.raises(ValueError, match="got 10"):
        evaluate_widths(net, shifted)
    with pytest.raises(ValueError, match="got 10"):
        train_slimmable(net, shifted, epochs=1, batch_size=32, progress=False)


def test_bad_arguments_are_named(tiny_convnet, images):
    with pytest.raises(ValueError, match="strictly increasing"):
        SlimmableNet(tiny_convnet, fractions=[0.75, 0.5, 1.0])
    with pytest.raises(ValueError, match="last fraction must be 1.0"):
        SlimmableNet(tiny_convnet, fractions=[0.5, 0.75])
    with pytest.raises(ValueError, match="round to the same width"):
        SlimmableNet(tiny_convnet, fractions=[0.5, 0.51, 1.0])
    odd = tiny_base("convnet")
    odd.config["arch"] = "torchvision:vgg11_bn"  # its classifier reads 7 x 7 pooled maps
    with pytest.raises(ValueError, match="zoo architecture"):
        SlimmableNet(odd)
    net = SlimmableNet(tiny_convnet)
    for bad in (5, -6, 1.0, True):  # True is an int to Python, not a width
        with pytest.raises(ValueError, match=r"width index must be an int in -5\.\.4"):
            net(images, bad)


def test_switchable_batch_norm_copies_the_first_channels():
    source = randomize_batchnorm(nn.Sequential(nn.BatchNorm2d(8)))[0]
    source.num_batches_tracked.fill_(7)  # trained for 7 batches
    bn = SwitchableBatchNorm2d([4, 8], source)
    bn.copy_from(source)
    assert torch.equal(bn.bn[0].running_var, source.running_var[:4])
    assert torch.equal(bn.bn[1].weight, source.weight)
    assert bn.bn[0].eps == source.eps
    assert torch.equal(bn.bn[0].num_batches_tracked, source.num_batches_tracked)


@pytest.mark.parametrize(
    "like",
    [
        nn.BatchNorm2d(8, eps=1e-3, momentum=0.3),
        nn.BatchNorm2d(8, affine=False, momentum=None),
        nn.BatchNorm2d(8, track_running_stats=False),
    ],
)
def test_switchable_batch_norm_keeps_the_settings_of_the_one_it_replaces(like):
    # A base trained with another eps or momentum (or without affine parameters or running
    # statistics) is the network each width's batch norm has to behave like.
    bn = SwitchableBatchNorm2d([4, 8], like)
    for b in bn.bn:
        assert (b.eps, b.momentum, b.affine) == (like.eps, like.momentum, like.affine)
        assert b.track_running_stats == like.track_running_stats


@pytest.mark.parametrize("arch", ["convnet", "mobilenet"])
def test_slimmable_widths_are_charged_for_exactly_what_they_run(arch):
    # The same cost-honesty test as the LEANet's: the work counted while a batch runs at
    # width k is the batch size times what slimmable_points charges per input.
    net = SlimmableNet(tiny_base(arch)).eval()
    points = slimmable_points(net, None)
    x = torch.randn(16, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    for k in range(net.num_widths):
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            net(x, k)
        assert counter.get_total_flops() // 2 == 16 * int(points.macs[k])


def test_the_package_exports_everything_its_modules_do():
    import leanet.baselines
    import leanet.baselines.slimmable
    import leanet.baselines.static

    modules = (leanet.baselines.slimmable, leanet.baselines.static)
    names = {name for module in modules for name in module.__all__}
    assert set(leanet.baselines.__all__) == names
    namespace: dict = {}
    exec("from leanet.baselines import *", namespace)
    assert all(namespace[name] is getattr(m, name) for m in modules for name in m.__all__)
