"""Batch-norm recalibration: the backbone's running statistics recomputed on training data.

Width levels need it after building: the pretrained statistics describe channels that read
every input channel, a triangular level's channels do not. One pass serves every level,
since a channel's values do not depend on the level (measured: VGG-16 on the 8x8 digits,
``leanet/levels.py``). Apart from :mod:`leanet.train` because it trains nothing: it only
measures, and must leave the caller's network as it was if it fails.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from leanet.data import batch_loader
from leanet.device import batch_memory_hint, evaluating, module_device
from leanet.levels import DepthLevels, WidthLevels
from leanet.model import LEANet
from leanet.train_loop import bar_off

__all__ = ["recalibrate_batch_norm"]


@torch.no_grad()
def recalibrate_batch_norm(
    net: LEANet, train: Dataset, *, batch_size: int = 256, progress: bool = True
) -> None:
    """Recompute the backbone's batch-norm running statistics on `train` (in place).

    Each statistic becomes the mean over batches of the batch statistics, as
    ``torch.optim.swa_utils.update_bn`` computes them. Width levels (triangular, and the
    shared levels of the hybrid): one pass through the widest shared level sets every
    channel, valid for every level since a channel's values do not depend on the level.
    Depth levels: the backbone itself, its batch norms measuring while every other layer
    (dropout too) runs as at inference. All or nothing: a pass that fails or is
    interrupted leaves the statistics as they were. ``progress``: a bar over the batches,
    shown on a terminal only (about 0.2 s per 224 px image on VGG-11 on one CPU thread).

    Raises:
        ValueError: for the ``"slice"`` scheme, whose channels change with the level (one
            set of statistics cannot serve every level: that needs switchable batch norm,
            :class:`leanet.baselines.SlimmableNet`), and for images `net` was not built
            for (:meth:`LEANet.check_data`).
    """
    levels = net.levels
    if not isinstance(levels, WidthLevels | DepthLevels):
        raise TypeError(f"recalibrate_batch_norm: unsupported levels {type(levels).__name__}")
    if isinstance(levels, WidthLevels) and levels.scheme == "slice":
        raise ValueError(
            "recalibrate_batch_norm: under scheme='slice' a channel's values depend on the "
            "level, so one set of batch-norm statistics cannot serve every level"
        )
    net.check_data(train, "recalibrate_batch_norm")
    device = module_device(net)
    batches = tqdm(
        batch_loader(train, batch_size), desc="batch norm", disable=bar_off(progress), leave=False
    )
    with (
        evaluating(net),
        _all_or_nothing(net.base.features),
        batch_memory_hint("recalibrate_batch_norm", batch_size, "batch_size", train),
    ):
        if isinstance(levels, WidthLevels):
            with levels.batch_norm_updates(1.0):
                for b, (x, _) in enumerate(batches):
                    levels.bn_momentum = 1.0 / (b + 1)
                    levels.run_level(x.to(device), levels.shared_levels)
        else:
            _measure_batch_norm(net.base.features, batches, device)


def _batch_norms(module: nn.Module) -> list[nn.Module]:
    """The batch norms inside ``module``, which recalibration measures and restores."""
    return [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@contextlib.contextmanager
def _all_or_nothing(features: nn.Module) -> Iterator[None]:
    """The batch norms of ``features`` as they were if the block fails (an item that does
    not load, Ctrl-C): depth levels reset every statistic first, so an interrupted pass
    left mean 0 / variance 1 and ``momentum=None`` behind, in the caller's base when built
    with ``copy=False``. The momenta come back in any case."""
    norms = _batch_norms(features)
    saved = [(m.momentum, copy.deepcopy(m.state_dict())) for m in norms]
    try:
        yield
    except BaseException:
        for m, (_, state) in zip(norms, saved, strict=True):
            m.load_state_dict(state)
        raise
    finally:
        for m, (momentum, _) in zip(norms, saved, strict=True):
            m.momentum = momentum


def _measure_batch_norm(features: nn.Module, batches: Any, device: torch.device) -> None:
    """``update_bn``'s mean of batch statistics with only the batch norms in training mode:
    ``update_bn`` trains the whole module, so a dropout inside dropped activations while they
    were measured (variances 1.4-1.8x those inference sees). Modes come back after; the
    momenta, and the statistics on a failure, through :func:`_all_or_nothing`."""
    norms = _batch_norms(features)
    with evaluating(features):
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # a cumulative mean over the batches
            m.train()
        for x, _ in batches:
            features(x.to(device))
