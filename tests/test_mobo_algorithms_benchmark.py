"""The algorithm benchmark (``benchmarks/mobo_algorithms.py``) on a tiny configuration: its
summary is the median of its runs, it resumes instead of repeating runs, ``--rerun``
replaces exactly the runs of the algorithms it names, and ``--report-only`` runs nothing."""

from __future__ import annotations

import csv
import json
import math
import statistics
from pathlib import Path

import pytest

import mobo
from tests.benchmark_scripts import load_benchmark

SENTINEL = 123.0


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "algorithms"
    argv = [
        "--algorithms", "sobol", "nsga2",
        "--problems", "BraninCurrin",
        "--seeds", "2", "--evals", "12", "--n-initial", "6",
        "--out", str(out),
    ]  # fmt: skip
    module = load_benchmark("mobo_algorithms")
    module.main(argv)
    return module, argv, out


def _runs(out: Path) -> list[dict]:
    return json.loads(out.with_suffix(".json").read_text())["runs"]


def _mark_stored_runs(out: Path) -> Path:
    """Set every stored run's final value to SENTINEL (and its hypervolume to the one that
    gives it), so a test can tell kept runs from new ones; returns the store."""
    store = out.with_suffix(".json")
    payload = json.loads(store.read_text())
    for r in payload["runs"]:
        r["log_hv_difference"][-1] = SENTINEL
        r["hypervolume"][-1] = -(10.0**SENTINEL)
    store.write_text(json.dumps(payload))
    return store


def test_summary_is_the_median_over_seeds_of_the_final_values(bench):
    module, _, out = bench
    runs = _runs(out)
    assert sorted((r["algorithm"], r["seed"]) for r in runs) == [
        ("nsga2", 0), ("nsga2", 1), ("sobol", 0), ("sobol", 1),
    ]  # fmt: skip
    for r in runs:
        assert len(r["log_hv_difference"]) == 12
        trace = r["log_hv_difference"]
        assert all(b <= a + 1e-12 for a, b in zip(trace, trace[1:], strict=False)), (
            "the hypervolume difference of a growing set of points cannot increase"
        )
    rows = {row["algorithm"]: row for row in csv.DictReader(out.with_suffix(".csv").open())}
    for algorithm in ("sobol", "nsga2"):
        finals = [r["log_hv_difference"][-1] for r in runs if r["algorithm"] == algorithm]
        assert float(rows[algorithm]["median_log10_hv_difference"]) == pytest.approx(
            statistics.median(finals), abs=1e-4
        )
        row = rows[algorithm]
        assert float(row["min_log10_hv_difference"]) == pytest.approx(min(finals), abs=1e-4)
        assert float(row["max_log10_hv_difference"]) == pytest.approx(max(finals), abs=1e-4)
        assert rows[algorithm]["seeds"] == "2"
    md = out.with_suffix(".md").read_text()
    assert "- `.venv/bin/python benchmarks/mobo_algorithms.py --algorithms sobol nsga2" in md
    commit = module.provenance.commit()
    assert all(r["commit"] == commit for r in runs)
    machine = module.provenance.machine()
    assert all(r["machine"] == machine for r in runs)
    assert f"Machines (the same seed can end differently on another): {machine}." in md
    assert md.count(f"| {module._short(commit)} |") == 2  # each row names the commit of its runs
    assert "Completed runs: 4 of 4." in md
    assert out.with_suffix(".png").stat().st_size > 0


def test_a_second_invocation_resumes_and_rerun_replaces_only_named_algorithms(bench):
    module, argv, out = bench
    _mark_stored_runs(out)

    module.main(argv)  # nothing to do: every run is stored
    assert [r["log_hv_difference"][-1] for r in _runs(out)] == [SENTINEL] * 4

    module.main([*argv, "--rerun", "sobol"])
    runs = _runs(out)
    assert len(runs) == 4
    for r in runs:
        rerun = r["algorithm"] == "sobol"
        assert (r["log_hv_difference"][-1] != SENTINEL) == rerun, r["algorithm"]
        assert r["command"].endswith("--rerun sobol") == rerun
    md = out.with_suffix(".md").read_text()
    # both commands listed
    assert md.count("- `.venv/bin/python benchmarks/mobo_algorithms.py") == 2


