"""The optimization loop every trainer of :mod:`leanet.train` shares, and how to stop and
resume it.

AdamW, a per-step cosine schedule over all ``epochs``, shuffling seeded per epoch (a last
batch of one item merged into the one before), torch's global RNG (dropout, ...) seeded
inside and restored after. A run may stop after its first ``until`` epochs and later
continue from a :class:`TrainState`: the two parts give the weights of one uninterrupted
run, bit for bit, so a short run that is the prefix of a long one costs nothing twice. The
design search uses that (``leanet.design``, a cheap fidelity continued to the target
fidelity, like freeze-thaw continuation in hyperparameter search).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from leanet.data import batch_loader

__all__ = ["TrainResult", "TrainState", "bar_off", "epochs_loop"]


def bar_off(progress: bool) -> bool | None:
    """tqdm's ``disable``: off when asked, else shown only on a terminal (None), so a log
    file gets no progress-bar lines."""
    return None if progress else True


@dataclass
class TrainState:
    """Where a run stopped (``until``): what :func:`epochs_loop` needs to continue it.

    ``settings`` are the run's (epochs, learning rate, ...): a state continues only the
    run it came from. The weights are not here; they live in the trained module. A state is
    a record: resuming from it never changes it, so one state can continue several copies
    of a network (the design search continues one prefix to several fidelities).

    ``teacher``: the weights of the network a distilling run learns from, when the trainer
    cannot find it again in the module (:func:`leanet.fine_tune` on depth levels: it trains
    the very backbone its teacher was copied from); None otherwise."""

    epoch: int
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    rng: Tensor
    settings: dict[str, Any]
    teacher: dict[str, Tensor] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain containers and tensors (loadable with ``torch.load(weights_only=True)``)."""
        return {
            "epoch": self.epoch,
            "optimizer": self.optimizer,
            "scheduler": self.scheduler,
            "rng": self.rng,
            "settings": self.settings,
            "teacher": self.teacher,
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> TrainState:
        fields = ("epoch", "optimizer", "scheduler", "rng", "settings")
        return cls(**{k: state[k] for k in fields}, teacher=state.get("teacher"))  # older: none


@dataclass
class TrainResult:
    """What a training run did: per-epoch history, wall-clock seconds, final accuracy, and
    (when it stopped early with ``until``) the state to continue it from."""

    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    accuracy: float | list[float] = float("nan")
    best_epoch: int | None = None  # 1-based epoch whose weights were kept (early stopping)
    state: TrainState | None = None


def epochs_loop(
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
    device: torch.device | None = None,
    until: int | None = None,
    resume: TrainState | None = None,
    num_classes: int | None = None,
) -> TrainResult:
    """Run epochs ``[resume.epoch or 0, until or epochs)`` of an ``epochs``-epoch schedule.

    With ``until`` < ``epochs`` the result's ``state`` continues the run (``resume=``); the
    learning rate has then not decayed to zero. A state from another run (other epochs,
    learning rate, batch size, seed or parameter count) is refused. With ``num_classes``
    every batch's labels are checked (:func:`leanet.data_items.check_labels`)."""
    settings = {
        "epochs": epochs,
        "lr": lr,
        "weight_decay": weight_decay,
        "batch_size": batch_size,
        "seed": seed,
        "num_params": len(params),
    }
    first = 0 if resume is None else resume.epoch
    last = epochs if until is None else until
    if not first < last <= epochs:
        raise ValueError(
            f"until must be in ({first}, {epochs}] (the epochs already run, the schedule's "
            f"epochs), got {until}"
        )
    if resume is not None and resume.settings != settings:
        changed = sorted(k for k in settings if resume.settings.get(k) != settings[k])
        raise ValueError(
            f"resume: the state comes from another run (its {', '.join(changed)} differ: "
            f"{ {k: resume.settings.get(k) for k in changed} } against "
            f"{ {k: settings[k] for k in changed} })"
        )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
        # A last batch of one image joins the one before it: batch norm in training mode
        # cannot normalize a single value per channel (the heads' BatchNorm1d refused it).
        steps_per_epoch = len(batch_loader(train, batch_size, min_last=2))
        steps = epochs * steps_per_epoch
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(steps, 1))
        if resume is not None:
            # A copy: load_state_dict keeps tensors of matching dtype and device, which
            # AdamW then updates in place, so a second resume started from the first's end.
            opt.load_state_dict(copy.deepcopy(resume.optimizer))
            sched.load_state_dict(resume.scheduler)
            torch.set_rng_state(resume.rng)
        result = TrainResult()
        start = time.perf_counter()
        bar = tqdm(
            total=(last - first) * steps_per_epoch,
            desc=desc,
            disable=bar_off(progress),
            leave=False,
        )
        for epoch in range(first, last):
            total_loss, n = 0.0, 0
            batches = batch_loader(
                train,
                batch_size,
                shuffle=True,
                seed=seed + epoch,
                min_last=2,
                num_classes=num_classes,
            )
            for x, y in batches:
                if device is not None:
                    x, y = x.to(device), y.to(device)
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
            stop = row.pop("stop", False)
            result.history.append(row)
            if stop:  # early stopping asked for by on_epoch_end
                break
        else:
            if last < epochs:
                result.state = TrainState(
                    epoch=last,
                    optimizer=copy.deepcopy(opt.state_dict()),  # detached from `opt`
                    scheduler=copy.deepcopy(sched.state_dict()),
                    rng=torch.get_rng_state(),
                    settings=settings,
                )
        bar.close()
        result.seconds = time.perf_counter() - start
        return result
