"""Training, heads, fine-tuning and checkpoints."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch

from leanet.checkpoints import (
    CheckpointError,
    atomic_save,
    load_checkpoint,
    load_leanet,
    save_checkpoint,
    save_leanet,
)
from leanet.data import load_dataset
from leanet.model import build
from leanet.train import (
    _trained_levels,
    evaluate,
    evaluate_levels,
    fine_tune,
    fit_heads,
    recalibrate_batch_norm,
    train_base,
)
from leanet.train_loop import TrainState, epochs_loop
from leanet.zoo import build_base
from tests.leanet.conftest import same_weights, steps_that_draw, tiny_base


@pytest.fixture(scope="module")
def trained_digits_convnet(digits):
    """A small ConvNet trained briefly on the 8x8 digits (a few seconds)."""
    from leanet.train import train_base

    torch.manual_seed(0)
    model = build_base("convnet", num_classes=10, in_channels=1, input_size=8, width_multiplier=0.5)
    result = train_base(
        model, digits.train, val=digits.val, epochs=3, batch_size=32, progress=False
    )
    return model, result


def test_quick_training_well_above_chance(digits, trained_digits_convnet):
    model, result = trained_digits_convnet
    assert len(result.history) == 3 and result.seconds > 0
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    assert evaluate(model, digits.test) > 0.8  # chance is 0.1
    # the accuracy reported is the trained model's, after the last epoch
    assert [row["val_accuracy"] for row in result.history][0] != result.accuracy
    assert result.accuracy == result.history[-1]["val_accuracy"] == evaluate(model, digits.val)


def test_fit_heads_trains_only_heads(digits, trained_digits_convnet):
    model, _ = trained_digits_convnet
    before = {k: v.clone() for k, v in model.state_dict().items()}
    net = build(model, scheme="slice")
    result = fit_heads(net, digits.train, val=digits.val, epochs=10, progress=False)
    assert len(result.accuracy) == net.num_levels
    assert min(result.accuracy) > 0.5
    for name, value in net.base.state_dict().items():  # frozen backbone
        assert torch.equal(value, before[name])
    # adaptive inference on real data: exits spread over levels, accuracy stays high
    x, y = digits.test.tensors()
    out = net(x, [0.9] * (net.num_levels - 1))
    assert (out.prediction == y).float().mean() > 0.8
    assert int(out.exit_level.min()) == 1


def test_fine_tune_changes_only_the_copy_and_keeps_reuse_exact(digits, trained_digits_convnet):
    model, _ = trained_digits_convnet
    before = {k: v.clone() for k, v in model.state_dict().items()}
    net = build(model, scheme="triangular")
    fit_heads(net, digits.train, epochs=3, progress=False)
    fine_tune(net, digits.train, epochs=1, progress=False)
    changed = any(not torch.equal(v, before[k]) for k, v in net.base.state_dict().items())
    assert changed
    for k, v in model.state_dict().items():  # the caller's network is untouched
        assert torch.equal(v, before[k])
    x = digits.test.tensors()[0][:16]
    with torch.no_grad():
        for level, f in enumerate(net.level_features(x), start=1):
            torch.testing.assert_close(f, net.levels.run_level(x, level), rtol=1e-5, atol=1e-5)


def test_base_checkpoint_roundtrip_and_mismatches(tmp_path, digits, trained_digits_convnet):
    model, _ = trained_digits_convnet
    path = save_checkpoint(
        tmp_path / "c.pt",
        model,
        dataset="digits8x8",
        classes=digits.classes,
        accuracy=0.9,
        extra={"split_seed": 0},
    )
    loaded, meta = load_checkpoint(path, arch="convnet", num_classes=10)
    assert meta["dataset"] == "digits8x8" and meta["accuracy"] == 0.9
    assert meta["config"]["input_size"] == 8 and meta["classes"] == digits.classes
    x = digits.test.tensors()[0][:8]
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model.eval()(x))

    with pytest.raises(CheckpointError, match="10 classes, expected 100"):
        load_checkpoint(path, num_classes=100)
    with pytest.raises(CheckpointError, match="'convnet' network, expected 'vgg16'"):
        load_checkpoint(path, arch="vgg16")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(corrupt)
    garbage = tmp_path / "garbage.pt"
    garbage.write_text("not a checkpoint at all")
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint") as err:
        load_checkpoint(garbage)
    assert "weights_only" not in str(err.value)  # torch's advice to load unsafely is not ours
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")
    other = tmp_path / "other.pt"
    torch.save({"format": "something-else"}, other)
    with pytest.raises(CheckpointError, match="expected a 'leanet.base/1'"):
        load_checkpoint(other)
    # weights that do not fit the stated architecture
    ckpt = torch.load(path, weights_only=True)
    ckpt["config"]["width_multiplier"] = 1.0
    torch.save(ckpt, other)
    with pytest.raises(CheckpointError, match="weights do not fit"):
        load_checkpoint(other)
    with pytest.raises(ValueError, match="class names"):
        save_checkpoint(tmp_path / "x.pt", model, dataset="d", classes=["a", "b"])


@pytest.mark.parametrize(
    "kind", [dict(scheme="triangular"), dict(scheme="hybrid"), dict(levels="depth")]
)
def test_leanet_checkpoint_roundtrip(tmp_path, images, tiny_convnet, kind):
    net = build(tiny_convnet, confidence="margin", **kind)
    with torch.no_grad():
        for p in [*net.heads.parameters(), *net.base.features.parameters()]:
            p.add_(0.1)  # as training would; the hybrid's pretrained top level keeps its own
    path = save_leanet(tmp_path / "l.pt", net, meta={"note": 1})
    loaded, meta = load_leanet(path)
    assert meta == {"note": 1} and loaded.confidence == "margin"
    assert loaded.config() == net.config()
    a, b = net.level_outputs(images), loaded.level_outputs(images)
    torch.testing.assert_close(a.logits, b.logits)
    with pytest.raises(CheckpointError, match="expected a 'leanet.leanet/1'"):
        save_checkpoint(
            tmp_path / "b.pt", tiny_convnet, dataset="d", classes=[str(i) for i in range(10)]
        )
        load_leanet(tmp_path / "b.pt")


def test_a_network_its_config_does_not_rebuild_is_refused_at_save_and_at_load(
    tmp_path, images, tiny_convnet
):
    """A file holds the config and the weights. A ConvNet whose ReLUs became ReLU6 saved,
    and loaded as the plain ConvNet (a user's accuracy 0.79 -> 0.19, no error); a network
    of the user's own architecture saved, and never loaded."""
    classes = [str(i) for i in range(10)]
    changed = build(tiny_convnet)
    relu = next(i for i, m in enumerate(changed.base.features) if isinstance(m, torch.nn.ReLU))
    changed.base.features[relu] = torch.nn.ReLU6()
    with pytest.raises(
        ValueError, match=r"rebuilt from its config it has .*ReLU\(\).* where it has .*ReLU6"
    ):
        save_leanet(tmp_path / "l.pt", changed)
    with pytest.raises(ValueError, match="compile_runtime"):
        save_checkpoint(tmp_path / "b.pt", changed.base, dataset="d", classes=classes)
    own = build_base("convnet", num_classes=10, in_channels=1, input_size=8)
    own.config["arch"] = "mine"
    with pytest.raises(ValueError, match="architecture 'mine'"):
        save_checkpoint(tmp_path / "b.pt", own, dataset="d", classes=classes)
    with pytest.raises(ValueError, match=r"does not rebuild it \(unknown architecture 'mine'"):
        save_leanet(tmp_path / "l.pt", build(own))
    assert not list(tmp_path.iterdir())  # nothing written
    # A file edited (or written by another version) to rebuild other layers is refused.
    path = save_leanet(tmp_path / "l.pt", build(tiny_convnet))
    payload = torch.load(path, weights_only=True)
    at = payload["layers"].index(f"base.features.{relu}: ReLU()")
    payload["layers"][at] = f"base.features.{relu}: ReLU6()"
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="not the network that was saved"):
        load_leanet(path)


