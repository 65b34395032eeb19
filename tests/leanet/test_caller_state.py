"""What the caller owns comes back as it was: the modes of their modules (each submodule's
own), their weights when a call is refused, and torch's global random stream."""

from __future__ import annotations

import leanet
from tests.leanet.conftest import tiny_base


def test_evaluating_levels_keeps_the_training_mode(digits):
    # A user's loop that validated each epoch trained the heads' later epochs in eval mode
    # (batch norm on running statistics, never updated): evaluate_levels left eval mode on.
    net = leanet.build(tiny_base(), fractions=(0.5, 1.0), head_hidden=4)
    net.train()
    leanet.evaluate_levels(net, digits.val)
    assert net.training and all(head.training for head in net.heads[:-1])
    assert not net.base.training  # the backbone stays on its running statistics
