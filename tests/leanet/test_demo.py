"""The main job end to end on small settings, and its caching."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from leanet.artifact import load_artifact
from leanet.checkpoints import load_checkpoint, load_leanet
from leanet.cli import main
from leanet.data import load_dataset
from leanet.demo import (
    DemoConfig,
    base_name,
    format_threshold,
    net_name,
    pareto_table,
    prepare_leanet,
    run_demo,
    savings_table,
)
from leanet.evaluator import ThresholdEvaluator
from leanet.machine import describe, trained_with
from leanet.policy import Saving


def _small(out, **settings) -> DemoConfig:
    """The demo on the 8x8 digits with a tiny network and budget: seconds, not minutes."""
    base = dict(dataset="digits8x8", width_multiplier=0.25, base_epochs=1, head_epochs=2)
    base.update(fine_tune_epochs=0, algorithm="sobol", n_evals=8, progress=False)
    return DemoConfig(out=out, **{**base, **settings})


def test_demo_runs_end_to_end_and_a_second_run_reuses_every_step(tmp_path, capsys):
    config = _small(tmp_path)
    first = run_demo(config)
    printed, first_said = capsys.readouterr()
    assert "training convnet on digits8x8" in printed
    assert "Pareto set" in printed and "Energy saved on test" in printed
    # the table says how finely each split measures accuracy (digits8x8: 300 and 299 images)
    assert "validation: 300 inputs: one input is 0.33 points" in printed
    assert "test: 299 inputs: one input is 0.33 points" in printed
    for name in (
        "fronts.png",
        "hypervolume.png",
        "leanet-artifact.pt",
        "summary.json",
        f"{net_name(config)}.pt",
        "levels-val.pt",
        "levels-test.pt",
    ):
        assert (tmp_path / name).stat().st_size > 0, name
    assert 0 < first["hypervolume_ratio"] <= 1
    on_test = torch.load(tmp_path / "levels-test.pt", weights_only=True)["correct"]
    assert first["level_test_accuracy"] == on_test.double().mean(dim=1).tolist()  # not val's
    assert [s["allowed_loss"] for s in first["savings"]] == [0.0, 0.01, 0.02]
    # `leanet report` on the demo's artifact prints the demo's savings table (it measures
    # against the same pretrained network, on the same split).
    savings = printed[printed.index("Energy saved on test") :].split("\n\n")[0].strip()
    assert main(["report", str(tmp_path / "leanet-artifact.pt")]) == 0
    assert savings in capsys.readouterr().out
    # where the LEANet was trained, printed and carried by the artifact (leanet.machine)
    assert describe(trained_with()) in printed
    artifact = load_artifact(tmp_path / "leanet-artifact.pt")
    assert artifact.meta["trained_with"] == trained_with()
    train = load_dataset("digits8x8", seed=config.seed).train
    assert artifact.input_normalization == train.normalization  # for a device's raw pixels

    second = run_demo(config)
    printed, said = capsys.readouterr()
    assert "training" not in printed and "fitting" not in printed
    assert f"loaded {tmp_path / net_name(config)}.pt" in printed
    assert describe(trained_with()) in printed  # read back from the cached LEANet
    assert second["hypervolume_ratio"] == first["hypervolume_ratio"]
    journal = tmp_path / f"thresholds-{net_name(config)}-sobol-seed0.jsonl"
    evals = [json.loads(line) for line in journal.read_text().splitlines() if '"eval"' in line]
    assert len(evals) == 8  # the resumed study had nothing left to do
    assert f"{journal} already holds 8 evaluations (--n-evals 8): nothing left to run" in said
    assert "resuming" not in first_said


def test_a_smaller_n_evals_after_a_longer_run_reports_that_many_evaluations(tmp_path, capsys):
    """A run folder whose journal holds more evaluations than asked (a longer run before)
    reports its first ``n_evals``, as a run of that budget alone does; it reported all of
    them as ``n_evals`` (16 evaluations' 92.6% printed as "12 evaluations reached")."""
    import shutil

    longer = run_demo(_small(tmp_path / "shared", n_evals=10))
    capsys.readouterr()
    shorter = run_demo(_small(tmp_path / "shared", n_evals=5))
    printed, said = capsys.readouterr()
    assert "holds 10 evaluations; the first 5 are used" in said
    assert "sobol: 5 evaluations reached" in printed
    alone_dir = tmp_path / "alone"
    alone_dir.mkdir()
    for cached in (tmp_path / "shared").glob("*seed0*.pt"):  # the same networks, not retrained
        shutil.copy(cached, alone_dir)
    alone = run_demo(_small(alone_dir, n_evals=5))
    assert longer["hypervolume_ratio"] > alone["hypervolume_ratio"]  # the budgets differ
    for key in ("hypervolume_ratio", "savings"):
        assert shorter[key] == alone[key], key
    assert (longer["n_evals"], shorter["n_evals"]) == (10, 5)
    recorded = json.loads((tmp_path / "shared" / "summary.json").read_text())
    assert {k: recorded[k] for k in ("algorithm", "n_evals", "seed", "scheme")} == {
        "algorithm": "sobol",
        "n_evals": 5,
        "seed": 0,
        "scheme": "hybrid",
    }


def test_the_demo_trains_the_same_network_for_the_same_seed(tmp_path):
    """Two runs with the same seed train the same base network, whatever state the global
    random generator is in (the initial weights once came from it)."""
    weights = []
    for run in ("a", "b"):
        torch.rand(13)  # another user of the global generator between the runs
        run_demo(_small(tmp_path / run, head_epochs=1, n_evals=3))
        config = _small(tmp_path / run)
        base, _ = load_checkpoint(tmp_path / run / f"{base_name(config)}.pt", arch="convnet")
        weights.append(torch.cat([p.detach().flatten() for p in base.parameters()]))
    assert torch.equal(weights[0], weights[1])


def test_a_demo_with_another_seed_in_the_same_folder_trains_its_own_networks(tmp_path, capsys):
    """The seed draws the data split: a second seed in the same run folder must not reuse
    the first seed's networks (it once did, and measured test accuracy partly on images
    they were trained on). Its figures are those of a run in a folder of its own."""
    import leanet

    run_demo(_small(tmp_path / "shared"))
    capsys.readouterr()
    other = run_demo(_small(tmp_path / "shared", seed=1))
    assert "training convnet" in capsys.readouterr().out
    alone = run_demo(_small(tmp_path / "alone", seed=1))
    assert other["full_test_accuracy"] == alone["full_test_accuracy"]
    config = _small(tmp_path / "shared", seed=1)
    base, _ = load_checkpoint(tmp_path / "shared" / f"{base_name(config)}.pt", arch="convnet")
    test = leanet.load_dataset("digits8x8", seed=1).test
    assert other["full_test_accuracy"] == leanet.evaluate(base, test)
    assert (tmp_path / "shared" / f"{base_name(_small(tmp_path))}.pt").exists()  # kept


def test_the_pareto_table_tells_live_thresholds_near_1_from_an_off_level():
    # Confidences pile up just below 1; with three decimals 0.9996, 0.99999 and an off
    # level (1.0) all printed 1.000, and the printed values decided otherwise.
    assert [format_threshold(t) for t in (0.5, 0.99, 0.9996, 0.99999, 1.0)] == [
        "0.500",
        "0.990",
        "0.99960",
        "0.999990",
        "off",
    ]
    confidence = torch.tensor([[0.9995, 0.99995, 0.9999995, 0.5], [0.9, 0.9, 0.9, 0.9]])
    correct = torch.tensor([[True, True, False, False], [True, True, True, True]])
    evaluator = ThresholdEvaluator(confidence, correct, torch.tensor([1.0, 2.0]), 2.0)
    front = evaluator.evaluate(torch.tensor([[0.9996], [0.99999], [1.0]]))
    rows = pareto_table(front, evaluator).splitlines()[2:5]
    assert [row.split()[0] for row in rows] == ["0.99960", "0.999990", "off"]


def test_the_pareto_tables_columns_line_up_under_thresholds_wider_than_the_header():
    # six levels: five thresholds of seven characters, wider than the 28 of the header
    confidence = torch.full((6, 2), 0.9)
    correct = torch.ones(6, 2, dtype=torch.bool)
    energy = torch.arange(1.0, 7.0)
    evaluator = ThresholdEvaluator(confidence, correct, energy, 6.0)
    front = evaluator.evaluate(torch.tensor([[0.9996] * 5, [0.5] * 5]))
    header, row = pareto_table(front, evaluator).splitlines()[1:3]
    end = header.index("thresholds") + len("thresholds")  # the column's right edge
    assert row[:end].split() == ["0.99960"] * 5 and row[end] == " "
    assert row[end:].index("1.0000") + end == header.index("val acc") + len("val acc") - 6


def test_the_pareto_tables_resolution_lines_are_each_near_their_own_splits_accuracy():
    # The validation line was computed at the test split's accuracy (1.04 points printed
    # for 0.87 on sweep 34's digits8x8 artifact).
    confidence = torch.full((2, 4), 0.9)
    on_val = torch.tensor([[True, True, True, False], [True, True, True, True]])
    on_test = torch.tensor([[False] * 4, [True, False, False, False]])
    val, test = (
        ThresholdEvaluator(confidence, c, torch.tensor([1.0, 2.0]), 2.0) for c in (on_val, on_test)
    )
    front = val.evaluate(torch.tensor([[1.0]]))  # every input at the top: 1.0 / 0.25
    lines = pareto_table(front, test, num_val=4).splitlines()
    assert "near 1.000 is 0.00 points" in lines[-2] and lines[-2].startswith("validation:")
    assert "near 0.250 is 21.65 points" in lines[-1] and lines[-1].startswith("test:")


def test_the_savings_table_prints_an_allowed_loss_with_its_decimals():
    # --losses 0,0.005 printed two rows labelled 0%, the second with more saved.
    savings = [
        Saving(loss, torch.zeros(1), 0.98, ratio)
        for loss, ratio in ((0.0, 0.38), (0.005, 0.36), (0.015, 0.3), (0.02, 0.28))
    ]
    rows = savings_table(savings, 0.99).splitlines()[2:]
    assert [row.split()[0] for row in rows] == ["0%", "0.5%", "1.5%", "2%"]


def test_the_savings_table_names_the_images_it_chose_on_unless_the_validation_split():
    savings = [Saving(0.01, torch.zeros(1), 0.98, 0.4)]
    assert "chosen" not in savings_table(savings, 0.99).splitlines()[0]
    title = savings_table(savings, 0.99, on="300 held-out images").splitlines()[0]
    assert title.endswith("(test accuracy 0.9900), chosen on 300 held-out images:")


def test_the_slice_scheme_fits_heads_only_and_fine_tuning_it_is_refused_before_training(
    tmp_path, capsys
):
    # Its default 10 fine-tune epochs failed after the base was trained and the heads fitted.
    assert DemoConfig().joint_epochs == 10
    # read when used: a config switched to slice by replace takes slice's default, and back
    assert dataclasses.replace(DemoConfig(), scheme="slice").joint_epochs == 0
    assert dataclasses.replace(DemoConfig(scheme="slice"), scheme="hybrid").joint_epochs == 10
    with pytest.raises(ValueError, match="slice scheme.*--fine-tune-epochs 0"):
        DemoConfig(scheme="slice", fine_tune_epochs=10)
    assert (
        main(["demo", "--scheme", "slice", "--fine-tune-epochs", "3", "--out", str(tmp_path)]) == 1
    )
    assert "--fine-tune-epochs 0" in capsys.readouterr().err and not any(tmp_path.iterdir())
    config = _small(tmp_path, scheme="slice", fine_tune_epochs=None)
    assert config.joint_epochs == 0
    _, net, _ = prepare_leanet(config, load_dataset(config.dataset, seed=config.seed))
    assert net.levels.scheme == "slice" and (tmp_path / f"{net_name(config)}.pt").exists()
    assert "no fine-tuning" in capsys.readouterr().out


def test_plot_fronts_writes_its_figure_and_leaves_no_figure_open(tmp_path):
    # It saved and returned None but left its figure open: 25 calls, 25 open figures (and
    # matplotlib's "More than 20 figures" warning; each shown at the end of a notebook cell).
    import matplotlib.pyplot as plt

    from leanet.costs import LevelCosts
    from leanet.demo import plot_fronts

    confidence = torch.tensor([[0.6, 0.9, 0.95], [0.9, 0.9, 0.9]])
    correct = torch.tensor([[True, False, True], [True, True, True]])
    val = ThresholdEvaluator(confidence, correct, torch.tensor([1.0, 2.0]), 2.0)
    front = val.evaluate(torch.tensor([[0.5], [0.8], [1.0]]))
    costs = LevelCosts(
        exit_energy=torch.tensor([1.0, 2.0]),
        full_energy=2.0,
        static_energy=torch.tensor([0.8, 2.0], dtype=torch.float64),
    )
    before = plt.get_fignums()
    for k in range(3):
        plot_fronts(tmp_path / f"f{k}.png", front, front, val, costs, "sobol", 1.0)
    assert plt.get_fignums() == before
    assert all((tmp_path / f"f{k}.png").stat().st_size > 0 for k in range(3))


def test_the_demo_leaves_the_callers_warning_filters_and_figures_alone(tmp_path):
    # It added a global "ignore FutureWarning", never removed (every later FutureWarning in
    # the process hidden), and its plt.close("all") closed the caller's own figures.
    import warnings

    import matplotlib.pyplot as plt

    mine = plt.figure()
    before, open_before = list(warnings.filters), plt.get_fignums()
    try:
        run_demo(_small(tmp_path, head_epochs=1, n_evals=3))
        assert warnings.filters == before
        assert plt.get_fignums() == open_before  # the caller's, and none of the demo's
        assert (tmp_path / "hypervolume.png").stat().st_size > 0
    finally:
        plt.close(mine)


def test_importing_the_demo_keeps_the_users_matplotlib_backend():
    # Its module-level matplotlib.use("Agg") turned a notebook's inline backend into Agg:
    # the quickstart notebook imports format_threshold from here, and its results figure
    # (fronts and hypervolume) was then never shown.
    import subprocess
    import sys

    code = "import matplotlib; matplotlib.use('svg'); import leanet.demo; "
    code += "print(matplotlib.get_backend())"
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert ran.stdout.strip() == "svg", ran.stderr


def test_a_demo_with_n_initial_runs_its_own_study_with_that_design(tmp_path):
    """``n_initial`` (``leanet demo --n-initial``) goes to the algorithm and the summary, in a
    journal of its own: the default design's study is another study."""
    summary = run_demo(_small(tmp_path, n_evals=4, n_initial=3))
    journal = tmp_path / f"thresholds-{net_name(_small(tmp_path))}-sobol-init3-seed0.jsonl"
    header = json.loads(journal.read_text().splitlines()[0])
    assert header["algorithm_options"] == {"n_initial": 3}
    assert (summary["n_evals"], summary["n_initial"]) == (4, 3)


def test_each_setting_that_changes_a_network_is_in_its_cache_file_name(tmp_path):
    """A run with a setting that trains another network must not load the cached one: the
    base network's settings are in both names, the LEANet's only in the LEANet's."""
    config = _small(tmp_path)
    for change in (
        {"seed": 1},
        {"dataset": "mnist5k"},
        {"arch": "mobilenet"},
        {"width_multiplier": 0.5},
        {"base_epochs": 2},
    ):
        other = dataclasses.replace(config, **change)
        assert base_name(other) != base_name(config), change
        assert net_name(other) != net_name(config), change
    for change in (
        {"scheme": "triangular"},
        {"head_hidden": 16},
        {"head_epochs": 3},
        {"fine_tune_epochs": 1},
    ):
        other = dataclasses.replace(config, **change)
        assert base_name(other) == base_name(config), change
        assert net_name(other) != net_name(config), change
    # None means the scheme's default epochs: the same network as asking for them
    assert net_name(dataclasses.replace(config, fine_tune_epochs=None)) == net_name(
        dataclasses.replace(config, fine_tune_epochs=10)
    )


def test_prepare_leanet_fine_tunes_as_asked_and_caches_each_network_with_its_split(
    tmp_path, capsys
):
    """The LEANet is fine-tuned for ``fine_tune_epochs`` on the base it shares with the
    unfine-tuned one; both files record their data split (for the CLI to measure on) and
    where the LEANet was trained, read back with it."""
    data = load_dataset("digits8x8", seed=0)
    plain = _small(tmp_path, head_epochs=1)
    tuned = dataclasses.replace(plain, fine_tune_epochs=1)
    _, net, _ = prepare_leanet(plain, data)
    assert "fine-tuning" not in capsys.readouterr().out
    _, tuned_net, _ = prepare_leanet(tuned, data)
    printed = capsys.readouterr().out
    assert "fine-tuning all levels jointly, 1 epochs" in printed
    assert "training convnet" not in printed  # the same base, loaded
    pairs = zip(net.state_dict().values(), tuned_net.state_dict().values(), strict=True)
    assert not all(torch.equal(a, b) for a, b in pairs)
    assert load_checkpoint(tmp_path / f"{base_name(plain)}.pt")[1]["split_seed"] == data.seed
    assert load_leanet(tmp_path / f"{net_name(tuned)}.pt")[1]["split_seed"] == data.seed
    _, _, record = prepare_leanet(tuned, data)  # from the cache
    assert f"loaded {tmp_path / net_name(tuned)}.pt" in capsys.readouterr().out
    assert record == trained_with()