def _first_batch_norm(features: torch.nn.Sequential) -> torch.nn.BatchNorm2d:
    return next(m for m in features if isinstance(m, torch.nn.BatchNorm2d))


@pytest.mark.parametrize("kind", [dict(scheme="triangular"), dict(levels="depth")])
def test_recalibration_sets_the_statistics_of_the_data(digits, trained_digits_convnet, kind):
    # The first batch norm reads the first conv of the (unsliced) image, so its channels'
    # statistics over one batch holding all the data are known independently.
    model, _ = trained_digits_convnet
    net = build(model, **kind)
    x = digits.train.tensors()[0]
    recalibrate_batch_norm(net, digits.train, batch_size=len(x))
    with torch.no_grad():
        pre = model.features[0](x)  # the caller's copy: same first conv
    bn = _first_batch_norm(net.base.features)
    torch.testing.assert_close(bn.running_mean, pre.mean(dim=(0, 2, 3)), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(
        bn.running_var, pre.transpose(0, 1).flatten(1).var(dim=1), rtol=1e-4, atol=1e-5
    )
    assert not torch.equal(bn.running_mean, _first_batch_norm(model.features).running_mean)


def test_recalibration_and_fine_tuning_refuse_the_slice_scheme_before_changing_a_weight(
    digits, trained_digits_convnet
):
    net = build(trained_digits_convnet[0], scheme="slice")
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(ValueError, match="slice"):
        recalibrate_batch_norm(net, digits.train)
    with pytest.raises(ValueError, match="fine_tune: under scheme='slice'"):
        fine_tune(net, digits.train, epochs=1, progress=False)
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())


