"""The data split a saved file was trained on travels with it: the CLI measures a network on
its own split, never on another seed's, whose validation and test images are half its
training images (sweep 34: a seed-1 demo network read 0.988 test accuracy, not 0.966)."""

from __future__ import annotations

import argparse
import warnings

import pytest

from leanet.artifact import load_artifact
from leanet.checkpoints import load_checkpoint, load_leanet, save_checkpoint, save_leanet
from leanet.cli import main
from leanet.cli_io import data_of
from leanet.data import load_dataset
from leanet.demo import base_name, net_name, prepare_leanet
from tests.leanet.conftest import tiny_base
from tests.leanet.test_demo import _small


def _args(split_seed=None) -> argparse.Namespace:
    return argparse.Namespace(data_root=None, download=False, split_seed=split_seed)


def test_the_demos_networks_at_seed_1_are_measured_by_the_cli_on_the_seed_1_split(tmp_path):
    config = _small(tmp_path, seed=1, head_epochs=1)
    prepare_leanet(config, load_dataset(config.dataset, seed=config.seed))
    base_path = tmp_path / f"{base_name(config)}.pt"
    net_path = tmp_path / f"{net_name(config)}.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a file that records its seed needs no guess
        assert data_of(load_checkpoint(base_path)[1], _args(), base_path).seed == 1
        assert data_of(load_leanet(net_path)[1], _args(), net_path).seed == 1
    # and what the CLI makes of them records it again
    out = tmp_path / "net.artifact.pt"
    argv = ["optimize", str(net_path), "--algorithm", "sobol", "--n-evals", "2"]
    assert main([*argv, "--out", str(out), "--no-progress"]) == 0
    assert load_artifact(out).meta["split_seed"] == 1


def test_save_checkpoint_and_save_leanet_record_the_split_seed_once(tmp_path):
    classes = load_dataset("digits8x8").classes
    path = save_checkpoint(
        tmp_path / "b.pt", tiny_base(), dataset="digits8x8", classes=classes, split_seed=2
    )
    assert load_checkpoint(path)[1]["split_seed"] == 2
    # given in extra only (as before split_seed=), it is recorded as the file's seed too
    save_checkpoint(path, tiny_base(), dataset="d", classes=classes, extra={"split_seed": 4})
    assert load_checkpoint(path)[1]["split_seed"] == 4
    net_path = save_leanet(tmp_path / "n.pt", _tiny_leanet(), meta={"a": 1}, split_seed=3)
    assert load_leanet(net_path)[1] == {"a": 1, "split_seed": 3}
    with pytest.raises(ValueError, match="split_seed=3 but meta"):
        save_leanet(tmp_path / "m.pt", _tiny_leanet(), meta={"split_seed": 1}, split_seed=3)


def test_a_file_without_a_split_seed_opens_with_a_warning_or_the_seed_the_user_gives(
    tmp_path, capsys
):
    classes = load_dataset("digits8x8").classes
    old = save_checkpoint(tmp_path / "old.pt", tiny_base(), dataset="digits8x8", classes=classes)
    meta = load_checkpoint(old)[1]
    with pytest.warns(UserWarning, match=r"old\.pt does not record .* assuming seed 0.*--split-s"):
        assert data_of(meta, _args(), old).seed == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert data_of(meta, _args(split_seed=2), old).seed == 2
    # A recorded seed is used, and --split-seed overrides it with a warning naming both:
    # fit-heads recorded a guessed 0 for a base that recorded none, and --split-seed was
    # then refused, so such a network could only be measured on seed 0's split.
    new = save_checkpoint(
        tmp_path / "new.pt", tiny_base(), dataset="digits8x8", classes=classes, split_seed=1
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert data_of(load_checkpoint(new)[1], _args(), new).seed == 1
        assert data_of(load_checkpoint(new)[1], _args(split_seed=1), new).seed == 1
    with pytest.warns(UserWarning, match=r"new\.pt records the data split of seed 1; .*seed 2's"):
        assert data_of(load_checkpoint(new)[1], _args(split_seed=2), new).seed == 2
    # from the shell: one line that names the file
    argv = ["fit-heads", "--checkpoint", str(old), "--fractions", "0.5,1.0", "--epochs", "1"]
    argv += ["--fine-tune-epochs", "0", "--out", str(tmp_path / "old.leanet.pt"), "--no-progress"]
    assert main([*argv, "--split-seed", "4"]) == 0
    assert "does not record" not in capsys.readouterr().err
    assert load_leanet(tmp_path / "old.leanet.pt")[1]["split_seed"] == 4


def test_train_refuses_split_seed_since_its_split_is_the_seeds(capsys):
    # It accepted --split-seed 3 and trained on --seed's split (0), recording 0, silently.
    from leanet.cli import build_parser

    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["train", "--split-seed", "3"])
    assert exit_.value.code == 2
    assert "unrecognized arguments: --split-seed 3" in capsys.readouterr().err
    assert build_parser().parse_args(["train", "--seed", "3"]).seed == 3  # the way to say it


def _tiny_leanet():
    from leanet.model import build

    return build(tiny_base(), fractions=(0.5, 1.0))


def test_data_of_reads_the_data_where_the_user_says_and_draws_a_search_s_held_out_images(
    tmp_path, monkeypatch
):
    """--data-root and --download reach the data set's loading; a file that keeps its seed in
    ``extra`` only (as `leanet train` did) is split by it; an artifact of a search that held
    validation images out is measured on the same draw (its seed), not another."""
    import torch

    import leanet.data
    from leanet.data import hold_out

    args = argparse.Namespace(data_root=str(tmp_path), download=True, split_seed=None)
    seen = {}
    load = leanet.data.load_dataset

    def spy(name, **kwargs):
        seen.update(kwargs)
        return load(name, seed=kwargs["seed"])

    monkeypatch.setattr(leanet.data, "load_dataset", spy)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = data_of({"dataset": "digits8x8", "extra": {"split_seed": 2}}, args, "old.pt")
    assert seen == {"root": str(tmp_path), "seed": 2, "download": True} and data.seed == 2
    meta = {"dataset": "digits8x8", "split_seed": 0, "holdout": 30, "holdout_seed": 5}
    held = data_of(meta, _args(), "a.pt").val
    _, wanted = hold_out(load("digits8x8", seed=0), 30, seed=5)
    assert torch.equal(held.images, wanted.images) and torch.equal(held.labels, wanted.labels)


def test_a_file_that_names_no_data_set_is_one_line_from_the_cli(tmp_path, capsys):
    path = save_leanet(tmp_path / "n.pt", _tiny_leanet(), meta={}, split_seed=0)
    assert main(["optimize", str(path), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err == (
        "leanet: error: the checkpoint does not say which data set it was made on "
        "(--debug shows the traceback)\n"
    )
