"""Command line: help texts and a tiny train -> fit-heads run."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from leanet.artifact import load_artifact
from leanet.checkpoints import load_checkpoint, load_leanet
from leanet.cli import COMMANDS, main
from leanet.data import load_dataset
from leanet.machine import machine


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        *(
            [name, "--help"]
            for name in ("train", "fit-heads", "optimize", "design", "report", "demo")
        ),
    ],
)
def test_help(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 0
    assert "usage: leanet" in capsys.readouterr().out


def test_python_m_leanet_runs_the_cli():
    """``python -m leanet`` is the console script (no leanet/__main__.py made it an error)."""
    done = subprocess.run(
        [sys.executable, "-m", "leanet", "report", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "usage: leanet report" in done.stdout


def test_commands_registered():
    assert {"train", "fit-heads", "optimize", "design", "report", "demo"} <= set(COMMANDS)


def test_train_then_fit_heads(tmp_path, capsys):
    ckpt = tmp_path / "net.pt"
    assert (
        main(
            [
                "train",
                "--arch",
                "convnet",
                "--dataset",
                "digits8x8",
                "--epochs",
                "1",
                "--width-multiplier",
                "0.25",
                "--out",
                str(ckpt),
                "--no-progress",
            ]
        )
        == 0
    )
    _, meta = load_checkpoint(ckpt)
    assert meta["dataset"] == "digits8x8" and meta["config"]["width_multiplier"] == 0.25
    # Where it was trained: a rerun repeats it bit for bit only there (leanet.machine).
    here = {"machine": machine(), "torch_threads": torch.get_num_threads()}
    assert meta["extra"]["trained_with"] == here
    base_test_accuracy = meta["accuracy"]
    out = tmp_path / "net.leanet.pt"
    assert (
        main(
            [
                "fit-heads",
                "--checkpoint",
                str(ckpt),
                "--fractions",
                "0.5,1.0",
                "--epochs",
                "1",
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    net, meta = load_leanet(out)
    assert net.num_levels == 2 and len(meta["test_accuracy"]) == 2
    assert meta["fine_tune_epochs"] == 10  # width levels are fine-tuned by default
    assert meta["trained_with"] == here
    # The pretrained network's accuracy, measured before the levels changed their copy.
    assert meta["full_test_accuracy"] == pytest.approx(base_test_accuracy)
    assert "incremental_macs" in capsys.readouterr().out

    # optimize -> artifact (journaled) -> report, on the same tiny LEANet.
    artifact_path = tmp_path / "net.artifact.pt"
    assert (
        main(
            [
                "optimize",
                str(out),
                "--algorithm",
                "sobol",
                "--n-evals",
                "6",
                "--space",
                "quantile",
                "--out",
                str(artifact_path),
                "--no-progress",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "sobol on LEANetThresholds(L=2, space=quantile): 6 evaluations" in printed
    assert (tmp_path / "net.artifact.sobol-seed0.jsonl").exists()
    artifact = load_artifact(artifact_path)
    assert len(artifact.front) >= 1 and artifact.front.thresholds.shape[1] == 1
    # and how a device standardizes its images: the training split's statistics
    assert artifact.input_normalization == load_dataset("digits8x8").train.normalization
    assert main(["report", str(artifact_path)]) == 0
    report = capsys.readouterr().out
    assert "Pareto set" in report and "Energy saved on test" in report
    assert f"vs the full network (test accuracy {base_test_accuracy:.4f})" in report
    threads = f"{here['torch_threads']} torch thread{'s' if here['torch_threads'] != 1 else ''}"
    assert f"trained on: {here['machine']}, {threads} (a rerun" in report
    # The pretrained network's outcome per validation input travels with the artifact, for
    # the paired bound of `report --bound` (any scheme: the levels may change its copy).
    full_val_correct = artifact.meta["full_val_correct"]
    assert full_val_correct.dtype == torch.bool
    assert float(full_val_correct.double().mean()) == pytest.approx(meta["full_val_accuracy"])
    assert main(["report", str(artifact_path), "--bound", "0.9"]) == 0
    assert "chosen by a 90% paired bound on validation" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:  # a level must be inside (0, 1)
        main(["report", str(artifact_path), "--bound", "1"])
    assert exit_info.value.code == 2
    assert "expected a number > 0 and < 1, got '1'" in capsys.readouterr().err

    # Bad uses fail at once, with the problem named, and leave the journal as it was.
    journal = tmp_path / "net.artifact.sobol-seed0.jsonl"
    before = journal.read_bytes()
    resume = ["optimize", str(out), "--algorithm", "sobol", "--n-evals", "8", "--space", "quantile"]
    other_costs = [*resume, "--platform", "45nm-fp32-sram", "--out", str(artifact_path)]
    assert main([*other_costs, "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "fingerprint" in err and "belongs to another problem" in err
    assert "to start a new journal (for other settings, or in place of a journal an" in err
    assert journal.read_bytes() == before
    # One from before fingerprint versions were journaled: said so, with the same hint.
    header, *rest = journal.read_text().splitlines(keepends=True)
    unversioned = json.loads(header)
    del unversioned["problem"]["fingerprint_version"]
    old = tmp_path / "old.artifact.sobol-seed0.jsonl"
    old.write_text("".join([json.dumps(unversioned) + "\n", *rest]))
    other_old = [
        *resume,
        "--platform",
        "45nm-fp32-sram",
        "--out",
        str(tmp_path / "old.artifact.pt"),
    ]
    assert main([*other_old, "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "written by an older version" in err and "cannot be checked" in err
    assert "in place of a journal an older leanet wrote), give another --out" in err
    # A damaged journal is named, without the settings hint (it is not about settings).
    lines = journal.read_text().splitlines(keepends=True)
    damaged = tmp_path / "damaged.artifact.sobol-seed0.jsonl"
    damaged.write_text("".join([*lines[:3], lines[3][:-9] + "\n", *lines[4:]]))
    assert main([*resume, "--out", str(tmp_path / "damaged.artifact.pt"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "line 4 is corrupt" in err and "other settings" not in err
    # --out naming the input would replace it: refused, the input left as it was.
    for command, source in (("fit-heads", ckpt), ("optimize", out)):
        kept = source.read_bytes()
        given = ["--checkpoint", str(source)] if command == "fit-heads" else [str(source)]
        assert main([command, *given, "--out", str(source), "--no-progress"]) == 1
        assert f"--out {source} is the input file" in capsys.readouterr().err
        assert source.read_bytes() == kept
    assert main([*resume, "--out", str(tmp_path), "--no-progress"]) == 1
    assert f"--out {tmp_path} is a folder" in capsys.readouterr().err
    assert main(["fit-heads", "--checkpoint", str(artifact_path), "--no-progress"]) == 1
    assert "is a LEANet artifact" in capsys.readouterr().err
    assert main(["report", str(ckpt)]) == 1
    assert "a checkpoint from `leanet train`" in capsys.readouterr().err


def test_report_bound_names_what_an_old_artifact_lacks(tmp_path, capsys):
    """An artifact made before artifacts recorded the full network's outcome per input, of
    a LEANet whose levels changed the network's copy (triangular), still reports by the
    plain rule; `--bound` says what it lacks and how to make it again."""
    import leanet
    from leanet.artifact import save_artifact
    from leanet.costs import measure_costs
    from leanet.evaluator import ThresholdEvaluator
    from tests.leanet.conftest import tiny_base

    data = leanet.load_dataset("digits8x8", seed=0)
    net = leanet.build(tiny_base("convnet"), fractions=(0.5, 1.0), scheme="triangular")
    costs = measure_costs(net, latency=False)
    val = ThresholdEvaluator.from_model(net, data.val, costs)
    front = val.evaluate(torch.tensor([[0.5], [0.9], [1.0]], dtype=torch.float64)).pareto()
    meta = {"dataset": "digits8x8", "split_seed": 0}
    path = save_artifact(
        tmp_path / "old.artifact.pt",
        net,
        front,
        costs,
        meta={**meta, "full_val_accuracy": 0.5, "full_test_accuracy": 0.5},
    )
    assert main(["report", str(path)]) == 0
    printed = capsys.readouterr().out
    assert "Energy saved on test" in printed
    assert "trained on: not recorded (made before checkpoints recorded it)" in printed
    assert main(["report", str(path), "--bound", "0.9"]) == 1
    err = capsys.readouterr().err
    assert "--bound needs the pretrained network's outcome on each of the" in err
    assert "make it again with `leanet fit-heads` and `leanet optimize`" in err


def test_report_reads_an_artifact_saved_as_the_readme_does_and_names_what_one_lacks(
    tmp_path, capsys
):
    """The README's Python API block saved its artifact without meta, and `leanet report`
    failed with "the checkpoint does not say which data set it was made on"."""
    import leanet
    from leanet.artifact import save_artifact
    from leanet.costs import measure_costs
    from leanet.evaluator import ThresholdEvaluator
    from tests.leanet.conftest import tiny_base

    data = leanet.load_dataset("digits8x8", seed=0)
    net = leanet.build(tiny_base("convnet"), fractions=(0.5, 1.0))
    costs = measure_costs(net, latency=False)
    val = ThresholdEvaluator.from_model(net, data.val, costs)
    front = val.evaluate(torch.tensor([[0.5], [0.9]], dtype=torch.float64)).pareto()
    normalization = {"input_normalization": data.train.normalization, "runtime": False}
    bare = save_artifact(tmp_path / "bare.artifact.pt", net, front, costs, **normalization)
    assert main(["report", str(bare)]) == 1
    err = capsys.readouterr().err
    assert f"{bare} does not say which data set it was made on" in err
    assert "meta={'dataset': data.name, 'split_seed': data.seed}" in err
    readme = {"meta": {"dataset": data.name, "split_seed": data.seed}}  # README's save_artifact
    path = save_artifact(tmp_path / "net.artifact.pt", net, front, costs, **readme, **normalization)
    assert main(["report", str(path), "--bound", "0.9"]) == 0
    assert "Energy saved on test" in capsys.readouterr().out


def test_design_searches_designs_and_saves_one_reportable_artifact_per_front_design(
    tmp_path, capsys
):
    ckpt = tmp_path / "base.pt"
    train = ["train", "--dataset", "digits8x8", "--epochs", "1", "--width-multiplier", "0.25"]
    assert main([*train, "--seed", "3", "--out", str(ckpt), "--no-progress"]) == 0
    out = tmp_path / "designs"
    argv = ["design", str(ckpt), "--algorithm", "sobol", "--n-evals", "4", "--levels", "2", "3"]
    argv += ["--fine-tune-epochs", "0", "--dense-points", "0"]  # cheap, not the defaults
    assert main([*argv, "--head-epochs", "1", "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "sobol on LEANetDesign(convnet, L=2-3): 4 evaluations" in printed
    assert "design, thresholds" in printed and "T = (" in printed
    # The paper's table on test over the front's designs, as `leanet report` prints one's.
    table = printed.split("Energy saved on test vs the full network (test accuracy ")[1]
    assert [line.split()[0] for line in table.splitlines()[2:5]] == ["0%", "1%", "2%"]
    assert (out / "sobol-ft0-he1-L2-3-seed0.jsonl").exists()
    artifacts = sorted((out / "sobol-ft0-he1-L2-3-seed0.artifacts").glob("*.artifact.pt"))
    assert artifacts and len(list((out / "cache").glob(f"*-s0-{'?' * 12}.pt"))) >= len(artifacts)
    for path in artifacts:
        artifact = load_artifact(path)
        design = artifact.meta["design"]
        assert path.name == (
            f"L{design['num_levels']}-f{design['first_fraction']:g}-h{design['head_hidden']}-"
            f"{design['confidence']}-ft{design['fine_tune_epochs']}.artifact.pt"
        )
        assert artifact.net.num_levels == design["num_levels"]
        assert artifact.meta["split_seed"] == 3  # the base's split, not split 0
        assert artifact.front.thresholds.shape[1] == design["num_levels"] - 1
    assert main(["report", str(artifacts[0])]) == 0
    assert "Energy saved on test" in capsys.readouterr().out
    # Each study has its artifact folder, holding its front's designs only: searches in one
    # --out overwrote each other's, and a design that left the front kept its artifact.
    stale = out / "sobol-ft0-he1-L2-3-seed0.artifacts" / "L9-f0.1-h0-margin-ft0.artifact.pt"
    stale.write_bytes(b"a design no longer on the front")
    assert main([*argv, "--head-epochs", "1", "--out", str(out), "--no-progress"]) == 0
    assert sorted((out / "sobol-ft0-he1-L2-3-seed0.artifacts").glob("*.artifact.pt")) == artifacts
    # Other training settings for the same checkpoint: their own journal (they stopped
    # with a journal mismatch naming only a fingerprint).
    assert main([*argv, "--head-epochs", "2", "--out", str(out), "--no-progress"]) == 0
    assert (out / "sobol-ft0-he2-L2-3-seed0.jsonl").exists()
    # Told 2 dense-front points per built design, counted in the initial design: its own
    # journal.
    dense = [*argv[:5], "2", *argv[6:], "--dense-points", "2", "--no-dense-extra"]
    dense += ["--head-epochs", "1"]
    assert main([*dense, "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert (out / "sobol-ft0-he1-L2-3-dense2-seed0.jsonl").exists()
    assert list((out / "sobol-ft0-he1-L2-3-dense2-seed0.artifacts").glob("*.artifact.pt"))
    assert (
        sorted((out / "sobol-ft0-he1-L2-3-seed0.artifacts").glob("*.artifact.pt")) == artifacts
    )  # kept
    assert "sobol on LEANetDesign(convnet, L=2-3): 2 evaluations" in printed  # a budget of 2
    # The same told as extras after a one-design Sobol start (qlognehvi): the initial design
    # counts designs, the budget every point; its own journal, the option journaled.
    extra = ["design", str(ckpt), "--algorithm", "qlognehvi", "--n-evals", "5", *argv[6:]]
    extra += ["--dense-points", "2", "--dense-extra", "--n-initial", "1", "--head-epochs", "1"]
    assert main([*extra, "--out", str(out), "--no-progress"]) == 0
    records = [
        json.loads(line)
        for line in (out / "qlognehvi-ft0-he1-L2-3-dense2-extra-init1-seed0.jsonl").open()
    ]
    assert records[0]["algorithm_options"] == {"n_initial": 1}
    evals = [r for r in records if r.get("type") == "eval"]
    assert len(evals) == 5 and [bool(r.get("extra")) for r in evals[:3]] == [False, True, True]
    assert main([*argv, "--dense-extra", "--no-progress"]) == 1
    assert "--dense-extra needs --dense-points" in capsys.readouterr().err
    # Fine-tune epochs 1 then 2, the cheap run the first epoch of the target's: mfosemo's
    # initial points mix the fidelities, the cheap designs cached as such; its own journal.
    epochs = ["--fine-tune-epochs", "1", "2", "--head-epochs", "1", "--continue-fidelities"]
    # A budget of 6 epochs of training (a design costs 1 + its epochs, 1 less continued).
    cont = ["design", str(ckpt), "--algorithm", "mfosemo", "--max-cost", "6", *argv[6:]]
    assert main([*cont, *epochs, "--out", str(out), "--no-progress"]) == 0
    records = [
        json.loads(line) for line in (out / "mfosemo-ft1-2-he1-L2-3-cont-seed0.jsonl").open()
    ]
    spent = [r["cost"] for r in records if r.get("type") == "eval"]
    assert sum(spent[:-1]) < 6 <= sum(spent) and set(spent) <= {0.0, 1.0, 2.0, 3.0}
    names = [p.name for p in (out / "cache").glob("*")]
    # the cheap run's fine-tuning state, kept to continue it
    assert any("-ft1of2-s0-" in name and name.endswith("-state.pt") for name in names)
    # A budget below a target design's price: no front, and it says why.
    short = [*cont[:5], "1", *cont[6:], *epochs, "--out", str(tmp_path / "short")]
    assert main([*short, "--no-progress"]) == 0
    assert "no design reached the target fidelity within --max-cost" in capsys.readouterr().out
    assert main([*argv, "--continue-fidelities", "--no-progress"]) == 1  # one epoch value
    assert "--continue-fidelities needs two or more --fine-tune-epochs" in capsys.readouterr().err
    assert main([*argv, "--max-cost", "6", "--no-progress"]) == 1
    assert "--max-cost needs two or more --fine-tune-epochs" in capsys.readouterr().err
    # Constraints a user states: their own journal, counted in the summary; with the epochs a
    # fidelity MOMF by default (MF-OSEMO refuses constraints, and says so).
    tight = ["--max-accuracy-drop", "0.5", "--max-mb", "1e-6", "--head-epochs", "1"]
    assert main([*argv, *tight, "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert (out / "sobol-ft0-he1-L2-3-drop0.5-mb1e-06-seed0.jsonl").exists()
    assert "4 infeasible" in printed and "saved 0 artifact(s)" in printed  # nothing fits
    assert "no design met the constraints" in printed  # (an empty table said nothing)
    fidelity = ["design", str(ckpt), "--n-evals", "2", *argv[6:], *epochs, "--max-mb", "100"]
    assert main([*fidelity, "--out", str(out), "--no-progress"]) == 0
    assert (out / "momf-ft1-2-he1-L2-3-mb100-cont-seed0.jsonl").exists()
    assert main([*fidelity, "--algorithm", "mfosemo", "--out", str(out), "--no-progress"]) == 1
    assert "'mfosemo' cannot handle black-box constraints" in capsys.readouterr().err


def test_design_holdout_chooses_and_measures_on_images_the_search_never_read(tmp_path, capsys):
    """`leanet design --holdout 0.3`: the search reads 70% of the validation split; the
    closing table chooses on the rest, the artifacts' tables are measured there, and
    `leanet report` draws the same images again from the artifact's record."""
    from leanet.data import hold_out
    from leanet.evaluator import ThresholdEvaluator

    ckpt = tmp_path / "base.pt"
    train = ["train", "--dataset", "digits8x8", "--epochs", "1", "--width-multiplier", "0.25"]
    assert main([*train, "--seed", "3", "--out", str(ckpt), "--no-progress"]) == 0
    data = load_dataset("digits8x8", seed=3)
    n = round(0.3 * len(data.val))
    out = tmp_path / "designs"
    argv = ["design", str(ckpt), "--algorithm", "sobol", "--n-evals", "3", "--levels", "2", "3"]
    argv += ["--fine-tune-epochs", "0", "--dense-points", "0", "--head-epochs", "1"]
    argv += ["--seed", "1"]  # draws the held-out images too
    assert (
        main([*argv, "--holdout", "0.3", "--bound", "0.9", "--out", str(out), "--no-progress"]) == 0
    )
    printed = capsys.readouterr().out
    assert f"chosen by a 90% paired bound on {n} held-out validation images" in printed
    assert "chosen on validation" not in printed  # every choice names the images it read
    assert (
        out / f"sobol-ft0-he1-L2-3-hold{n}-seed1.jsonl"
    ).exists()  # another split: its own journal
    _, held = hold_out(data, n, seed=1)
    artifacts = sorted((out / f"sobol-ft0-he1-L2-3-hold{n}-seed1.artifacts").glob("*.artifact.pt"))
    assert artifacts
    for path in artifacts:
        artifact = load_artifact(path)
        assert (artifact.meta["holdout"], artifact.meta["holdout_seed"]) == (n, 1)
        assert len(artifact.meta["full_val_correct"]) == n
        on_held = ThresholdEvaluator.from_model(artifact.net, held, artifact.costs)
        metrics = on_held.evaluate(artifact.front.thresholds)
        assert torch.allclose(metrics.accuracy, artifact.front.accuracy)
    assert main(["report", str(artifacts[0]), "--bound", "0.9"]) == 0
    report = capsys.readouterr().out
    assert f"chosen by a 90% paired bound on {n} held-out validation images" in report
    assert f"validation: {n} inputs" in report
    assert main([*argv, "--holdout", "0.9999", "--no-progress"]) == 1
    assert "keeps some on each side" in capsys.readouterr().err


