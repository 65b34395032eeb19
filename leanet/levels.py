"""Levels: a sequence of classifiers of increasing cost built from one pretrained network.

A :class:`Levels` object turns the flat ``features`` of a :class:`leanet.zoo.BaseNet` into
L feature extractors, level 1 the cheapest. Its contract:

- ``init_state(x)`` starts a computation on a batch `x` (`N x C x H x W`); nothing is
  computed yet.
- ``advance(state)`` computes the next level, reusing what the state holds, and returns the
  new state. Only the work that is new at that level is executed (and charged).
- ``feature_map(state)`` is the current level's last feature map, `N x C_k x H_k x W_k`.
- ``select(state, keep)`` keeps the rows `keep` (bool mask or long index) of every cached
  tensor, so later levels run only on undecided inputs.
- ``run_level(x, level)`` computes level `level` from scratch, without reuse. Incremental and
  standalone computations agree exactly (up to float rounding).

Levels are 1-based everywhere in the public API (level 1 = the cheapest, as in the paper).

Two constructions [Jayakodi2020]:

**Width levels** (:class:`WidthLevels`, the LEANet construction). Level k uses the first
``w_k = round(F_k * C)`` channels of every conv output (plain, depthwise, pointwise) and the
matching batch-norm channels; the image channels are never sliced. Three schemes:

- ``scheme="triangular"`` (``WidthLevels``' default; :func:`leanet.build` defaults to
  ``"hybrid"``, below): block-triangular channel growth. Output channels of
  band k (``[w_{k-1}, w_k)``) read input channels ``[0, w_k^in)`` only, so channels of
  earlier bands never read channels added later. Their values are therefore identical at
  every level, and level k+1 computes only its new band: exact reuse. A depthwise conv is
  diagonal, so its bands are exact without any mask. The pretrained weights are used as
  they are (never copied or changed), but the weights from newer input bands to older
  output bands are unused, so the last level is *not* the pretrained network, and the
  pretrained batch-norm statistics no longer describe the channels (their inputs lost the
  newer bands). Before recalibration the levels fell far short (``benchmarks/results/
  leanet_levels.md``: VGG-16 x0.25 last level 71.7% against 96.8% sliced, MobileNet x0.5
  57.3% against 85.9%). The study's recipe (:func:`leanet.batch_norm.recalibrate_batch_norm`,
  heads, then :func:`leanet.train.fine_tune` for a fixed number of epochs, for MobileNet
  with or without distillation, whichever validation prefers) brings ConvNet and VGG-16
  levels on MNIST to the full network's accuracy and MobileNet's within 0.3 points (0.969
  against 0.971, 40 epochs; ``benchmarks/results/leanet_seeds.md``, 3 seeds); on the 8x8
  digits the top level stays 0.4-2.4 points short, which is what the hybrid scheme is for.
  Fine-tuning is an explicit option, never silent.
- ``scheme="slice"``: level k is the plain first-``w_k``-channels slice (all cross
  connections). Level L is exactly the pretrained feature extractor and accuracy is kept,
  but nothing carries over between levels (an old channel of layer 2 reads new channels
  of layer 1), so continuing to level k+1 recomputes level k+1 in full, and is charged so.
- ``scheme="hybrid"``: levels 1..L-1 are triangular, level L is the unmodified pretrained
  feature extractor (a frozen copy taken when the levels are built, in ``pretrained``), run
  from the input. An input that reaches level L is charged levels 1..L-1 plus the full
  network, and level L with the pretrained classifier is the pretrained network exactly,
  so the LEANet loses nothing at its top while the triangular levels can be recalibrated
  and fine-tuned freely.

Batch norm after building: the pretrained running statistics describe channels that read
every input channel; a triangular channel reads fewer, so its statistics differ and must be
recomputed (:func:`leanet.batch_norm.recalibrate_batch_norm`; measured: VGG-16 on the 8x8 digits
scored 0.12-0.30 per level without it, 0.98 with it; but MobileNet x0.5 on MNIST with
heads on frozen features fell from 0.54 to 0.25, although the recomputed statistics match
the data's: its pointwise layers were trained on the other statistics' scale, and only
fine-tuning brings it back). In the triangular scheme a channel's
values do not depend on the level, so one set of statistics serves every level. Under
:meth:`WidthLevels.batch_norm_updates` the sliced batch norms normalize with batch
statistics and update the running ones, as ``nn.BatchNorm2d`` does in training mode.

**Depth levels** (:class:`DepthLevels`, early exits as in BranchyNet/SDN): level k is the
pretrained ``features`` up to the end of a chosen conv block; continuing runs only the
blocks between two exits. Reuse is exact and the last level is the pretrained extractor.

Cost unit: MACs (multiply-accumulates; FLOPs = 2 x MACs), as counted by
`torch.utils.flop_counter.FlopCounterMode` (convolutions and matrix products; batch norm,
ReLU and pooling are not counted).

[Jayakodi2020] Jayakodi, Belakaria, Deshwal, Doppa. ACM TECS 19(1), 2020.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "DEFAULT_FRACTIONS",
    "DepthLevels",
    "SCHEMES",
    "LevelState",
    "Levels",
    "WidthLevels",
    "check_fractions",
    "conv2d_like",
    "slice_width",
]

#: The paper's width fractions. A 6-level design from 0.35, which the design search liked on
#: one seed, measured no better over 3 (``benchmarks/results/leanet_fractions.md``).
DEFAULT_FRACTIONS: tuple[float, ...] = (0.5, 0.625, 0.75, 0.875, 1.0)
#: Width-level schemes (see the module docstring).
SCHEMES = ("triangular", "slice", "hybrid")

#: Layers that act on each channel alone, without weights: a band of channels in, the same
#: band out (element-wise activations, poolings).
_CHANNELWISE = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.ELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.Hardtanh,
    nn.Sigmoid,
    nn.Tanh,
    nn.MaxPool2d,
    nn.AvgPool2d,
    nn.Dropout,
    nn.Identity,
    nn.Upsample,
)


@dataclass
class LevelState:
    """What a computation has done so far on a batch.

    Attributes:
        level: Levels computed so far (0 = none).
        x: The input batch, `N x C x H x W`.
        acts: Cached activations (layout private to the :class:`Levels` that made it).
    """

    level: int
    x: Tensor
    acts: list[Tensor] = field(default_factory=list)


def conv2d_like(
    conv: nn.Conv2d, x: Tensor, weight: Tensor, bias: Tensor | None, groups: int = 1
) -> Tensor:
    """``conv``'s convolution with another (sliced or folded) ``weight`` and ``bias``,
    padded as ``conv`` pads: ``F.conv2d`` alone pads with zeros, whatever the layer's
    ``padding_mode`` ("reflect", "circular", "replicate" pad first, as ``nn.Conv2d`` does)."""
    if conv.padding_mode != "zeros":
        x = F.pad(x, conv._reversed_padding_repeated_twice, mode=conv.padding_mode)
        return F.conv2d(x, weight, bias, conv.stride, 0, conv.dilation, groups)
    return F.conv2d(x, weight, bias, conv.stride, conv.padding, conv.dilation, groups)


def _rows(t: Tensor, keep: Tensor) -> Tensor:
    return t[keep]


class Levels(nn.Module):
    """Base class: L feature extractors that share one pretrained ``features``.

    Subclasses implement :meth:`advance`, :meth:`feature_map` and :meth:`run_level` and set
    ``out_channels`` (the channel count `C_k` of each level's last feature map).
    """

    kind: str = ""
    out_channels: list[int]

    @property
    def num_levels(self) -> int:
        return len(self.out_channels)

    def config(self) -> dict:
        """Keyword arguments that rebuild these levels from the same ``features``."""
        raise NotImplementedError

    @property
    def standalone(self) -> tuple[bool, ...]:
        """Per level: are its features computed from the input alone (True), or from the
        previous level's (False)? A level that cannot answer (threshold 1.0) and that no
        later level reads need not run at all; the runtime and the cost model skip it."""
        return (False,) * self.num_levels

    def init_state(self, x: Tensor) -> LevelState:
        return LevelState(level=0, x=x)

    def advance(self, state: LevelState) -> LevelState:
        raise NotImplementedError

    def feature_map(self, state: LevelState) -> Tensor:
        raise NotImplementedError

    def run_level(self, x: Tensor, level: int) -> Tensor:
        raise NotImplementedError

    def select(self, state: LevelState, keep: Tensor) -> LevelState:
        return LevelState(state.level, _rows(state.x, keep), [_rows(a, keep) for a in state.acts])

    def _check_level(self, level: int) -> None:
        if not 1 <= level <= self.num_levels:
            raise ValueError(f"level must be in 1..{self.num_levels} (1-based), got {level}")


def slice_width(fraction: float, channels: int) -> int:
    """Channels that width fraction ``fraction`` keeps of ``channels``: ``max(1, round(F *
    C))``, Python's round (halves to even). The one rule for a width level's plain conv
    outputs and for the slimmable baseline's hidden units, so both compare equal widths."""
    return max(1, int(round(fraction * channels)))


def check_fractions(fractions: Sequence[float]) -> tuple[float, ...]:
    """Validate width fractions: strictly increasing, in (0, 1], last exactly 1.0."""
    fr = tuple(float(f) for f in fractions)
    if len(fr) < 1:
        raise ValueError("fractions must not be empty")
    if any(not (0.0 < f <= 1.0) for f in fr):
        raise ValueError(f"every fraction must be in (0, 1], got {fr}")
    if any(b <= a for a, b in zip(fr, fr[1:], strict=False)):
        raise ValueError(f"fractions must be strictly increasing, got {fr}")
    if fr[-1] != 1.0:
        raise ValueError(f"the last fraction must be 1.0 (the full network), got {fr[-1]}")
    return fr


@dataclass
class _Layer:
    """One layer of ``features`` with its per-level input/output widths (index 0 = none)."""

    module: nn.Module
    kind: str  # "conv", "depthwise", "bn" or "channelwise"
    w_in: list[int]
    w_out: list[int]


class WidthLevels(Levels):
    """Width levels: level k uses the first F_k of the channels of every layer.

    Args:
        features: The pretrained flat ``features`` (shared, not copied; weights are read by
            slicing, never duplicated).
        in_channels: Image channels (never sliced).
        fractions: F_1 < ... < F_L = 1.0; default :data:`DEFAULT_FRACTIONS`.
        scheme: ``"triangular"`` (exact reuse, default), ``"slice"`` (recompute) or
            ``"hybrid"`` (triangular levels below the pretrained network); see the module
            docstring for what each costs.

    Batch norm uses its running statistics (sliced per channel), so a level's output does
    not depend on the other inputs of the batch, except under :meth:`batch_norm_updates`.
    """

    kind = "width"

    def __init__(
        self,
        features: nn.Sequential,
        *,
        in_channels: int,
        fractions: Sequence[float] = DEFAULT_FRACTIONS,
        scheme: str = "triangular",
    ) -> None:
        super().__init__()
        if scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
        self.features = features
        self.in_channels = in_channels
        self.fractions = check_fractions(fractions)
        self.scheme = scheme
        # Momentum of batch-norm updates; None: normalize with the running statistics.
        self.bn_momentum: float | None = None
        if scheme == "hybrid":
            if len(self.fractions) < 2:
                raise ValueError("the hybrid scheme needs at least 2 levels")
            # A frozen copy: recalibrating or fine-tuning `features` must not change it.
            self.pretrained = copy.deepcopy(features).eval().requires_grad_(False)
        self.layers = self._plan()
        self.out_channels = self.layers[-1].w_out[1:] if self.layers else [in_channels]
        for k, f in enumerate(self.fractions[:-1]):
            if self.out_channels[k] == self.out_channels[k + 1]:
                raise ValueError(
                    f"fractions {self.fractions}: levels {k + 1} and {k + 2} round to the same "
                    f"width ({self.out_channels[k]} channels at F={f}); use fewer levels or a "
                    "wider network"
                )

    def config(self) -> dict:
        return dict(kind="width", fractions=list(self.fractions), scheme=self.scheme)

    @property
    def standalone(self) -> tuple[bool, ...]:
        if self.scheme == "slice":  # every level recomputes from the input
            return (True,) * self.num_levels
        # the hybrid's top level is the pretrained network on the input
        return (False,) * (self.num_levels - 1) + (self.scheme == "hybrid",)

    @property
    def shared_levels(self) -> int:
        """Levels computed by the shared ``features`` (all but the pretrained top level of
        the hybrid scheme); the highest of them uses every channel they ever touch."""
        return self.num_levels - 1 if self.scheme == "hybrid" else self.num_levels

    def train(self, mode: bool = True) -> WidthLevels:
        super().train(mode)
        if self.scheme == "hybrid":
            self.pretrained.eval()  # the pretrained top level is never trained
        return self

    @contextlib.contextmanager
    def batch_norm_updates(self, momentum: float = 0.1) -> Iterator[None]:
        """Inside, the sliced batch norms normalize with the batch's statistics and update
        their running statistics by ``running = (1 - momentum) * running + momentum * batch``
        (``nn.BatchNorm2d`` in training mode). ``momentum`` may be changed between batches
        through :attr:`bn_momentum` (``1 / (b + 1)`` at batch ``b`` gives the exact mean
        over batches)."""
        previous = self.bn_momentum
        self.bn_momentum = float(momentum)
        try:
            yield
        finally:
            self.bn_momentum = previous

    def _plan(self) -> list[_Layer]:
        n_levels = len(self.fractions)
        width = [0] + [self.in_channels] * n_levels  # current per-level widths, 0 = no level
        full = self.in_channels
        layers: list[_Layer] = []
        for m in self.features:
            if isinstance(m, nn.Conv2d):
                if m.in_channels != full:
                    raise ValueError(f"{m}: expects {m.in_channels} input channels, has {full}")
                if m.groups == 1:
                    kind = "conv"
                    out = [0] + [slice_width(f, m.out_channels) for f in self.fractions]
                elif m.groups == m.in_channels == m.out_channels:
                    kind, out = "depthwise", list(width)
                else:
                    raise NotImplementedError(f"grouped conv {m} (only plain and depthwise)")
                layers.append(_Layer(m, kind, list(width), out))
                width, full = out, m.out_channels
            elif isinstance(m, nn.BatchNorm2d):
                layers.append(_Layer(m, "bn", list(width), list(width)))
            elif isinstance(m, _CHANNELWISE):
                layers.append(_Layer(m, "channelwise", list(width), list(width)))
            else:
                raise TypeError(
                    f"WidthLevels cannot slice {type(m).__name__}; features must be a flat "
                    "sequence of Conv2d, BatchNorm2d, element-wise activations without "
                    "weights and pooling (depth levels take any layer)"
                )
        return layers

    # -- one layer on a channel band ------------------------------------------------------
    def _band(self, layer: _Layer, x: Tensor, lo: int, hi: int, in_hi: int) -> Tensor:
        """Output channels [lo, hi) of `layer`, reading input channels [0, in_hi) of `x`
        (for channel-wise layers and depthwise convs: input channels [lo, hi))."""
        m = layer.module
        if layer.kind == "conv":
            w = m.weight[lo:hi, :in_hi]
            b = None if m.bias is None else m.bias[lo:hi]
            return conv2d_like(m, x[:, :in_hi], w, b)
        xb = x[:, lo:hi]
        if layer.kind == "depthwise":
            b = None if m.bias is None else m.bias[lo:hi]
            return conv2d_like(m, xb, m.weight[lo:hi], b, hi - lo)
        if layer.kind == "bn":
            # The running-statistic slices are views: a training-mode update writes through.
            return F.batch_norm(
                xb,
                m.running_mean[lo:hi],
                m.running_var[lo:hi],
                None if m.weight is None else m.weight[lo:hi],
                None if m.bias is None else m.bias[lo:hi],
                training=self.bn_momentum is not None,
                momentum=self.bn_momentum or 0.0,
                eps=m.eps,
            )
        return m(xb)

    # -- Levels API -----------------------------------------------------------------------
    def run_level(self, x: Tensor, level: int) -> Tensor:
        """Level `level` alone, from scratch: `N x C x H x W` -> `N x C_k x H_k x W_k`.

        Executes what a network of that level alone would: the dense slice (``"slice"``),
        the pretrained network (level L of ``"hybrid"``), or the triangular bands 1..level
        one after the other, so no masked-out weight is ever multiplied (and charged)."""
        self._check_level(level)
        if self.scheme == "slice":
            for layer in self.layers:
                x = self._band(layer, x, 0, layer.w_out[level], layer.w_in[level])
            return x
        if level > self.shared_levels:
            return self.pretrained(x)
        state = self.init_state(x)
        for _ in range(level):
            state = self.advance(state)
        return self.feature_map(state)

    def advance(self, state: LevelState) -> LevelState:
        """Compute level ``state.level + 1``. Triangular: only the new channel band of every
        layer, on top of the cached activations. Slice: the whole level again."""
        k = state.level + 1
        self._check_level(k)
        if self.scheme == "slice":
            return LevelState(k, state.x, [self.run_level(state.x, k)])
        if k > self.shared_levels:  # the hybrid's pretrained top level, from the input
            return LevelState(k, state.x, [self.pretrained(state.x)])
        x = state.x
        acts: list[Tensor] = []
        for i, layer in enumerate(self.layers):
            old = state.acts[i] if state.acts else None
            lo, hi = layer.w_out[k - 1], layer.w_out[k]
            if hi > lo:
                new = self._band(layer, x, lo, hi, layer.w_in[k])
                out = new if old is None else torch.cat([old, new], dim=1)
            else:  # no new channels in this layer (e.g. the unsliced input resize)
                out = old if old is not None else self._band(layer, x, 0, hi, layer.w_in[k])
            acts.append(out)
            x = out
        return LevelState(k, state.x, acts)

    def feature_map(self, state: LevelState) -> Tensor:
        if state.level == 0:
            raise ValueError("no level computed yet; call advance() first")
        return state.acts[-1]


class DepthLevels(Levels):
    """Depth levels (early exits): level k ends after conv block ``exits[k-1]``.

    Args:
        features: The pretrained flat ``features`` (shared, not copied).
        exits: 1-based indices of the conv layers after whose block a level ends (a block
            runs from a conv up to the next conv); increasing, the last must be the last
            conv. Default: `num_levels` blocks spread evenly over the convs.
        num_levels: Used when `exits` is None (default 4).
    """

    kind = "depth"

    def __init__(
        self,
        features: nn.Sequential,
        *,
        exits: Sequence[int] | None = None,
        num_levels: int = 4,
    ) -> None:
        super().__init__()
        self.features = features
        conv_pos = [i for i, m in enumerate(features) if isinstance(m, nn.Conv2d)]
        n_conv = len(conv_pos)
        if exits is None:
            if not 1 <= num_levels <= n_conv:
                raise ValueError(
                    f"num_levels must be in 1..{n_conv}, got {num_levels}: {_exits_note(features)}"
                )
            exits = [int(round(n_conv * (k + 1) / num_levels)) for k in range(num_levels)]
        exits = [int(e) for e in exits]
        if any(b <= a for a, b in zip(exits, exits[1:], strict=False)) or not exits:
            raise ValueError(f"exits must be strictly increasing, got {exits}")
        if exits[0] < 1 or exits[-1] != n_conv:
            raise ValueError(
                f"exits must lie in 1..{n_conv} and end at {n_conv}, got {exits}: "
                f"{_exits_note(features)}"
            )
        self.exits = exits
        # A level ends where the next block's conv starts (or at the end of features).
        self.cuts = [0] + [conv_pos[e] if e < n_conv else len(features) for e in exits]
        self.out_channels = [features[conv_pos[e - 1]].out_channels for e in exits]

    def config(self) -> dict:
        return dict(kind="depth", exits=list(self.exits))

    def _run(self, x: Tensor, start: int, stop: int) -> Tensor:
        for m in self.features[start:stop]:
            x = m(x)
        return x

    def run_level(self, x: Tensor, level: int) -> Tensor:
        self._check_level(level)
        return self._run(x, 0, self.cuts[level])

    def advance(self, state: LevelState) -> LevelState:
        k = state.level + 1
        self._check_level(k)
        x = state.acts[0] if state.acts else state.x
        return LevelState(k, state.x, [self._run(x, self.cuts[k - 1], self.cuts[k])])

    def feature_map(self, state: LevelState) -> Tensor:
        if state.level == 0:
            raise ValueError("no level computed yet; call advance() first")
        return state.acts[0]


def _exits_note(features: nn.Sequential) -> str:
    """Why ``features`` has so few exits: a ResNet's children gave "num_levels must be in
    1..1" without saying that nested blocks (layer1..layer4) hold their convolutions."""
    n_conv = sum(isinstance(m, nn.Conv2d) for m in features)
    nested = [
        i
        for i, m in enumerate(features)
        if not isinstance(m, nn.Conv2d) and any(isinstance(c, nn.Conv2d) for c in m.modules())
    ]
    note = f"features has {n_conv} top-level Conv2d (exits come only after those)"
    if nested:
        note += f"; the nested blocks at positions {nested} count as one layer each"
    return note
