"""Shared tiny fixtures for the leanet tests: small networks with non-trivial batch norm."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from leanet.zoo import BaseNet, build_base

# The tensors here are tiny: one thread avoids thread start-up and contention costs that
# dominate on a shared 2-core machine.
torch.set_num_threads(1)


def randomize_batchnorm(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every batch norm non-trivial running statistics and affine parameters, so that
    slicing them wrongly would show in the outputs."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(n, generator=g) * 0.4 - 0.2)
    return model.eval()


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    """Whether two modules hold bit-identical weights and buffers under the same names."""
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def steps_that_draw(steps: dict) -> list[str]:
    """The names of ``steps`` (name -> call) that drew from torch's global generator: after
    them it did not draw as it would have without the call (the seed is restored after)."""
    moved = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(123)
        expected = torch.rand(3)
        for name, step in steps.items():
            torch.manual_seed(123)
            step()
            if not torch.equal(torch.rand(3), expected):
                moved.append(name)
    return moved


def tiny_base(arch: str = "convnet", *, input_size: int = 8, seed: int = 0) -> BaseNet:
    """An untrained 1-channel, 10-class base network of width 1/4 with random batch norm."""
    torch.manual_seed(seed)
    net = build_base(
        arch, num_classes=10, in_channels=1, input_size=input_size, width_multiplier=0.25
    )
    return randomize_batchnorm(net, seed)


@pytest.fixture
def tiny_convnet() -> BaseNet:
    return tiny_base("convnet")


@pytest.fixture
def tiny_mobilenet() -> BaseNet:
    return tiny_base("mobilenet")


@pytest.fixture(params=["convnet", "mobilenet"])
def tiny_any(request) -> BaseNet:
    """Each of a plain-conv and a depthwise-separable network."""
    return tiny_base(request.param)


@pytest.fixture
def images() -> torch.Tensor:
    """A `6 x 1 x 8 x 8` batch of standard-normal images."""
    return torch.randn(6, 1, 8, 8, generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="session")
def digits():
    """scikit-learn's 8x8 digits, split 4:1:1 (loads in well under a second)."""
    from leanet.data import load_dataset

    return load_dataset("digits8x8", seed=0)


@pytest.fixture(scope="module")
def small_train(digits):
    """300 training digits: enough batches for AdamW's moments to matter, fast."""
    return digits.train.subset(torch.arange(300))