def test_design_defaults_are_the_measured_setting(tmp_path, capsys):
    """Without options, `leanet design` fine-tunes every design 10 epochs and tells 5 points
    of its dense front as extras after a four-design Sobol start (the setting the design
    search benchmarks measured best); --no-dense-extra counts them instead."""
    ckpt = tmp_path / "base.pt"
    train = ["train", "--dataset", "digits8x8", "--epochs", "1", "--width-multiplier", "0.25"]
    assert main([*train, "--out", str(ckpt), "--no-progress"]) == 0
    out = tmp_path / "designs"
    one_design = ["--levels", "2", "2", "--head-epochs", "1", "--out", str(out), "--no-progress"]
    assert main(["design", str(ckpt), "--n-evals", "6", *one_design]) == 0
    assert "qlognehvi on LEANetDesign(convnet, L=2-2): 6 evaluations" in capsys.readouterr().out
    journal = out / "qlognehvi-he1-L2-2-dense5-extra-init4-seed0.jsonl"  # the other settings
    records = [json.loads(line) for line in journal.open()]
    assert records[0]["algorithm_options"] == {"n_initial": 4}
    evals = [r for r in records if r.get("type") == "eval"]
    extra = [bool(r.get("extra")) for r in evals]
    assert extra[:2] == [False, True] and 1 <= sum(extra) <= 5  # the first design's front
    built = [p.name for p in (out / "cache").glob(f"*-s0-{'?' * 12}.pt")]
    assert built and all(name.startswith("L2-") and "-ft10-" in name for name in built)
    counted = ["design", str(ckpt), "--n-evals", "6", "--no-dense-extra", *one_design]
    assert main(counted) == 0
    assert (out / "qlognehvi-he1-L2-2-dense5-seed0.jsonl").exists()


