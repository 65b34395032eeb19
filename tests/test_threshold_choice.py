"""The threshold-choice report (``benchmarks/threshold_choice.py``): a choice counts as
losing too much when its test change is below minus the allowed loss, and the cells are
the median and range over seeds."""

from __future__ import annotations

import pytest

from leanet.policy import PAPER_LOSSES
from tests.benchmark_scripts import load_benchmark


def _run(network, seed, plain, bound):
    """``plain`` and ``bound``: (test change, energy saved) at each of LOSSES."""
    return {
        "network": network,
        "seed": seed,
        "val_inputs": 100,
        "full_test_accuracy": 0.95,
        "choices": {
            rule: [
                {"allowed_loss": loss, "test_change": change, "energy_saved": saved}
                for loss, (change, saved) in zip((0.0, 0.01, 0.02), picks, strict=True)
            ]
            for rule, picks in (("plain", plain), ("bound 0.9", bound))
        },
    }


def test_report_counts_choices_that_lose_more_than_allowed():
    module = load_benchmark("threshold_choice")
    runs = [
        _run("a", 0, [(-0.010, 0.7), (-0.010, 0.7), (-0.030, 0.8)], [(0.0, 0.0)] * 3),
        _run("a", 1, [(0.000, 0.6), (-0.011, 0.7), (-0.010, 0.7)], [(0.002, 0.5)] * 3),
        _run("a", 2, [(0.001, 0.5), (-0.005, 0.6), (-0.019, 0.7)], [(-0.001, 0.4)] * 3),
    ]
    text = module.markdown({"command": "c", "commit": "abc", "runs": runs})
    lines = text.splitlines()
    assert "| plain | 0% | 1 of 3 | +0.00 | 60.0% |" in lines
    assert "| plain | 1% | 1 of 3 | -1.00 | 70.0% |" in lines
    assert "| plain | 2% | 1 of 3 | -1.90 | 70.0% |" in lines
    assert "| bound 0.9 | 0% | 1 of 3 | +0.00 | 40.0% |" in lines
    assert "| bound 0.9 | 1% | 0 of 3 | +0.00 | 40.0% |" in lines
    row = next(line for line in lines if line.startswith("| a |"))  # allowed loss 0%
    assert (
        row
        == "| a | +0.0 (-1.0 to +0.1) / 60% (50% to 70%) | +0.0 (-0.1 to +0.2) / 40% (0% to 50%) |"
    )


def test_a_rule_only_some_runs_have_is_counted_over_those_and_shown_apart():
    """design_choice's holdout rules exist only for runs that held images out: a summary
    row counts those runs, a network without the rule shows '-'."""
    module = load_benchmark("threshold_choice")
    a = _run("a", 0, [(-0.010, 0.7)] * 3, [(0.0, 0.0)] * 3)
    b = _run("b", 0, [(-0.010, 0.7)] * 3, [(0.0, 0.0)] * 3)
    b["choices"]["plain (holdout)"] = b["choices"].pop("bound 0.9")
    text = module.markdown({"command": "c", "commit": "abc", "runs": [a, b]})
    lines = text.splitlines()
    assert "| plain | 0% | 2 of 2 | -1.00 | 70.0% |" in lines
    assert "| plain (holdout) | 0% | 0 of 1 | +0.00 | 0.0% |" in lines
    row = next(line for line in lines if line.startswith("| a |"))  # allowed loss 0%
    assert row.endswith("| - |")


@pytest.mark.parametrize("name", ["threshold_choice", "search_on_test", "fit_heads_options"])
def test_choice_benchmarks_report_the_papers_losses(name):
    # design_choice imports threshold_choice's; leanet_study adds 5 % on purpose.
    assert load_benchmark(name).LOSSES is PAPER_LOSSES
