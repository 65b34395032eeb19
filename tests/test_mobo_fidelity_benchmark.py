"""The multi-fidelity benchmark (``benchmarks/mobo_fidelity.py``) on a tiny configuration:
each run stops at its cost budget and the table names both variants, command and commit."""

from __future__ import annotations

import json
import statistics

import pytest

from tests.benchmark_scripts import load_benchmark


def test_fidelity_benchmark_reports_hypervolume_within_each_cost(tmp_path):
    out = tmp_path / "fidelity"
    argv = ["--seeds", "1", "--budget", "3", "--n-initial", "3", "--max-evals", "8"]
    load_benchmark("mobo_fidelity").main([*argv, "--out", str(out)])
    runs = json.loads(out.with_suffix(".json").read_text())["runs"]
    assert {r["variant"] for r in runs} == {"mfosemo", "mfosemo-untold", "mfosemo-target-only"}
    for run in runs:
        # Each run stops at the first evaluation that reaches the budget (or at the cap).
        assert run["cumulative_cost"][-1] >= 3 - 1e-9 or len(run["cumulative_cost"]) == 8
        assert all(c < 3 - 1e-9 for c in run["cumulative_cost"][:-1])
    md = out.with_suffix(".md").read_text()
    module = load_benchmark("mobo_fidelity")
    commit = module.provenance.commit()
    assert all(r["commit"] == commit and r["options"] == {} for r in runs)
    assert "| mfosemo-target-only | 1 |" in md
    assert f"Git commits of the runs: `{commit}` (mfosemo, mfosemo-untold, mfosemo-" in md
    assert "\nHypervolume of the target-fidelity evaluations" in md
    # Runs made with other options are not reported as these (nothing was run then).
    before = out.with_suffix(".json").read_text()
    with pytest.raises(SystemExit, match="holds mfosemo runs made with options"):
        module.main([*argv, "--options", '{"target_share": 0.5}', "--out", str(out)])
    assert out.with_suffix(".json").read_text() == before


def test_fidelity_benchmark_runs_imoca_on_the_continuous_problem(tmp_path):
    out = tmp_path / "continuous"
    argv = ["--seeds", "1", "--budget", "2", "--n-initial", "3", "--max-evals", "6"]
    variants = ["--variants", "imoca", "imoca-target-only"]
    load_benchmark("mobo_fidelity").main([*argv, *variants, "--out", str(out)])
    runs = {r["variant"]: r for r in json.loads(out.with_suffix(".json").read_text())["runs"]}
    assert set(runs) == {"imoca", "imoca-target-only"}
    assert all(runs["imoca-target-only"]["at_target"])
    assert not all(runs["imoca"]["at_target"])  # iMOCA's grid spans the continuous range
    assert "| imoca | 1 |" in out.with_suffix(".md").read_text()


def test_fidelity_benchmark_runs_a_constrained_problem_in_its_own_file(tmp_path):
    out = tmp_path / "constrained"
    argv = ["--seeds", "1", "--budget", "2", "--n-initial", "3", "--max-evals", "5"]
    argv += ["--problem", "ConstrainedBraninCurrin", "--variants", "momf", "sobol"]
    load_benchmark("mobo_fidelity").main([*argv, "--out", str(out)])
    runs = json.loads(out.with_suffix(".json").read_text())["runs"]
    assert {r["problem"] for r in runs} == {"ConstrainedBraninCurrin"}
    assert not all(next(r for r in runs if r["variant"] == "momf")["at_target"])
    md = out.with_suffix(".md").read_text()
    assert "Problem: ConstrainedBraninCurrinMF" in md and "Feasible hypervolume" in md
    with pytest.raises(SystemExit, match="holds runs of \\['ConstrainedBraninCurrin'\\]"):
        load_benchmark("mobo_fidelity").main([*argv[:8], "--out", str(out)])  # BraninCurrin


def test_report_only_runs_nothing_and_quotes_the_current_max_hv(tmp_path):
    """The reports quoted BoTorch's max_hv for BraninCurrin (59.36), which evaluated points
    beat (59.41 since f4b86b6)."""
    run = {
        "variant": "sobol", "seed": 0, "budget": 2.0, "n_initial": 1,
        "cumulative_cost": [1.0, 2.0], "hypervolume": [10.0, 20.0],
        "at_target": [True, True], "max_hv": 59.36011874867746,
        "cpu_seconds_per_iteration": 0.0,
    }  # fmt: skip
    out = tmp_path / "old"
    store = {"command": "the command that ran", "commit": "abc1234", "runs": [run]}
    out.with_suffix(".json").write_text(json.dumps(store))
    argv = ["--seeds", "1", "--budget", "2", "--n-initial", "1", "--variants", "sobol"]
    load_benchmark("mobo_fidelity").main([*argv, "--out", str(out), "--report-only"])
    assert json.loads(out.with_suffix(".json").read_text()) == store  # nothing ran
    md = out.with_suffix(".md").read_text()
    assert "max_hv is 59.41)" in md
    assert "Command: `the command that ran`" in md
    assert "Git commits of the runs: `abc1234` (sobol)" in md
    assert "| sobol | 1 | " in md


def test_every_tabled_variant_is_checked_for_the_options_it_ran_with(tmp_path):
    """Every stored variant is tabled under the command's options: one that ran with others
    is refused, not only one of --variants (sweep 29: mfosemo's runs at {} were tabled under
    ``--variants momf --options '{"information": "maxima"}'``)."""
    run = {
        "variant": "mfosemo", "seed": 0, "budget": 2.0, "n_initial": 1, "options": {},
        "cumulative_cost": [1.0, 2.0], "hypervolume": [10.0, 20.0],
        "at_target": [True, True], "cpu_seconds_per_iteration": 0.0,
    }  # fmt: skip
    out = tmp_path / "store"
    out.with_suffix(".json").write_text(json.dumps({"runs": [run]}))
    argv = ["--seeds", "1", "--budget", "2", "--n-initial", "1", "--out", str(out)]
    options = ["--options", '{"information": "maxima"}']
    with pytest.raises(SystemExit, match="holds mfosemo runs made with options {}"):
        load_benchmark("mobo_fidelity").main(
            [*argv, "--variants", "momf", *options, "--report-only"]
        )
    assert not out.with_suffix(".md").exists()


def test_fidelity_benchmark_figure_draws_the_median_of_its_table(tmp_path, monkeypatch):
    # sweep39: the figure drew torch's lower median, the worse of two seeds (the --quick
    # mode's count), while the table printed statistics.median, their mean.
    import argparse

    import matplotlib.pyplot as plt

    module = load_benchmark("mobo_fidelity")
    runs = [
        {"variant": "mfosemo", "cumulative_cost": [1.0, 2.0], "hypervolume": [1.0, hv]}
        for hv in (2.0, 6.0)
    ]
    figures = []
    monkeypatch.setattr(plt, "close", figures.append)
    args = argparse.Namespace(budget=2.0, problem="BraninCurrin")
    module.plot(args, runs, tmp_path / "figure.png", "")
    (line,) = figures[0].axes[0].lines
    assert line.get_xdata()[-1] == 2.0 and line.get_ydata()[-1] == 4.0
    at = [module.hv_within(r, 2.0) for r in runs]
    assert statistics.median(at) == 4.0
