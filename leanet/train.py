"""Training: base networks, per-level heads, batch-norm recalibration, joint fine-tuning.

- :func:`train_base` trains a :class:`leanet.zoo.BaseNet` (AdamW, cosine schedule, seeded
  shuffling) with a tqdm progress bar.
- :func:`fit_heads` trains each level's head on frozen backbone features (the default
  LEANet training of [Jayakodi2020]): the pooled features of every level are computed once,
  then only the heads learn.
- :func:`recalibrate_batch_norm` (:mod:`leanet.batch_norm`, re-exported here) recomputes
  the backbone's batch-norm statistics on training data, which width levels need after
  building.
- :func:`fine_tune` is the explicit option that also trains the backbone, with the sum of
  every level's cross-entropy as the loss (optionally plus distillation from the pretrained
  network), batch norm on batch statistics, the statistics recomputed after each epoch and,
  given a validation split, early stopping on its accuracy. Without batch-norm
  recalibration and with a few epochs it recovered the ConvNet's accuracy (97.6% against the
  base's 97.7%) but only part of VGG-16's and MobileNet's (89.6% against 95.7%, 79.9% against
  85.7%; ``benchmarks/results/leanet_levels.md``); with recalibration and the study's recipes
  the width levels score within 0.5 points of the full network on the MNIST digits
  (medians over 3 seeds, ``benchmarks/results/leanet_seeds.md``).

The loop they share, which can stop and resume, is :mod:`leanet.train_loop`; fine-tuning's
teacher and distillation loss are :mod:`leanet.distillation`; checkpoint files live in
:mod:`leanet.checkpoints`.

[Jayakodi2020] Jayakodi, Belakaria, Deshwal, Doppa. ACM TECS 19(1), 2020.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import numbers
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from leanet.batch_norm import recalibrate_batch_norm
from leanet.data import batch_loader, check_one_split
from leanet.data_items import check_first_pair, check_labels
from leanet.device import batch_memory_hint, evaluating, module_device, on_device
from leanet.distillation import default_teacher, distillation_loss, run_teacher
from leanet.levels import WidthLevels
from leanet.model import LEANet
from leanet.train_loop import TrainResult, TrainState, bar_off, epochs_loop
from leanet.zoo import BaseNet, image_shape

__all__ = [
    "TrainResult",
    "TrainState",
    "default_teacher",  # leanet.distillation's, where fine_tune's callers found it
    "evaluate",
    "evaluate_levels",
    "fine_tune",
    "fit_heads",
    "recalibrate_batch_norm",  # leanet.batch_norm's, where callers found it
    "train_base",
]


def evaluate(model: Callable[[Tensor], Tensor], dataset: Dataset, batch_size: int = 512) -> float:
    """Top-1 accuracy (fraction in [0, 1]) of `model` (images -> logits) on `dataset`."""
    correct = correct_predictions(model, dataset, batch_size)
    return int(correct.sum()) / max(correct.numel(), 1)


@torch.no_grad()
def correct_predictions(
    model: Callable[[Tensor], Tensor], dataset: Dataset, batch_size: int = 512
) -> Tensor:
    """One boolean per input of `dataset`, in order: is `model`'s top-1 prediction right.
    Float images reach a module in its own float dtype (a float64 or float16 base); labels
    must be class indices of its logits (:func:`leanet.data_items.check_labels`)."""
    device = module_device(model) if isinstance(model, nn.Module) else torch.device("cpu")
    dtype = _float_dtype(model)
    correct = []
    with evaluating(model):
        for x, y in batch_loader(dataset, batch_size):
            logits = model(_as_input(x, device, dtype))
            check_labels(y, logits.shape[-1])
            correct.append((logits.argmax(dim=-1) == y.to(device)).cpu())
    return torch.cat(correct) if correct else torch.zeros(0, dtype=torch.bool)


def _float_dtype(model: Any) -> torch.dtype | None:
    """The float dtype of a module's weights (None for a plain function, or no float
    weights): the loaders give float32 images (leanet.data.model_batch), and a base kept
    in float64 or float16, which these loops ran before, failed on them deep in torch."""
    if isinstance(model, nn.Module):
        for t in (*model.parameters(), *model.buffers()):
            if t.is_floating_point():
                return t.dtype
    return None


def _as_input(x: Tensor, device: torch.device, dtype: torch.dtype | None) -> Tensor:
    """Images ``x`` on ``device``, float ones in ``dtype`` (when given)."""
    return x.to(device, dtype) if dtype is not None and x.is_floating_point() else x.to(device)


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
    device: str | torch.device = "auto",
) -> TrainResult:
    """Train a base network in place with cross-entropy.

    Returns a :class:`TrainResult` whose ``accuracy`` is the final accuracy on `val`
    (NaN without `val`) and whose history holds per-epoch mean loss (and val accuracy).
    ``device``: where to train (:func:`leanet.device.resolve_device`; the model comes back).
    """
    for name, data in (("train", train), ("val", val)):
        check_one_split(data, f"train_base {name}")  # before len(): a DataSplits has none
        if data is not None and len(data):
            check_first_pair(data, f"train_base {name}", shape=image_shape(model.config))
    model.train()
    dtype = _float_dtype(model)

    def step_loss(x: Tensor, y: Tensor) -> Tensor:
        return F.cross_entropy(model(_as_input(x, x.device, dtype)), y)

    def on_epoch_end(_: int) -> dict[str, float]:
        if val is None:
            return {}
        acc = evaluate(model, val)
        model.train()
        return {"val_accuracy": acc}

    with on_device(model, device) as dev:
        result = epochs_loop(
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
            num_classes=int(model.config["num_classes"]),
            on_epoch_end=on_epoch_end,
            device=dev,
        )
    model.eval()
    if val is not None:
        result.accuracy = result.history[-1]["val_accuracy"]
    return result


# -- heads and fine-tuning ----------------------------------------------------------------
@torch.no_grad()
def _pooled_features(
    net: LEANet, dataset: Dataset, batch_size: int, progress: bool, upto: int
) -> tuple[list[Tensor], Tensor]:
    """The pooled, flattened head inputs of levels 1..`upto` (tensors `N x D_k`) and the
    labels (`N`)."""
    net.eval()
    feats: list[list[Tensor]] = [[] for _ in range(upto)]
    labels = []
    device = module_device(net)
    batches = tqdm(
        batch_loader(dataset, batch_size, num_classes=net.num_classes),
        desc="level features",
        disable=bar_off(progress),
        leave=False,
    )
    with batch_memory_hint("fit_heads' feature pass", batch_size, "feature_batch_size", dataset):
        for x, y in batches:
            x, y = x.to(device), y.to(device)
            for k, f in enumerate(net.level_features(x, upto=upto)):
                feats[k].append(net.heads[k].pooled(f))
            labels.append(y)
    return [torch.cat(f) for f in feats], torch.cat(labels)


@torch.no_grad()
def evaluate_levels(net: LEANet, dataset: Dataset, batch_size: int = 512) -> list[float]:
    """Test accuracy (fraction) of every level on `dataset`, no early exit (the modes of
    `net`'s modules are left as they were: a training loop may validate every epoch)."""
    net.check_data(dataset, "evaluate_levels")
    correct = torch.zeros(net.num_levels)
    total = 0
    device = module_device(net)
    with batch_memory_hint("evaluate_levels", batch_size, "batch_size", dataset):
        for x, y in batch_loader(dataset, batch_size, num_classes=net.num_classes):
            logits = net.level_outputs(x.to(device)).logits
            correct += (logits.argmax(dim=-1) == y.to(device)).sum(dim=1).float().cpu()
            total += y.numel()
    return (correct / max(total, 1)).tolist()


def _trained_levels(net: LEANet) -> list[int]:
    """0-based levels whose head trains: all but a frozen one (the hybrid's pretrained
    classifier on top), so nothing past the last of them needs computing while training."""
    return [
        k for k, head in enumerate(net.heads) if any(p.requires_grad for p in head.parameters())
    ]


def fit_heads(
    net: LEANet,
    train: Dataset,
    *,
    val: Dataset | None = None,
    epochs: int = 30,
    lr: float = 3e-3,
    weight_decay: float = 1e-4,
    batch_size: int = 128,
    feature_batch_size: int = 512,
    seed: int = 0,
    progress: bool = True,
    device: str | torch.device = "auto",
) -> TrainResult:
    """Train every level's head on frozen backbone features.

    The backbone runs once over `train` (pooled features of every level cached), then the
    heads train on the cache; the heads are independent, so training them together with
    the summed loss equals training each alone. A frozen head (the pretrained classifier of
    the hybrid scheme's top level) is left as it is. ``accuracy`` of the result is the list
    of per-level accuracies on `val` (if given). ``device`` as in :func:`train_base`.

    ``batch_size`` is the heads' mini-batch (it changes what they learn);
    ``feature_batch_size`` the images per backbone pass, over `train` and `val` (it bounds
    memory only: every level's activations per image, about 160 MB at 224 px on VGG-11).
    """
    net.check_data(train, "fit_heads")
    if val is not None:  # before the heads train, not after
        net.check_data(val, "fit_heads val")
    trained = _trained_levels(net)
    with on_device(net, device) as dev:
        feats, labels = _pooled_features(
            net, train, feature_batch_size, progress, upto=trained[-1] + 1
        )
        cached = _FeatureCache(feats, labels)
        heads = [(net.heads[k], feats[k]) for k in trained]

        def step_loss(idx: Tensor, _: Tensor) -> Tensor:
            y = labels[idx]
            return sum(F.cross_entropy(h.mlp(f[idx]), y) for h, f in heads)

        net.train()
        try:
            result = epochs_loop(
                [p for h, _ in heads for p in h.parameters()],
                step_loss,
                cached,
                epochs=epochs,
                lr=lr,
                weight_decay=weight_decay,
                batch_size=batch_size,
                seed=seed,
                progress=progress,
                desc="fit heads",
                device=dev,
            )
        finally:
            net.eval()  # a failed run too, as fine_tune: net(x, T) refuses training mode
    if val is not None:
        with batch_memory_hint("fit_heads val", feature_batch_size, "feature_batch_size", val):
            result.accuracy = evaluate_levels(net, val, feature_batch_size)
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


#: fine_tune's numeric settings: the bound each must keep, and whether it may equal it.
_FINE_TUNE_BOUNDS = {
    "distill": (0.0, True),
    "temperature": (0.0, False),
    "lr": (0.0, True),  # 0 is allowed: a run that changes nothing (tests use it)
    "weight_decay": (0.0, True),
}


def check_fine_tune_options(options: Mapping[str, Any], what: str = "fine_tune") -> None:
    """Refuse :func:`fine_tune` options it does not take, or numeric ones out of range,
    before anything trains: a design search would otherwise learn of it one failed design
    at a time (each after its heads were fitted)."""
    unknown = set(options) - set(inspect.signature(fine_tune).parameters)
    if unknown:
        raise TypeError(f"{what}: leanet.fine_tune takes no {sorted(unknown)}")
    for name, (low, inclusive) in _FINE_TUNE_BOUNDS.items():
        value = options.get(name, low + 1.0)
        number = isinstance(value, numbers.Real) and not isinstance(value, bool)  # NumPy's too
        if not number or not (value >= low if inclusive else value > low):
            hint = ""
            if isinstance(value, tuple | list):  # e.g. a study recipe's weights to choose among
                hint = " (one value a run: to compare several, fine-tune once per value)"
            raise ValueError(
                f"{what}: {name} must be a number {'>=' if inclusive else '>'} {low:g}, "
                f"got {value!r}{hint}"
            )


def fine_tune(
    net: LEANet,
    train: Dataset,
    *,
    val: Dataset | None = None,
    epochs: int = 10,
    patience: int | None = 3,
    distill: float = 0.0,
    temperature: float = 4.0,
    teacher: nn.Module | None = None,
    lr: float = 5e-4,
    weight_decay: float = 1e-4,
    batch_size: int = 64,
    seed: int = 0,
    progress: bool = True,
    device: str | torch.device = "auto",
    until: int | None = None,
    resume: TrainState | None = None,
) -> TrainResult:
    """Jointly fine-tune backbone and heads: loss = sum over levels of cross-entropy
    (+ ``distill`` times the distillation loss from `teacher`).

    An explicit option (it changes the weights held by `net`; the caller's base network is
    untouched when `net` was built with ``copy=True``). Level features are computed
    incrementally, so the block-triangular structure is kept and reuse stays exact. The
    hybrid scheme's pretrained top level stays frozen.

    Batch norm cannot collapse: width levels normalize with batch statistics while training
    (their running statistics follow, momentum 0.1), and after every epoch the running
    statistics are recomputed on `train` (:func:`recalibrate_batch_norm`) before anything
    is evaluated. With `val`, the epoch with the best mean accuracy over the trained levels
    is kept, and training stops after `patience` epochs without improvement (None: never).
    Without it every epoch runs and the cosine schedule ends at zero, which the study
    prefers: early stopping halted MobileNet while the learning rate was still high (levels
    up to 2.5 points lower on test) and chooses on the split the thresholds are later
    chosen on (``benchmarks/study_networks.py``, FINE_TUNE).
    Depth levels keep the backbone's batch norm frozen.

    Args:
        epochs: Epochs of the cosine learning-rate schedule (AdamW at ``lr``, ``weight_decay``,
            mini-batches of ``batch_size`` shuffled by ``seed``), as in :func:`train_base`.
        distill: Weight of the distillation loss (0: none).
        temperature: Softmax temperature of the distillation.
        teacher: Images -> logits; default :func:`default_teacher` (for depth levels
            copied before the run's first epoch; a ``state`` carries the copy).
        device: As in :func:`train_base`.
        until: Stop after this many of the ``epochs`` (the cosine schedule's length); the
            result's ``state`` then continues the run (``resume=``), without ``val``.
        resume: A ``state`` of an earlier call with ``until`` on the same `net`: run the
            remaining epochs. Both calls give the weights of one uninterrupted run, bit for
            bit (:mod:`leanet.train_loop`).

    ``accuracy`` of the result is the per-level accuracy on `val` of the kept weights.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    check_fine_tune_options(
        {"distill": distill, "temperature": temperature, "lr": lr, "weight_decay": weight_decay}
    )
    if patience is not None and patience < 1:
        raise ValueError(f"patience must be >= 1 or None, got {patience}")
    if val is not None and (until is not None or resume is not None):
        # The best epoch's weights are kept across one call only.
        raise ValueError("fine_tune: until and resume run without val (early stopping)")
    net.check_data(train, "fine_tune")
    if val is not None:
        net.check_data(val, "fine_tune val")
    levels = net.levels
    width = isinstance(levels, WidthLevels)
    if width and levels.scheme == "slice":  # before any weight changes, not after an epoch
        raise ValueError(
            "fine_tune: under scheme='slice' a channel's batch-norm statistics depend on the "
            "level, so they cannot be recomputed after each epoch; fine-tune a 'hybrid' or "
            "'triangular' LEANet, or fit the slice scheme's heads only (fit_heads)"
        )
    trained = _trained_levels(net)
    upto = trained[-1] + 1
    teacher, carried = run_teacher(net, teacher, distill, resume)

    def step_loss(x: Tensor, y: Tensor) -> Tensor:
        with levels.batch_norm_updates(0.1) if width else contextlib.nullcontext():
            maps = net.level_features(x, upto=upto)
        logits = [net.heads[k](maps[k]) for k in trained]
        loss = sum(F.cross_entropy(z, y) for z in logits)
        if distill > 0:
            with torch.no_grad():
                soft = teacher(x)
            loss = loss + distill * sum(distillation_loss(z, soft, temperature) for z in logits)
        return loss

    best: dict[str, Any] = {"score": -1.0, "epoch": 0, "state": None, "accuracy": None}

    def on_epoch_end(epoch: int) -> dict[str, float]:
        if width:
            recalibrate_batch_norm(net, train, progress=progress)
        row: dict[str, float] = {}
        if val is not None:
            acc = evaluate_levels(net, val)
            score = sum(acc[k] for k in trained) / max(len(trained), 1)
            row["val_accuracy"] = score
            if score > best["score"]:
                best.update(
                    score=score, epoch=epoch, state=copy.deepcopy(net.state_dict()), accuracy=acc
                )
            elif patience is not None and epoch - best["epoch"] >= patience:
                row["stop"] = 1.0
        net.train()
        return row

    with (
        on_device(net, device) as dev,
        on_device(teacher, dev) if teacher is not None else contextlib.nullcontext(),
        # Fixed soft labels: a teacher in training mode drew them from batch statistics and
        # dropout, and overwrote its own running statistics (its modes come back after).
        evaluating(teacher),
    ):
        try:
            net.train()
            result = epochs_loop(
                [p for p in net.parameters() if p.requires_grad],
                step_loss,
                train,
                epochs=epochs,
                lr=lr,
                weight_decay=weight_decay,
                batch_size=batch_size,
                seed=seed,
                progress=progress,
                desc="fine-tune",
                num_classes=net.num_classes,
                on_epoch_end=on_epoch_end,
                device=dev,
                until=until,
                resume=resume,
            )
        finally:
            net.eval()  # a failed run too: a net in training mode refuses net(x, T)
    if result.state is not None:
        result.state.teacher = carried
    if best["state"] is not None:  # val was given: keep the best epoch, already evaluated
        net.load_state_dict(best["state"])
        result.best_epoch = best["epoch"] + 1
        result.accuracy = best["accuracy"]
    return result