def test_every_savings_table_defaults_to_the_papers_losses(monkeypatch):
    """One constant for the paper's allowed losses, so ``leanet report``, ``leanet design``
    and the policy functions print the same table rows (``leanet demo``'s table is checked
    against report's in tests/leanet/test_demo.py). It named design and the demo but
    checked neither: a tuple of design's own would have passed."""
    import argparse
    import inspect
    from types import SimpleNamespace

    import torch

    import leanet.train
    from leanet import policy
    from leanet.cli_design import savings_on_test
    from leanet.cli_report import add_report

    assert policy.PAPER_LOSSES == (0.0, 0.01, 0.02)
    for fn in (policy.cheapest_allowed, policy.cheapest_across, policy.energy_savings):
        assert inspect.signature(fn).parameters["losses"].default is policy.PAPER_LOSSES
    parser = argparse.ArgumentParser()
    add_report(parser)
    assert parser.parse_args(["net.leanet"]).losses == [0.0, 0.01, 0.02]
    # design's table, of a front with no point: one row per default loss
    monkeypatch.setattr(leanet.train, "evaluate", lambda model, data: 0.9)
    empty = SimpleNamespace(
        decode=lambda X: [], full_accuracy=0.9, base=None, data=SimpleNamespace(test=None)
    )
    rows = savings_on_test(empty, torch.zeros(0, 1)).splitlines()[2:]
    assert [row.split()[0] for row in rows] == ["0%", "1%", "2%"]


