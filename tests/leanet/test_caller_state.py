"""What the caller owns comes back as it was: the modes of their modules (each submodule's
own), their weights when a call is refused, and torch's global random stream."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

import leanet
from tests.leanet.conftest import same_weights, steps_that_draw, tiny_base


def snapshot(net: nn.Module) -> nn.Module:
    """A copy to compare ``net``'s weights and buffers with later (:func:`same_weights`)."""
    import copy

    return copy.deepcopy(net)


def test_evaluating_levels_keeps_the_training_mode(digits):
    # A user's loop that validated each epoch trained the heads' later epochs in eval mode
    # (batch norm on running statistics, never updated): evaluate_levels left eval mode on.
    net = leanet.build(tiny_base(), fractions=(0.5, 1.0), head_hidden=4)
    net.train()
    leanet.evaluate_levels(net, digits.val)
    assert net.training and all(head.training for head in net.heads[:-1])
    assert not net.base.training  # the backbone stays on its running statistics


def modes(module: nn.Module) -> list[bool]:
    """Every submodule's own training flag, in order."""
    return [m.training for m in module.modules()]


def rgb_images(n: int = 8) -> leanet.ImageTensorDataset:
    """``n`` 3-channel 8 x 8 images: data a 1-channel network was not built for."""
    return leanet.ImageTensorDataset(
        torch.rand(n, 3, 8, 8),
        torch.zeros(n, dtype=torch.long),
        mean=torch.zeros(3),
        std=torch.ones(3),
        classes=[str(i) for i in range(10)],
    )


class Interrupted(Dataset):
    """``data`` whose items from ``at`` on raise ``KeyboardInterrupt`` (Ctrl-C midway, or a
    corrupt file of an image folder)."""

    def __init__(self, data: Dataset, at: int) -> None:
        self.data, self.at = data, at

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int):
        if i >= self.at:
            raise KeyboardInterrupt
        return self.data[i]


