"""The training-split price benchmark (``benchmarks/train_split_cost.py``): the smaller
split is the training split less exactly the moved images, drawn by the seed."""

from __future__ import annotations

import torch

from leanet.data import load_dataset
from tests.benchmark_scripts import load_benchmark


def test_smaller_split_drops_the_moved_images_by_seed():
    module = load_benchmark("train_split_cost")
    train = load_dataset("digits8x8", seed=0).train
    less = module.smaller(train, 100, seed=0)
    assert len(less) == len(train) - 100
    images = {tuple(x.flatten().tolist()) for x in train.tensors()[0]}
    assert all(tuple(x.flatten().tolist()) in images for x in less.tensors()[0])
    again, other = module.smaller(train, 100, seed=0), module.smaller(train, 100, seed=1)
    assert torch.equal(less.tensors()[0], again.tensors()[0])
    assert not torch.equal(less.tensors()[0], other.tensors()[0])
    assert torch.equal(less.mean, train.mean)  # standardized as the whole split
