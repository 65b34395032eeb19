"""Batch-norm recalibration measures the statistics inference sees."""

from __future__ import annotations

import torch
from torch import nn

from leanet.model import build
from leanet.train import recalibrate_batch_norm
from leanet.zoo import BaseNet
from tests.leanet.conftest import tiny_base


def test_depth_recalibration_measures_with_dropout_off(digits):
    # Depth levels take any layer; a dropout before a batch norm must not be active while
    # the batch norm measures (it made the variances 1.4-1.8x too large).
    torch.manual_seed(0)
    features = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.Conv2d(16, 16, 3, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
    )
    config = {"arch": "custom", "num_classes": 10, "in_channels": 1, "input_size": 8}
    net = build(BaseNet(features, nn.Linear(16, 10), config), levels="depth", num_levels=2)
    train = digits.train.subset(torch.arange(300))
    x, _ = train.tensors()
    recalibrate_batch_norm(net, train, batch_size=len(train))  # one batch: exact statistics
    expected = {}
    with torch.no_grad():  # each batch norm's input over the set at inference, which the
        h = x  # batch norms before it (recalibrated) shape
        for i, m in enumerate(net.base.features):
            if isinstance(m, nn.BatchNorm2d):
                expected[i] = (h.mean((0, 2, 3)), h.var((0, 2, 3)))
            h = m(h)
    for i, (mean, var) in expected.items():
        bn = net.base.features[i]
        torch.testing.assert_close(bn.running_mean, mean, atol=1e-3, rtol=1e-3)
        torch.testing.assert_close(bn.running_var, var, atol=1e-3, rtol=1e-3)
        assert bn.momentum == 0.1  # the module's own momentum is given back
    assert not any(m.training for m in net.base.modules())


def test_hybrid_recalibration_sets_the_shared_levels_statistics(small_train):
    """The hybrid's shared levels are triangular levels 1..L-1: recalibration measures
    their channels exactly as the triangular network's, and leaves the pretrained top alone
    (mutation sweep s76: running the top level instead recalibrated nothing, and passed)."""
    base = tiny_base("convnet")
    hybrid, tri = build(base, scheme="hybrid"), build(base, scheme="triangular")
    top = {k: v.clone() for k, v in hybrid.levels.pretrained.state_dict().items()}
    for net in (hybrid, tri):
        recalibrate_batch_norm(net, small_train, batch_size=100, progress=False)
    layers = zip(hybrid.levels.layers, tri.levels.layers, base.features, strict=True)
    norms = [(h, t, b, h.w_out[-2]) for h, t, b in layers if h.kind == "bn"]
    assert norms
    for h, t, before, w in norms:
        mean = h.module.running_mean[:w]
        torch.testing.assert_close(mean, t.module.running_mean[:w], rtol=0, atol=0)
        torch.testing.assert_close(h.module.running_var[:w], t.module.running_var[:w])
        assert not torch.allclose(mean, before.running_mean[:w])
    assert all(torch.equal(v, top[k]) for k, v in hybrid.levels.pretrained.state_dict().items())