@pytest.mark.parametrize("costlier", [False, True])
def test_design_test_savings_choose_the_cheapest_qualifying_point_across_designs(
    monkeypatch, costlier
):
    """`leanet design`'s table on test: at each allowed loss the cheapest front point (of
    any design) within it of the pretrained network on validation, then measured on test."""
    from collections import namedtuple
    from types import SimpleNamespace

    import torch

    import leanet.train
    from leanet.cli_design import savings_on_test

    def evaluator(table):  # thresholds (one value) -> (accuracy, energy ratio)
        def evaluate(T):
            acc, energy = table[round(float(T[0, 0]), 2)]
            return SimpleNamespace(
                accuracy=torch.tensor([acc]), energy_ratio=torch.tensor([energy])
            )

        return SimpleNamespace(evaluate=evaluate)

    Design = namedtuple("Design", "key")  # noqa: N806 (a stand-in class)
    val = {"A": {0.1: (0.95, 0.2), 0.2: (0.975, 0.35)}, "B": {0.3: (0.985, 0.4)}}
    test = {"A": {0.1: (0.94, 0.21), 0.2: (0.97, 0.36)}, "B": {0.3: (0.96, 0.41)}}
    points = [("A", 0.1), ("A", 0.2), ("B", 0.3)]
    if costlier:  # as accurate as the full network at 0%, and dearer (ratio 1.244)
        val["C"], test["C"] = {0.4: (0.99, 1.244)}, {0.4: (0.99, 1.25)}
        points.append(("C", 0.4))
    problem = SimpleNamespace(
        full_accuracy=0.99,
        decode=lambda X: [
            (Design(key=d), torch.tensor([t], dtype=torch.float64)) for d, t in points
        ],
        evaluator_on=lambda d, split: evaluator(val[d.key]),  # None: validation
        test_evaluator=lambda d: evaluator(test[d.key]),
        deployed=lambda d, T, chosen_on: T,  # (artifacts' thresholds: tested with a design)
        base=None,
        data=SimpleNamespace(test=None),
    )
    monkeypatch.setattr(leanet.train, "evaluate", lambda model, data: 0.965)
    text = savings_on_test(problem, torch.zeros(3, 1))  # the paper's losses: 0, 1, 2 %
    rows = [line.split() for line in text.splitlines()[2:5]]
    assert rows[0][0] == "0%" and rows[0][1] == "-"  # nothing within 0 of 0.99
    # which case it is: it said "no threshold qualifies" also of C, which qualifies
    why = "none that qualifies saves energy" if costlier else "no threshold qualifies"
    assert text.splitlines()[2].endswith(f"({why}: keep the full network)")
    from leanet.demo import savings_table
    from leanet.policy import Saving

    fallback = savings_table([Saving(0.0, torch.ones(1), 0.965, 1.0002)], 0.965)
    assert fallback.splitlines()[-1].split()[-1] == "0.0%"  # not -0.0%
    unknown = savings_table([Saving(0.0, torch.ones(1), 0.965, float("nan"))], 0.965)
    assert unknown.splitlines()[-1].split()[-1] == "nan%"  # not a 0.0% saving
    assert rows[1][:3] == ["1%", "0.9600", "0.410"]  # only B reaches 0.98: its test figures
    assert rows[2][:3] == ["2%", "0.9700", "0.360"]  # A at 0.2 reaches 0.97, cheaper than B
    assert text.splitlines()[-1] == "chosen on validation: 1%: B; 2%: A"
    assert "(test accuracy 0.9650)" in text.splitlines()[0]


