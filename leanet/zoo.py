"""Base networks of [Jayakodi2020]: a VGG-style ConvNet, VGG-16 and MobileNet v1.

Every network is a :class:`BaseNet`: a flat ``features`` :class:`torch.nn.Sequential` of
convolutions (plain, depthwise or pointwise), batch norms, ReLUs and poolings, then global
average pooling and a small ``classifier``. The flat layout is what the level constructions
in :mod:`leanet.levels` slice (width levels) or cut (depth levels).

Inputs are `N x C x H x W` with C in {1, 3} and H = W in [8, 32]. VGG-16 and MobileNet need
32 px (five, resp. four, stride-2 stages); smaller inputs are resized to 32 px by a bilinear
``nn.Upsample`` at the head of ``features``. The ConvNet works at any size >= 8 natively.

``width_multiplier`` scales every layer's channel count (rounded to a multiple of 8 so
that the default level fractions, multiples of 1/8, slice whole channels). The paper's
ConvNet at 28 px and width 1 costs 29.1 M MACs; VGG-16 at 32 px, width 1, 313 M MACs;
MobileNet v1 (CIFAR-style, first stride 1) at 32 px, width 1, 47 M MACs.

[Jayakodi2020] Jayakodi, Belakaria, Deshwal, Doppa. ACM TECS 19(1), 2020.
[Simonyan2015] Simonyan, Zisserman. Very deep convolutional networks. ICLR 2015.
[Howard2017] Howard et al. MobileNets. arXiv:1704.04861, 2017.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from leanet.device import evaluating

__all__ = [
    "ARCHITECTURES",
    "TORCHVISION_MODELS",
    "BaseNet",
    "build_base",
    "check_base",
    "check_float32",
    "convnet",
    "from_torchvision",
    "image_shape",
    "mobilenet",
    "vgg16",
]

# Channel plans: integers are 3x3 conv + BN + ReLU, "M" a 2x2 max pool.
_CONVNET = [32, 32, "M", 64, 64, "M", 128, 128, "M"]
_VGG16 = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
# MobileNet v1 depthwise-separable blocks: (pointwise output channels, depthwise stride).
_MOBILENET = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5
_MOBILENET += [(1024, 2), (1024, 1)]


def _scaled(channels: int, width_multiplier: float) -> int:
    return max(8, int(round(channels * width_multiplier / 8.0)) * 8)


class BaseNet(nn.Module):
    """A classifier ``classifier(flatten(avgpool(features(x))))``.

    Args:
        features: Flat sequence of Conv2d / BatchNorm2d / ReLU / pooling / Upsample layers.
        classifier: Maps the pooled `N x C_last` features to `N x num_classes` logits.
        config: The keyword arguments that rebuild this network with :func:`build_base`
            (``arch``, ``num_classes``, ``in_channels``, ``input_size``,
            ``width_multiplier``); stored in checkpoints.
    """

    def __init__(self, features: nn.Sequential, classifier: nn.Module, config: dict[str, Any]):
        super().__init__()
        self.features = features
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = classifier
        self.config = dict(config)

    @property
    def arch(self) -> str:
        return str(self.config["arch"])

    @property
    def feature_channels(self) -> int:
        """Channels C_last of the last feature map (input width of the classifier).
        Deprecated: kept one release for users' code (leanet reads it nowhere)."""
        warnings.warn(
            "BaseNet.feature_channels is deprecated and will be removed in the next release; "
            "read the last convolution's out_channels instead: "
            "[m for m in net.features if isinstance(m, nn.Conv2d)][-1].out_channels",
            DeprecationWarning,
            stacklevel=2,
        )
        return [m for m in self.features if isinstance(m, nn.Conv2d)][-1].out_channels

    def forward(self, x: Tensor) -> Tensor:
        """`N x C x H x W` images -> `N x num_classes` logits."""
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


#: The config keys that every level construction reads.
BASE_CONFIG_KEYS = ("arch", "num_classes", "in_channels", "input_size")


def image_shape(config: Mapping[str, Any]) -> tuple[int, int, int]:
    """`C x H x W` of one input of the network a base's ``config`` describes
    (``in_channels``, square ``input_size``): what the levels, heads, costs and runtime are
    built and probed for, e.g. with ``torch.zeros(1, *image_shape(config))``."""
    size = int(config["input_size"])
    return (int(config["in_channels"]), size, size)


