"""Metadata saved with a network reads back: numpy numbers (``np.mean``'s accuracy,
sklearn's scores) are stored as Python ones, and a value leanet could not load is refused
before the file is replaced (sweep 33: an np.float64 accuracy wrote a checkpoint no
loader opens, over a good one)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from leanet.artifact import load_artifact, save_artifact
from leanet.checkpoints import load_checkpoint, load_leanet, save_checkpoint, save_leanet
from leanet.costs import measure_costs
from leanet.data import load_dataset
from leanet.evaluator import ThresholdEvaluator
from leanet.model import build
from tests.leanet.conftest import tiny_base

NUMPY = {"n": np.int64(3), "a": np.array([0.5, 0.25]), "in_list": [np.float32(1.5)]}
PLAIN = {"n": 3, "a": [0.5, 0.25], "in_list": [1.5]}


@pytest.fixture(scope="module")
def classes():
    return load_dataset("digits8x8").classes


def test_numpy_metadata_of_a_base_checkpoint_reads_back_as_python_values(tmp_path, classes):
    path = save_checkpoint(
        tmp_path / "b.pt",
        tiny_base(),
        dataset="digits8x8",
        classes=classes,
        accuracy=np.float64(0.9),
        extra=NUMPY,
    )
    _, meta = load_checkpoint(path)
    assert meta["accuracy"] == 0.9 and type(meta["accuracy"]) is float
    assert meta["extra"] == PLAIN and type(meta["extra"]["n"]) is int


def test_numpy_metadata_of_a_leanet_and_an_artifact_reads_back(tmp_path):
    net = build(tiny_base(), fractions=(0.5, 1.0))
    path = save_leanet(tmp_path / "n.pt", net, meta=NUMPY)
    assert load_leanet(path)[1] == PLAIN
    front, costs = _front(net)
    path = save_artifact(tmp_path / "a.pt", net, front, costs, meta=NUMPY, runtime=False)
    assert load_artifact(path).meta == PLAIN


def test_an_unloadable_value_is_refused_and_the_saved_file_kept(tmp_path, classes):
    base = tiny_base()
    path = save_checkpoint(tmp_path / "b.pt", base, dataset="d", classes=classes, accuracy=0.5)
    with pytest.raises(
        TypeError, match=r"extra\['why'\] is of type object, which leanet could not"
    ):
        save_checkpoint(path, base, dataset="d", classes=classes, extra={"why": object()})
    assert load_checkpoint(path)[1]["accuracy"] == 0.5
    net = build(base, fractions=(0.5, 1.0))
    front, costs = _front(net)
    path = save_artifact(tmp_path / "a.pt", net, front, costs, meta={"ok": 1}, runtime=False)
    with pytest.raises(TypeError, match=r"meta\['why'\] is of type object"):
        save_artifact(path, net, front, costs, meta={"why": object()}, runtime=False)
    assert load_artifact(path).meta == {"ok": 1}


def _front(net):
    costs = measure_costs(net, latency=False)
    val = load_dataset("digits8x8").val.subset(torch.arange(20))
    evaluator = ThresholdEvaluator.from_model(net, val, costs, progress=False)
    return evaluator.evaluate(torch.tensor([[0.5], [1.0]], dtype=torch.float64)).pareto(), costs