def test_rerun_replaces_only_the_runs_of_the_problems_and_seeds_it_runs(bench):
    """``--rerun`` on one seed (or problem) keeps the algorithm's other runs."""
    module, argv, out = bench
    _mark_stored_runs(out)
    module.main([*argv, "--seeds", "1", "--rerun", "sobol"])  # the last --seeds counts
    runs = _runs(out)
    assert len(runs) == 4
    again = [(r["algorithm"], r["seed"]) for r in runs if r["log_hv_difference"][-1] != SENTINEL]
    assert again == [("sobol", 0)]
    args = module.parse_args([*argv, "--problems", "BraninCurrin", "--rerun", "sobol"])
    kept = [{"algorithm": "sobol", "problem": "ZDT1", "seed": 0}]
    assert module.drop_reruns(kept, args) == kept


def test_report_only_rewrites_the_tables_from_the_store_and_runs_nothing(bench):
    module, argv, out = bench
    store = _mark_stored_runs(out)
    before = store.read_text()
    # seed 2 is asked for but not stored: it stays missing instead of being run
    module.main([*argv, "--seeds", "3", "--report-only"])
    assert store.read_text() == before
    rows = list(csv.DictReader(out.with_suffix(".csv").open()))
    assert {float(row["median_log10_hv_difference"]) for row in rows} == {SENTINEL}
    assert "Completed runs: 4 of 6." in out.with_suffix(".md").read_text()
    with pytest.raises(SystemExit):
        module.parse_args([*argv, "--report-only", "--rerun", "sobol"])


def test_a_store_of_runs_made_with_other_options_is_refused_before_anything_runs(bench):
    """Rerun with new options, the stored runs were reused and their figures reported
    under the new options (a sweep did so to a copy of mobo_constrained.json)."""
    module, argv, out = bench
    store = out.with_suffix(".json")
    before = store.read_text()
    variant = [*argv, "--algorithm-options", '{"nsga2": {"pop_size": 8}}']
    with pytest.raises(SystemExit, match=r"holds nsga2 runs made with options \{\}, and this"):
        module.main(variant)
    assert store.read_text() == before


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--seeds", "0"], "--seeds must be at least 1"),  # reported "seeds 0..-1"
        (["--evals", "5"], "need 1 <= --n-initial < --evals"),  # "+ -5 sequential"
        (["--algorithm-options", '{"usemo": {"noisy": true}}'], r"for \['usemo'\], which"),
    ],
)
def test_arguments_that_reported_nonsense_are_refused(bench, extra, message, capsys):
    module, argv, _ = bench
    with pytest.raises(SystemExit):
        module.parse_args([*argv, *extra])
    assert message.replace("\\", "") in capsys.readouterr().err


def test_the_tables_report_only_the_seeds_asked_for(bench):
    # A --seeds 1 report printed "seeds 0..0" over every stored seed's runs.
    module, argv, out = bench
    module.main([*argv, "--seeds", "1", "--report-only"])
    seed0 = {r["algorithm"]: r["log_hv_difference"][-1] for r in _runs(out) if r["seed"] == 0}
    rows = list(csv.DictReader(out.with_suffix(".csv").open()))
    assert {row["algorithm"]: int(row["seeds"]) for row in rows} == {"sobol": 1, "nsga2": 1}
    for row in rows:
        assert float(row["median_log10_hv_difference"]) == pytest.approx(
            seed0[row["algorithm"]], abs=1e-4
        )  # the CSV keeps 4 decimals
    assert "Completed runs: 2 of 2." in out.with_suffix(".md").read_text()


def _report_of(module, out: Path, runs: list[dict]) -> dict:
    """The CSV row of a ``--report-only`` on a store of sobol BraninCurrin ``runs``."""
    out.with_suffix(".json").write_text(json.dumps({"command": "stored", "runs": runs}))
    module.main([
        "--algorithms", "sobol", "--problems", "BraninCurrin", "--seeds", str(len(runs)),
        "--evals", "2", "--n-initial", "1", "--out", str(out), "--report-only",
    ])  # fmt: skip
    (row,) = csv.DictReader(out.with_suffix(".csv").open())
    return row