def test_design_test_savings_with_a_bound_need_a_margin_the_plain_rule_does_not(monkeypatch):
    """`leanet design --bound 0.9`: a point qualifies when the paired lower bound on its
    accuracy change (200 validation inputs, against the full network's) clears the loss;
    a point one input below the full network qualifies at 2% but not at 1%."""
    from collections import namedtuple
    from types import SimpleNamespace

    import torch

    import leanet.train
    from leanet.cli_design import savings_on_test

    n = 200
    full = torch.arange(n) < 198  # 0.99

    def outcomes(wrong):  # the full network's outcomes, `wrong` more inputs missed
        return full & ~((torch.arange(n) >= 198 - wrong) & (torch.arange(n) < 198))

    val = {("A", 0.1): (outcomes(8), 0.2), ("A", 0.2): (outcomes(3), 0.35)}
    val[("B", 0.3)] = (outcomes(1), 0.4)
    test = {("A", 0.1): (0.94, 0.21), ("A", 0.2): (0.97, 0.36), ("B", 0.3): (0.96, 0.41)}

    def on_val(key):
        def metrics(T):
            correct, energy = val[(key, round(float(T[0, 0]), 2))]
            return SimpleNamespace(
                accuracy=correct.double().mean()[None], energy_ratio=torch.tensor([energy])
            )

        def correct_at(T):
            return val[(key, round(float(T[0, 0]), 2))][0][None]

        return SimpleNamespace(evaluate=metrics, correct_at=correct_at)

    def on_test(key):
        def metrics(T):
            acc, energy = test[(key, round(float(T[0, 0]), 2))]
            return SimpleNamespace(
                accuracy=torch.tensor([acc]), energy_ratio=torch.tensor([energy])
            )

        return SimpleNamespace(evaluate=metrics)

    Design = namedtuple("Design", "key")  # noqa: N806 (a stand-in class)
    problem = SimpleNamespace(
        full_accuracy=0.99,
        decode=lambda X: [(Design(key=d), torch.tensor([t], dtype=torch.float64)) for d, t in val],
        evaluator_on=lambda d, split: on_val(d.key),  # None: validation
        test_evaluator=lambda d: on_test(d.key),
        deployed=lambda d, T, chosen_on: T,
        base=None,
        data=SimpleNamespace(test=None, val=None),
    )
    monkeypatch.setattr(leanet.train, "evaluate", lambda model, data: 0.965)
    monkeypatch.setattr(leanet.train, "correct_predictions", lambda model, data: full)
    plain = savings_on_test(problem, torch.zeros(3, 1))
    assert plain.splitlines()[-1] == "chosen on validation: 1%: B; 2%: A"
    guarded = savings_on_test(problem, torch.zeros(3, 1), bound=0.9)
    assert "chosen by a 90% paired bound on validation" in guarded.splitlines()[0]
    rows = [line.split() for line in guarded.splitlines()[2:5]]
    assert rows[0][1] == "-" and rows[1][1] == "-"  # B's bound: -0.0114, below -0.01
    assert rows[2][:3] == ["2%", "0.9600", "0.410"]  # A at 0.2: bound -0.026, B qualifies
    assert guarded.splitlines()[-1] == "chosen on validation: 2%: B"