@pytest.mark.parametrize("kind", ["depth", "width"])
def test_a_failed_recalibration_leaves_the_batch_norms_as_they_were(digits, kind):
    # Depth levels reset every backbone batch norm (mean 0, var 1, momentum None) before
    # the first batch ran: wrong channels, found only in the first convolution, took the
    # levels from 0.90 to 0.57 and left momentum None (a cumulative mean) for good.
    options = {"num_levels": 2} if kind == "depth" else {"fractions": (0.5, 1.0)}
    net = leanet.build(tiny_base(), levels=kind, copy=False, **options)
    before = snapshot(net)
    with pytest.raises(ValueError, match="recalibrate_batch_norm: the data set's images"):
        leanet.recalibrate_batch_norm(net, rgb_images())
    assert same_weights(net, before)
    with pytest.raises(KeyboardInterrupt):
        leanet.recalibrate_batch_norm(
            net, Interrupted(digits.train.subset(torch.arange(400)), 300), batch_size=128
        )
    assert same_weights(net, before)
    norms = [m for m in net.base.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert norms and all(m.momentum == 0.1 for m in norms)


@pytest.mark.parametrize("val", ["empty", "rgb"])
def test_training_refuses_a_bad_validation_split_before_changing_a_weight(digits, val):
    # fit_heads trained every epoch and fine_tune one (then stayed in training mode) before
    # val was first read; train_base checks it up front.
    net = leanet.build(tiny_base(), fractions=(0.5, 1.0))
    bad = digits.val.subset(torch.arange(0)) if val == "empty" else rgb_images()
    train = digits.train.subset(torch.arange(64))
    before = snapshot(net)
    for name, call in [("fit_heads", leanet.fit_heads), ("fine_tune", leanet.fine_tune)]:
        with pytest.raises(ValueError, match=f"{name} val: the data set"):
            call(net, train, val=bad, epochs=1, progress=False)
        assert same_weights(net, before) and not net.training, name


def test_an_interrupted_fine_tuning_leaves_the_net_for_inference(digits):
    net = leanet.build(tiny_base(), fractions=(0.5, 1.0))
    with pytest.raises(KeyboardInterrupt):
        train = Interrupted(digits.train.subset(torch.arange(64)), 40)
        leanet.fine_tune(net, train, epochs=1, batch_size=16, progress=False)
    assert not net.training  # net(x, T) refused a net left in training mode


def test_interrupted_head_fitting_leaves_the_net_for_inference(digits, monkeypatch):
    # The features are read before the heads train, so the interruption comes in training.
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(leanet.train, "epochs_loop", interrupted)
    net = leanet.build(tiny_base(), fractions=(0.5, 1.0))
    with pytest.raises(KeyboardInterrupt):
        leanet.fit_heads(net, digits.train.subset(torch.arange(64)), epochs=1, progress=False)
    assert not net.training


def test_calls_give_every_submodule_its_own_mode_back(digits):
    # "Restoring" with module.train(was_training) set every submodule to the top flag: a
    # caller's batch norms, frozen in eval mode while the rest trains, were switched to
    # training mode (by build(copy=True) too, on the caller's base) and their next forward
    # pass overwrote the frozen statistics.
    from leanet.baselines import SlimmableNet, evaluate_widths, width_work
    from leanet.costs import measure_costs

    def frozen_norms(module: nn.Module) -> nn.Module:
        module.train()
        for m in module.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()
        return module

    base = frozen_norms(tiny_base())
    net = leanet.build(tiny_base(), fractions=(0.25, 0.5, 1.0)).train()
    net.heads[0].eval()  # a head the caller froze
    sliced = leanet.build(tiny_base(), fractions=(0.5, 1.0), scheme="slice").train()
    slim = frozen_norms(SlimmableNet(tiny_base(), fractions=(0.5, 1.0)))
    calls = {
        "build": (base, lambda: leanet.build(base, fractions=(0.5, 1.0))),
        "evaluate": (base, lambda: leanet.evaluate(base, digits.val)),
        "evaluate_levels": (net, lambda: leanet.evaluate_levels(net, digits.val)),
        "recalibrate_batch_norm": (net, lambda: leanet.recalibrate_batch_norm(net, digits.val)),
        "compile_runtime": (net, lambda: leanet.compile_runtime(net, mode="eager")),
        "measure_costs": (net, lambda: measure_costs(net, latency=False)),
        "evaluate_widths": (slim, lambda: evaluate_widths(slim, digits.val)),
        "width_work": (slim, lambda: width_work(slim)),
    }
    mixed = {id(m): modes(m) for m in (base, net, slim)}
    for name, (module, call) in calls.items():
        for m, mode in zip(module.modules(), mixed[id(module)], strict=True):
            m.training = mode  # as the caller set them, whatever an earlier call did
        call()
        assert modes(module) == mixed[id(module)], name
    before = modes(sliced)
    with pytest.raises(ValueError, match="scheme='slice'"):
        leanet.recalibrate_batch_norm(sliced, digits.val)
    assert modes(sliced) == before


def test_evaluate_gives_the_mode_back_when_the_model_fails():
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10)).train()
    with pytest.raises(RuntimeError):
        leanet.evaluate(model, rgb_images())  # 3 x 8 x 8 values, not 64
    assert model.training


def test_saving_and_loading_leave_the_global_generator_alone(tmp_path, digits):
    # Each rebuilt a randomly initialised network (to check the config rebuilds it, or to
    # receive the file's weights): a seeded script drew other numbers after a save.
    from leanet.baselines import SlimmableNet, slimmable_points
    from leanet.checkpoints import load_checkpoint, load_leanet, save_checkpoint, save_leanet

    base = tiny_base()
    net = leanet.build(base, fractions=(0.5, 1.0))
    classes = [str(i) for i in range(10)]
    save_checkpoint(tmp_path / "base.pt", base, dataset="digits8x8", classes=classes)
    save_leanet(tmp_path / "net.pt", net)
    slim = SlimmableNet(tiny_base(), fractions=(0.5, 1.0))
    steps = {
        "save_checkpoint": lambda: save_checkpoint(
            tmp_path / "b.pt", base, dataset="digits8x8", classes=classes
        ),
        "load_checkpoint": lambda: load_checkpoint(tmp_path / "base.pt"),
        "save_leanet": lambda: save_leanet(tmp_path / "n.pt", net),
        "load_leanet": lambda: load_leanet(tmp_path / "net.pt"),
        "LEANet.from_config": lambda: leanet.LEANet.from_config(net.config()),
        "slimmable_points": lambda: slimmable_points(slim, None),
    }
    assert steps_that_draw(steps) == []
    # what loads is still the network saved, bit for bit
    assert same_weights(load_checkpoint(tmp_path / "base.pt")[0], base)
    assert same_weights(load_leanet(tmp_path / "net.pt")[0], net)
