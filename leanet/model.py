"""The LEANet: levels of a pretrained network, one head per level, adaptive inference.

An input runs level 1, then level 2, ... and stops at the first level i whose confidence
reaches the threshold T_i; the last level always answers [Jayakodi2020]. In a batch, each
level runs only on the inputs still undecided, continuing from what the previous level
computed (see :mod:`leanet.levels` for what reuse means under each scheme).

Levels are numbered 1..L (1 = cheapest); ``exit_level`` values are 1-based too.

Threshold rule: input n exits at level i < L when ``conf_i(n) >= T_i`` and ``T_i < 1``.
``T_i = 0`` always exits; ``T_i = 1`` never exits (a float32 softmax saturates to exactly
1.0 for confident inputs, so "confidence >= 1" would still exit some: 1 is reserved to
mean "never"). T has length L - 1 and lies in [0, 1].

Costs are MACs (multiply-accumulates, FLOPs / 2) counted with
`torch.utils.flop_counter.FlopCounterMode` on the code that actually runs.

[Jayakodi2020] Jayakodi, Belakaria, Deshwal, Doppa. ACM TECS 19(1), 2020.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from leanet.confidence import CONFIDENCES, confidence
from leanet.data import check_one_split
from leanet.data_items import as_tensor_or_refuse, check_first_pair, shown
from leanet.device import evaluating  # in leanet.device so leanet.zoo can use it too
from leanet.levels import DEFAULT_FRACTIONS, DepthLevels, Levels, WidthLevels
from leanet.zoo import (
    BaseNet,
    build_base,
    check_base,
    check_float32,
    from_torchvision,
    image_shape,
)

__all__ = ["Decision", "Head", "LEANet", "LevelOutputs", "PretrainedHead", "build", "count_macs"]


class Decision(NamedTuple):
    """Result of adaptive inference on `N` inputs."""

    prediction: Tensor  # N, long: predicted class
    exit_level: Tensor  # N, long: 1-based level that answered


class LevelOutputs(NamedTuple):
    """Every level's output for every input (no early exit)."""

    logits: Tensor  # L x N x num_classes
    confidence: Tensor  # L x N, in [0, 1]


class Head(nn.Module):
    """A level's classifier: `N x C x H x W` feature map -> `N x num_classes` logits.

    Average-pools the map to at most ``pool x pool`` cells (maps already that small are
    kept as they are), flattens, standardizes with a batch norm, then an MLP
    (``hidden=0``: a single linear layer). Keeping a few spatial cells and standardizing
    matters for the narrow levels: measured on the bundled MNIST digits, level 1 of the
    ConvNet reaches 36% with a global-average-pooled MLP head and 95% with this one.

    Args:
        in_channels: C of the level's last feature map.
        map_size: H (= W) of that map.
        num_classes: Output classes.
        hidden: Hidden width of the MLP.
        pool: Largest pooled grid side.
    """

    def __init__(
        self, in_channels: int, map_size: int, num_classes: int, *, hidden: int = 0, pool: int = 4
    ) -> None:
        super().__init__()
        if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 0:
            # -1 built a linear head, as 0 does, without a word
            raise ValueError(f"head_hidden must be an int >= 0 (0: linear head), got {hidden!r}")
        side = min(map_size, pool)
        self.pool = nn.AdaptiveAvgPool2d(side)
        features = in_channels * side * side
        if hidden > 0:
            layers = [nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, num_classes)]
        else:
            layers = [nn.Linear(features, num_classes)]
        self.mlp = nn.Sequential(nn.BatchNorm1d(features), *layers)

    def pooled(self, feature_map: Tensor) -> Tensor:
        """`N x C x H x W` -> `N x (C * side * side)` flattened pooled features."""
        return torch.flatten(self.pool(feature_map), 1)

    def forward(self, feature_map: Tensor) -> Tensor:
        return self.mlp(self.pooled(feature_map))


class PretrainedHead(nn.Module):
    """The pretrained network's own classifier as a level's head (the hybrid scheme's top
    level): the network's pooling (global average by default; torchvision's VGG pools to
    7 x 7), flatten, ``classifier``. Frozen: training never changes it.
    """

    def __init__(self, classifier: nn.Module, pool: nn.Module | None = None) -> None:
        super().__init__()
        self.classifier = classifier
        self.pool = pool if pool is not None else nn.AdaptiveAvgPool2d(1)
        self.requires_grad_(False)

    def pooled(self, feature_map: Tensor) -> Tensor:
        return torch.flatten(self.pool(feature_map), 1)

    def forward(self, feature_map: Tensor) -> Tensor:
        return self.classifier(self.pooled(feature_map))

    def train(self, mode: bool = True) -> PretrainedHead:
        return super().train(False)  # dropout or batch norm in a classifier stays as trained