def test_fit_heads_and_design_fine_tune_with_the_architectures_recipe(tmp_path, monkeypatch):
    """A MobileNet's levels need the study's MobileNet recipe (lr 5e-3, weight decay 5e-2,
    distillation, 40 epochs; leanet.recipes): both verbs read it from the base's arch."""
    import leanet.design
    import leanet.train
    from leanet.recipes import DEFAULT, FINE_TUNE, fine_tune_options, recipe_for

    assert recipe_for("mobilenet") is FINE_TUNE["mobilenet"] and recipe_for("mine") is DEFAULT
    mobilenet = fine_tune_options(FINE_TUNE["mobilenet"])
    assert mobilenet == {"lr": 5e-3, "distill": 1.0, "weight_decay": 5e-2}
    ckpt = tmp_path / "base.pt"
    train = ["train", "--arch", "mobilenet", "--dataset", "digits8x8", "--epochs", "1"]
    assert main([*train, "--width-multiplier", "0.25", "--out", str(ckpt), "--no-progress"]) == 0
    seen = {}

    def fine_tune(net, train, **kwargs):  # the call, not the minutes of training
        seen.update(kwargs)

    monkeypatch.setattr(leanet.train, "fine_tune", fine_tune)
    fit = ["fit-heads", "--checkpoint", str(ckpt), "--fractions", "0.5,1.0", "--epochs", "1"]
    assert main([*fit, "--out", str(tmp_path / "net.pt"), "--no-progress"]) == 0
    assert seen["epochs"] == 40 and {k: seen[k] for k in mobilenet} == mobilenet

    class Stop(Exception):
        pass

    def design_problem(*args, **kwargs):
        seen["design"] = kwargs
        raise Stop

    monkeypatch.setattr(leanet.design, "DesignProblem", design_problem)
    with pytest.raises(Stop):
        main(["design", str(ckpt), "--out", str(tmp_path / "designs"), "--no-progress"])
    assert seen["design"]["fine_tune_options"] == mobilenet
    assert seen["design"]["fine_tune_epochs"] == 10  # the design benchmarks' epochs


def test_train_uses_the_architectures_recipe_unless_told(tmp_path, monkeypatch):
    """`leanet train --arch mobilenet` trains as the study's MobileNet bases were (20 epochs,
    lr 5e-3, weight decay 0.05: at the default decay it overfits); flags override."""
    import leanet.train

    seen = []

    class Stop(Exception):
        pass

    def train_base(model, train, **kwargs):
        seen.append({k: kwargs[k] for k in ("epochs", "lr", "weight_decay")})
        raise Stop

    monkeypatch.setattr(leanet.train, "train_base", train_base)
    train = ["train", "--dataset", "digits8x8", "--out", str(tmp_path / "b.pt"), "--no-progress"]
    for argv in (["--arch", "mobilenet"], ["--arch", "mobilenet", "--epochs", "3", "--lr", "0.01"]):
        with pytest.raises(Stop):
            main([*train, *argv])
    with pytest.raises(Stop):
        main([*train, "--arch", "convnet", "--weight-decay", "0"])
    assert seen == [
        {"epochs": 20, "lr": 5e-3, "weight_decay": 5e-2},
        {"epochs": 3, "lr": 0.01, "weight_decay": 5e-2},
        {"epochs": 4, "lr": 2e-3, "weight_decay": 0.0},
    ]


def test_each_verb_offers_only_the_algorithms_that_can_run_its_problem(capsys):
    """`optimize` offered mfosemo/imoca/momf (they need fidelities) and `design` imoca (its
    epochs fidelity is discrete): each always failed after the setup."""
    from leanet.cli import build_parser

    parser = build_parser()
    for argv, refused in (
        (["optimize", "net.pt"], ("mfosemo", "imoca", "momf")),
        (["design", "base.pt"], ("imoca",)),
    ):
        for algorithm in refused:
            with pytest.raises(SystemExit):
                parser.parse_args([*argv, "--algorithm", algorithm])
            assert "invalid choice" in capsys.readouterr().err
    assert parser.parse_args(["design", "base.pt", "--algorithm", "momf"]).algorithm == "momf"


def test_fit_heads_fits_a_slice_leanet_and_refuses_fine_tuning_it_before_anything_loads(
    tmp_path, capsys
):
    # The default fine-tune epochs made the slice scheme fail after its heads were fitted.
    from leanet.checkpoints import save_checkpoint
    from tests.leanet.conftest import tiny_base

    ckpt, out = tmp_path / "net.pt", tmp_path / "slice.leanet.pt"
    args = ["fit-heads", "--scheme", "slice", "--fractions", "0.5,1.0", "--epochs", "1"]
    args += ["--out", str(out), "--no-progress"]
    # Refused at once: the checkpoint is not even there yet.
    assert main([*args, "--checkpoint", str(ckpt), "--fine-tune-epochs", "2"]) == 1
    err = capsys.readouterr().err
    assert "slice scheme" in err and "--fine-tune-epochs 0" in err and not out.exists()
    classes = load_dataset("digits8x8").classes
    save_checkpoint(ckpt, tiny_base("convnet"), dataset="digits8x8", classes=classes)
    assert main([*args, "--checkpoint", str(ckpt)]) == 0
    assert "fits the heads only" in capsys.readouterr().err
    net, meta = load_leanet(out)
    assert net.levels.scheme == "slice" and meta["fine_tune_epochs"] == 0


@pytest.mark.parametrize("verb", ["optimize", "design", "demo"])
def test_algorithm_ax_without_its_extra_is_refused_in_one_line_before_any_work(
    verb, tmp_path, monkeypatch, capsys
):
    # It failed in mobo.optimize, after the level records and reference front (24 s at 833
    # inputs, a *.val.pt left behind), with a 30-line traceback. The checkpoint is not even
    # there: the refusal comes first.
    monkeypatch.setitem(sys.modules, "ax", None)
    source = [] if verb == "demo" else [str(tmp_path / "net.pt")]
    argv = [verb, *source, "--algorithm", "ax", "--out", str(tmp_path / "out")]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("leanet: error: --algorithm ax needs ax-platform")
    assert "pip install 'leanet-mobo[ax]'" in err and len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_train_passes_its_seed_and_batch_size_and_saves_where_it_says(
    tmp_path, monkeypatch, capsys
):
    """--seed makes the initial weights and the batch order (not only the split), --batch-size
    reaches training, the default path names the architecture and the data set, and the
    checkpoint records the recipe's epochs when --epochs is not given."""
    from types import SimpleNamespace

    import leanet.train
    import leanet.zoo

    seen = {}
    build_base = leanet.zoo.build_base

    def spy_build(arch, **kwargs):
        seen["build"] = kwargs
        return build_base(arch, **kwargs)

    def train_base(model, train, **kwargs):  # the call, not the training
        seen["train"] = kwargs
        return SimpleNamespace(accuracy=0.5, seconds=0.0)

    monkeypatch.setattr(leanet.zoo, "build_base", spy_build)
    monkeypatch.setattr(leanet.train, "train_base", train_base)
    monkeypatch.chdir(tmp_path)
    argv = ["train", "--dataset", "digits8x8", "--width-multiplier", "0.25", "--no-progress"]
    assert main([*argv, "--seed", "7", "--batch-size", "16"]) == 0
    assert seen["build"]["seed"] == 7
    assert seen["train"]["seed"] == 7 and seen["train"]["batch_size"] == 16
    path = tmp_path / "checkpoints" / "convnet-digits8x8.pt"
    assert f"saved {path.relative_to(tmp_path)}" in capsys.readouterr().out
    _, meta = load_checkpoint(path)
    assert meta["split_seed"] == 7 and meta["extra"]["epochs"] == 4  # ConvNet's recipe
    # An --out that cannot be written is refused before any training.
    seen.clear()
    assert main([*argv, "--out", str(tmp_path)]) == 1
    assert f"--out {tmp_path} is a folder" in capsys.readouterr().err and "train" not in seen


