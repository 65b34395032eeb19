"""The study's network cache (``benchmarks/study_networks.py``): file names carry what
made a network, and a cache-only load fails before training anything."""

from __future__ import annotations

import argparse

import pytest
import torch

from tests.benchmark_scripts import load_benchmark


def _args(tmp_path, fine_tune_epochs=None):
    return argparse.Namespace(
        cache=tmp_path, seed=2, epochs=None, head_epochs=20, fine_tune_epochs=fine_tune_epochs
    )


def test_cache_names_carry_seed_epochs_and_recipe(tmp_path):
    module = load_benchmark("study_networks")
    args = _args(tmp_path)
    base = module.base_path("mobilenet", "mnist5k", args).name
    assert base == "mobilenet-mnist5k-x0.5-e20-lr0.005-wd0.05-s2.pt"  # MobileNet's own training
    assert module.base_path("convnet", "mnist5k", args).name == "convnet-mnist5k-x0.5-e4-s2.pt"
    hybrid = module.leanet_path("mobilenet-mnist5k-hybrid", "hybrid", args).name
    # MobileNet's fine-tuning recipe (all epochs, no early stopping, distillation 1 or 0
    # chosen on validation), and the base's training (another base: another file)
    assert hybrid == (
        "mobilenet-mnist5k-hybrid-s2-h20-ft40-lr0.005-d1_0val-wd0.05-fixed-base-lr0.005-wd0.05-bn.pt"
    )
    convnet = module.leanet_path("convnet-digits8x8-width", "width", _args(tmp_path, 3)).name
    assert convnet == "convnet-digits8x8-width-s2-h20-ft3-fixed-bn.pt"  # the default lr: no tag
    depth = module.leanet_path("vgg16-mnist5k-depth", "depth", args).name
    assert depth == "vgg16-mnist5k-depth-s2-h20-ft0-bn.pt"  # depth exits are not fine-tuned


def test_a_distillation_override_names_another_file(tmp_path):
    module = load_benchmark("study_networks")
    args = _args(tmp_path)
    args.distill = 0.0
    assert module.fine_tune_recipe("mobilenet-mnist5k-hybrid", args).distill == 0.0
    assert module.FINE_TUNE["mobilenet"].distill == (1.0, 0.0)  # the recipe is untouched
    hybrid = module.leanet_path("mobilenet-mnist5k-hybrid", "hybrid", args).name
    assert "-lr0.005-d0-wd0.05-" in hybrid  # never the distilled network's cache file
    # a weight that differs from the default learning rate's recipe gets tagged
    args.distill = 0.5
    assert "-lr0.0005-d0.5-" in module.leanet_path("convnet-mnist5k-width", "width", args).name


def test_several_distillation_weights_keep_the_best_on_validation(tmp_path, monkeypatch):
    """A recipe with several weights fine-tunes each into its own file, keeps the LEANet
    whose validation front has the largest hypervolume under the recipe's file, and records
    every weight's figure; a second call loads it without training or measuring again."""
    module = load_benchmark("study_networks")
    recipe = module.FINE_TUNE["convnet"]._replace(distill=(1.0, 0.0, 0.5))
    monkeypatch.setitem(module.FINE_TUNE, "convnet", recipe)
    tuned, scores = [], iter([0.03, 0.05, 0.05])  # 0.0 and 0.5 tie: the first listed wins

    def fine_tune(net, train, **kwargs):
        tuned.append(kwargs["distill"])
        assert (kwargs["teacher"] is None) == (kwargs["distill"] == 0)
        with torch.no_grad():  # each weight's network is told apart by its head
            net.heads[0].mlp[-1].bias.fill_(kwargs["distill"])
        return argparse.Namespace(history=[0], best_epoch=None)

    monkeypatch.setattr(module, "fine_tune", fine_tune)
    monkeypatch.setattr(module, "fit_heads", lambda *a, **k: None)
    monkeypatch.setattr(module, "recalibrate_batch_norm", lambda *a, **k: None)
    monkeypatch.setattr(module, "evaluate", lambda model, dataset: 0.97)

    def validation_hypervolume(net, full_accuracy, data):
        assert full_accuracy == 0.97  # the full network's validation accuracy
        return next(scores)

    monkeypatch.setattr(module, "validation_hypervolume", validation_hypervolume)
    data = argparse.Namespace(train=None, val=None)
    base = module.build_base("convnet", num_classes=10, in_channels=1, input_size=8)
    name, args = "convnet-digits8x8-hybrid", _args(tmp_path)
    path = module.leanet_path(name, "hybrid", args)
    assert "-lr0.0005-d1_0_0.5val-" in path.name
    net = module.trained_leanet(base, name, "hybrid", data, args)
    assert tuned == [1.0, 0.0, 0.5]
    assert net.heads[0].mlp[-1].bias[0].item() == 0.0
    choice = module.recipe_choice(name, "hybrid", args)
    assert choice == {
        "chosen": 0.0,
        "validation_hypervolume": {"1": 0.03, "0": 0.05, "0.5": 0.05},
    }
    for w in (1.0, 0.0, 0.5):  # each weight's own file, as a single-weight recipe names it
        single = argparse.Namespace(**{**vars(args), "distill": w})
        assert module.leanet_path(name, "hybrid", single).exists()
    again = module.trained_leanet(base, name, "hybrid", data, args)
    assert tuned == [1.0, 0.0, 0.5]  # nothing trained or measured again
    assert again.heads[0].mlp[-1].bias[0].item() == 0.0