def test_runs_stored_with_an_old_max_hv_are_reported_against_the_current_one(bench, tmp_path):
    """BoTorch's max_hv for BraninCurrin (59.3601) was beaten by evaluated points (59.40501
    since f4b86b6), and the tables kept the stored log10(59.3601 - hv): usemo's median read
    0.100 where the gap to the best known maximum is 0.115."""
    module, _, _ = bench
    then, now = module.RECORDED_MAX_HV["BraninCurrin"], mobo.problems.make("BraninCurrin").max_hv
    assert now > then + 0.04
    hv = [50.0, 59.0]
    stored = [math.log10(then - h) for h in hv]
    base = {"problem": "BraninCurrin", "algorithm": "sobol", "evals": 2, "n_initial": 1}
    base["seconds_per_iteration"] = 0.0
    runs = [
        {**base, "seed": 0, "log_hv_difference": stored},  # before runs kept max_hv
        {**base, "seed": 1, "log_hv_difference": stored, "max_hv": then},
        {**base, "seed": 2, "log_hv_difference": stored, "max_hv": then, "hypervolume": hv},
    ]
    row = _report_of(module, tmp_path / "old", runs)
    for column in ("median", "min", "max"):
        value = float(row[f"{column}_log10_hv_difference"])
        assert value == pytest.approx(math.log10(now - 59.0), abs=1e-4)  # -0.3924, not -0.4437
    # A floored difference hides the hypervolume (the run may have passed the old max_hv).
    floored = [{**base, "seed": 0, "log_hv_difference": [stored[0], -12.0]}]
    with pytest.raises(ValueError, match="the floor"):
        _report_of(module, tmp_path / "floored", floored)


def test_new_runs_store_the_hypervolume_and_the_max_hv_they_used(bench):
    module, _, out = bench
    now = mobo.problems.make("BraninCurrin").max_hv
    for run in _runs(out):
        assert run["max_hv"] == now
        difference = [math.log10(max(now - h, 1e-12)) for h in run["hypervolume"]]
        assert run["log_hv_difference"] == pytest.approx(difference)


def test_runs_given_the_default_options_explicitly_are_reported_as_default_runs(tmp_path):
    """The shipped mobo_algorithms_50.json holds usemo runs made with an explicit default
    ({"noisy": true} then, {"sobol_candidates": true} now) and qlognehvi runs with the
    surrogate's defaults (merged from stores made with --algorithm-options), and its
    documented --report-only refused it (sweep 29)."""
    module = load_benchmark("mobo_algorithms")
    base = {"problem": "BraninCurrin", "seed": 0, "evals": 2, "n_initial": 1}
    base |= {"seconds_per_iteration": 0.0, "log_hv_difference": [0.5, 0.4]}
    defaults = {"warm_start": False, "max_iter": 1000, "max_attempts": 5}
    runs = [
        {**base, "algorithm": "usemo", "options": {"noisy": True}},
        {**base, "algorithm": "qlognehvi", "options": {"surrogate": defaults}},
    ]
    out = tmp_path / "store"
    out.with_suffix(".json").write_text(json.dumps({"command": "stored", "runs": runs}))
    argv = ["--algorithms", "usemo", "qlognehvi", "--problems", "BraninCurrin", "--seeds", "1"]
    argv += ["--evals", "2", "--n-initial", "1", "--out", str(out), "--report-only"]
    module.main(argv)
    rows = {row["algorithm"] for row in csv.DictReader(out.with_suffix(".csv").open())}
    assert rows == {"usemo", "qlognehvi"}
    # an option that is not the default still is refused, and named without the defaults
    runs[0]["options"] = {"noisy": False, "pop_size": 100}
    out.with_suffix(".json").write_text(json.dumps({"command": "stored", "runs": runs}))
    with pytest.raises(SystemExit, match=r"usemo runs made with options \{'noisy': False\}"):
        module.main(argv)