def test_fit_heads_passes_each_option_to_the_levels_and_the_training(tmp_path, monkeypatch, capsys):
    """Each fit-heads option reaches the code it names (depth and width levels, heads,
    confidence, epochs, seed), the LEANet goes next to its checkpoint by default, and depth
    exits are not fine-tuned unless asked."""
    import leanet.model
    import leanet.train
    from leanet.checkpoints import save_checkpoint
    from tests.leanet.conftest import tiny_base

    seen = {"fine_tune": [], "recalibrated": []}
    build, fit_heads = leanet.model.build, leanet.train.fit_heads
    recalibrate = leanet.train.recalibrate_batch_norm

    def spy_recalibrate(net, train, **kwargs):
        seen["recalibrated"].append(net.levels.scheme if hasattr(net.levels, "scheme") else None)
        return recalibrate(net, train, **kwargs)

    monkeypatch.setattr(leanet.train, "recalibrate_batch_norm", spy_recalibrate)

    def spy_build(base, **kwargs):
        seen.setdefault("build", kwargs)  # the LEANet's, not a copy's when it is saved
        return build(base, **kwargs)

    def spy_fit_heads(net, train, **kwargs):
        seen["fit_heads"] = kwargs
        return fit_heads(net, train, **kwargs)

    monkeypatch.setattr(leanet.model, "build", spy_build)
    monkeypatch.setattr(leanet.train, "fit_heads", spy_fit_heads)
    monkeypatch.setattr(
        leanet.train, "fine_tune", lambda net, train, **kw: seen["fine_tune"].append(kw)
    )
    classes = load_dataset("digits8x8").classes
    ckpt = save_checkpoint(tmp_path / "base.pt", tiny_base(), dataset="digits8x8", classes=classes)
    fit = ["fit-heads", "--checkpoint", str(ckpt), "--epochs", "1", "--seed", "4", "--no-progress"]
    depth = [*fit, "--levels", "depth", "--num-levels", "2", "--head-hidden", "3"]
    assert main([*depth, "--confidence", "margin"]) == 0
    assert {k: seen["build"][k] for k in ("levels", "num_levels", "head_hidden")} == {
        "levels": "depth",
        "num_levels": 2,
        "head_hidden": 3,
    }
    assert seen["build"]["confidence"] == "margin" and seen["build"]["seed"] == 4
    assert seen["fit_heads"]["epochs"] == 1 and seen["fit_heads"]["seed"] == 4
    assert seen["fine_tune"] == []  # depth exits: heads on the frozen pretrained features
    assert f"saved {tmp_path / 'base.leanet.pt'}" in capsys.readouterr().out
    net, meta = load_leanet(tmp_path / "base.leanet.pt")
    assert net.num_levels == 2 and meta["fine_tune_epochs"] == 0

    class Stop(Exception):
        pass

    def stop(base, **kwargs):
        seen["stopped"] = kwargs
        raise Stop

    monkeypatch.setattr(leanet.model, "build", stop)
    out = ["--out", str(tmp_path / "other.pt")]
    for argv, wanted in (([], {"num_levels": 4}), (["--exits", "1,2"], {"exits": [1, 2]})):
        with pytest.raises(Stop):
            main([*fit, *out, "--levels", "depth", *argv])
        assert {k: seen["stopped"][k] for k in wanted} == wanted
    # width levels fine-tuned for the epochs given, with the seed given (even one epoch)
    monkeypatch.setattr(leanet.model, "build", build)
    width = [*fit, "--fractions", "0.5,1.0", "--fine-tune-epochs", "1", *out]
    assert main(width) == 0
    assert [(kw["epochs"], kw["seed"]) for kw in seen["fine_tune"]] == [(1, 4)]
    # Triangular channels read fewer inputs than the pretrained statistics assume: their
    # batch norms are recalibrated; a slice level recomputes its channels and is not.
    assert main([*fit, "--fractions", "0.5,1.0", "--scheme", "slice", *out]) == 0
    assert seen["recalibrated"] == ["hybrid"]  # not the depth exits, not the slice levels
    # an --out that cannot be written, refused before any fitting
    seen.pop("fit_heads")
    assert main([*fit, "--out", str(tmp_path)]) == 1
    assert f"--out {tmp_path} is a folder" in capsys.readouterr().err and "fit_heads" not in seen


