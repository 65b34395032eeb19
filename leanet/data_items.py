"""What an item and a batch of a user's data set must be: an ``(image, label)`` pair, the
image a standardized float tensor (or array), the label one class index in
``[0, num_classes)``. Checked once on the first pair (:func:`check_first_pair`), before a
loop runs, and on every batch's labels (:func:`model_batch`, one min and max each): items
of other kinds failed deep in torch, and labels of other ranges or shapes were scored
without a word (1-based labels gave accuracy 0.000, ``(N, 1)`` labels broadcast).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

#: What to do about an image that is not a tensor (a torchvision data set's PIL images).
TO_TENSOR = "e.g. ImageFolder(root, transform=Compose([ToTensor(), Normalize(mean, std)]))"


def shown(value: Any) -> str:
    """A short description of a bad argument for an error message."""
    text = repr(value)
    return f"{type(value).__name__} {text[:60] + '...' if len(text) > 60 else text}"


def as_tensor_or_refuse(x: Any, expected: str) -> Tensor:
    """``x`` as a tensor (a NumPy array or nested lists converted once), or a TypeError
    ``"<expected>, got <x, shortly>"``: images reach :func:`leanet.data.standardize`, a
    LEANet and a runtime in whatever form a device gives them."""
    if isinstance(x, Tensor):
        return x
    try:
        return torch.as_tensor(x)
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(f"{expected}, got {shown(x)}") from err


def model_batch(batch: Any, num_classes: int | None = None) -> Any:
    """A batch of ``(images, labels)`` as the networks take it: float images as float32
    (their dtype) and labels as long class indices (:func:`class_indices`), checked against
    ``num_classes`` when given (:func:`check_labels`); anything else, and integer images (a
    loop's row indices), as it came. A user's data set of float64 images crashed every loop
    with "expected scalar type Double but found Float", and int32 or float labels crashed
    cross-entropy."""
    if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
        return batch
    images, labels = batch
    if isinstance(images, Tensor) and images.is_floating_point():
        images = images.float()
    labels = class_indices(labels)
    if num_classes is not None:
        check_labels(labels, num_classes)
    return images, labels


def check_labels(
    labels: Tensor, num_classes: int, whose: str = "the network's num_classes"
) -> None:
    """Refuse a batch's ``labels`` unless they are one index per image (1-D) in
    ``[0, num_classes)`` (``whose`` says where that comes from): others were compared with
    the predictions as they came."""
    if labels.ndim != 1:
        raise ValueError(f"{one_per_image(labels[0] if labels.ndim else labels)} (a batch)")
    if labels.numel():
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or high >= num_classes:
            raise ValueError(
                f"labels must be class indices in [0, {num_classes}) ({whose}), got "
                f"{low if low < 0 else high}: labels counted from 1, or a "
                "split missing a class folder (ImageFolder numbers the folders it finds)?"
            )


def one_per_image(label: Tensor) -> str:
    """What is wrong with a ``label`` of shape other than ``()``, and the fix."""
    return (
        f"labels must be one class index per image, got a label of shape {tuple(label.shape)}"
        ": squeeze a (1,) label, take a one-hot label's argmax"
    )


def check_first_pair(dataset: Any, what: str, *, shape: tuple[int, ...]) -> Tensor:
    """The first image of ``dataset``, or an error before ``what`` (e.g. "fit_heads") works
    on it: items must be ``(image, label)`` pairs, images standardized floats of ``shape``
    (the network's ``image_shape``), labels one class index each. Other sizes trained
    (pooling adapts) and built tables for images the runtime then refused; labels of
    2.999999 were truncated to class 2; PIL images, ``(image, label, index)`` triples and
    dicts failed in torch's words. Callers check for a whole DataSplits first
    (:func:`leanet.data.check_one_split`), before they take its ``len``."""
    item = dataset[0]
    if not (isinstance(item, (tuple, list)) and len(item) == 2):
        got = f"{len(item)} items" if isinstance(item, (tuple, list)) else type(item).__name__
        raise TypeError(
            f"{what}: the data set's items must be (image, label) pairs, got {got}; "
            "make its __getitem__ return (image, label)"
        )
    fit = f"{what}: the data set's images do not fit:"
    try:
        image = torch.as_tensor(item[0])
    except (TypeError, ValueError, RuntimeError) as err:
        got = type(item[0]).__name__
        raise TypeError(f"{fit} they must be tensors, got {got}; {TO_TENSOR}") from err
    if tuple(image.shape) != tuple(shape):
        raise ValueError(
            f"{fit} the images are {tuple(image.shape)}, the network was built for {tuple(shape)} "
            "(its config's in_channels and input_size)"
        )
    if not image.is_floating_point():
        raise TypeError(
            f"{fit} they must be standardized floats, got {image.dtype}; convert and normalize "
            "them (e.g. x.float() / 255, then the data's mean and std)"
        )
    try:
        label = class_indices(item[1])
        if label.ndim:
            raise ValueError(one_per_image(label))
    except (TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"{what}: the data set's labels do not fit: {err}") from err
    return image


def class_indices(labels: Any) -> Tensor:
    """``labels`` as a long tensor of class indices, or a ``ValueError`` when a float label
    is not a whole number: ``.long()`` truncated 2.999999 to class 2 without a word."""
    labels = torch.as_tensor(labels)
    if labels.is_floating_point():
        fractional = (labels != labels.round()) | ~labels.isfinite()
        if fractional.any():
            shown = labels[fractional].flatten()[:3].tolist()
            raise ValueError(
                f"labels must be whole class indices, got {shown} ({labels.dtype}); round "
                "labels read as floats on purpose (labels.round()), or fix the data"
            )
    return labels.long()
