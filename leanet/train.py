"""Training and checkpoints: base networks, per-level heads, optional joint fine-tuning.

- :func:`train_base` trains a :class:`leanet.zoo.BaseNet` (AdamW, cosine schedule, seeded
  shuffling) with a tqdm progress bar.
- :func:`save_checkpoint` / :func:`load_checkpoint` store a base network with its metadata
  (architecture, data set, classes, input size, accuracy) and refuse mismatches clearly.
- :func:`fit_heads` trains each level's head on frozen backbone features (the default
  LEANet training of [Jayakodi2020]): the pooled features of every level are computed once,
  then only the heads learn.
- :func:`fine_tune` is the explicit option that also trains the backbone, with the sum of
  every level's cross-entropy as the loss (batch-norm statistics stay frozen). It recovers
  the accuracy that the block-triangular scheme costs.
- :func:`save_leanet` / :func:`load_leanet` store a whole LEANet.

[Jayakodi2020] Jayakodi, Belakaria, Deshwal, Doppa. ACM TECS 19(1), 2020.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from leanet.data import batch_loader
from leanet.model import LEANet
from leanet.zoo import ARCHITECTURES, BaseNet, build_base

__all__ = [
    "CheckpointError",
    "TrainResult",
    "evaluate",
    "evaluate_levels",
    "fine_tune",
    "fit_heads",
    "leanet_checkpoint",
    "leanet_from_checkpoint",
    "load_checkpoint",
    "load_leanet",
    "save_checkpoint",
    "save_leanet",
    "train_base",
]

BASE_FORMAT = "leanet.base/1"
LEANET_FORMAT = "leanet.leanet/1"


class CheckpointError(ValueError):
    """A checkpoint file is unreadable or does not match what the caller asked for."""


@dataclass
class TrainResult:
    """What a training run did: per-epoch history, wall-clock seconds, final accuracy."""

    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    accuracy: float | list[float] = float("nan")


@torch.no_grad()
def evaluate(model: Callable[[Tensor], Tensor], dataset: Dataset, batch_size: int = 512) -> float:
    """Top-1 accuracy (fraction in [0, 1]) of `model` (images -> logits) on `dataset`."""
    was_training = getattr(model, "training", False)
    if isinstance(model, nn.Module):
        model.eval()
    correct = total = 0
    for x, y in batch_loader(dataset, batch_size):
        correct += int((model(x).argmax(dim=-1) == y).sum())
        total += int(y.numel())
    if isinstance(model, nn.Module):
        model.train(was_training)
    return correct / max(total, 1)


def _epochs_loop(
    params: Sequence[Tensor],
    step_loss: Callable[[Tensor, Tensor], Tensor],
    train: Dataset,
    *,
    epochs: int,
    lr: float,
    weight_decay: float,
    batch_size: int,
    seed: int,
    progress: bool,
    desc: str,
    on_epoch_end: Callable[[int], dict[str, float]] | None = None,
) -> TrainResult:
    """Shared optimization loop: AdamW, per-step cosine decay, seeded shuffling. Torch's
    global RNG (dropout, ...) is seeded with ``seed`` inside and restored after, so training
    is reproducible and leaves the caller's random stream alone."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
        steps = epochs * -(-len(train) // batch_size)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(steps, 1))
        result = TrainResult()
        start = time.perf_counter()
        bar = tqdm(total=steps, desc=desc, disable=not progress, leave=False)
        for epoch in range(epochs):
            total_loss, n = 0.0, 0
            for x, y in batch_loader(train, batch_size, shuffle=True, seed=seed + epoch):
                loss = step_loss(x, y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                value = float(loss.detach())
                total_loss += value * y.numel()
                n += y.numel()
                bar.update(1)
                bar.set_postfix(loss=f"{value:.3f}")
            row = {"epoch": epoch + 1, "loss": total_loss / max(n, 1)}
            if on_epoch_end is not None:
                row.update(on_epoch_end(epoch))
            result.history.append(row)
        bar.close()
        result.seconds = time.perf_counter() - start
        return result


def train_base(
    model: BaseNet,
    train: Dataset,
    *,
    val: Dataset | None = None,
    epochs: int = 8,
    lr: float = 2e-3,
    weight_decay: float = 5e-4,
    batch_size: int = 64,
    seed: int = 0,
    progress: bool = True,
) -> TrainResult:
    """Train a base network in place with cross-entropy.

    Returns a :class:`TrainResult` whose ``accuracy`` is the final accuracy on `val`
    (NaN without `val`) and whose history holds per-epoch mean loss (and val accuracy).
    """
    model.train()

    def step_loss(x: Tensor, y: Tensor) -> Tensor:
        return F.cross_entropy(model(x), y)

    def on_epoch_end(_: int) -> dict[str, float]:
        if val is None:
            return {}
        acc = evaluate(model, val)
        model.train()
        return {"val_accuracy": acc}

    result = _epochs_loop(
        list(model.parameters()),
        step_loss,
        train,
        epochs=epochs,
        lr=lr,
        weight_decay=weight_decay,
        batch_size=batch_size,
        seed=seed,
        progress=progress,
        desc=f"train {model.arch}",
        on_epoch_end=on_epoch_end,
    )
    model.eval()
    if val is not None:
        result.accuracy = result.history[-1]["val_accuracy"]
    return result


# -- base checkpoints ---------------------------------------------------------------------
def save_checkpoint(
    path: str | os.PathLike,
    model: BaseNet,
    *,
    dataset: str,
    classes: Sequence[str],
    accuracy: float | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Save a base network with its metadata; returns the path.

    Stored: format tag, the config that rebuilds the network (architecture, num_classes,
    in_channels, input_size, width_multiplier), data set name, class names, test accuracy
    (fraction), `extra`, and the state dict.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if len(classes) != model.config["num_classes"]:
        raise ValueError(
            f"{len(classes)} class names for a {model.config['num_classes']}-class network"
        )
    torch.save(
        {
            "format": BASE_FORMAT,
            "config": dict(model.config),
            "dataset": dataset,
            "classes": list(classes),
            "accuracy": accuracy,
            "extra": dict(extra or {}),
            "state_dict": model.state_dict(),
        },
        path,
    )
    return path


def _read(path: str | os.PathLike, fmt: str) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path.resolve()}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for a damaged file
        raise CheckpointError(
            f"{path}: not a readable checkpoint ({type(err).__name__}: {err})"
        ) from err
    if not isinstance(ckpt, dict) or ckpt.get("format") != fmt:
        found = ckpt.get("format") if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CheckpointError(f"{path}: expected a {fmt!r} checkpoint, found {found!r}")
    return ckpt


def load_checkpoint(
    path: str | os.PathLike,
    *,
    arch: str | None = None,
    num_classes: int | None = None,
) -> tuple[BaseNet, dict[str, Any]]:
    """Load a base network saved by :func:`save_checkpoint`.

    Args:
        path: The checkpoint file.
        arch: If given, the architecture the caller expects.
        num_classes: If given, the class count the caller expects.

    Returns:
        The network (eval mode) and the metadata dict (everything but the state dict).

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: unreadable/corrupt file, wrong format, or an architecture / class
            count / weight shape that does not match.
    """
    ckpt = _read(path, BASE_FORMAT)
    config = dict(ckpt["config"])
    if config.get("arch") not in ARCHITECTURES:
        raise CheckpointError(f"{path}: unknown architecture {config.get('arch')!r}")
    if arch is not None and config["arch"] != arch:
        raise CheckpointError(f"{path}: holds a {config['arch']!r} network, expected {arch!r}")
    if num_classes is not None and config["num_classes"] != num_classes:
        raise CheckpointError(
            f"{path}: network has {config['num_classes']} classes, expected {num_classes}"
        )
    model = build_base(config.pop("arch"), **config)
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as err:
        raise CheckpointError(f"{path}: weights do not fit {model.arch}: {err}") from err
    meta = {k: v for k, v in ckpt.items() if k != "state_dict"}
    return model.eval(), meta


# -- heads and fine-tuning ----------------------------------------------------------------
@torch.no_grad()
def _pooled_features(
    net: LEANet, dataset: Dataset, batch_size: int, progress: bool
) -> tuple[list[Tensor], Tensor]:
    """Every level's pooled, flattened head inputs (L tensors `N x D_k`) and labels (`N`)."""
    net.eval()
    feats: list[list[Tensor]] = [[] for _ in range(net.num_levels)]
    labels = []
    for x, y in tqdm(
        batch_loader(dataset, batch_size), desc="level features", disable=not progress, leave=False
    ):
        for k, f in enumerate(net.level_features(x)):
            feats[k].append(net.heads[k].pooled(f))
        labels.append(y)
    return [torch.cat(f) for f in feats], torch.cat(labels)


@torch.no_grad()
def evaluate_levels(net: LEANet, dataset: Dataset, batch_size: int = 512) -> list[float]:
    """Test accuracy (fraction) of every level on `dataset`, no early exit."""
    net.eval()
    correct = torch.zeros(net.num_levels)
    total = 0
    for x, y in batch_loader(dataset, batch_size):
        logits = net.level_outputs(x).logits
        correct += (logits.argmax(dim=-1) == y).sum(dim=1).float()
        total += y.numel()
    return (correct / max(total, 1)).tolist()


def fit_heads(
    net: LEANet,
    train: Dataset,
    *,
    val: Dataset | None = None,
    epochs: int = 30,
    lr: float = 3e-3,
    weight_decay: float = 1e-4,
    batch_size: int = 128,
    seed: int = 0,
    progress: bool = True,
) -> TrainResult:
    """Train every level's head on frozen backbone features.

    The backbone runs once over `train` (pooled features of every level cached), then the
    heads train on the cache; the heads are independent, so training them together with
    the summed loss equals training each alone. ``accuracy`` of the result is the list of
    per-level accuracies on `val` (if given).
    """
    feats, labels = _pooled_features(net, train, 512, progress)
    cached = _FeatureCache(feats, labels)
    net.train()

    def step_loss(idx: Tensor, _: Tensor) -> Tensor:
        y = labels[idx]
        return sum(F.cross_entropy(h.mlp(f[idx]), y) for h, f in zip(net.heads, feats, strict=True))

    result = _epochs_loop(
        list(net.heads.parameters()),
        step_loss,
        cached,
        epochs=epochs,
        lr=lr,
        weight_decay=weight_decay,
        batch_size=batch_size,
        seed=seed,
        progress=progress,
        desc="fit heads",
    )
    net.eval()
    if val is not None:
        result.accuracy = evaluate_levels(net, val)
    return result


class _FeatureCache(Dataset):
    """Yields (row indices, labels) so the loop can index every level's cache at once."""

    batched = True

    def __init__(self, feats: list[Tensor], labels: Tensor) -> None:
        self.feats, self.labels = feats, labels

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __getitem__(self, index: Any) -> tuple[Tensor, Tensor]:
        idx = torch.as_tensor(index, dtype=torch.long)
        return idx, self.labels[idx]


def fine_tune(
    net: LEANet,
    train: Dataset,
    *,
    val: Dataset | None = None,
    epochs: int = 3,
    lr: float = 5e-4,
    weight_decay: float = 1e-4,
    batch_size: int = 64,
    seed: int = 0,
    progress: bool = True,
) -> TrainResult:
    """Jointly fine-tune backbone and heads: loss = sum over levels of cross-entropy.

    An explicit option (it changes the pretrained weights held by `net`; the caller's
    base network is untouched when `net` was built with ``copy=True``). Batch-norm running
    statistics stay frozen. Level features are computed incrementally, so under the
    triangular scheme the block-triangular structure is kept and reuse stays exact.
    """
    net.train()

    def step_loss(x: Tensor, y: Tensor) -> Tensor:
        return sum(
            F.cross_entropy(h(f), y) for h, f in zip(net.heads, net.level_features(x), strict=True)
        )

    result = _epochs_loop(
        list(net.parameters()),
        step_loss,
        train,
        epochs=epochs,
        lr=lr,
        weight_decay=weight_decay,
        batch_size=batch_size,
        seed=seed,
        progress=progress,
        desc="fine-tune",
    )
    net.eval()
    if val is not None:
        result.accuracy = evaluate_levels(net, val)
    return result


# -- LEANet checkpoints -------------------------------------------------------------------
def leanet_checkpoint(net: LEANet, *, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """The dict that :func:`save_leanet` writes: format tag, the config that rebuilds
    `net`, `meta`, and the weights (``levels.features`` is ``base.features``, stored once).
    Other artifacts embed it to save a LEANet together with more data."""
    state = {k: v for k, v in net.state_dict().items() if not k.startswith("levels.features.")}
    return {
        "format": LEANET_FORMAT,
        "config": net.config(),
        "meta": dict(meta or {}),
        "state_dict": state,
    }


def leanet_from_checkpoint(
    payload: dict[str, Any], *, source: str = "<checkpoint>"
) -> tuple[LEANet, dict[str, Any]]:
    """Rebuild a LEANet (eval mode) and its meta from :func:`leanet_checkpoint`'s dict.

    Raises:
        CheckpointError: wrong format, or a config / weights that do not rebuild; the
            message starts with `source`.
    """
    if not isinstance(payload, dict) or payload.get("format") != LEANET_FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"{source}: expected a {LEANET_FORMAT!r} checkpoint, found {found!r}")
    try:
        net = LEANet.from_config(payload["config"])
        missing, unexpected = net.load_state_dict(payload["state_dict"], strict=False)
    except (RuntimeError, KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"{source}: does not rebuild a LEANet: {err}") from err
    missing = [k for k in missing if not k.startswith("levels.features.")]
    if missing or unexpected:
        raise CheckpointError(
            f"{source}: weights do not fit (missing {missing}, unexpected {unexpected})"
        )
    return net.eval(), dict(payload["meta"])


def save_leanet(
    path: str | os.PathLike, net: LEANet, *, meta: dict[str, Any] | None = None
) -> Path:
    """Save a LEANet (config to rebuild it, all weights, `meta` such as data set and
    per-level accuracies); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(leanet_checkpoint(net, meta=meta), path)
    return path


def load_leanet(path: str | os.PathLike) -> tuple[LEANet, dict[str, Any]]:
    """Load a LEANet saved by :func:`save_leanet`; returns it (eval mode) and its meta.

    Raises:
        FileNotFoundError / CheckpointError as :func:`load_checkpoint`.
    """
    return leanet_from_checkpoint(_read(path, LEANET_FORMAT), source=str(path))
