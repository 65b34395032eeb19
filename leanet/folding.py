"""Inference-only layers for :mod:`leanet.runtime`: weights sliced once per channel band,
stored contiguous, batch norm folded into the preceding convolution or linear layer.

Folding is exact algebra (``w * gamma / sqrt(var + eps)``, computed in float64), so a
folded step computes what the unfolded layers do up to float rounding, with one operator
call instead of two; at batch 1 on a CPU, where dispatch overhead dominates small layers,
that is most of what makes a level step cheap.

:func:`densify_depthwise` is an execution choice for batch-1 CPU inference, not algebra
that saves work: see there.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from leanet.model import Head

__all__ = [
    "DENSE_DEPTHWISE_POSITIONS",
    "STRIDED_DEPTHWISE_CHANNELS",
    "STRIDED_DEPTHWISE_OUTPUTS",
    "UNFOLD_DEPTHWISE_OUTPUTS",
    "band_ops",
    "densify_depthwise",
    "fold_head",
    "full_ops",
    "layer_kind",
    "script_depthwise",
]

#: Largest input map (H * W) whose depthwise convolutions :func:`densify_depthwise` turns
#: into matrix products: 8 x 8. Measured on MobileNet x0.5 (28 x 28 input, batch 1, traced,
#: one thread), full network / level-1 exit in ms: convolutions 1.99 / 1.41; up to 4 x 4
#: maps faster, up to 8 x 8 fastest (1.80 / 1.03), up to 16 x 16 slower than none (2.75 /
#: 1.45).
DENSE_DEPTHWISE_POSITIONS = 64


#: Largest output (channels x positions) of a depthwise convolution that runs at batch 1 as
#: im2col + one ``baddbmm`` (:class:`_Conv`). Measured (traced, one thread, 3 x 3 kernels):
#: 0.24-0.69x oneDNN's time up to 1024 outputs, 0.63-0.9x at 2048, 0.97-1.5x at 4096-8192.
UNFOLD_DEPTHWISE_OUTPUTS = 2048
#: Larger depthwise outputs with at most this many channels, and at most
#: :data:`STRIDED_DEPTHWISE_OUTPUTS` values, run at batch 1 as a strided copy of the padded
#: map's windows + one ``baddbmm``: 0.43-0.87x oneDNN's time there in two runs, but for two
#: border shapes (32 x 32 x 32 stride 2, 64 x 16 x 16) that read 0.92-1.15x; with more
#: channels (128-512) the per-channel products lose (1.05-2.0x), as do 32 x 32 x 32 outputs
#: (0.95-1.25x); ``benchmarks/results/depthwise_kernels.md``.
STRIDED_DEPTHWISE_CHANNELS = 64
STRIDED_DEPTHWISE_OUTPUTS = 16384


class _Conv(nn.Module):
    """A convolution with pre-sliced, contiguous (BN-folded) weights.

    A depthwise one runs at batch 1 as columns (one row of kh * kw input values per output
    value and channel) and one ``baddbmm`` over channels: exactly the convolution's MACs,
    while oneDNN spends ~50 us per depthwise call in its glue whatever the size (2-4 us
    computing). Small outputs get their columns from im2col (``F.unfold``); larger ones
    with few channels from a strided view of the zero-padded map, copied (PyTorch's im2col
    kernel is 2-5x slower than that copy on maps of 16 x 16 and more). Larger outputs and
    batches take ``F.conv2d``. The runtime scripts depthwise convolutions before tracing
    (:func:`script_depthwise`) so that every branch survives in the traced step."""

    def __init__(
        self,
        weight: Tensor,
        bias: Tensor | None,
        like: nn.Conv2d,
        groups: int,
        *,
        depthwise: bool = False,
    ):
        super().__init__()
        self.register_buffer("weight", weight.detach().float().contiguous().clone())
        self.register_buffer("bias", None if bias is None else bias.detach().float().clone())
        self.stride, self.padding, self.dilation = like.stride, like.padding, like.dilation
        # nn.Conv2d pads by its padding_mode before convolving; F.conv2d pads with zeros
        self.pad_mode, self.pad = like.padding_mode, list(like._reversed_padding_repeated_twice)
        self.groups = groups
        self.depthwise = depthwise
        self.unfold = (
            depthwise
            and isinstance(like.padding, tuple)
            and like.padding_mode == "zeros"
            and weight.shape[1] == 1
        )
        c, kh, kw = weight.shape[0], weight.shape[-2], weight.shape[-1]
        self.kernel = (int(kh), int(kw))
        self.max_outputs = UNFOLD_DEPTHWISE_OUTPUTS
        self.max_strided = STRIDED_DEPTHWISE_OUTPUTS if c <= STRIDED_DEPTHWISE_CHANNELS else 0
        rows = bias3 = None  # the unfold branch's weights: one row of kh * kw per channel
        if self.unfold:
            rows = self.weight.reshape(c, 1, kh * kw).contiguous()
            bias3 = (torch.zeros(c) if bias is None else self.bias).reshape(c, 1, 1).clone()
        self.register_buffer("rows", rows)
        self.register_buffer("bias3", bias3)

    def forward(self, x: Tensor) -> Tensor:
        if self.unfold and x.shape[0] == 1:
            (kh, kw), (sh, sw) = self.kernel, self.stride
            (ph, pw), (dh, dw) = self.padding, self.dilation
            h = (x.shape[2] + 2 * ph - dh * (kh - 1) - 1) // sh + 1
            w = (x.shape[3] + 2 * pw - dw * (kw - 1) - 1) // sw + 1
            c = self.groups
            if c * h * w <= self.max_outputs:
                cols = F.unfold(x, self.kernel, self.dilation, self.padding, self.stride)
                y = torch.baddbmm(self.bias3, self.rows, cols.view(c, kh * kw, h * w))
                return y.view(1, c, h, w)
            if c * h * w <= self.max_strided:
                xp = F.pad(x, [pw, pw, ph, ph])
                hp, wp = xp.shape[2], xp.shape[3]
                windows = xp.as_strided([c, kh, kw, h, w], [hp * wp, dh * wp, dw, sh * wp, sw])
                cols = windows.reshape(c, kh * kw, h * w)  # the one copy: these are columns
                return torch.baddbmm(self.bias3, self.rows, cols).view(1, c, h, w)
        if self.pad_mode != "zeros":
            x = F.pad(x, self.pad, mode=self.pad_mode)
            return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)
        return F.conv2d(
            x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups
        )


def script_depthwise(root: nn.Module) -> nn.Module:
    """Replace, inside ``root``, every depthwise :class:`_Conv` by its TorchScript (so a
    trace keeps its batch-1 branch); ``root`` itself when it is one."""
    if isinstance(root, _Conv) and root.unfold:
        return torch.jit.script(root)
    for name, child in list(root.named_children()):
        setattr(root, name, script_depthwise(child))
    return root


class _DenseDepthwise(nn.Module):
    """A depthwise convolution on a small map as one batched matrix product: channel c's
    convolution is a fixed ``H'W' x HW`` matrix (its columns: the convolution of each unit
    input), applied to the flattened map by ``torch.baddbmm`` over channels."""

    def __init__(self, conv: _Conv, height: int, width: int):
        super().__init__()
        c, q = conv.weight.shape[0], height * width
        unit = torch.eye(q, dtype=torch.float64).view(q, 1, height, width).expand(q, c, -1, -1)
        w = conv.weight.double()
        if conv.pad_mode != "zeros":  # reflect/circular/replicate padding is linear too
            unit = F.pad(unit, conv.pad, mode=conv.pad_mode)
        padding = 0 if conv.pad_mode != "zeros" else conv.padding
        out = F.conv2d(unit, w, None, conv.stride, padding, conv.dilation, c)
        self.out_size = (int(out.shape[-2]), int(out.shape[-1]))
        matrix = out.reshape(q, c, -1).permute(1, 2, 0)  # c x H'W' x HW
        self.register_buffer("matrix", matrix.float().contiguous())
        bias = torch.zeros(c) if conv.bias is None else conv.bias
        self.register_buffer("bias", bias.float().view(c, 1, 1).clone())

    def forward(self, x: Tensor) -> Tensor:
        n, c = x.shape[0], x.shape[1]
        y = torch.baddbmm(self.bias, self.matrix, x.reshape(n, c, -1).permute(1, 2, 0))
        return y.permute(2, 0, 1).reshape(n, c, self.out_size[0], self.out_size[1])


def densify_depthwise(
    root: nn.Module, run: Callable[[], object], max_positions: int = DENSE_DEPTHWISE_POSITIONS
) -> int:
    """Replace, inside ``root``, every depthwise convolution whose input map has at most
    ``max_positions`` positions by :class:`_DenseDepthwise`; ``run()`` runs ``root`` once
    so the map sizes can be recorded. Returns how many were replaced.

    Why: at batch 1 on a CPU a depthwise convolution costs ~50 us through oneDNN whatever
    its size (13 of them were more than half of MobileNet's level-1 exit), while the
    same map as one ``baddbmm`` takes 8-20 us on a 4 x 4 map. The price is work: the dense
    matrix multiplies every input position, not only the ``k x k`` window (16 / 9 of the
    MACs on a 4 x 4 map, 64 / 9 on 8 x 8, and the matrix is read as weights), so this is a
    latency choice for batch-1 CPU inference, not a device's energy; at batch 64 the full
    MobileNet was 12% slower. ``benchmarks/results/runtime_latency.md`` has the
    measurements (batch 1: MobileNet's full network 2.29 ms traced, 1.88 ms dense; its
    level-1 width exit 0.53 and 0.55 of those).
    """
    sizes: dict[str, tuple[int, int]] = {}

    def record(name: str, args: tuple) -> None:  # (a pre-hook's return value replaces args)
        sizes.setdefault(name, tuple(args[0].shape[-2:]))

    hooks = [
        m.register_forward_pre_hook(lambda _, args, name=name: record(name, args))
        for name, m in root.named_modules()
        if isinstance(m, _Conv) and m.depthwise
    ]
    try:
        with torch.no_grad():
            run()
    finally:
        for h in hooks:
            h.remove()
    replaced = 0
    for name, (height, width) in sizes.items():
        if height * width <= max_positions:
            parent, _, attr = name.rpartition(".")
            conv = root.get_submodule(name)
            setattr(root.get_submodule(parent), attr, _DenseDepthwise(conv, height, width))
            replaced += 1
    return replaced


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
            bias = None if b is None else b[lo:hi]
            ops.append(_Conv(w, bias, m, groups, depthwise=kind == "depthwise"))
            i += 2 if bn is not None else 1
            continue
        if kind == "bn":
            scale, shift = _bn_affine(m)
            ops.append(_Affine(scale[lo:hi], shift[lo:hi]))
        elif isinstance(m, nn.ReLU):
            ops.append(nn.ReLU())
        elif not isinstance(m, (nn.Dropout, nn.Identity)):
            # pooling, ReLU6, Upsample, PReLU: channel-wise; copied, so the runtime (frozen)
            # never shares a module with the user's network
            ops.append(copy.deepcopy(m))
        i += 1
    for j in range(len(ops) - 1):  # ReLU then max pool == max pool then ReLU, exactly
        if isinstance(ops[j], nn.ReLU) and isinstance(ops[j + 1], nn.MaxPool2d):
            ops[j], ops[j + 1] = ops[j + 1], ops[j]
    return ops


def full_ops(modules: nn.Sequential) -> list[nn.Module]:
    """Every layer of a plain feature sequence, BN folded."""
    layers = []
    for m in modules:
        # a batch norm not right after a conv is an affine of its own, on all its channels
        out = (
            m.out_channels
            if isinstance(m, nn.Conv2d)
            else m.num_features
            if isinstance(m, nn.BatchNorm2d)
            else 0
        )
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
            # skip_init: no random initial weights drawn (from the user's global generator)
            # for values overwritten at once
            linear = nn.utils.skip_init(nn.Linear, lin.in_features, lin.out_features)
            mods[0] = linear.requires_grad_(False)
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