def test_hybrid_training_never_changes_the_pretrained_top_level(digits, trained_digits_convnet):
    model, _ = trained_digits_convnet
    net = build(model, scheme="hybrid")
    top = {k: v.clone() for k, v in net.levels.pretrained.state_dict().items()}
    head = {k: v.clone() for k, v in net.heads[-1].state_dict().items()}
    recalibrate_batch_norm(net, digits.train)
    fit_heads(net, digits.train, epochs=2, progress=False)
    fine_tune(net, digits.train, val=digits.val, epochs=1, progress=False)
    assert not torch.equal(
        net.base.features[0].weight, model.features[0].weight
    )  # the levels below did train
    for k, v in net.levels.pretrained.state_dict().items():
        assert torch.equal(v, top[k]), k
    for k, v in net.heads[-1].state_dict().items():
        assert torch.equal(v, head[k]), k
    x, _ = digits.test.tensors()
    with torch.no_grad():
        top_level = net(x, [1.0] * (net.num_levels - 1)).prediction
        assert torch.equal(top_level, model(x).argmax(dim=-1))


def test_fine_tune_keeps_the_best_validated_epoch(digits, trained_digits_convnet):
    net = build(trained_digits_convnet[0])
    recalibrate_batch_norm(net, digits.train)
    fit_heads(net, digits.train, epochs=3, progress=False)
    result = fine_tune(net, digits.train, val=digits.val, epochs=3, patience=None, progress=False)
    scores = [row["val_accuracy"] for row in result.history]
    assert len(scores) == 3
    assert scores[result.best_epoch - 1] == max(scores)
    assert result.accuracy == evaluate_levels(net, digits.val)  # measured on the kept weights
    trained = _trained_levels(net)  # the hybrid's pretrained top level is not trained
    kept = sum(evaluate_levels(net, digits.val)[k] for k in trained) / len(trained)
    assert kept == pytest.approx(max(scores), abs=1e-12)


def test_fine_tune_stops_early_without_improvement(digits, trained_digits_convnet):
    # lr = 0 and the heads' batch norm statistics frozen (momentum 0): nothing can change,
    # so no epoch beats the first, and patience 1 stops after the second.
    net = build(trained_digits_convnet[0])
    recalibrate_batch_norm(net, digits.train)
    for module in net.heads.modules():
        if isinstance(module, torch.nn.BatchNorm1d):
            module.momentum = 0.0
    result = fine_tune(
        net, digits.train, val=digits.val, epochs=5, patience=1, lr=0.0, progress=False
    )
    assert len(result.history) == 2 and result.best_epoch == 1


def test_fine_tune_with_distillation_learns(digits, trained_digits_convnet):
    base = trained_digits_convnet[0]
    net = build(base)
    recalibrate_batch_norm(net, digits.train)
    result = fine_tune(
        net, digits.train, epochs=2, distill=1.0, teacher=base, patience=None, progress=False
    )
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    with pytest.raises(ValueError, match="epochs"):
        fine_tune(net, digits.train, epochs=0, progress=False)


def _fitted_net(base, digits, head_hidden=16):
    net = build(base, scheme="hybrid", head_hidden=head_hidden)
    recalibrate_batch_norm(net, digits.train)
    fit_heads(net, digits.train, epochs=2, progress=False)
    return net


def test_fine_tune_stopped_and_resumed_equals_one_run(digits, trained_digits_convnet, tmp_path):
    # MLP heads and batch-norm recalibration after every epoch: the resumed run must match
    # the uninterrupted one bit for bit, also after the state and the weights went through
    # files, as the design cache keeps them.
    base = trained_digits_convnet[0]
    whole = _fitted_net(base, digits)
    first = _fitted_net(base, digits)
    assert same_weights(whole, first)
    fine_tune(whole, digits.train, epochs=4, patience=None, progress=False)
    part = fine_tune(first, digits.train, epochs=4, until=1, patience=None, progress=False)
    assert part.state is not None and part.state.epoch == 1 and len(part.history) == 1
    save_leanet(tmp_path / "prefix.pt", first)
    atomic_save(part.state.to_dict(), tmp_path / "state.pt")
    net, _ = load_leanet(tmp_path / "prefix.pt")
    state = TrainState.from_dict(torch.load(tmp_path / "state.pt", weights_only=True))
    rest = fine_tune(net, digits.train, epochs=4, resume=state, patience=None, progress=False)
    assert [row["epoch"] for row in rest.history] == [2, 3, 4] and rest.state is None
    assert same_weights(whole, net)
    # the prefix alone differs from a fresh 1-epoch run (whose schedule decays to zero)
    short = _fitted_net(base, digits)
    fine_tune(short, digits.train, epochs=1, patience=None, progress=False)
    assert not same_weights(short, first)