def check_base(base: Any) -> None:
    """Refuse, by name, a network that :func:`leanet.build` would turn into a LEANet that
    fails later with an error deep in torch, or that silently computes another network:
    not a :class:`BaseNet`, config keys missing, non-square images, fewer than 2 classes,
    no top-level convolution (nested blocks), a batch norm without running statistics,
    weights not in float32 on a real device, or a ``forward`` of its own that the levels
    would not run."""
    if not isinstance(base, BaseNet):
        raise TypeError(
            f"leanet.build takes a leanet.zoo.BaseNet, got {type(base).__name__}: wrap a "
            "network as BaseNet(features, classifier, config), features a flat nn.Sequential "
            "(README, 'Your own network')"
        )
    missing = [key for key in BASE_CONFIG_KEYS if key not in base.config]
    if missing:
        raise ValueError(f"the base network's config lacks {missing} (it needs {BASE_CONFIG_KEYS})")
    size = base.config["input_size"]
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"config input_size must be one int (square H = W images), got {size!r}")
    if int(base.config["num_classes"]) < 2:
        # Confidences compare classes: one class is always fully confident, has no margin.
        raise ValueError(
            f"config num_classes must be >= 2, got {base.config['num_classes']}: a binary "
            "classifier needs 2 logits (one per class), not 1"
        )
    if not isinstance(base.features, nn.Sequential) or not any(
        isinstance(m, nn.Conv2d) for m in base.features
    ):
        raise ValueError(
            "features holds no Conv2d at its top level: levels are cut and sliced between "
            "its convolutions, so blocks must be flattened into one nn.Sequential"
        )
    for i, m in enumerate(base.features):
        if isinstance(m, nn.BatchNorm2d) and not m.track_running_stats:
            raise ValueError(
                f"features[{i}] ({m}) keeps no running statistics; levels slice and fold them"
            )
    check_float32(base, "the base network", "base")
    _check_forward(base)


def check_float32(module: nn.Module, what: str, name: str = "net") -> None:
    """Refuse ``module`` (called ``what`` in the message, ``name`` in the fix) with weights
    on the meta device or not in float32. :func:`leanet.build` checks its base so; the
    evaluator, costs and runtime check a LEANet cast after the build (``net.half()``),
    which ``net(x, T)`` runs but on which they failed deep in torch ("Input type
    (torch.FloatTensor) and weight type (torch.HalfTensor) should be the same")."""
    tensors = [*module.parameters(), *module.buffers()]
    if any(t.is_meta for t in tensors):
        raise ValueError(f"{what} is on the meta device: load its weights first")
    other = {str(t.dtype) for t in tensors if t.is_floating_point() and t.dtype != torch.float32}
    if other:
        raise ValueError(
            f"{what} holds {sorted(other)} weights; LEANets compute in float32 "
            f"(call {name}.float())"
        )


def _check_forward(base: BaseNet) -> None:
    """On a random probe of the config's size, in eval mode: the levels' path must run and
    give ``num_classes`` logits (a classifier of another class count built heads of the
    config's under it, and the network predicted classes that do not exist), and a
    subclass's own forward must be that path (the hybrid's top level is the pretrained
    network only then)."""
    c, s, _ = image_shape(base.config)
    x = torch.randn(2, c, s, s, generator=torch.Generator().manual_seed(0))
    # build() checks the caller's base before copying it: their modes must come back.
    with evaluating(base), torch.no_grad():
        try:
            levels_run = BaseNet.forward(base, x)
        except RuntimeError as err:
            raise ValueError(
                f"the base network does not run on a 2 x {c} x {s} x {s} probe (config "
                f"in_channels and input_size): {err}; its features must end in a map that "
                "base.pool and the classifier take (torchvision's VGG/AlexNet pool to "
                "7 x 7: set base.pool = nn.AdaptiveAvgPool2d(7))"
            ) from err
        own = base(x) if type(base).forward is not BaseNet.forward else levels_run
    classes = int(base.config["num_classes"])
    if levels_run.shape != (2, classes):
        raise ValueError(
            f"the base network gives logits of shape {tuple(levels_run.shape[1:])} per image, "
            f"its config says num_classes={classes}: make them agree (a replaced last layer "
            "needs the config's num_classes changed too)"
        )
    if not torch.allclose(own, levels_run, rtol=1e-4, atol=1e-5):
        raise ValueError(
            f"{type(base).__name__}.forward is not classifier(flatten(pool(features(x)))), "
            "which is all the levels and the pretrained top level run: put the whole "
            "network in features"
        )


