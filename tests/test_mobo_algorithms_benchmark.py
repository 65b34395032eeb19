"""The algorithm benchmark (``benchmarks/mobo_algorithms.py``) on a tiny configuration: its
summary is the median of its runs, it resumes instead of repeating runs, ``--rerun``
replaces exactly the runs of the algorithms it names, and ``--report-only`` runs nothing."""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

import pytest

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
    store = out.with_suffix(".json")
    payload = json.loads(store.read_text())
    for r in payload["runs"]:
        r["log_hv_difference"][-1] = SENTINEL  # marks every stored run
    store.write_text(json.dumps(payload))

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


def test_report_only_rewrites_the_tables_from_the_store_and_runs_nothing(bench):
    module, argv, out = bench
    store = out.with_suffix(".json")
    payload = json.loads(store.read_text())
    for r in payload["runs"]:
        r["log_hv_difference"][-1] = SENTINEL
    store.write_text(json.dumps(payload))
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
