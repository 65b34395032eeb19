"""benchmarks/study_timing.py: each ask's CPU and wall time, labelled, with the load."""

from __future__ import annotations

import json
import math

from tests.benchmark_scripts import load_benchmark


def test_cpu_and_wall_seconds_per_iteration_are_both_reported(tmp_path):
    # It reported wall time alone, unlabelled: 2.3-2.7x the asks' CPU time on a shared machine.
    out = tmp_path / "timing.json"
    args = ["--algorithm", "random", "--n-evals", "8", "--seeds", "0", "--out", str(out)]
    load_benchmark("study_timing").main(args)
    (run,) = json.loads(out.read_text())["runs"]
    for clock in ("cpu", "wall"):
        for stat in ("mean", "median", "max"):
            assert 0 <= run[f"{stat}_{clock}_seconds_per_iteration"] < math.inf
    assert run["load_average_1min"] >= 0


def test_a_problem_without_a_known_maximum_is_timed_and_written(tmp_path):
    # sweep 29: on DiscBrake (max_hv None) it crashed after the whole study, writing nothing
    out = tmp_path / "disc.json"
    args = ["--algorithm", "random", "--problem", "DiscBrake", "--n-evals", "12"]
    load_benchmark("study_timing").main([*args, "--seeds", "0", "--out", str(out)])
    payload = json.loads(out.read_text())
    (run,) = payload["runs"]
    assert run["hypervolume_fraction"] is None and run["hypervolume"] >= 0
    assert run["median_cpu_seconds_per_iteration"] >= 0
    assert payload["machine"]  # where it ran, as every other results file says