def test_resumed_loop_continues_the_random_stream(digits):
    # Dropout draws from torch's global RNG: a resumed run must draw what the uninterrupted
    # run would have drawn, and leave the caller's stream alone.
    def model():
        torch.manual_seed(0)
        return torch.nn.Sequential(
            torch.nn.Flatten(), torch.nn.Dropout(0.5), torch.nn.Linear(64, 10)
        )

    def run(net, until=None, resume=None):
        return epochs_loop(
            list(net.parameters()),
            lambda x, y: torch.nn.functional.cross_entropy(net(x), y),
            digits.train,
            epochs=3,
            lr=1e-2,
            weight_decay=0.0,
            batch_size=32,
            seed=7,
            progress=False,
            desc="test",
            until=until,
            resume=resume,
        )

    whole, resumed, reseeded = model(), model(), model()
    run(whole)
    state = run(resumed, until=2).state
    run(reseeded, until=2)
    torch.manual_seed(123)
    run(resumed, resume=state)
    assert torch.equal(torch.rand(3), torch.manual_seed(123) and torch.rand(3))
    assert torch.equal(whole[2].weight, resumed[2].weight)
    # the random state matters: epoch 3 drawn from another stream gives other weights
    other = dataclasses.replace(state, rng=torch.manual_seed(99).get_state())
    run(reseeded, resume=other)
    assert not torch.equal(whole[2].weight, reseeded[2].weight)


def test_fine_tune_refuses_a_state_of_another_run(digits, trained_digits_convnet):
    base = trained_digits_convnet[0]
    net = _fitted_net(base, digits)
    state = fine_tune(net, digits.train, epochs=3, until=1, patience=None, progress=False).state
    with pytest.raises(ValueError, match="another run.*epochs"):
        fine_tune(net, digits.train, epochs=4, resume=state, patience=None, progress=False)
    with pytest.raises(ValueError, match="another run.*lr"):
        fine_tune(net, digits.train, epochs=3, lr=1e-3, resume=state, progress=False)
    with pytest.raises(ValueError, match="another run.*num_params"):
        fine_tune(
            _fitted_net(base, digits, head_hidden=0),
            digits.train,
            epochs=3,
            resume=state,
            patience=None,
            progress=False,
        )
    with pytest.raises(ValueError, match=r"until must be in \(1, 3\]"):
        fine_tune(net, digits.train, epochs=3, until=1, resume=state, progress=False)
    with pytest.raises(ValueError, match=r"until must be in \(0, 3\]"):
        fine_tune(net, digits.train, epochs=3, until=5, progress=False)
    with pytest.raises(ValueError, match="without val"):
        fine_tune(net, digits.train, val=digits.val, epochs=3, until=1, progress=False)
    # a finished run has nothing to continue
    assert (
        fine_tune(net, digits.train, epochs=3, resume=state, patience=None, progress=False).state
        is None
    )


@pytest.mark.slow
def test_convnet_on_bundled_mnist_reaches_95_percent():
    """The paper's ConvNet on the 5,000 bundled MNIST digits: >= 95% test accuracy at the
    last level (a few minutes on 2 CPU cores)."""
    from leanet.train import train_base

    data = load_dataset("mnist5k")
    torch.manual_seed(0)
    model = build_base("convnet", num_classes=10, in_channels=1, input_size=28)
    train_base(model, data.train, val=data.val, epochs=4, progress=False)
    assert evaluate(model, data.test) >= 0.95
    net = build(model, scheme="slice")
    fit_heads(net, data.train, epochs=30, progress=False)
    assert evaluate_levels(net, data.test)[-1] >= 0.95


def test_default_teacher_is_the_pretrained_network(digits, trained_digits_convnet):
    """Distillation's default teacher gives the pretrained network's logits, also after
    recalibration; where no part of the LEANet is still the pretrained network (triangular:
    recalibration rewrote net.base's batch norm) it must be passed, not guessed."""
    from leanet.train import default_teacher

    base = trained_digits_convnet[0].eval()
    x = torch.stack([digits.val[i][0] for i in range(32)])
    with torch.no_grad():
        expected = base(x)
    net = build(base, scheme="hybrid")
    recalibrate_batch_norm(net, digits.train)
    with torch.no_grad():
        torch.testing.assert_close(default_teacher(net)(x), expected)
    net = build(base, levels="depth")  # the backbone the exits run, classifier on top
    with torch.no_grad():
        torch.testing.assert_close(default_teacher(net)(x), expected)
    net = build(base, scheme="triangular")
    recalibrate_batch_norm(net, digits.train)
    with pytest.raises(ValueError, match="teacher="):
        default_teacher(net)
    with pytest.raises(ValueError, match="teacher="):
        fine_tune(net, digits.train, epochs=1, distill=1.0, progress=False)


