"""The search-on-test report (``benchmarks/search_on_test.py``): each search front's test
saving is set against the reference front's of the same network and seed."""

from __future__ import annotations

from tests.benchmark_scripts import load_benchmark


def _front(share, picks):
    return {
        "val_hv_ratio": share,
        "choices": [
            {"allowed_loss": loss, "test_change": change, "energy_saved": saved}
            for loss, (change, saved) in zip((0.0, 0.01, 0.02), picks, strict=True)
        ],
    }


def _run(network, reference, sobol, qlognehvi):
    return {
        "network": network,
        "seed": 0,
        "full_test_accuracy": 0.9,
        "fronts": {
            "reference": _front(1.0, reference),
            "sobol": _front(0.9, sobol),
            "qlognehvi": _front(0.95, qlognehvi),
        },
    }


def test_gap_is_per_pair_search_minus_reference():
    module = load_benchmark("search_on_test")
    runs = [
        _run("a", [(0.0, 0.70)] * 3, [(0.0, 0.60)] * 3, [(-0.02, 0.705)] * 3),
        _run("b", [(0.0, 0.50)] * 3, [(0.0, 0.52)] * 3, [(0.0, 0.50)] * 3),
    ]
    text = module.markdown({"commands": ["c"], "commits": ["abc"], "runs": runs})
    lines = text.splitlines()
    # Sobol: -10 and +2 points; qLogNEHVI: +0.5 and 0 (both within 1 point).
    assert "| sobol | 0% | -4.0 | -10.0 to +2.0 | 0 of 2 |" in lines
    assert "| qlognehvi | 1% | +0.2 | +0.0 to +0.5 | 2 of 2 |" in lines
    # qLogNEHVI's choice on network a lost 2 points: more than 0% or 1% allows, not 2%.
    q_rows = [line for line in lines if line.startswith("| qlognehvi |") and "of 2 |" in line]
    assert [row.rsplit("|", 2)[-2].strip() for row in q_rows[:3]] == ["1 of 2", "1 of 2", "0 of 2"]


def test_the_report_says_which_networks_seeds_and_fine_tuning_its_pairs_are():
    """Read from the runs, not assumed: a run over one network seed at 10 fine-tune epochs
    said "network seeds 0-2" (the default of --seeds) before."""
    module = load_benchmark("search_on_test")
    runs = [_run("a", *[[(0.0, 0.5)] * 3] * 3), _run("b", *[[(0.0, 0.5)] * 3] * 3)]
    for run in runs:
        run["fine_tune_epochs"], run["machine"] = 10, "CPU X"
    text = module.markdown({"commands": ["c"], "commits": ["abc"], "runs": runs})
    assert "2 (network, seed) pairs: 2 LEANets of the study at network seed 0, width" in text
    assert "fine-tuned for 10 epochs" in text and "Machine: CPU X" in text
    runs[1]["seed"], runs[1]["fine_tune_epochs"] = 1, None  # recorded before the option
    text = module.markdown({"commands": ["c"], "commits": ["abc"], "runs": runs})
    assert "at network seeds 0, 1" in text and "for 10 / the recipe's epochs" in text
    # A merge's note is the report's own paragraph; in the list of commands it is elided (each
    # merge listed its whole note there, over and over).
    merged = ["a.py --merge x --note 'Findings: long'", "a.py --seeds 1"]
    text = module.markdown({"commands": merged, "commits": ["abc"], "runs": runs, "note": "N"})
    assert "Findings: long" not in text and "\nN\n" in text
    assert "`a.py --merge x --note '<findings, as of that merge>'`, `a.py --seeds 1`" in text