def _conv_bn_relu(c_in: int, c_out: int, *, stride: int = 1, groups: int = 1) -> list[nn.Module]:
    return [
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=False),
    ]


def _resize(input_size: int, native: int | None) -> list[nn.Module]:
    if not 8 <= input_size <= 32:
        raise ValueError(f"input_size must be in [8, 32] px, got {input_size}")
    if native is None or input_size == native:
        return []
    return [nn.Upsample(size=(native, native), mode="bilinear", align_corners=False)]


def _check_common(num_classes: int, in_channels: int, width_multiplier: float) -> None:
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    if in_channels not in (1, 3):
        raise ValueError(f"in_channels must be 1 or 3, got {in_channels}")
    if not width_multiplier > 0:
        raise ValueError(f"width_multiplier must be > 0, got {width_multiplier}")


def _vgg_style(
    plan: Sequence[int | str],
    *,
    arch: str,
    native: int | None,
    hidden: int,
    num_classes: int,
    in_channels: int,
    input_size: int,
    width_multiplier: float,
) -> BaseNet:
    _check_common(num_classes, in_channels, width_multiplier)
    layers = _resize(input_size, native)
    c = in_channels
    for item in plan:
        if item == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            out = _scaled(int(item), width_multiplier)
            layers += _conv_bn_relu(c, out)
            c = out
    hid = _scaled(hidden, width_multiplier)
    classifier = nn.Sequential(nn.Linear(c, hid), nn.ReLU(), nn.Linear(hid, num_classes))
    config = dict(
        arch=arch,
        num_classes=num_classes,
        in_channels=in_channels,
        input_size=input_size,
        width_multiplier=width_multiplier,
    )
    return BaseNet(nn.Sequential(*layers), classifier, config)


def convnet(
    *,
    num_classes: int = 10,
    in_channels: int = 1,
    input_size: int = 28,
    width_multiplier: float = 1.0,
) -> BaseNet:
    """The paper's VGG-style ConvNet: 6 conv layers (32-32-64-64-128-128), 3 max pools,
    classifier 128 -> 128 -> classes. 29.1 M MACs at 28 px, width 1."""
    return _vgg_style(
        _CONVNET,
        arch="convnet",
        native=None,
        hidden=128,
        num_classes=num_classes,
        in_channels=in_channels,
        input_size=input_size,
        width_multiplier=width_multiplier,
    )


def vgg16(
    *,
    num_classes: int = 10,
    in_channels: int = 3,
    input_size: int = 32,
    width_multiplier: float = 1.0,
) -> BaseNet:
    """VGG-16 with batch norm, CIFAR-style [Simonyan2015]: 13 conv layers, 5 max pools at
    32 px (smaller inputs are resized), classifier 512 -> 512 -> classes (scaled)."""
    return _vgg_style(
        _VGG16,
        arch="vgg16",
        native=32,
        hidden=512,
        num_classes=num_classes,
        in_channels=in_channels,
        input_size=input_size,
        width_multiplier=width_multiplier,
    )


def mobilenet(
    *,
    num_classes: int = 10,
    in_channels: int = 3,
    input_size: int = 32,
    width_multiplier: float = 1.0,
) -> BaseNet:
    """MobileNet v1 [Howard2017], CIFAR-style: a 3x3 stride-1 conv (32), then 13
    depthwise-separable blocks (3x3 depthwise conv + BN + ReLU, 1x1 pointwise conv + BN +
    ReLU), four of them stride 2; 32 px input (smaller inputs resized); linear classifier."""
    _check_common(num_classes, in_channels, width_multiplier)
    layers = _resize(input_size, 32)
    c = _scaled(32, width_multiplier)
    layers += _conv_bn_relu(in_channels, c)
    for out, stride in _MOBILENET:
        layers += _conv_bn_relu(c, c, stride=stride, groups=c)  # depthwise
        out = _scaled(out, width_multiplier)
        layers += [nn.Conv2d(c, out, 1, bias=False), nn.BatchNorm2d(out), nn.ReLU()]  # pointwise
        c = out
    config = dict(
        arch="mobilenet",
        num_classes=num_classes,
        in_channels=in_channels,
        input_size=input_size,
        width_multiplier=width_multiplier,
    )
    return BaseNet(nn.Sequential(*layers), nn.Linear(c, num_classes), config)


