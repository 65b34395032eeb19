"""What the caller owns comes back as it was: the modes of their modules (each submodule's
own), their weights when a call is refused, and torch's global random stream."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

import leanet
from tests.leanet.conftest import same_weights, tiny_base


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