def count_macs(fn, *args: Any, **kwargs: Any) -> tuple[Any, int]:
    """Run ``fn(*args, **kwargs)`` under FlopCounterMode; return (result, MACs = FLOPs/2)."""
    with FlopCounterMode(display=False) as counter:
        out = fn(*args, **kwargs)
    return out, int(counter.get_total_flops()) // 2


class LEANet(nn.Module):
    """A pretrained base network with L levels and a head per level.

    Args:
        base: The network whose ``features`` the levels share. Recalibration and
            fine-tuning change those features, so afterwards ``base`` alone is not the
            pretrained network (a hybrid LEANet's top level is; ``build(copy=True)`` keeps
            the caller's network).
        levels: A :class:`leanet.levels.Levels` over ``base.features``.
        heads: L heads (:class:`Head`), head k reading level k's last feature map.
        confidence: Name in :data:`leanet.confidence.CONFIDENCES`.
        head_hidden: Hidden width of the heads (kept for rebuilding from a checkpoint).

    The backbone's batch norms always use their running statistics: ``train()`` switches
    only the heads to training mode.
    """

    def __init__(
        self,
        base: BaseNet,
        levels: Levels,
        heads: Sequence[nn.Module],
        *,
        confidence: str = "max_softmax",
        head_hidden: int = 0,
    ) -> None:
        super().__init__()
        if len(heads) != levels.num_levels:
            raise ValueError(f"{len(heads)} heads for {levels.num_levels} levels")
        if confidence not in CONFIDENCES:
            raise ValueError(
                f"unknown confidence {confidence!r}; choose from {sorted(CONFIDENCES)}"
            )
        self.base = base
        self.levels = levels
        self.heads = nn.ModuleList(heads)
        self.confidence = confidence
        self.head_hidden = head_hidden
        self.eval()  # inference by default; training code switches heads to train mode

    # -- configuration --------------------------------------------------------------------
    @property
    def num_levels(self) -> int:
        return self.levels.num_levels

    @property
    def num_classes(self) -> int:
        return int(self.base.config["num_classes"])

    def config(self) -> dict[str, Any]:
        """Everything :meth:`from_config` needs to rebuild this LEANet (untrained)."""
        return dict(
            base=dict(self.base.config),
            levels=self.levels.config(),
            confidence=self.confidence,
            head_hidden=self.head_hidden,
        )

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LEANet:
        """A LEANet of this config with random weights, for a checkpoint's to replace;
        drawn from a fork of torch's global generator, so that saving or loading a network
        does not change a seeded script's later draws."""
        base_cfg = dict(config["base"])
        arch = base_cfg.pop("arch")
        with torch.random.fork_rng(devices=[]):
            if arch.startswith("torchvision:"):
                base = from_torchvision(
                    arch.removeprefix("torchvision:"),
                    num_classes=int(base_cfg.get("num_classes", 1000)),
                    input_size=int(base_cfg.get("input_size", 224)),
                )
            else:
                base = build_base(arch, **base_cfg)
        lv = dict(config["levels"])
        kind = lv.pop("kind")
        # copy=True: the base built here is the network's own, so a hybrid's top head shares
        # its classifier (a file saved with two equal copies loads into the one)
        return build(
            base,
            levels=kind,
            copy=True,
            confidence=config["confidence"],
            head_hidden=config["head_hidden"],
            **lv,
        )

    def train(self, mode: bool = True) -> LEANet:
        super().train(mode)
        self.base.eval()
        return self

    # -- thresholds -----------------------------------------------------------------------
    def check_thresholds(self, thresholds: Sequence[float] | Tensor) -> Tensor:
        """Validate T: a length L-1 vector in [0, 1] without NaN; returns it as float64.

        Raises:
            ValueError: naming what is wrong (shape, length, NaN, range).
        """
        need = self.num_levels - 1
        try:
            t = torch.as_tensor(thresholds, dtype=torch.float64).detach().cpu()
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(
                f"thresholds must be {need} numbers in [0, 1] (a list, array or tensor), "
                f"got {shown(thresholds)}"
            ) from err
        if t.ndim != 1:
            raise ValueError(
                f"thresholds must be a 1-D vector of length {need}, got shape {tuple(t.shape)}"
            )
        if t.numel() != need:
            raise ValueError(
                f"thresholds must have length L-1 = {need} (one per level but the last, which "
                f"always answers), got {t.numel()}"
            )
        nan = torch.isnan(t)
        if nan.any():
            where = nan.nonzero().flatten().tolist()
            raise ValueError(f"thresholds contain NaN at positions {where}")
        bad = (t < 0) | (t > 1)
        if bad.any():
            raise ValueError(
                f"thresholds must lie in [0, 1]; got {t[bad].tolist()} at positions "
                f"{bad.nonzero().flatten().tolist()}"
            )
        return t

    # -- inference ------------------------------------------------------------------------
    @torch.no_grad()
    def forward(self, x: Tensor, thresholds: Sequence[float] | Tensor) -> Decision:
        """Adaptive inference.

        Args:
            x: `N x C x H x W` standardized images.
            thresholds: T, length L-1, in [0, 1] (see the module docstring for the rule).

        Returns:
            :class:`Decision` with `N`-dim ``prediction`` and 1-based ``exit_level``.
            Level k runs (incrementally) only on the inputs undecided after level k-1.

        Raises:
            RuntimeError: In training mode: the heads' batch norm would use (and update)
                the statistics of each level's undecided inputs, so the exits were not the
                evaluator's and inference changed the model.
        """
        if self.training:
            raise RuntimeError(
                "LEANet(x, thresholds) is inference: call net.eval() first (in training mode "
                "the heads' batch norm would use and update the statistics of each batch)"
            )
        t = self.check_thresholds(thresholds).tolist()
        x = self._check_images(x)
        n = x.shape[0]
        prediction = torch.empty(n, dtype=torch.long, device=x.device)
        exit_level = torch.empty(n, dtype=torch.long, device=x.device)
        active = torch.arange(n, device=x.device)
        state = self.levels.init_state(x)
        for k in range(1, self.num_levels + 1):
            if active.numel() == 0:
                break
            state = self.levels.advance(state)
            logits = self.heads[k - 1](self.levels.feature_map(state))
            if k == self.num_levels:
                done = torch.ones(active.numel(), dtype=torch.bool, device=x.device)
            elif t[k - 1] >= 1.0:
                done = torch.zeros(active.numel(), dtype=torch.bool, device=x.device)
            else:
                c = confidence(logits, self.confidence)
                if torch.isnan(c).any():  # finite images (checked), so the network
                    nan_confidence(x, k)
                done = c >= t[k - 1]
            prediction[active[done]] = logits[done].argmax(dim=-1)
            exit_level[active[done]] = k
            if k < self.num_levels and done.any():
                keep = ~done
                active = active[keep]
                state = self.levels.select(state, keep)
        return Decision(prediction, exit_level)

    def check_data(self, dataset: Any, what: str) -> None:
        """Refuse a data set whose images the network was not built for, or whose labels
        are not class indices (checked on its first pair), before ``what`` (e.g.
        "fit_heads") works on it: other sizes ran and built tables for images the runtime
        then refuses, width levels read only the first channels of a 3-channel image, and
        labels of 2.999999 were truncated to class 2."""
        check_float32(self, f"{what}: the network")
        check_one_split(dataset, what)
        if len(dataset) == 0:
            raise ValueError(f"{what}: the data set is empty")
        image = check_first_pair(dataset, what, shape=image_shape(self.base.config))
        try:
            check_finite_images(image[None])
        except ValueError as err:
            raise ValueError(f"{what}: the data set's images do not fit: {err}") from err

    def _check_images(self, x: Any) -> Tensor:
        """``x`` as an `N x C x H x W` tensor of the network's float dtype, or an error that
        names what the network was built for and what was given (a wrong channel count or
        size would otherwise run and answer wrongly). Float arrays of any kind are converted
        once, here; integer images are refused: they are not standardized."""
        param = next(self.parameters())
        x = as_tensor_or_refuse(x, "x must be an N x C x H x W float tensor or array")
        if not x.is_floating_point():
            raise TypeError(
                f"x must hold standardized float images, got dtype {x.dtype}; convert and "
                "normalize it as the training data was (e.g. x.float() / 255, then the "
                "data set's mean and std)"
            )
        c = self.base.config.get("in_channels")
        size = self.base.config.get("input_size")
        built = f"{c} x {size} x {size}" if c and size else "its input shape"
        if x.dim() != 4:
            raise ValueError(
                f"x must be a batch N x C x H x W (the network was built for N x {built}), "
                f"got shape {tuple(x.shape)}"
                + ("; add the batch dimension with x.unsqueeze(0)" if x.dim() == 3 else "")
            )
        if c is not None and x.shape[1] != int(c):
            raise ValueError(
                f"x has {x.shape[1]} channels, the network was built for {c} "
                f"(N x {built}), got shape {tuple(x.shape)}"
            )
        if size is not None and tuple(x.shape[2:]) != (int(size), int(size)):
            raise ValueError(
                f"x has images of {x.shape[2]} x {x.shape[3]} px, the network was built for "
                f"{size} x {size} (N x {built}), got shape {tuple(x.shape)}"
            )
        check_finite_images(x)
        return x.to(device=param.device, dtype=param.dtype)

    def level_features(self, x: Tensor, *, upto: int | None = None) -> list[Tensor]:
        """Every level's last feature map, computed incrementally in one pass:
        L tensors `N x C_k x H_k x W_k` (levels 1..`upto` only, if given).
        Differentiable (used for fine-tuning)."""
        state = self.levels.init_state(x)
        maps = []
        for _ in range(self.num_levels if upto is None else upto):
            state = self.levels.advance(state)
            maps.append(self.levels.feature_map(state))
        return maps

    @torch.no_grad()
    def level_outputs(self, x: Tensor) -> LevelOutputs:
        """Every level's logits and confidence for all inputs in one incremental pass:
        logits `L x N x num_classes`, confidence `L x N`. A threshold evaluator caches these.
        Inference: in eval mode whatever the network's (in training mode the heads' batch
        norm would use and update each batch's statistics); the modes are restored after."""
        check_float32(self, "level_outputs: the network")
        with evaluating(self):
            logits = torch.stack(
                [head(f) for head, f in zip(self.heads, self.level_features(x), strict=True)]
            )
        return LevelOutputs(logits, confidence(logits, self.confidence))

    @torch.no_grad()
    def level_macs(
        self, input_shape: Sequence[int] | None = None, *, heads: bool = True
    ) -> list[int]:
        """Incremental MACs per input of each level: entry k-1 is the work to go from level
        k-1 to level k (backbone band, plus head k when `heads`), counted with
        FlopCounterMode on the real incremental code. The cost of an input that exits at
        level k is the sum of entries 0..k-1 (see :meth:`cumulative_macs`).

        Args:
            input_shape: `C x H x W` of one input; default from the base network's config.
        """
        if input_shape is None:
            input_shape = image_shape(self.base.config)
        x = torch.zeros(1, *input_shape, device=next(self.parameters()).device)
        macs = []
        with evaluating(self):
            state = self.levels.init_state(x)
            for k in range(self.num_levels):
                state, m = count_macs(self.levels.advance, state)
                if heads:
                    _, mh = count_macs(self.heads[k], self.levels.feature_map(state))
                    m += mh
                macs.append(m)
        return macs

    def cumulative_macs(
        self, input_shape: Sequence[int] | None = None, *, heads: bool = True
    ) -> list[int]:
        """MACs per input that exits at level k (k = 1..L): the running sum of
        :meth:`level_macs`."""
        return list(itertools.accumulate(self.level_macs(input_shape, heads=heads)))


