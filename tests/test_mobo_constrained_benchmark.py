"""The constrained benchmark (``benchmarks/mobo_constrained.py``) on a tiny configuration:
its table is the median and range of its runs' final feasible hypervolume, it writes the
command and the commit, and it resumes instead of repeating runs."""

from __future__ import annotations

import json
import statistics

import pytest

import mobo
from tests.benchmark_scripts import load_benchmark


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "constrained"
    argv = [
        "--algorithms", "sobol", "nsga2",
        "--problems", "ConstrainedBraninCurrin",
        "--seeds", "2", "--evals", "12", "--n-initial", "6",
        "--out", str(out),
    ]  # fmt: skip
    module = load_benchmark("mobo_constrained")
    rows = module.main(argv)
    return module, argv, out, rows


def test_table_is_the_median_and_range_of_feasible_hypervolume(bench):
    _, _, out, rows = bench
    runs = json.loads(out.with_suffix(".json").read_text())["runs"]
    assert len(runs) == 4
    sobol = [r for r in runs if r["algorithm"] == "sobol"]
    # The stored trace is the feasible hypervolume of the study the run made.
    problem = mobo.problems.make("ConstrainedBraninCurrin")
    result = mobo.optimize(problem, "sobol", n_evals=12, seed=0, show_progress=False)
    assert sobol[0]["feasible_hv"] == pytest.approx(result.hypervolume.tolist())
    assert sobol[0]["feasible_evaluations"] == int(result.feasible.sum())
    row = next(r for r in rows if r["algorithm"] == "sobol")
    finals = [r["feasible_hv"][-1] for r in sobol]
    assert row["median_hv"] == pytest.approx(statistics.median(finals))
    assert (row["min_hv"], row["max_hv_seen"]) == (min(finals), max(finals))
    md = out.with_suffix(".md").read_text()
    command = ".venv/bin/python benchmarks/mobo_constrained.py --algorithms sobol nsga2"
    assert all(r["command"].startswith(command) for r in runs)
    assert f"Commands of the runs: `{runs[0]['command']}` (sobol, nsga2)" in md
    commit = runs[0]["commit"]
    assert all(r["commit"] == commit for r in runs)
    assert f"other algorithms' runs): `{commit}` (sobol, nsga2)" in md
    machine = load_benchmark("provenance").machine()
    assert all(r["machine"] == machine for r in runs)
    assert f"another machine): {machine} (sobol, nsga2)" in md
    assert "Completed runs: 4 of 4." in md
    assert out.with_suffix(".png").stat().st_size > 0


def test_over_evaluations_table_is_the_median_trace_at_each_checkpoint(bench):
    module, argv, out, rows = bench
    args = module.parse_args(argv)
    # 6 initial + 6 model-based: the initial design's end, then each quarter (rounded down).
    assert module.checkpoints(args) == [6, 7, 9, 10, 12]
    runs = json.loads(out.with_suffix(".json").read_text())["runs"]
    md = out.with_suffix(".md").read_text()
    assert "| problem | algorithm | n = 6 | n = 7 | n = 9 | n = 10 | n = 12 |" in md
    for row in rows:
        mine = [r for r in runs if r["algorithm"] == row["algorithm"]]
        expected = {
            n: statistics.median(r["feasible_hv"][n - 1] or 0.0 for r in mine)
            for n in (6, 7, 9, 10, 12)
        }
        assert row["median_at"] == pytest.approx(expected)
        assert row["median_at"][12] == pytest.approx(row["median_hv"])
        cells = " | ".join(f"{expected[n]:.4g}" for n in (6, 7, 9, 10, 12))
        assert f"| ConstrainedBraninCurrin | {row['algorithm']} | {cells} |" in md


def test_a_second_invocation_resumes(bench):
    module, argv, out, _ = bench
    store = out.with_suffix(".json")
    payload = json.loads(store.read_text())
    for r in payload["runs"]:
        r["feasible_hv"][-1] = -1.0  # marks every stored run
    store.write_text(json.dumps(payload))
    module.main(argv)
    assert [r["feasible_hv"][-1] for r in json.loads(store.read_text())["runs"]] == [-1.0] * 4