def test_a_failed_save_leaves_the_old_file_whole_and_no_partial_file(tmp_path):
    # A save that fails midway (here: an object torch cannot pickle) must neither damage the
    # file already at the path nor leave its temporary file behind.
    path = tmp_path / "c.pt"
    atomic_save({"v": 1}, path)
    with pytest.raises(Exception, match="pickle|Can't"):
        atomic_save({"v": lambda: 2}, path)
    assert torch.load(path) == {"v": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pt"]


def test_a_save_removes_partial_files_that_killed_processes_abandoned(tmp_path):
    # A process killed outright (SIGKILL, out of memory) leaves its <name>.<pid>.tmp, and
    # each design search killed so left a network's worth beside the cache for good.
    import os
    import subprocess

    path = tmp_path / "c.pt"
    gone = subprocess.Popen(["true"])  # a pid that has exited
    gone.wait()
    old = tmp_path / f"c.pt.{gone.pid}.tmp"  # abandoned an hour ago
    recent = tmp_path / f"c.pt.{gone.pid + 1}.tmp"  # maybe another machine's, writing now
    alive = tmp_path / f"c.pt.{os.getppid()}.tmp"  # a live process's, however old
    other = tmp_path / f"d.pt.{gone.pid}.tmp"  # another file's
    for partial in (old, recent, alive, other):
        partial.write_bytes(b"partial")
    hour_ago = os.path.getmtime(old) - 3700
    for partial in (old, alive, other):
        os.utime(partial, (hour_ago, hour_ago))
    atomic_save({"v": 1}, path)
    assert not old.exists()
    assert recent.exists() and alive.exists() and other.exists()
    assert torch.load(path) == {"v": 1}


def test_a_save_on_a_full_disk_is_an_oserror_that_names_the_path(tmp_path, monkeypatch):
    # torch's own error on a full disk says neither "disk" nor the path.
    import errno
    import os

    def torch_save_on_a_full_disk(obj, f):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 128 vs 0")

    path = tmp_path / "c.pt"
    atomic_save({"v": 1}, path)
    monkeypatch.setattr(torch, "save", torch_save_on_a_full_disk)
    disk = os.statvfs(tmp_path)
    for free, code, words in ((0, errno.ENOSPC, "No space left"), (10**6, errno.EIO, "failed")):
        full = os.statvfs_result((*disk[:4], free, *disk[5:]))
        monkeypatch.setattr(os, "statvfs", lambda folder, full=full: full)
        with pytest.raises(OSError, match=words) as failed:
            atomic_save({"v": 2}, path)
        assert failed.value.errno == code and failed.value.filename == str(path)
        assert "unexpected pos" in str(failed.value)  # torch's words kept, for a bug report
    monkeypatch.undo()
    assert torch.load(path) == {"v": 1} and sorted(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize(
    "option, message",
    [
        ({"distill": (1.0, 0.0)}, r"distill must be a number >= 0, got \(1.0, 0.0\) \(one value"),
        ({"distill": -0.5}, "distill must be a number >= 0, got -0.5"),
        ({"temperature": 0.0}, "temperature must be a number > 0"),
        ({"lr": True}, "lr must be a number >= 0, got True"),
        ({"weight_decay": "0.1"}, "weight_decay must be a number >= 0"),
    ],
)
def test_fine_tune_refuses_bad_numbers_before_training(
    digits, trained_digits_convnet, option, message
):
    net = _fitted_net(trained_digits_convnet[0], digits)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(ValueError, match=f"fine_tune: {message}"):
        fine_tune(net, digits.train, epochs=1, patience=None, progress=False, **option)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_fine_tune_options_take_numpy_numbers():
    import numpy as np

    from leanet.train import check_fine_tune_options

    check_fine_tune_options({"lr": np.float32(1e-3), "distill": np.float64(0.5)})  # no error
    with pytest.raises(ValueError, match="lr must be a number >= 0, got nan"):
        check_fine_tune_options({"lr": float("nan")})


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 8, 8)], ids=["other size", "rgb"])
def test_training_and_evaluation_refuse_images_the_network_was_not_built_for(shape):
    """28 x 28 images trained heads and built a threshold table for a network of 8 x 8
    inputs, which the runtime then refused; width levels read only the first channel of
    a 3-channel image. Every entry point now refuses them before any work."""
    import leanet
    from leanet.costs import measure_costs
    from leanet.evaluator import ThresholdEvaluator
    from leanet.train import evaluate_levels, fine_tune, fit_heads

    net = leanet.build(tiny_base("convnet", input_size=8), fractions=(0.5, 1.0))
    data = leanet.ImageTensorDataset(
        torch.rand(8, *shape),
        torch.randint(10, (8,)),
        mean=torch.zeros(shape[0]),
        std=torch.ones(shape[0]),
        classes=[str(i) for i in range(10)],
    )
    before = {k: v.clone() for k, v in net.state_dict().items()}
    calls = {
        "fit_heads": lambda: fit_heads(net, data, epochs=1, progress=False),
        "fine_tune": lambda: fine_tune(net, data, epochs=1, progress=False),
        "evaluate_levels": lambda: evaluate_levels(net, data),
        "level_records": lambda: ThresholdEvaluator.from_model(net, data, measure_costs(net)),
    }
    for name, call in calls.items():
        with pytest.raises(ValueError, match=f"{name}: the data set's images do not fit"):
            call()
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())