def build(
    base: BaseNet,
    *,
    levels: str = "width",
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    scheme: str = "hybrid",
    exits: Sequence[int] | None = None,
    num_levels: int = 4,
    head_hidden: int = 0,
    confidence: str = "max_softmax",
    copy: bool = True,
    seed: int = 0,
) -> LEANet:
    """Build a LEANet from a pretrained base network (heads untrained: see
    :func:`leanet.train.fit_heads`).

    Args:
        base: A :class:`leanet.zoo.BaseNet` (trained).
        levels: ``"width"`` (LEANet width levels) or ``"depth"`` (early exits after
            top-level ``Conv2d`` layers of ``features``; every level, the last included,
            gets a fitted head, so the top level is not the network's own classifier).
        fractions: Width fractions F (width levels); increasing, ending in 1.0.
        scheme: ``"hybrid"`` (default: triangular levels, then the pretrained network
            with its own classifier as the last level), ``"triangular"`` (exact reuse up to
            the top, which is then not the pretrained network) or ``"slice"``
            (recompute); width levels. See :mod:`leanet.levels`. The hybrid keeps a second
            copy of the pretrained features (fine-tuning changes the shared ones), not of
            the classifier, and wins where it counts (``benchmarks/results/leanet_seeds.md``).
        exits: 1-based conv indices of the early exits (depth levels); default evenly spaced.
        num_levels: Number of depth levels when `exits` is None.
        head_hidden: Hidden width of each head's MLP (default 0: a linear head). An MLP
            head's weights are read for every input: with 128 hidden units a ConvNet's
            exits cost 0.39 / 0.65 / 0.96 / 1.32 of the full network against 0.25 / 0.34 /
            0.45 / 0.58 with linear heads, for 1-2 points more accuracy (the demo and the
            study use linear heads).
        confidence: ``"max_softmax"`` (default), ``"margin"`` or ``"entropy"``.
        copy: Deep-copy `base` first, so fine-tuning never changes the caller's network.
        seed: Seed of the heads' initialization.
    """
    check_base(base)
    if copy:
        base = _deepcopy(base)
    if levels == "width":
        lv: Levels = WidthLevels(
            base.features,
            in_channels=int(base.config["in_channels"]),
            fractions=fractions,
            scheme=scheme,
        )
    elif levels == "depth":
        lv = DepthLevels(base.features, exits=exits, num_levels=num_levels)
    else:
        raise ValueError(f"levels must be 'width' or 'depth', got {levels!r}")
    probe = torch.zeros(1, *image_shape(base.config))
    # In eval mode, as check_base: a base left in training mode had its batch norms'
    # running statistics moved toward the zeros (the caller's own too, with copy=False).
    with evaluating(lv), torch.no_grad():
        map_sizes = [lv.run_level(probe, k).shape[-1] for k in range(1, lv.num_levels + 1)]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        heads: list[nn.Module] = [
            Head(c, s, int(base.config["num_classes"]), hidden=head_hidden)
            for c, s in zip(lv.out_channels, map_sizes, strict=True)
        ]
    if levels == "width" and scheme == "hybrid":
        # A base copied here is the network's alone, and nothing trains its classifier: the
        # top head's layers hold the same weight tensors (a torchvision VGG-16's classifier
        # is 89% of its weights: its hybrid's checkpoint was 1.20 GB with a second copy, is
        # 0.70). Own layers, so a saved file lists the modules it did. A caller's base keeps
        # its own.
        classifier = base.classifier
        kept = (*classifier.parameters(), *classifier.buffers()) if copy else ()
        heads[-1] = PretrainedHead(_deepcopy(classifier, keep=kept), _deepcopy(base.pool))
    return LEANet(base, lv, heads, confidence=confidence, head_hidden=head_hidden)


