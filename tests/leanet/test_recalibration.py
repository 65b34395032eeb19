"""Batch-norm recalibration measures the statistics inference sees."""

from __future__ import annotations

import torch
from torch import nn

from leanet.model import build
from leanet.train import recalibrate_batch_norm
from leanet.zoo import BaseNet


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