def test_every_entry_point_refuses_a_data_splits_by_name(digits):
    """README's fine_tune(net, data, ...) passed load_dataset's DataSplits and failed with
    "object of type 'DataSplits' has no len()"; each entry point now names the fix."""
    base = tiny_base("convnet", input_size=8)
    net = build(base, fractions=(0.5, 1.0))
    calls = {
        "fine_tune": lambda: fine_tune(net, digits, distill=1.0, teacher=base, progress=False),
        "fit_heads": lambda: fit_heads(net, digits, epochs=1, progress=False),
        "fit_heads val": lambda: fit_heads(net, digits.train, val=digits, progress=False),
        "train_base train": lambda: train_base(base, digits, epochs=1, progress=False),
        "evaluate_levels": lambda: evaluate_levels(net, digits),
        "recalibrate_batch_norm": lambda: recalibrate_batch_norm(net, digits),
    }
    for name, call in calls.items():
        with pytest.raises(TypeError, match=f"^{name}: got the DataSplits.*e.g. data.train$"):
            call()


def test_train_base_refuses_images_of_another_size_than_the_config(digits):
    # 8 x 8 digits trained a 28 px ConvNet (its pooling adapts) and failed only at fit_heads.
    base = build_base("convnet", width_multiplier=0.25, input_size=28)
    with pytest.raises(ValueError, match=r"images are \(1, 8, 8\).*built for \(1, 28, 28\)"):
        train_base(base, digits.train, epochs=1, progress=False)


def test_evaluating_measuring_and_compiling_leave_the_global_generator_alone(
    digits, trained_digits_convnet
):
    """A user who seeds once at the top got other unseeded draws (e.g. their own network's
    initial weights) after evaluating or measuring a LEANet: data loaders drew a base seed
    from torch's global generator, and folding drew weights it then overwrote."""
    import leanet
    from leanet.costs import measure_costs

    base = trained_digits_convnet[0]
    net = leanet.build(base, fractions=[0.5, 1.0])
    steps = {
        "recalibrate_batch_norm": lambda: leanet.recalibrate_batch_norm(net, digits.train),
        "evaluate_levels": lambda: leanet.evaluate_levels(net, digits.val),
        "evaluate": lambda: leanet.evaluate(base, digits.val),
        "measure_costs": lambda: measure_costs(net, latency=False),
        "compile_runtime": lambda: leanet.compile_runtime(net),
    }
    assert steps_that_draw(steps) == []


def test_fitting_heads_leaves_the_global_generator_alone(digits, trained_digits_convnet):
    import leanet

    net = leanet.build(trained_digits_convnet[0], fractions=[0.5, 1.0])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        expected = torch.rand(3)
        torch.manual_seed(7)
        leanet.fit_heads(net, digits.train, epochs=1, progress=False)
        assert torch.equal(torch.rand(3), expected)


def test_a_float64_base_evaluates_and_trains_on_its_own_dtype(digits, trained_digits_convnet):
    # The loaders cast float images to float32 (leanet.data.model_batch), and evaluate on a
    # float64 base with float64 images, which had run, failed with torch's "Input type
    # (torch.FloatTensor) and weight type (torch.DoubleTensor) should be the same".
    x, y = digits.val.tensors()
    pairs = torch.utils.data.TensorDataset(x.double(), y)
    model = copy.deepcopy(trained_digits_convnet[0])
    accuracy = evaluate(model, digits.val)
    assert evaluate(model.double(), pairs) == pytest.approx(accuracy, abs=1 / len(y))
    result = train_base(model, pairs, epochs=1, batch_size=64, progress=False)
    assert result.history[0]["loss"] > 0  # a float64 loss of float64 weights
    assert {p.dtype for p in model.parameters()} == {torch.float64}