def check_finite_images(x: Tensor) -> None:
    """Raise a ``ValueError`` naming the rows of the `N x C x H x W` batch ``x`` that hold
    NaN or infinite values: they would reach every level with a NaN confidence, never pass
    a threshold, and get the last level's arbitrary answer at the full cost, silently."""
    bad = (~torch.isfinite(x)).flatten(1).any(dim=1)
    if bad.any():
        raise ValueError(
            f"x holds NaN or infinite values in {counted(bad, 'image')}; no level can "
            "decide on them"
        )


def nan_confidence(images: Tensor, level: int) -> None:
    """Raise the ``ValueError`` for a NaN confidence at ``level`` (1-based) on ``images``:
    non-finite images, named by row, or else a network that overflows on them."""
    check_finite_images(images)
    raise ValueError(
        f"level {level} gives a NaN confidence on finite images: the network overflows on "
        "them (check its weights and the images' scale)"
    )


def counted(mask: Tensor, noun: str, where: str = "rows") -> str:
    """``"k of n <noun>s (<where> i, j, ...)"``: which entries of the 1-D boolean ``mask``
    are set, for error messages."""
    rows = mask.nonzero().flatten().tolist()
    shown = ", ".join(map(str, rows[:10])) + (", ..." if len(rows) > 10 else "")
    return f"{len(rows)} of {mask.numel()} {noun}s ({where} {shown})"


def _deepcopy(module: nn.Module, keep: Sequence[Tensor] = ()) -> nn.Module:
    """A deep copy of ``module`` that shares the tensors in ``keep`` instead of copying
    them (build()'s `copy` argument shadows the module of that name inside it)."""
    return copy.deepcopy(module, memo={id(t): t for t in keep})