def test_front_hypervolume_is_taken_from_the_studys_box():
    module = load_benchmark("study_networks")
    # one point 0.02 above the floor (full - 0.05) and 0.25 below the energy bound 1.25
    assert module.front_hypervolume([0.95], [1.0], 0.98) == pytest.approx(0.02 * 0.25)
    # points outside the box add nothing
    assert module.front_hypervolume([0.95, 0.90], [1.0, 0.1], 0.98) == pytest.approx(0.005)


def test_other_width_fractions_name_other_files_and_build_those_widths(tmp_path, monkeypatch):
    module = load_benchmark("study_networks")
    args = _args(tmp_path)
    paper = module.leanet_path("convnet-digits8x8-hybrid", "hybrid", args).name
    args.fractions = list(module.DEFAULT_FRACTIONS)  # the paper's, given explicitly: same file
    assert module.leanet_path("convnet-digits8x8-hybrid", "hybrid", args).name == paper
    assert module.fractions_tag(args) == ""
    args.fractions = [0.35, 0.48, 0.61, 0.74, 0.87, 1.0]
    other = module.leanet_path("convnet-digits8x8-hybrid", "hybrid", args).name
    assert other == paper.replace("-bn.pt", "-F0.35_0.48_0.61_0.74_0.87_1-bn.pt")
    assert module.fractions_tag(args) == "-F0.35_0.48_0.61_0.74_0.87_1"  # level records too
    depth = module.leanet_path("convnet-digits8x8-depth", "depth", args).name
    assert "-F" not in depth  # depth exits have no widths
    built = {}

    def record(net, train, **kwargs):
        built["slimmable"] = net.fractions
        raise _Stop

    monkeypatch.setattr(module.baselines, "train_slimmable", record)
    data = argparse.Namespace(num_classes=10, in_channels=1, input_size=8, train=None, val=None)
    base = module.build_base("convnet", num_classes=10, in_channels=1, input_size=8)
    with pytest.raises(_Stop):
        module.trained_slimmable(base, "convnet-digits8x8", data, 4, args)
    assert tuple(built["slimmable"]) == (0.35, 0.48, 0.61, 0.74, 0.87, 1.0)

    def build(base, **kwargs):
        built["leanet"] = kwargs
        raise _Stop

    monkeypatch.setattr(module, "build", build)
    with pytest.raises(_Stop):
        module.trained_leanet(base, "convnet-digits8x8-hybrid", "hybrid", data, args)
    assert built["leanet"]["fractions"] == (0.35, 0.48, 0.61, 0.74, 0.87, 1.0)
    assert built["leanet"]["scheme"] == "hybrid"


def test_cache_only_load_fails_before_training(tmp_path):
    module = load_benchmark("study_networks")
    with pytest.raises(FileNotFoundError, match="convnet-digits8x8-x0.5-e4-s0.pt missing"):
        module.cached_network("convnet", "digits8x8", "hybrid", 0, None, _args(tmp_path))
    assert list(tmp_path.iterdir()) == []


class _Stop(Exception):
    pass


def test_base_and_slimmable_train_with_the_architectures_recipe(tmp_path, monkeypatch):
    module = load_benchmark("study_networks")
    seen = {}

    def record(name):
        def train(net, train, **kwargs):
            seen[name] = kwargs
            raise _Stop

        return train

    monkeypatch.setattr(module, "train_base", record("base"))
    monkeypatch.setattr(module.baselines, "train_slimmable", record("slimmable"))
    data = argparse.Namespace(num_classes=10, in_channels=1, input_size=8, train=None, val=None)
    with pytest.raises(_Stop):
        module.trained_base("mobilenet", "digits8x8", data, _args(tmp_path))
    base = module.build_base("mobilenet", num_classes=10, in_channels=1, input_size=8)
    with pytest.raises(_Stop):
        module.trained_slimmable(base, "mobilenet-digits8x8", data, 20, _args(tmp_path))
    recipe = module.NETS["mobilenet"]
    for name in ("base", "slimmable"):
        assert (seen[name]["lr"], seen[name]["weight_decay"]) == (recipe.lr, recipe.weight_decay)
        assert seen[name]["epochs"] == 20 and seen[name]["seed"] == 2


def test_fixed_epoch_fine_tuning_never_sees_the_validation_split(tmp_path, monkeypatch):
    """Without early stopping, the validation split is kept for the threshold choice: the
    fine-tune gets no ``val``; with it, the fine-tune stops on ``val``."""
    module = load_benchmark("study_networks")
    seen = {}

    def fine_tune(net, train, **kwargs):
        seen.update(kwargs)
        raise _Stop

    monkeypatch.setattr(module, "fine_tune", fine_tune)
    monkeypatch.setattr(module, "fit_heads", lambda *a, **k: None)
    monkeypatch.setattr(module, "recalibrate_batch_norm", lambda *a, **k: None)
    data = argparse.Namespace(train=None, val="the validation split")
    base = module.build_base("convnet", num_classes=10, in_channels=1, input_size=8)
    for patience, val in ((None, None), (3, "the validation split")):
        recipe = module.FINE_TUNE["convnet"]._replace(patience=patience)
        monkeypatch.setitem(module.FINE_TUNE, "convnet", recipe)
        with pytest.raises(_Stop):
            module.trained_leanet(base, "convnet-digits8x8-hybrid", "hybrid", data, _args(tmp_path))
        assert (seen["val"], seen["patience"], seen["epochs"]) == (val, patience, 10)
        # each policy trains its own file
        name = module.leanet_path("convnet-digits8x8-hybrid", "hybrid", _args(tmp_path)).name
        assert name.endswith("-fixed-bn.pt" if patience is None else "-p3-bn.pt")