def test_each_trainer_is_reproducible_by_its_seed_and_only_by_it(small_train):
    """The same seed gives the same weights whatever the global generator holds; another
    seed shuffles otherwise and gives other weights (train_base, fit_heads, fine_tune)."""

    def trained(seed: int, step: str, caller: int = 0) -> torch.nn.Module:
        base = tiny_base("convnet")
        torch.manual_seed(caller)  # where the caller left the global generator
        if step == "train_base":
            train_base(base, small_train, epochs=1, seed=seed, progress=False)
            return base
        net = build(base, fractions=(0.5, 1.0), scheme="hybrid")
        fit_heads(
            net, small_train, epochs=1, seed=seed if step == "fit_heads" else 0, progress=False
        )
        if step == "fine_tune":
            fine_tune(net, small_train, epochs=1, patience=None, seed=seed, progress=False)
        return net

    for step in ("train_base", "fit_heads", "fine_tune"):
        first = trained(0, step)
        assert same_weights(first, trained(0, step, caller=1)), step
        assert not same_weights(first, trained(1, step)), step


def test_heads_and_base_train_at_the_given_rate_for_the_given_epochs(small_train):
    # lr = 0: AdamW moves no weight (its decay is lr * weight_decay); the heads' batch norm
    # statistics still follow the data.
    net = build(tiny_base("convnet"), fractions=(0.5, 1.0), scheme="hybrid")
    before = copy.deepcopy(net)
    result = fit_heads(net, small_train, epochs=2, lr=0.0, progress=False)
    assert [row["epoch"] for row in result.history] == [1, 2]
    for (name, p), q in zip(net.named_parameters(), before.parameters(), strict=True):
        assert torch.equal(p, q), name
    # train_base: a base handed over in eval mode trains in training mode (its batch
    # norms' statistics move) and comes back in eval mode
    base = tiny_base("convnet")
    assert not base.training
    untrained = copy.deepcopy(base)
    result = train_base(base, small_train, epochs=2, lr=0.0, progress=False)
    assert [row["epoch"] for row in result.history] == [1, 2]
    assert not same_weights(base, untrained) and not base.training
    for p, q in zip(base.parameters(), untrained.parameters(), strict=True):
        assert torch.equal(p, q)


def test_the_distillation_term_weighs_as_much_as_distill_says(small_train):
    # lr = 0: no weight moves, so each epoch's mean loss is cross-entropy + distill * KD
    # on the same batches, a line in distill (a weight of 0.5 was neither dropped nor 1).
    base = tiny_base("convnet")
    net = build(base, fractions=(0.5, 1.0), scheme="hybrid")
    fit_heads(net, small_train, epochs=1, progress=False)

    def loss(distill: float) -> float:
        run = copy.deepcopy(net)
        options = {"epochs": 1, "lr": 0.0, "patience": None, "progress": False}
        result = fine_tune(run, small_train, distill=distill, teacher=base, **options)
        return result.history[0]["loss"]

    ce, half, whole = loss(0.0), loss(0.5), loss(1.0)
    assert whole > ce
    assert half == pytest.approx((ce + whole) / 2, rel=1e-5)


def test_a_run_without_distillation_needs_no_teacher_and_depth_teachers_are_copies():
    """Without distillation no teacher is built (the triangular scheme, which has no
    default teacher, fine-tunes); depth levels' default teacher is a frozen copy of the
    backbone, which itself stays trainable."""
    from leanet.distillation import default_teacher, run_teacher

    triangular = build(tiny_base("convnet"), fractions=(0.5, 1.0), scheme="triangular")
    assert run_teacher(triangular, None, 0.0, None) == (None, None)
    depth = build(tiny_base("convnet"), levels="depth")
    teacher = default_teacher(depth)
    assert teacher is not depth.base and not teacher.training
    assert all(p.requires_grad for p in depth.base.parameters())
    assert not any(p.requires_grad for p in teacher.parameters())


def test_the_distillation_loss_is_hintons_tempered_kl_from_the_teacher():
    """T^2 KL(softmax(teacher/T) || softmax(student/T)), averaged over the inputs: the
    teacher's tempered distribution is the target, and T^2 keeps the gradient's scale."""
    from leanet.distillation import distillation_loss

    student = torch.tensor([[2.0, 0.0, -1.0], [0.5, 1.5, 0.0], [0.0, 0.0, 3.0]])
    teacher = torch.tensor([[0.0, 3.0, 1.0], [1.0, -1.0, 2.0], [2.0, 0.5, 0.0]])
    for t in (1.0, 4.0):
        p = torch.softmax(teacher / t, dim=-1)
        kl = (p * (p.log() - torch.log_softmax(student / t, dim=-1))).sum(dim=-1)
        expected = t * t * kl.mean()
        torch.testing.assert_close(distillation_loss(student, teacher, t), expected)
    assert float(distillation_loss(teacher, teacher, 4.0)) == pytest.approx(0.0, abs=1e-6)


