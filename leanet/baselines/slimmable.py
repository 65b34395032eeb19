"""A trained slimmable network [Yu2019] at the LEANet's widths: the strong static baseline.

One network whose convolutions (plain and depthwise) and linear layers are shared and
sliced: at width F_k every layer keeps its first channels, the same counts a LEANet's width
level k uses (:class:`leanet.levels.WidthLevels` computes the plan, so the rounding is
one rule, :func:`leanet.levels.slice_width`: ``max(1, round(F * C))`` output channels for
a plain conv and a hidden linear layer, a depthwise conv follows its input). What is
*not* shared is batch norm: each width has its own :class:`torch.nn.BatchNorm2d`
(switchable batch norm, the ingredient [Yu2019] found essential, since the statistics of
a channel depend on how many channels feed it).

Design decisions, stated once:

- **Architecture from a base network.** :class:`SlimmableNet` mirrors a
  :class:`leanet.zoo.BaseNet` of the zoo (``convnet``, ``vgg16``, ``mobilenet``): the same
  flat ``features``, global average pooling and classifier, so at full width it computes
  exactly what the base does.
- **Shared sliced classifier**, as in [Yu2019]: the classifier's linear layers are sliced
  too (hidden units by the same rule as the convs), except that the last one always
  produces every class. No extra head per width, so each width costs what a plain network
  of its channel counts costs.
- **Fresh weights by default** (``init_from_base=False``): [Yu2019] trains the slimmable
  network from scratch, and the fair comparison with a LEANet is a slimmable network
  trained with the same epoch budget as the pretrained base. The fresh weights are what
  :func:`leanet.zoo.build_base` draws from ``seed``.
  ``init_from_base=True`` copies the base's weights (and its batch norms, sliced, into
  every width's), a fine-tuning variant that gets the base's training on top of its own.
  The caller's base network is never modified.
- **Training loss**: the sum of the cross-entropies of all widths at every step, the
  algorithm of [Yu2019] (gradients of all switches accumulated before the update). The
  "sandwich rule" with in-place distillation belongs to universally slimmable networks
  (Yu and Huang, ICCV 2019), which sample widths from a continuum; with L fixed widths
  every width is trained at every step instead.
- **Honest costs**: each width runs under :func:`leanet.costs.count_work` (MACs, weight
  words of the sliced weights it reads, activation words), priced by a
  :class:`leanet.costs.Platform`, and is compared with the full base network counted the
  same way, so the energy ratio is on the LEANet's scale. Switchable batch norm adds no
  counted work (batch norm is not counted, as for the LEANet, and folds into the conv on a
  device).

[Yu2019] Yu, Yang, Xu, Yang, Huang. Slimmable neural networks. ICLR 2019.
[Jayakodi2020] Jayakodi, Belakaria, Deshwal, Doppa. ACM TECS 19(1), 2020.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import Dataset

from leanet.costs import Platform, Work, count_work, get_platform
from leanet.data import batch_loader
from leanet.device import evaluating, module_device, on_device
from leanet.levels import DEFAULT_FRACTIONS, WidthLevels, conv2d_like, slice_width
from leanet.train_loop import TrainResult, epochs_loop
from leanet.zoo import ARCHITECTURES, BaseNet, build_base, image_shape

__all__ = [
    "SlimmableNet",
    "SlimmablePoints",
    "SwitchableBatchNorm2d",
    "evaluate_widths",
    "slimmable_points",
    "train_slimmable",
    "width_work",
]


class SwitchableBatchNorm2d(nn.Module):
    """One :class:`torch.nn.BatchNorm2d` per width [Yu2019].

    Args:
        num_features: Channels at each width, `L` increasing counts.
        like: A batch norm whose ``eps``, ``momentum`` and affine / tracking flags are kept.
    """

    def __init__(self, num_features: Sequence[int], like: nn.BatchNorm2d) -> None:
        super().__init__()
        self.num_features = list(num_features)
        self.bn = nn.ModuleList(
            nn.BatchNorm2d(
                c,
                eps=like.eps,
                momentum=like.momentum,
                affine=like.affine,
                track_running_stats=like.track_running_stats,
            )
            for c in self.num_features
        )

    @torch.no_grad()
    def copy_from(self, source: nn.BatchNorm2d) -> None:
        """Every width's batch norm := the first channels of `source` (parameters and
        running statistics)."""
        for bn, c in zip(self.bn, self.num_features, strict=True):
            if bn.affine:
                bn.weight.copy_(source.weight[:c])
                bn.bias.copy_(source.bias[:c])
            if bn.track_running_stats:
                bn.running_mean.copy_(source.running_mean[:c])
                bn.running_var.copy_(source.running_var[:c])
                bn.num_batches_tracked.copy_(source.num_batches_tracked)

    def forward(self, x: Tensor, width: int) -> Tensor:
        return self.bn[width](x)


class SlimmableNet(nn.Module):
    """A slimmable network with the structure of a zoo :class:`leanet.zoo.BaseNet`.

    Args:
        base: Gives the architecture (and, with ``init_from_base``, the weights); never
            modified. Its ``arch`` must be one of :data:`leanet.zoo.ARCHITECTURES`.
        fractions: Widths F_1 < ... < F_L = 1.0; default :data:`leanet.DEFAULT_FRACTIONS`.
        init_from_base: Copy the base's weights and batch norms (each width's batch norm
            gets the base's first channels) instead of drawing fresh ones.
        seed: Seed of the fresh weights (unused with ``init_from_base``).

    Attributes:
        fractions: The widths, validated.
        channels: ``L`` channel counts of the last feature map, one per width.
        config: The base's config (rebuilds the architecture with ``build_base``).

    Raises:
        ValueError: unknown architecture, invalid fractions, or two widths that round to
            the same channel count.
    """

    def __init__(
        self,
        base: BaseNet,
        fractions: Sequence[float] = DEFAULT_FRACTIONS,
        *,
        init_from_base: bool = False,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if base.arch not in ARCHITECTURES:
            # torchvision VGGs pool to 7 x 7 before the classifier: slicing its inputs
            # would need per-channel blocks, which this baseline does not implement.
            raise ValueError(
                f"SlimmableNet needs a zoo architecture {sorted(ARCHITECTURES)}, got {base.arch!r}"
            )
        self.config = dict(base.config)
        if init_from_base:
            source = base
        else:
            config = dict(self.config)
            source = build_base(config.pop("arch"), **config, seed=seed)
        # WidthLevels checks the fractions and plans every layer's widths, so a width here
        # has exactly the channels of the LEANet's level at the same fraction.
        plan = WidthLevels(
            source.features,
            in_channels=int(self.config["in_channels"]),
            fractions=fractions,
            scheme="slice",
        )
        self.fractions = plan.fractions
        self.channels = list(plan.out_channels)
        self._in_widths = [layer.w_in[1:] for layer in plan.layers]
        self._out_widths = [layer.w_out[1:] for layer in plan.layers]
        features = copy.deepcopy(source.features)
        for i, m in enumerate(features):
            if isinstance(m, nn.BatchNorm2d):
                switchable = SwitchableBatchNorm2d(self._out_widths[i], m)
                if init_from_base:
                    switchable.copy_from(m)
                features[i] = switchable
        self.features = features
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = copy.deepcopy(source.classifier)
        self._classifier_widths = self._plan_classifier()

    def _classifier_layers(self) -> list[nn.Module]:
        c = self.classifier
        return list(c) if isinstance(c, nn.Sequential) else [c]

    def _plan_classifier(self) -> list[tuple[list[int], list[int]] | None]:
        """(input widths, output widths) of every linear layer, None for the others."""
        layers = self._classifier_layers()
        linear = [i for i, m in enumerate(layers) if isinstance(m, nn.Linear)]
        widths = list(self.channels)
        plan: list[tuple[list[int], list[int]] | None] = []
        for i, m in enumerate(layers):
            if isinstance(m, nn.Linear):
                if i == linear[-1]:  # every width predicts every class
                    out = [m.out_features] * len(self.fractions)
                else:
                    out = [slice_width(f, m.out_features) for f in self.fractions]
                plan.append((widths, out))
                widths = out
            elif isinstance(m, (nn.ReLU, nn.ReLU6, nn.Dropout, nn.Identity)):
                plan.append(None)
            else:
                raise TypeError(f"cannot slice classifier layer {type(m).__name__}")
        return plan

    @property
    def num_widths(self) -> int:
        return len(self.fractions)

    def width_index(self, width: int) -> int:
        """A width index in ``-L..L-1`` (Python-style) as ``0..L-1``.

        Raises:
            ValueError: out of range.
        """
        n = self.num_widths
        if isinstance(width, bool) or not isinstance(width, int) or not -n <= width < n:
            raise ValueError(f"width index must be an int in {-n}..{n - 1}, got {width!r}")
        return width % n

    def forward(self, x: Tensor, width: int = -1) -> Tensor:
        """`N x C x H x W` images -> `N x num_classes` logits at width ``fractions[width]``.

        In training mode each width's batch norm uses the batch statistics (and updates
        only that width's running statistics); in eval mode its running statistics.
        """
        k = self.width_index(width)
        for m, w_in, w_out in zip(self.features, self._in_widths, self._out_widths, strict=True):
            if isinstance(m, nn.Conv2d):
                out = w_out[k]
                depthwise = m.groups > 1  # WidthLevels admits only plain and depthwise
                weight = m.weight[:out] if depthwise else m.weight[:out, : w_in[k]]
                bias = None if m.bias is None else m.bias[:out]
                x = conv2d_like(m, x, weight, bias, out if depthwise else 1)
            elif isinstance(m, SwitchableBatchNorm2d):
                x = m(x, k)
            else:
                x = m(x)
        x = torch.flatten(self.pool(x), 1)
        for m, widths in zip(self._classifier_layers(), self._classifier_widths, strict=True):
            if widths is None:
                x = m(x)
            else:
                w_in, w_out = widths
                bias = None if m.bias is None else m.bias[: w_out[k]]
                x = F.linear(x, m.weight[: w_out[k], : w_in[k]], bias)
        return x


def train_slimmable(
    net: SlimmableNet,
    train: Dataset,
    *,
    val: Dataset | None = None,
    epochs: int = 8,
    lr: float = 2e-3,
    weight_decay: float = 5e-4,
    batch_size: int = 64,
    seed: int = 0,
    progress: bool = True,
    device: str | torch.device = "auto",
) -> TrainResult:
    """Train a slimmable network in place: every step, the sum over widths of the
    cross-entropy [Yu2019].

    The optimizer, schedule and defaults are those of :func:`leanet.train.train_base`
    (AdamW, per-step cosine decay, seeded shuffling, 8 epochs), so that at equal `epochs`
    the slimmable network and the base get the same budget in epochs (one step here runs
    every width, about ``sum(F_k ** 2)`` base steps of compute). Every batch's labels are
    checked against the network's classes, as the base's training does.

    Returns:
        A :class:`leanet.train.TrainResult`: per-epoch mean (summed) loss, per-width
        accuracies on `val` in the history (``val_accuracy_k``), wall-clock seconds, and
        ``accuracy``: the list of per-width accuracies on `val` (NaN without `val`).
        ``device`` as in :func:`leanet.train.train_base`.
    """
    net.train()
    widths = range(net.num_widths)

    def step_loss(x: Tensor, y: Tensor) -> Tensor:
        return sum(F.cross_entropy(net(x, k), y) for k in widths)

    def on_epoch_end(_: int) -> dict[str, float]:
        if val is None:
            return {}
        accuracy = evaluate_widths(net, val)
        net.train()
        return {f"val_accuracy_{k}": float(a) for k, a in enumerate(accuracy)}

    with on_device(net, device) as dev:
        result = epochs_loop(
            list(net.parameters()),
            step_loss,
            train,
            epochs=epochs,
            lr=lr,
            weight_decay=weight_decay,
            batch_size=batch_size,
            seed=seed,
            progress=progress,
            desc=f"train slimmable {net.config['arch']}",
            num_classes=int(net.config["num_classes"]),
            on_epoch_end=on_epoch_end,
            device=dev,
        )
    net.eval()
    if val is not None:
        last = result.history[-1]
        result.accuracy = [last[f"val_accuracy_{k}"] for k in widths]
    return result


@torch.no_grad()
def evaluate_widths(net: SlimmableNet, dataset: Dataset, batch_size: int = 512) -> Tensor:
    """Top-1 accuracy (fraction) of every width on `dataset`: an `L`-dim float64 tensor.

    Runs in eval mode (running statistics) and restores every submodule's previous mode.
    Labels outside the network's classes are refused, as in :func:`leanet.train.evaluate`.
    """
    correct = torch.zeros(net.num_widths, dtype=torch.float64)
    total = 0
    device = module_device(net)
    with evaluating(net):
        for x, y in batch_loader(dataset, batch_size, num_classes=int(net.config["num_classes"])):
            x, y = x.to(device), y.to(device)
            for k in range(net.num_widths):
                correct[k] += int((net(x, k).argmax(dim=-1) == y).sum())
            total += int(y.numel())
    return correct / max(total, 1)


@torch.no_grad()
def width_work(net: SlimmableNet) -> list[Work]:
    """Counted :class:`leanet.costs.Work` per input of every width (one input, eval mode),
    with :func:`leanet.costs.count_work` on the sliced computation that actually runs."""
    x = torch.zeros(1, *image_shape(net.config))
    with evaluating(net):
        return [count_work(net, x, k)[1] for k in range(net.num_widths)]


@dataclass(frozen=True)
class SlimmablePoints:
    """Accuracy and cost of every width of a slimmable network (no early exit).

    Attributes:
        fractions: ``L`` widths.
        accuracy: ``L``, fraction of the data set each width gets right (NaN without data).
        macs: ``L`` multiply-accumulates per input (long).
        work: ``L`` counted :class:`leanet.costs.Work` per input.
        energy: ``L`` joules per input on `platform`.
        energy_ratio: ``L``, ``energy / full_energy``.
        full_energy: Joules per input of the full base network (the ratio's base).
        platform: The energy table used.
    """

    fractions: tuple[float, ...]
    accuracy: Tensor
    macs: Tensor
    work: list[Work]
    energy: Tensor
    energy_ratio: Tensor
    full_energy: float
    platform: Platform


@torch.no_grad()
def slimmable_points(
    net: SlimmableNet,
    dataset: Dataset | None,
    platform: str | Platform = "45nm-fp32",
    *,
    full_energy: float | None = None,
    batch_size: int = 512,
) -> SlimmablePoints:
    """Evaluate every width on `dataset` and price its counted work.

    Args:
        net: A (trained) :class:`SlimmableNet`.
        dataset: Images and labels (e.g. the test split); None to count costs only.
        platform: An energy table (name in :data:`leanet.costs.PLATFORMS` or a
            :class:`leanet.costs.Platform`).
        full_energy: Joules per input of the full pretrained network, e.g. a LEANet's
            ``LevelCosts.full_energy``, so both share one denominator. Default: count a
            plain base network of ``net``'s architecture with ``count_work`` (work does not
            depend on the weights).
        batch_size: Evaluation batch size.
    """
    platform = get_platform(platform)
    work = width_work(net)
    if full_energy is None:
        config = dict(net.config)
        plain = build_base(config.pop("arch"), **config, seed=0).eval()  # not the caller's draws
        one_input = torch.zeros(1, *image_shape(net.config))
        full_energy = count_work(plain, one_input)[1].energy(platform)
    if not full_energy > 0:
        raise ValueError(f"full_energy must be positive, got {full_energy!r}")
    if dataset is None:
        accuracy = torch.full((net.num_widths,), float("nan"), dtype=torch.float64)
    else:
        accuracy = evaluate_widths(net, dataset, batch_size)
    energy = torch.tensor([w.energy(platform) for w in work], dtype=torch.float64)
    return SlimmablePoints(
        fractions=tuple(net.fractions),
        accuracy=accuracy,
        macs=torch.tensor([w.macs for w in work], dtype=torch.long),
        work=work,
        energy=energy,
        energy_ratio=energy / float(full_energy),
        full_energy=float(full_energy),
        platform=platform,
    )
