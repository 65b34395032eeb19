"""Metadata saved with a network reads back: numpy numbers (``np.mean``'s accuracy,
sklearn's scores) are stored as Python ones, and a value leanet could not load is refused
before the file is replaced (sweep 33: an np.float64 accuracy wrote a checkpoint no
loader opens, over a good one)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from leanet.artifact import load_artifact, save_artifact
from leanet.checkpoints import (
    CheckpointError,
    leanet_from_checkpoint,
    load_checkpoint,
    load_leanet,
    save_checkpoint,
    save_leanet,
)
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


def test_a_file_of_another_kind_is_refused_naming_what_it_is(tmp_path, classes):
    """Each wrong file a user passes for a checkpoint gets a CheckpointError saying what it
    is (and no code from it is run), not a KeyError or torch's advice to load unsafely."""
    base = tiny_base()
    good = save_checkpoint(tmp_path / "b.pt", base, dataset="d", classes=classes)
    with pytest.raises(CheckpointError, match="is a folder, not a checkpoint file"):
        load_checkpoint(tmp_path)
    artifact = tmp_path / "a.pt"
    artifact.write_bytes(b"LEANET-ARTIFACT\n" + good.read_bytes())
    with pytest.raises(CheckpointError, match="is a LEANet artifact .* `leanet report` reads"):
        load_checkpoint(artifact)
    bare = tmp_path / "bare.pt"
    torch.save(base.state_dict(), bare)
    with pytest.raises(CheckpointError, match="without leanet's format tag .* `leanet train`"):
        load_checkpoint(bare)
    whole = tmp_path / "whole.pt"
    torch.save(base, whole)  # a whole model: unpickling it would run code
    with pytest.raises(CheckpointError, match=r"pickled Python objects.*torch.save\(model\)"):
        load_checkpoint(whole)
    payload = torch.load(good, weights_only=True)
    del payload["state_dict"]
    torch.save(payload, bare)
    with pytest.raises(CheckpointError, match=r"without \['state_dict'\] \(damaged\?\)"):
        load_checkpoint(bare)
    net = save_leanet(tmp_path / "n.pt", build(base, fractions=(0.5, 1.0)))
    with pytest.raises(CheckpointError, match="expected a 'leanet.leanet/1' .* 'leanet.base/1'"):
        load_leanet(good)
    with pytest.raises(CheckpointError, match="expected a 'leanet.base/1' .* 'leanet.leanet/1'"):
        load_checkpoint(net)
    # a LEANet embedded in another file (an artifact) is checked alike
    with pytest.raises(CheckpointError, match="^in.pt: expected a 'leanet.leanet/1' .* 'leanet"):
        leanet_from_checkpoint(torch.load(good, weights_only=True), source="in.pt")


def test_a_loaded_leanet_is_the_saved_one_or_refused(tmp_path, classes):
    """What loads is the network that was saved, ready to evaluate: eval mode, metadata
    without the weights; a file whose weights or recorded layers do not fit it is
    refused by name, not loaded with default weights."""
    base = tiny_base()
    good = save_checkpoint(tmp_path / "b.pt", base, dataset="d", classes=classes)
    loaded, meta = load_checkpoint(good)
    assert not loaded.training and "state_dict" not in meta and meta["dataset"] == "d"
    net = build(base, fractions=(0.5, 1.0))
    path = save_leanet(tmp_path / "n.pt", net)
    payload = torch.load(path, weights_only=True)
    # the shared features are the base's, stored once
    assert not any(k.startswith("levels.features.") for k in payload["state_dict"])
    assert any(k.startswith("base.features.") for k in payload["state_dict"])
    loaded, _ = load_leanet(path)
    assert not loaded.training
    head = next(k for k in payload["state_dict"] if k.startswith("heads."))

    def edited(change):
        copy = torch.load(path, weights_only=True)
        change(copy)
        torch.save(copy, tmp_path / "edited.pt")
        return tmp_path / "edited.pt"

    with pytest.raises(CheckpointError, match=rf"weights do not fit \(missing \['{head}'\]"):
        load_leanet(edited(lambda c: c["state_dict"].pop(head)))
    with pytest.raises(CheckpointError, match=r"unexpected \['extra.weight'\]"):
        load_leanet(edited(lambda c: c["state_dict"].update({"extra.weight": torch.ones(1)})))
    with pytest.raises(CheckpointError, match="not the network that was saved: .* modules, not"):
        load_leanet(edited(lambda c: c["layers"].append("extra: Linear(in_features=1)")))
    # a base file recording other layers than its config rebuilds (edited, or another
    # version's) is refused too
    payload = torch.load(good, weights_only=True)
    at = next(i for i, layer in enumerate(payload["layers"]) if ": ReLU(" in layer)
    payload["layers"][at] = payload["layers"][at].replace("ReLU(", "ReLU6(")
    torch.save(payload, tmp_path / "edited.pt")
    with pytest.raises(CheckpointError, match="not the network that was saved"):
        load_checkpoint(tmp_path / "edited.pt")


def test_a_cache_folder_that_cannot_be_written_warns_once_until_a_write_succeeds(
    tmp_path, monkeypatch
):
    import warnings

    import leanet.checkpoints as checkpoints

    def full(obj, path):
        raise OSError(28, "No space left on device", str(path))

    def save(obj):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ok = checkpoints.cache_save(obj, tmp_path / "c" / "x.pt", what="cache", instead="kept")
        return ok, [str(w.message) for w in caught]

    with monkeypatch.context() as patch:
        patch.setattr(checkpoints, "atomic_save", full)
        assert save(1) == (
            False,
            [f"cache {str(tmp_path / 'c')!r} cannot be written (No space left on device): kept"],
        )
        assert save(2) == (False, [])  # said once for the folder
    assert save(3) == (True, [])
    with monkeypatch.context() as patch:
        patch.setattr(checkpoints, "atomic_save", full)
        ok, said = save(4)  # full again after a write succeeded: said again
        assert not ok and len(said) == 1


def _front(net):
    costs = measure_costs(net, latency=False)
    val = load_dataset("digits8x8").val.subset(torch.arange(20))
    evaluator = ThresholdEvaluator.from_model(net, val, costs, progress=False)
    return evaluator.evaluate(torch.tensor([[0.5], [1.0]], dtype=torch.float64)).pareto(), costs
