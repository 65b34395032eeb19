"""The threshold-search report (``benchmarks/threshold_search.py``): each algorithm is set
against Sobol in the same space on the same networks and seeds, and runs made before known
plateaus were skipped stay apart from those after."""

from __future__ import annotations

from tests.benchmark_scripts import load_benchmark


def _run(network, algorithm, space, seed, final, skips=True):
    return {
        "network": network,
        "algorithm": algorithm,
        "space": space,
        "seed": seed,
        "hv_ratio": [0.5] * 10 + [final] * 15,
        "cpu_seconds_per_iteration": 0.5,
        "distinct_objectives": 25,
        "commit": "abc",
        "command": "c",
        "skips_known_plateaus": skips,
    }


def test_summary_sets_each_algorithm_against_sobol_on_the_same_seeds():
    module = load_benchmark("threshold_search")
    runs = [_run("a", "sobol", "log2", s, v) for s, v in enumerate([0.90, 0.91, 0.92, 0.1, 0.1])]
    runs += [_run("b", "sobol", "log2", s, 0.78) for s in range(5)]
    runs += [_run("a", "qlognehvi", "log2", s, 0.95) for s in range(3)]
    runs += [_run("b", "qlognehvi", "log2", s, 0.85) for s in range(3)]
    runs += [_run("a", "qlognehvi", "log2", s, 0.70, skips=False) for s in range(3)]
    text = module.markdown({"commands": ["c"], "machine": "m", "runs": runs})
    summary = text.split("## Paired with Sobol")[0]
    rows = [line for line in summary.splitlines() if line.startswith("| qlognehvi | log2 |")]
    after, before = rows
    # Sobol's bar: seeds 0-2 of both networks (0.78 x 3, 0.90, 0.91, 0.92): median 0.84,
    # not the median of all 10 runs (0.78); the worst network's median is b's 0.85.
    assert after == (
        "| qlognehvi | log2 | yes | 2 x 3 | 0.500 (0.500-0.500) | 0.900 (0.850-0.950) | "
        "0.840 (0.780-0.920) | 0.850 | 25.0 | 0.50 |"
    )
    assert before.startswith("| qlognehvi | log2 | no | 1 x 3 |")
    assert "| network | log2 | log2, repeats |" in text


def test_paired_section_sets_each_run_against_sobol_on_its_network_and_seed():
    """Ahead / tied / behind count runs, not medians: a method can lead the pooled median
    while most runs tie Sobol's from the same initial design."""
    module = load_benchmark("threshold_search")
    runs = [_run("a", "sobol", "log2", s, v) for s, v in enumerate([0.90, 0.91, 0.92])]
    runs += [_run("b", "sobol", "log2", s, 1.0) for s in range(3)]
    runs += [_run("a", "usemo", "log2", s, v) for s, v in enumerate([0.95, 0.91, 0.80])]
    runs += [_run("b", "usemo", "log2", s, 1.0) for s in range(2)]  # seed 2 missing: no pair
    text = module.markdown({"commands": ["c"], "machine": "m", "runs": runs})
    paired = text.split("## Paired with Sobol after 25 evaluations")[1].split("\n## ")[0]
    rows = [line for line in paired.splitlines() if line.startswith("| usemo |")]
    # pairs: a +0.05, a 0, a -0.12, b 0, b 0; per-seed medians over networks: seed 0
    # (0.95, 1.0) 0.975 vs (0.90, 1.0) 0.95, seed 1 0.955 vs 0.955, seed 2 (a only) 0.80 vs 0.92
    assert rows == [
        "| usemo | log2 | 5 | 1 / 3 / 1 | +0.0000 / -0.0140 | 0.975 / 0.955 / 0.800 | "
        "0.950 / 0.955 / 0.920 |"
    ]
    assert not [line for line in paired.splitlines() if line.startswith("| sobol |")]
