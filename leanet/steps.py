"""The level steps of :mod:`leanet.runtime` and the plan that turns a LEANet into them.

Step k does exactly the work that is new at level k and returns head k's logits and
confidence (see :mod:`leanet.runtime` for the scheme-by-scheme description); its ``body``
method does the same work without the head, for a level that cannot answer (threshold 1.0)
but that the next level reads:

- :class:`_BandStep` (width levels, triangular): every segment writes its new channel band
  into a preallocated buffer, so no layer is re-run and no activation copied;
- :class:`_ChainStep` (depth levels): the next blocks on the previous step's map;
- :class:`_ScratchStep`: a level computed from the input alone (the slice scheme, the
  hybrid's pretrained top level).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from leanet.confidence import confidence
from leanet.folding import band_ops, fold_head, full_ops
from leanet.zoo import image_shape

__all__ = ["plan"]


# -- steps ---------------------------------------------------------------------------------
class _Segment(nn.Module):
    """Band ``[lo, hi)`` of the layers from one plain conv up to the next: reads channels
    ``[0, in_hi)`` of its source, writes its result into ``[lo, hi)`` of its destination
    buffer (through the closing ReLU's ``out=`` when there is one, else a copy). It is
    handed those two views (see :class:`_BandStep`), so it slices nothing itself."""

    def __init__(
        self,
        src: int,
        in_hi: int,
        ops: list[nn.Module],
        dst: int,
        lo: int,
        hi: int,
        *,
        src_width: int,
    ):
        super().__init__()
        self.relu_write = bool(ops) and isinstance(ops[-1], nn.ReLU)
        self.ops = nn.Sequential(*(ops[:-1] if self.relu_write else ops))
        self.src, self.in_hi, self.dst, self.lo, self.hi = src, in_hi, dst, lo, hi
        self.read_all = in_hi == src_width

    def forward(self, src: Tensor, dst: Tensor) -> None:
        h = self.ops(src)
        if self.relu_write:
            torch.clamp_min(h, 0.0, out=dst)
        else:
            dst.copy_(h)


class _BandStep(nn.Module):
    """Triangular level k: each segment's new band, then head k on the last buffer.

    Called as ``step(x, *views)``: the views of the band buffers it reads and writes, in
    the order of :meth:`view_specs`, which the runtime makes once per batch size. A view
    made inside the traced graph costs about 0.6 us per call (``narrow``): the level-1 step
    of the 8x8 ConvNet made 12 of them, and handed its views its exit went from 0.61x to
    0.56x of the full network (``benchmarks/results/leanet_seeds.md``, its note)."""

    call = "band"

    def __init__(
        self, segments: list[_Segment], head: nn.Module, width: int, kind: str, *, last: int
    ):
        super().__init__()
        self.segments, self.head, self.width, self.kind = nn.ModuleList(segments), head, width, kind
        self.last = last

    def view_specs(self) -> list[tuple[int, int, int]]:
        """``(buffer, lo, hi)`` of every view the step takes, in call order: per segment
        its source (unless the input) and its destination band, then the head's input."""
        specs = []
        for seg in self.segments:
            if seg.src >= 0:
                specs.append((seg.src, 0, seg.in_hi))
            specs.append((seg.dst, seg.lo, seg.hi))
        return [*specs, (self.last, 0, self.width)]

    def body(self, x: Tensor, *views: Tensor) -> Tensor:
        """Every segment's new band, no head; returns the view the head would read."""
        i = 0
        for seg in self.segments:
            if seg.src < 0:
                src = x if seg.read_all else x.narrow(1, 0, seg.in_hi)
            else:
                src, i = views[i], i + 1
            seg(src, views[i])
            i += 1
        return views[i]

    def forward(self, x: Tensor, *views: Tensor) -> tuple[Tensor, Tensor]:
        logits = self.head(self.body(x, *views))
        return logits, confidence(logits, self.kind)


class _ChainStep(nn.Module):
    """Depth level k (or a whole level from the input): layers, then the head.
    Returns (logits, confidence, feature map); ``body`` returns the feature map alone."""

    call = "chain"

    def __init__(self, ops: list[nn.Module], head: nn.Module, kind: str):
        super().__init__()
        self.ops, self.head, self.kind = nn.Sequential(*ops), head, kind

    def body(self, h: Tensor) -> Tensor:
        return self.ops(h)

    def forward(self, h: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        h = self.body(h)
        logits = self.head(h)
        return logits, confidence(logits, self.kind), h


class _ScratchStep(_ChainStep):
    """A level computed from the input alone (``"slice"`` levels, the hybrid's top)."""

    call = "scratch"


# -- planning ------------------------------------------------------------------------------
def _map_sizes(features: nn.Sequential, input_shape: Sequence[int]) -> list[tuple[int, int]]:
    """(H, W) after each layer of `features` for one input of `input_shape`."""
    sizes, h = [], torch.zeros(1, *input_shape)
    with torch.no_grad():
        for m in features:
            h = m(h)
            sizes.append(tuple(h.shape[-2:]))
    return sizes


def _band_steps(net, n_levels: int, input_shape) -> tuple[list[_BandStep], list[tuple]]:
    """Steps 1..n_levels of the triangular scheme and the buffer shapes (no batch dim)."""
    layers = net.levels.layers
    sizes = _map_sizes(net.levels.features, input_shape)
    convs = [i for i, layer in enumerate(layers) if layer.kind == "conv"]
    # Segment s covers layers [starts[s], starts[s+1]); buffer s feeds conv s (or the head).
    starts = ([0] if convs[0] > 0 else []) + convs
    bounds = list(zip(starts, starts[1:] + [len(layers)], strict=True))
    # Buffer s holds segment s's output, as wide as the top level uses.
    shapes = [(layers[b - 1].w_out[n_levels], *sizes[b - 1]) for _, b in bounds]
    last = layers[-1]
    steps = []
    for k in range(1, n_levels + 1):
        segs = []
        for s, (a, b) in enumerate(bounds):
            lo, hi = layers[b - 1].w_out[k - 1], layers[b - 1].w_out[k]
            if k > 1 and hi <= lo:
                continue  # no new channels here (e.g. the resized input)
            band = [(layer.module, layer.kind, lo, hi, layer.w_in[k]) for layer in layers[a:b]]
            src = s - 1  # -1: the input itself
            in_hi = layers[a].w_in[k] if layers[a].kind == "conv" else input_shape[0]
            src_width = input_shape[0] if src < 0 else shapes[src][0]
            segs.append(
                _Segment(
                    src,
                    in_hi,
                    band_ops(band),
                    s,
                    lo,
                    hi,
                    src_width=src_width,
                )
            )
        head = fold_head(net.heads[k - 1], sizes[-1][-1])
        steps.append(_BandStep(segs, head, last.w_out[k], net.confidence, last=len(shapes) - 1))
    return steps, shapes


def plan(net) -> tuple[list[nn.Module], list[tuple]]:
    """The eager steps of `net` and the buffer shapes the band steps write."""
    input_shape = image_shape(net.base.config)
    lv, num_levels = net.levels, net.num_levels
    features = lv.features
    if lv.kind == "depth":
        sizes = _map_sizes(features, input_shape)
        steps = [
            _ChainStep(
                full_ops(features[lv.cuts[k - 1] : lv.cuts[k]]),
                fold_head(net.heads[k - 1], sizes[lv.cuts[k] - 1][-1]),
                net.confidence,
            )
            for k in range(1, num_levels + 1)
        ]
        return steps, []
    scheme = getattr(lv, "scheme", "triangular")
    if scheme == "slice":
        sizes = _map_sizes(features, input_shape)
        steps = []
        for k in range(1, num_levels + 1):
            band = [(x.module, x.kind, 0, x.w_out[k], x.w_in[k]) for x in lv.layers]
            steps.append(
                _ScratchStep(
                    band_ops(band), fold_head(net.heads[k - 1], sizes[-1][-1]), net.confidence
                )
            )
        return steps, []
    hybrid = scheme == "hybrid"
    if hybrid and not isinstance(getattr(lv, "pretrained", None), nn.Sequential):
        raise ValueError("a hybrid scheme needs levels.pretrained, the pretrained features")
    if scheme not in ("triangular", "hybrid"):
        raise ValueError(f"unknown width scheme {scheme!r}")
    shared = num_levels - 1 if hybrid else num_levels
    steps, shapes = _band_steps(net, shared, input_shape)
    if hybrid:
        top = lv.pretrained
        size = _map_sizes(top, input_shape)[-1][-1]
        steps.append(_ScratchStep(full_ops(top), fold_head(net.heads[-1], size), net.confidence))
    return steps, shapes
