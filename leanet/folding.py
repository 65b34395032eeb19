"""Inference-only layers for :mod:`leanet.runtime`: weights sliced once per channel band,
stored contiguous, batch norm folded into the preceding convolution or linear layer.

Folding is exact algebra (``w * gamma / sqrt(var + eps)``, computed in float64), so a
folded step computes what the unfolded layers do up to float rounding, with one operator
call instead of two; at batch 1 on a CPU, where dispatch overhead dominates small layers,
that is most of what makes a level step cheap.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from leanet.model import Head

__all__ = ["band_ops", "fold_head", "full_ops", "layer_kind"]


class _Conv(nn.Module):
    """A convolution with pre-sliced, contiguous (BN-folded) weights."""

    def __init__(self, weight: Tensor, bias: Tensor | None, like: nn.Conv2d, groups: int):
        super().__init__()
        self.register_buffer("weight", weight.detach().float().contiguous().clone())
        self.register_buffer("bias", None if bias is None else bias.detach().float().clone())
        self.stride, self.padding, self.dilation = like.stride, like.padding, like.dilation
        self.groups = groups

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(
            x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups
        )


class _Affine(nn.Module):
    """A batch norm that follows no convolution: ``x * scale + shift`` per channel."""

    def __init__(self, scale: Tensor, shift: Tensor):
        super().__init__()
        self.register_buffer("scale", scale.float().view(1, -1, 1, 1).clone())
        self.register_buffer("shift", shift.float().view(1, -1, 1, 1).clone())

    def forward(self, x: Tensor) -> Tensor:
        return torch.addcmul(self.shift, x, self.scale)


def _bn_affine(bn: nn.BatchNorm2d | nn.BatchNorm1d) -> tuple[Tensor, Tensor]:
    """(scale, shift) of an eval-mode batch norm, computed in float64."""
    scale = (bn.running_var.double() + bn.eps).rsqrt()
    if bn.weight is not None:
        scale = scale * bn.weight.detach().double()
    shift = -bn.running_mean.double() * scale
    if bn.bias is not None:
        shift = shift + bn.bias.detach().double()
    return scale, shift


def layer_kind(m: nn.Module) -> str:
    if isinstance(m, nn.Conv2d):
        return (
            "depthwise" if m.groups > 1 and m.groups == m.in_channels == m.out_channels else "conv"
        )
    return "bn" if isinstance(m, nn.BatchNorm2d) else "channelwise"


def band_ops(layers: Sequence[tuple[nn.Module, str, int, int, int]]) -> list[nn.Module]:
    """Fold and slice consecutive layers ``(module, kind, lo, hi, in_hi)``: output channels
    ``[lo, hi)``, reading input channels ``[0, in_hi)`` (plain conv) or ``[lo, hi)``."""
    ops: list[nn.Module] = []
    i = 0
    while i < len(layers):
        m, kind, lo, hi, in_hi = layers[i]
        if kind in ("conv", "depthwise"):
            bn = layers[i + 1][0] if i + 1 < len(layers) and layers[i + 1][1] == "bn" else None
            w, b = m.weight.detach().double(), m.bias
            b = None if b is None else b.detach().double()
            if bn is not None:
                scale, shift = _bn_affine(bn)
                w = w * scale.view(-1, 1, 1, 1)
                b = shift if b is None else b * scale + shift
            full_band = lo == 0 and hi == m.out_channels and in_hi == m.in_channels
            if kind == "conv":
                w, groups = w[lo:hi, :in_hi], (m.groups if full_band else 1)
            else:
                w, groups = w[lo:hi], hi - lo
            ops.append(_Conv(w, None if b is None else b[lo:hi], m, groups))
            i += 2 if bn is not None else 1
            continue
        if kind == "bn":
            scale, shift = _bn_affine(m)
            ops.append(_Affine(scale[lo:hi], shift[lo:hi]))
        elif isinstance(m, nn.ReLU):
            ops.append(nn.ReLU())
        elif not isinstance(m, (nn.Dropout, nn.Identity)):
            ops.append(m)  # pooling, ReLU6, Upsample: channel-wise and stateless
        i += 1
    for j in range(len(ops) - 1):  # ReLU then max pool == max pool then ReLU, exactly
        if isinstance(ops[j], nn.ReLU) and isinstance(ops[j + 1], nn.MaxPool2d):
            ops[j], ops[j + 1] = ops[j + 1], ops[j]
    return ops


def full_ops(modules: nn.Sequential) -> list[nn.Module]:
    """Every layer of a plain feature sequence, BN folded."""
    layers = []
    for m in modules:
        out = m.out_channels if isinstance(m, nn.Conv2d) else 0
        layers.append((m, layer_kind(m), 0, out, m.in_channels if isinstance(m, nn.Conv2d) else 0))
    return band_ops(layers)


class _Head(nn.Module):
    """A :class:`leanet.model.Head` with its ``BatchNorm1d`` folded into the first Linear;
    pooling is skipped when it would keep the map as it is."""

    def __init__(self, head: Head, map_size: int):
        super().__init__()
        side = head.pool.output_size
        side = side if isinstance(side, int) else side[0]
        self.pool = None if side == map_size else side
        mods = [copy.deepcopy(m).requires_grad_(False) for m in head.mlp]
        if len(mods) > 1 and isinstance(mods[0], nn.BatchNorm1d) and isinstance(mods[1], nn.Linear):
            bn, lin = mods.pop(0), mods[0]
            scale, shift = _bn_affine(bn)
            w = lin.weight.double()
            b = w @ shift + (0.0 if lin.bias is None else lin.bias.double())
            mods[0] = nn.Linear(lin.in_features, lin.out_features).requires_grad_(False)
            mods[0].weight.copy_(w * scale), mods[0].bias.copy_(b)
        self.mlp = nn.Sequential(*mods)

    def forward(self, f: Tensor) -> Tensor:
        if self.pool is not None:
            f = F.adaptive_avg_pool2d(f, self.pool)
        return self.mlp(torch.flatten(f, 1))


def fold_head(head: nn.Module, map_size: int) -> nn.Module:
    if isinstance(head, Head):
        return _Head(head, map_size)
    return copy.deepcopy(head).eval().requires_grad_(False)  # any feature map -> logits module