ARCHITECTURES: dict[str, Callable[..., BaseNet]] = {
    "convnet": convnet,
    "vgg16": vgg16,
    "mobilenet": mobilenet,
}


def build_base(
    arch: str,
    *,
    num_classes: int = 10,
    in_channels: int = 1,
    input_size: int = 28,
    width_multiplier: float = 1.0,
    seed: int | None = None,
) -> BaseNet:
    """Build an untrained base network by name (a key of :data:`ARCHITECTURES`).

    Args:
        num_classes: Logits of the classifier (at least 2).
        in_channels: Image channels (1: grey, as the bundled MNIST digits; 3: colour).
        input_size: Side of the square input images in pixels (28 for MNIST).
        width_multiplier: Channels of every layer times this (rounded to a multiple of 8).
        seed: Draw the initial weights from this seed alone (the global generator is left
            as it was), so the same seed builds the same network; None: draw them from the
            global generator.
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; choose from {sorted(ARCHITECTURES)}")
    with torch.random.fork_rng(devices=[], enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        return ARCHITECTURES[arch](
            num_classes=num_classes,
            in_channels=in_channels,
            input_size=input_size,
            width_multiplier=width_multiplier,
        )


# torchvision classifiers whose `features` are a flat Conv/BN/ReLU/MaxPool sequence, which
# the level constructions can slice or cut as they are.
TORCHVISION_MODELS = ("vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn")


def from_torchvision(
    name: str,
    *,
    weights: str | None = None,
    num_classes: int = 1000,
    input_size: int = 224,
) -> BaseNet:
    """Wrap a torchvision classifier (VGG with batch norm) as a :class:`BaseNet`.

    Args:
        name: One of :data:`TORCHVISION_MODELS`.
        weights: torchvision weights name (e.g. ``"VGG16_BN_Weights.IMAGENET1K_V1"``) or
            None for random weights. Loaded only if already in torch hub's cache
            (``torch.hub.get_dir()/checkpoints``); this never downloads.
        num_classes: Classes of the classifier (random weights only: ImageNet weights have
            1000); load your own with ``base.load_state_dict``.
        input_size: Side of the square `3 x S x S` inputs it will see (the 7 x 7 average
            pooling takes any size from 32 up); costs are counted at this size.

    The network keeps torchvision's 7 x 7 average pooling and classifier and expects
    inputs normalized as its weights were trained. Its config is
    ``arch="torchvision:<name>"`` with ``num_classes`` and ``input_size``; such networks are
    rebuilt with this function, not from :func:`leanet.checkpoints.load_checkpoint`.

    Raises:
        ValueError: unsupported `name`.
        FileNotFoundError: `weights` not cached, naming the file looked for.
    """
    import torch
    from torchvision import models

    if name not in TORCHVISION_MODELS:
        raise ValueError(
            f"unsupported torchvision model {name!r}; the level constructions need flat "
            f"features, available: {TORCHVISION_MODELS}"
        )
    weight_enum = None
    if weights is not None:
        weight_enum = models.get_weight(weights)
        if num_classes != 1000:
            raise ValueError(
                f"{weights} has 1000 classes, not {num_classes}: build with weights=None and "
                "load your own fine-tuned state_dict"
            )
        cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weight_enum.url).name
        if not cached.is_file():
            raise FileNotFoundError(
                f"torchvision weights {weights} are not cached at {cached}; fetch them on a "
                f"machine with internet (torchvision.models.get_model({name!r}, "
                f"weights={weights!r})) and copy the file there"
            )
    tv = models.get_model(name, weights=weight_enum, num_classes=num_classes)
    config = dict(
        arch=f"torchvision:{name}",
        num_classes=num_classes,
        in_channels=3,
        input_size=input_size,
        width_multiplier=1.0,
        weights=weights,
    )
    net = BaseNet(tv.features, tv.classifier, config)
    net.pool = tv.avgpool
    return net.eval()