def test_fit_heads_refuses_a_checkpoint_of_other_classes(tmp_path, capsys):
    from leanet.checkpoints import save_checkpoint
    from tests.leanet.conftest import tiny_base

    classes = list(reversed(load_dataset("digits8x8").classes))
    ckpt = save_checkpoint(tmp_path / "base.pt", tiny_base(), dataset="digits8x8", classes=classes)
    assert main(["fit-heads", "--checkpoint", str(ckpt), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert f"{ckpt}: classes {classes} do not match data set digits8x8" in err
    assert not (tmp_path / "base.leanet.pt").exists()


def test_design_passes_its_options_to_the_problem_and_the_search(tmp_path, monkeypatch, capsys):
    """Each design option reaches the problem or the search (seed, head epochs, the floor's
    sign, the budget), and default settings keep the journal's name as older leanets wrote
    it, so their journals resume."""
    import mobo
    from leanet.checkpoints import save_checkpoint
    from tests.leanet.conftest import tiny_base

    class Stop(Exception):
        pass

    seen = []

    def optimize(problem, algorithm, **kwargs):  # the call, not the search
        seen.append((problem, algorithm, kwargs))
        raise Stop

    monkeypatch.setattr(mobo, "optimize", optimize)
    classes = load_dataset("digits8x8").classes
    ckpt = save_checkpoint(tmp_path / "base.pt", tiny_base(), dataset="digits8x8", classes=classes)
    out = tmp_path / "designs"
    design = ["design", str(ckpt), "--out", str(out), "--no-progress"]
    with pytest.raises(Stop):
        main(design)
    problem, algorithm, kwargs = seen[-1]
    assert algorithm == "qlognehvi" and kwargs["journal"] == out / (
        "qlognehvi-dense5-extra-init4-seed0.jsonl"
    )
    assert (kwargs["n_evals"], kwargs["max_cost"], kwargs["seed"]) == (60, None, 0)
    options = ["--seed", "2", "--head-epochs", "2", "--max-accuracy-drop", "0.01"]
    with pytest.raises(Stop):
        main([*design, *options, "--fine-tune-epochs", "1", "2", "--max-cost", "5"])
    problem, algorithm, kwargs = seen[-1]
    assert (kwargs["n_evals"], kwargs["max_cost"], kwargs["seed"]) == (None, 5.0, 2)
    assert problem.seed == 2 and problem.head_epochs == 2 and algorithm == "momf"
    floor = problem.constraints["accuracy floor"]  # <= 0: met
    below = type("Metrics", (), {"accuracy": problem.full_accuracy - 0.03})()
    assert floor(None, below) == pytest.approx(0.02)
    # an --out that is a file: refused before any work
    (tmp_path / "a-file").write_text("")
    assert main([*design, "--out", str(tmp_path / "a-file")]) == 1
    assert "a-file is a file; the design search writes a folder" in capsys.readouterr().err
    assert len(seen) == 2


@pytest.mark.parametrize("levels", ["hybrid", "depth", "triangular"])
def test_report_of_an_older_artifact_reads_the_full_networks_figures_from_its_levels(
    levels, tmp_path, capsys
):
    """An artifact that does not record the pretrained network's figures: a hybrid's top
    level and a depth LEANet's backbone are that network, unchanged; a triangular LEANet's
    levels changed its copy, so the report says what to make again. --losses sets the rows;
    recorded outcomes of another number of images are not read as this split's."""
    import leanet
    from leanet.artifact import save_artifact
    from leanet.costs import measure_costs
    from leanet.evaluator import ThresholdEvaluator
    from leanet.train import evaluate
    from tests.leanet.conftest import tiny_base

    data = leanet.load_dataset("digits8x8", seed=0)
    base = tiny_base("convnet")
    if levels == "depth":
        net = leanet.build(base, levels="depth", num_levels=2)
    else:
        net = leanet.build(base, fractions=(0.5, 1.0), scheme=levels)
    costs = measure_costs(net, latency=False)
    val = ThresholdEvaluator.from_model(net, data.val, costs)
    front = val.evaluate(torch.tensor([[0.5], [0.9]], dtype=torch.float64)).pareto()
    meta = {"dataset": "digits8x8", "split_seed": 0}
    path = save_artifact(tmp_path / "old.artifact.pt", net, front, costs, meta=meta)
    if levels == "triangular":
        assert main(["report", str(path)]) == 1
        err = capsys.readouterr().err
        assert "does not record the pretrained network's accuracy (made before it did)" in err
        figures = {"full_val_accuracy": 0.5, "full_test_accuracy": 0.5}
        short = torch.ones(len(data.val) - 1, dtype=torch.bool)  # another split's outcomes
        meta = {**meta, **figures, "full_val_correct": short}
        path = save_artifact(tmp_path / "old.artifact.pt", net, front, costs, meta=meta)
        assert main(["report", str(path), "--bound", "0.9"]) == 1
        assert f"on each of the {len(data.val)} validation inputs" in capsys.readouterr().err
        return
    assert main(["report", str(path), "--losses", "0,0.05", "--bound", "0.9"]) == 0
    printed = capsys.readouterr().out
    assert f"(test accuracy {evaluate(base, data.test):.4f})" in printed
    rows = printed.split("Energy saved on test")[1].splitlines()[2:4]
    assert [row.split()[0] for row in rows] == ["0%", "5%"]


def test_design_test_savings_on_held_out_images_compare_with_the_full_network_there(monkeypatch):
    """`leanet design --holdout`: a point is chosen within the allowed loss of the pretrained
    network's accuracy on the held-out images, not on the validation images the search read
    (0.99 there, 0.96 on the held-out ones)."""
    from collections import namedtuple
    from types import SimpleNamespace

    import leanet.train
    from leanet.cli_design import savings_on_test

    def evaluator(acc, energy):
        return SimpleNamespace(
            evaluate=lambda T: SimpleNamespace(
                accuracy=torch.tensor([acc]), energy_ratio=torch.tensor([energy])
            )
        )

    Design = namedtuple("Design", "key")  # noqa: N806 (a stand-in class)
    held = list(range(100))
    problem = SimpleNamespace(
        full_accuracy=0.99,  # on the validation images the search read
        decode=lambda X: [(Design(key="A"), torch.tensor([0.5], dtype=torch.float64))],
        evaluator_on=lambda d, split: evaluator(0.955 if split is held else 0.985, 0.3),
        test_evaluator=lambda d: evaluator(0.95, 0.31),
        deployed=lambda d, T, chosen_on: T,
        base=None,
        data=SimpleNamespace(test=None, val=None),
    )
    monkeypatch.setattr(leanet.train, "evaluate", lambda model, data: 0.96)
    full_on_held = torch.arange(100) < 96  # 0.96
    monkeypatch.setattr(leanet.train, "correct_predictions", lambda model, data: full_on_held)
    text = savings_on_test(problem, torch.zeros(1, 1), choose_on=held)
    rows = [line.split() for line in text.splitlines()[2:5]]
    assert rows[0][1] == "-" and rows[1][:3] == ["1%", "0.9500", "0.310"]
    assert text.splitlines()[-1] == "chosen on 100 held-out validation images: 1%: A; 2%: A"