def test_trace_records_each_evaluation_of_the_same_run(tmp_path):
    """``constrained_trace.py`` reruns the benchmark's search and keeps every evaluation:
    its gains add up to the run's hypervolume, and its boundary summary is the median of
    the late feasible evaluations' largest constraint values near 0."""
    out = tmp_path / "trace"
    argv = [
        "--algorithms", "sobol", "--problems", "ConstrainedBraninCurrin",
        "--seeds", "1", "--evals", "20", "--n-initial", "6", "--late", "6",
        "--near", "30", "--out", str(out),
    ]  # fmt: skip
    (run,) = load_benchmark("constrained_trace").main(argv)
    problem = mobo.problems.make("ConstrainedBraninCurrin")
    result = mobo.optimize(problem, "sobol", n_evals=20, seed=0, n_initial=6, show_progress=False)
    steps = run["steps"]
    assert [s["index"] for s in steps] == list(range(6, 20))
    assert run["final_hv"] == pytest.approx(float(result.hypervolume[-1]))
    gained = sum(s["gain"] for s in steps)
    assert gained == pytest.approx(float(result.hypervolume[-1] - result.hypervolume[5]))
    assert run["zero_gain"] == sum(s["gain"] <= 1e-12 for s in steps)
    assert [s["c"] for s in steps] == result.C[6:].tolist()
    near = [max(s["c"]) for s in steps if s["feasible"] and max(s["c"]) > -30]
    assert near, "the configuration should leave some late feasible evaluations"
    assert run["late_near_boundary"] == len(near)
    assert run["late_boundary_median"] == pytest.approx(statistics.median(near))
    stored = json.loads(out.with_suffix(".json").read_text())
    assert stored["runs"][0]["steps"] == steps
    assert "constrained_trace.py --algorithms sobol" in out.with_suffix(".md").read_text()


def test_trace_passes_each_algorithm_its_options(tmp_path):
    """``--algorithm-options`` reach the traced algorithm (an option it does not take is
    refused by name), so a variant is traced as the benchmark runs it."""
    argv = [
        "--algorithms", "sobol", "--problems", "ConstrainedBraninCurrin", "--seeds", "1",
        "--evals", "8", "--n-initial", "6", "--algorithm-options", '{"sobol": {"bogus": 1}}',
        "--out", str(tmp_path / "trace"),
    ]  # fmt: skip
    with pytest.raises(ValueError, match="bogus"):
        load_benchmark("constrained_trace").main(argv)


def test_fraction_of_max_hv_is_taken_from_the_current_max_hv(bench, tmp_path):
    """Runs stored BoTorch's max_hv of their day (ConstrainedBraninCurrin 608.4004), which
    evaluated points beat (609.2165 since f4b86b6); the report divided by the stored one."""
    module, _, _, _ = bench
    run = {
        "problem": "ConstrainedBraninCurrin", "algorithm": "sobol", "seed": 0, "evals": 2,
        "n_initial": 1, "options": {}, "feasible_hv": [0.0, 600.0],
        "max_hv": 608.4004237022673, "feasible_evaluations": 1,
        "cpu_seconds_per_iteration": 0.0,
    }  # fmt: skip
    out = tmp_path / "old"
    out.with_suffix(".json").write_text(json.dumps({"runs": [run]}))
    (row,) = module.main([
        "--algorithms", "sobol", "--problems", "ConstrainedBraninCurrin", "--seeds", "1",
        "--evals", "2", "--n-initial", "1", "--out", str(out), "--report-only",
    ])  # fmt: skip
    now = mobo.problems.make("ConstrainedBraninCurrin").max_hv
    assert now > 609
    assert row["fraction_of_max"] == pytest.approx(600.0 / now)  # 0.98487, not 0.98619
    assert json.loads(out.with_suffix(".json").read_text())["runs"] == [run]  # nothing ran
    assert f"ConstrainedBraninCurrin {now:.7g}" in out.with_suffix(".md").read_text()
