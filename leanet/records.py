"""Each level's confidence and correctness on a data set (``L x N``), computed once and cached.

A :class:`leanet.evaluator.ThresholdEvaluator` prices every threshold vector from these
records, so they are what a threshold study costs to set up: one pass of every level over
the validation data (:func:`level_records`). :func:`cached_level_records` keeps them on
disk under a fingerprint of the network and the data, so a cache is never reused for
another network, other images or records made otherwise (:data:`RECORDS_VERSION`).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import warnings
from pathlib import Path

import torch
from torch import Tensor
from tqdm.auto import tqdm

from leanet.checkpoints import cache_save
from leanet.data import batch_loader
from leanet.device import batch_memory_hint, on_device
from leanet.train_loop import bar_off

#: Inputs per level_outputs call when building records: it holds every level's activations
#: for the batch. On the MNIST ConvNet, 512 raised peak RSS by about 680 MB and 128 by at
#: most 54 MB, for the same CPU time and bit-identical records.
RECORDS_BATCH = 128


@torch.no_grad()
def level_records(
    net,
    dataset,
    *,
    batch_size: int = RECORDS_BATCH,
    device: str | torch.device = "auto",
    progress: bool = True,
) -> tuple[Tensor, Tensor]:
    """Run every level once over ``dataset``: confidence and correctness, each ``L x N``
    (on the CPU, whichever ``device`` ran the levels).

    Args:
        net: A :class:`leanet.LEANet`.
        dataset: A :class:`leanet.ImageTensorDataset`, or any data set of standardized
            ``(image, label)`` pairs (e.g. a torchvision ``ImageFolder`` with its transform).
        batch_size: Inputs per forward pass; memory grows with it (:data:`RECORDS_BATCH`;
            about 164 MB per 224 px image on VGG-11: lower it if the pass runs out).
        device: Where the levels run (:func:`leanet.device.resolve_device`).
        progress: A progress bar over the batches (shown on a terminal only): about 0.4 s
            per 224 px image on VGG-11 on one CPU thread, 6 min for 1024 images.
    """
    net.check_data(dataset, "level_records")
    confidence, correct = [], []
    # level_outputs runs in eval mode (the heads' running statistics, as the runtime uses
    # them; none updated) and restores every module's mode
    with (
        on_device(net, device) as dev,
        batch_memory_hint("level records", batch_size, "batch_size", dataset),
    ):
        # Per batch (labels long, leanet.data.model_batch): standardizing the whole set to
        # float32 first held 4x the uint8 images, +7.6 GB at peak for 4096 images at 224 px.
        batches = tqdm(
            batch_loader(dataset, batch_size, num_classes=net.num_classes),
            desc="level records",
            total=math.ceil(len(dataset) / batch_size),
            disable=bar_off(progress),
            leave=False,
        )
        for images, labels in batches:
            out = net.level_outputs(images.to(dev))
            confidence.append(out.confidence.cpu())
            correct.append(out.logits.argmax(dim=-1).cpu() == labels)
    return torch.cat(confidence, dim=1), torch.cat(correct, dim=1)


#: How :func:`level_records` computes records, kept in each level cache: bump it whenever
#: that changes (the mode the levels run in, a confidence measure), so caches of older
#: records are recomputed. A cache without one is of version 1: records in eval mode, as
#: since 001d6eb.
RECORDS_VERSION = 1


def fingerprint(net, dataset, *, batch_size: int = RECORDS_BATCH) -> str:
    """A digest of the network (configuration and every weight) and of the data: every
    standardized image, then every label, read ``batch_size`` at a time (the digest does
    not depend on it)."""
    digest = hashlib.sha256(json.dumps(net.config(), sort_keys=True, default=str).encode())
    for name, value in sorted(net.state_dict().items()):
        digest.update(name.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    labels = []
    for images, y in batch_loader(dataset, batch_size):
        digest.update(images.contiguous().numpy().tobytes())
        labels.append(y)
    for y in labels:  # after every image, as when the whole set was hashed at once
        digest.update(y.contiguous().numpy().tobytes())
    return digest.hexdigest()


def cached_level_records(
    net,
    dataset,
    path: str | os.PathLike,
    *,
    batch_size: int = RECORDS_BATCH,
    progress: bool = True,
) -> tuple[Tensor, Tensor]:
    """:func:`level_records`, cached at ``path`` with the fingerprint of ``net`` and
    ``dataset`` and the :data:`RECORDS_VERSION`. A cache made for another network or other
    data, or by a leanet that made records otherwise, is detected (a warning says so) and
    recomputed, never reused; one that cannot be written warns once and the records are
    returned all the same (:func:`leanet.checkpoints.cache_save`)."""
    path = Path(path)
    key = fingerprint(net, dataset, batch_size=batch_size)
    if path.exists():
        try:
            saved = torch.load(path, weights_only=True)
        except Exception as err:  # noqa: BLE001 - a corrupt cache is only a cache
            warnings.warn(
                f"level cache {str(path)!r} is unreadable ({err}); recomputing", stacklevel=2
            )
        else:
            version = saved.get("records_version", 1)
            if saved.get("fingerprint") != key:
                why = "was made for another network or data"
            elif version != RECORDS_VERSION:
                why = (
                    f"was made by another leanet version, which computed records otherwise "
                    f"(records version {version}, this one makes version {RECORDS_VERSION})"
                )
            else:
                return saved["confidence"], saved["correct"]
            warnings.warn(f"level cache {str(path)!r} {why}; recomputing", stacklevel=2)
    confidence, correct = level_records(net, dataset, batch_size=batch_size, progress=progress)
    records = {"fingerprint": key, "records_version": RECORDS_VERSION}
    records |= {"confidence": confidence, "correct": correct}
    cache_save(records, path, what="level cache", instead="the records are kept in memory only")
    return confidence, correct