def test_recipes_give_each_architecture_its_measured_settings():
    """What ``leanet train`` / ``fit-heads`` / ``design`` and the benchmarks train with:
    MobileNet at AdamW's 0.05 weight decay, the first of several distillation weights,
    and an unknown architecture the functions' own defaults."""
    import inspect

    from leanet.recipes import (
        DEFAULT,
        FINE_TUNE,
        Recipe,
        fine_tune_epochs,
        fine_tune_options,
        recipe_for,
        train_recipe_for,
    )

    assert train_recipe_for("mobilenet") == (20, 5e-3, 5e-2)
    defaults = inspect.signature(train_base).parameters
    mine = train_recipe_for("mine")
    assert mine == tuple(defaults[k].default for k in ("epochs", "lr", "weight_decay"))
    tune = inspect.signature(fine_tune).parameters
    assert Recipe(1e-3, 0.0, 1).weight_decay == tune["weight_decay"].default
    assert (DEFAULT.lr, DEFAULT.epochs) == (tune["lr"].default, tune["epochs"].default)
    assert recipe_for(None) is DEFAULT and FINE_TUNE["mobilenet"].epochs == 40
    options = fine_tune_options(Recipe(2e-3, (0.7, 0.0), 5, weight_decay=3e-2))
    assert options == {"lr": 2e-3, "distill": 0.7, "weight_decay": 3e-2}
    assert fine_tune_epochs("hybrid", None, 10) == 10
    assert fine_tune_epochs("hybrid", 0, 10) == 0  # heads only, as asked
    assert fine_tune_epochs("slice", None, 10) == 0
    with pytest.raises(ValueError, match="1 fine-tune epochs with the slice scheme"):
        fine_tune_epochs("slice", 1, 10)


def test_fine_tune_gives_back_the_weights_of_its_best_epoch_not_its_last(small_train, monkeypatch):
    # Validation scores fall after the first epoch: the net must come back with the
    # weights it had then (the kept epoch was always the last in the other tests).
    import leanet.train

    net = build(tiny_base("convnet"), fractions=(0.5, 1.0), scheme="hybrid")
    fit_heads(net, small_train, epochs=1, progress=False)
    validated = []

    def falling_scores(net, data, batch_size=512):
        validated.append(copy.deepcopy(net.state_dict()))
        return [0.9, 0.8] if len(validated) == 1 else [0.5, 0.4]

    monkeypatch.setattr(leanet.train, "evaluate_levels", falling_scores)
    result = fine_tune(
        net, small_train, val=small_train, epochs=3, patience=None, lr=1e-2, progress=False
    )
    assert len(validated) == 3 and result.best_epoch == 1 and result.accuracy == [0.9, 0.8]
    assert [row["val_accuracy"] for row in result.history] == [0.9, 0.5, 0.5]
    kept = net.state_dict()
    assert all(torch.equal(kept[k], v) for k, v in validated[0].items())
    assert not all(torch.equal(kept[k], v) for k, v in validated[-1].items())


@pytest.mark.parametrize("trainer", ["train_base", "fit_heads", "fine_tune"])
def test_a_label_out_of_range_past_the_first_batch_is_named(small_train, trainer):
    # Only the first pair is checked up front; a later label of 10 for 10 classes reached
    # cross_entropy, whose IndexError ("Target 10 is out of bounds") named no fix.
    x, y = small_train.tensors()
    y = y.clone()
    y[250] = 10
    data = torch.utils.data.TensorDataset(x, y)
    base = tiny_base("convnet")
    net = build(base, fractions=(0.5, 1.0), scheme="hybrid")
    calls = {
        "train_base": lambda: train_base(base, data, epochs=1, progress=False),
        "fit_heads": lambda: fit_heads(net, data, epochs=1, progress=False),
        "fine_tune": lambda: fine_tune(net, data, epochs=1, patience=None, progress=False),
    }
    with pytest.raises(ValueError, match=r"labels must be class indices in \[0, 10\)"):
        calls[trainer]()


def test_fine_tune_and_fit_heads_refuse_bad_patience_and_non_finite_images(small_train):
    net = build(tiny_base("convnet"), fractions=(0.5, 1.0), scheme="hybrid")
    for patience in (0, -1):  # 0 stopped after the first epoch without improvement
        with pytest.raises(ValueError, match=rf"patience must be >= 1 or None, got {patience}"):
            fine_tune(net, small_train, patience=patience, progress=False)
    x, y = small_train.tensors()
    x = x.clone()
    x[0, 0, 2, 3] = float("nan")  # the first image: every level would decide on NaN
    data = torch.utils.data.TensorDataset(x, y)
    for name, call in {
        "fit_heads": lambda: fit_heads(net, data, epochs=1, progress=False),
        "fine_tune": lambda: fine_tune(net, data, epochs=1, progress=False),
    }.items():
        with pytest.raises(ValueError, match=rf"{name}: .*NaN or infinite values in 1 of 1"):
            call()
