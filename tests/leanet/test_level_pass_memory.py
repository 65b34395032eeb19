"""Level passes at a user's image size: batches the caller can bound, an out-of-memory
error that says what to lower (sweep 30: a 224 px VGG-11 holds ~160 MB per image)."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch

import leanet.batch_norm
import leanet.records
import leanet.train
from leanet.data import ImageTensorDataset
from leanet.device import BatchMemoryError
from leanet.evaluator import ThresholdEvaluator
from leanet.model import build
from leanet.records import cached_level_records, fingerprint, level_records
from leanet.train import evaluate_levels, fit_heads, recalibrate_batch_norm
from tests.leanet.conftest import tiny_base

#: What torch's CPU allocator raises when an allocation does not fit (sweep 30, r1.out).
ALLOCATOR_ERROR = (
    "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate "
    "memory: you tried to allocate 256901120 bytes. Error code 12 (Cannot allocate memory)"
)


@pytest.fixture
def net():
    return build(tiny_base("convnet"), num_levels=3)


@pytest.fixture
def data(digits):
    return digits.val.subset(torch.arange(64))


def spy_batches(net, monkeypatch, fail: bool = False) -> list[int]:
    """Record the batch size of every level pass (or fail it as the allocator does)."""
    sizes: list[int] = []
    level_features = net.level_features

    def spy(x, **kwargs):
        sizes.append(x.shape[0])
        if fail:
            raise RuntimeError(ALLOCATOR_ERROR)
        return level_features(x, **kwargs)

    monkeypatch.setattr(net, "level_features", spy)
    monkeypatch.setattr(net.levels, "run_level", lambda x, k: spy(x)[k - 1])
    return sizes


def test_fit_heads_feature_pass_takes_the_callers_batch(net, data, monkeypatch):
    # The feature pass ran min(N, 512) images at once whatever the caller passed.
    sizes = spy_batches(net, monkeypatch)
    fit_heads(net, data, val=data, epochs=1, feature_batch_size=8, progress=False)
    assert sizes and max(sizes) == 8 and sum(sizes) == 2 * len(data)


def test_default_feature_batch_keeps_the_heads_bit_identical(net, data):
    again = build(tiny_base("convnet"), num_levels=3)
    fit_heads(net, data, epochs=1, progress=False)
    fit_heads(again, data, epochs=1, feature_batch_size=len(data), progress=False)
    for a, b in zip(net.heads.parameters(), again.heads.parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize(
    ("step", "call", "says"),
    [
        (
            "recalibrate",
            lambda net, data: recalibrate_batch_norm(net, data, batch_size=32),
            "recalibrate_batch_norm at batch_size=32 ran out of memory (images 1 x 8 x 8): "
            "pass a smaller batch_size, e.g. batch_size=4",
        ),
        (
            "fit_heads",
            lambda net, data: fit_heads(net, data, epochs=1, feature_batch_size=64),
            "fit_heads' feature pass at feature_batch_size=64 ran out of memory "
            "(images 1 x 8 x 8): pass a smaller feature_batch_size, e.g. feature_batch_size=8",
        ),
        (
            "records",
            lambda net, data: ThresholdEvaluator.from_model(net, data, costs=None),
            "level records at batch_size=128 ran out of memory (images 1 x 8 x 8): "
            "pass a smaller batch_size, e.g. batch_size=16",
        ),
        (
            "evaluate_levels",
            lambda net, data: evaluate_levels(net, data),
            "evaluate_levels at batch_size=512 ran out of memory",
        ),
    ],
)
def test_running_out_of_memory_names_the_step_and_the_batch_to_lower(
    net, data, monkeypatch, step, call, says
):
    stats = {k: v.clone() for k, v in net.state_dict().items()}
    spy_batches(net, monkeypatch, fail=True)
    with pytest.raises(BatchMemoryError) as info:
        call(net, data)
    assert says in str(info.value)
    assert "DefaultCPUAllocator" in str(info.value.__cause__)  # torch's own, kept
    assert all(torch.equal(v, stats[k]) for k, v in net.state_dict().items())


def test_fit_heads_validation_names_the_argument_fit_heads_takes(net, data, monkeypatch):
    # Its validation runs evaluate_levels, whose batch_size fit_heads' caller cannot set.
    def fail(x):
        raise RuntimeError(ALLOCATOR_ERROR)

    monkeypatch.setattr(net, "level_outputs", fail)
    with pytest.raises(
        BatchMemoryError, match="fit_heads val at feature_batch_size=64 ran"
    ) as info:
        fit_heads(net, data, val=data, epochs=1, feature_batch_size=64, progress=False)
    assert "DefaultCPUAllocator" in str(info.value.__cause__)


def test_other_errors_pass_unchanged(net, data, monkeypatch):
    monkeypatch.setattr(net, "level_features", lambda x, **_: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        evaluate_levels(net, data)


def test_records_and_their_cache_key_read_the_data_a_batch_at_a_time(
    net, data, monkeypatch, tmp_path
):
    # The records standardized every image to float32 at once: +7.6 GB at peak for 4096
    # images at 224 px, before the first batch ran (sweep 30, r3.out).
    images, labels = data.tensors()
    whole = hashlib.sha256()  # the key as it was: every image, then every label, at once
    key = fingerprint(net, data)
    rows: list[int] = []
    getitem = ImageTensorDataset.__getitem__

    def spy(self, index):
        rows.append(torch.as_tensor(index).numel())
        return getitem(self, index)

    monkeypatch.setattr(ImageTensorDataset, "__getitem__", spy)
    confidence, correct = cached_level_records(net, data, tmp_path / "r.pt", batch_size=16)
    assert rows and max(rows) <= 16
    monkeypatch.setattr(ImageTensorDataset, "__getitem__", getitem)
    one_batch = level_records(net, data, batch_size=len(data))
    assert torch.equal(confidence, one_batch[0]) and torch.equal(correct, one_batch[1])
    # The cache key is the one caches made before were saved under: they still load.
    whole.update(json.dumps(net.config(), sort_keys=True, default=str).encode())
    for name, value in sorted(net.state_dict().items()):
        whole.update(name.encode())
        whole.update(value.detach().contiguous().numpy().tobytes())
    whole.update(images.numpy().tobytes())
    whole.update(labels.numpy().tobytes())
    assert key == whole.hexdigest() == fingerprint(net, data, batch_size=5)


def spy_bars(module, monkeypatch) -> list[tuple]:
    """Record (desc, disable, total) of every progress bar ``module`` draws."""
    bars: list[tuple] = []
    tqdm = module.tqdm

    def spy(iterable, **kwargs):
        bars.append((kwargs["desc"], kwargs["disable"], kwargs.get("total")))
        return tqdm(iterable, **kwargs)

    monkeypatch.setattr(module, "tqdm", spy)
    return bars


def test_recalibration_draws_a_progress_bar_unless_asked_not_to(net, data, monkeypatch):
    # It drew nothing by default: about 14 min for 4096 images at 224 px (sweep 30).
    bars = spy_bars(leanet.batch_norm, monkeypatch)
    recalibrate_batch_norm(net, data, batch_size=16)
    recalibrate_batch_norm(net, data, batch_size=16, progress=False)
    assert bars == [("batch norm", None, None), ("batch norm", True, None)]  # None: a terminal


def test_records_draw_a_progress_bar_unless_asked_not_to(net, data, monkeypatch, tmp_path):
    # No bar and no argument for one: about 6 min for 1024 images at 224 px (sweep 30).
    bars = spy_bars(leanet.records, monkeypatch)
    level_records(net, data, batch_size=16)
    cached_level_records(net, data, tmp_path / "r.pt", batch_size=16, progress=False)
    assert bars == [("level records", None, 4), ("level records", True, 4)]
