"""The LEANet study benchmark (``benchmarks/leanet_study.py --quick``): its figures are
consistent with each other, and a second invocation reuses every cached run."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from tests.benchmark_scripts import load_benchmark


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("study")
    module = load_benchmark("leanet_study")
    argv = ["--quick", "--out", str(tmp / "study"), "--cache", str(tmp / "cache")]
    return module, argv, module.main(argv), tmp


def test_savings_are_consistent(study):
    _, _, payload, tmp = study
    (network,) = payload["networks"]
    savings = network["savings"]
    assert [s["allowed_loss"] for s in savings] == [0.0, 0.01, 0.02, 0.05]
    qualified = [s for s in savings if s["energy_ratio"] is not None]
    assert qualified, "at 5% loss some thresholds must qualify"
    for s in qualified:
        assert s["energy_saved"] == pytest.approx(1 - s["energy_ratio"])
        assert s["latency_saved"] == pytest.approx(1 - s["latency_ratio"])
        assert 0 < s["energy_ratio"] <= max(network["exit_energy_ratio"]) + 1e-9
    # A larger allowed loss can only pick a cheaper (or the same) point of the front.
    ratios = [s["energy_ratio"] for s in qualified]
    assert ratios == sorted(ratios, reverse=True)
    rows = list(csv.DictReader(open(f"{tmp / 'study'}_savings.csv")))
    assert len(rows) == len(savings)


def test_fronts_and_baselines(study):
    _, _, payload, _ = study
    (network,) = payload["networks"]
    fronts = network["fronts"]
    assert {"reference", "static_widths", "slimmable", "usemo@12"} <= set(fronts)
    for front in fronts.values():
        energy, accuracy = front["energy_ratio"], front["accuracy"]
        assert energy == sorted(energy)
        # A front: more energy must buy more accuracy.
        assert all(b > a for a, b in zip(accuracy, accuracy[1:], strict=False))
    # The static-width points are the levels alone: each level's accuracy, no early exit.
    static = dict(zip(network["static_energy_ratio"], network["level_test_accuracy"], strict=True))
    for e, a in zip(
        fronts["static_widths"]["energy_ratio"], fronts["static_widths"]["accuracy"], strict=True
    ):
        assert static[e] == a
    assert len(network["slimmable"]["test_accuracy"]) == len(network["level_test_accuracy"])
    assert all(h >= 0 for h in network["hypervolume"].values())


def test_optimizer_traces(study):
    _, _, payload, tmp = study
    runs = payload["optimizers"]["runs"]
    assert {(r["algorithm"], r["seed"]) for r in runs} == {
        (a, s) for a in ("sobol", "usemo") for s in (0, 1)
    }
    for r in runs:
        trace = r["hv_ratio"]
        assert len(trace) == r["evals"] == len(r["X"])
        assert all(b >= a for a, b in zip(trace, trace[1:], strict=False))
        # The reference front is the best any optimizer can reach on validation.
        assert trace[-1] <= 1 + 1e-9
        reached = [i + 1 for i, v in enumerate(trace) if v >= 0.99]
        assert r["evals_to_99"] == (reached[0] if reached else None)
    for row in payload["optimizers"]["summary"]:
        mine = sorted(r["hv_ratio"][9] for r in runs if r["algorithm"] == row["algorithm"])
        assert math.isclose(row["hv_ratio_10"], (mine[0] + mine[1]) / 2)
        assert row["hv_ratio_10_range"] == [mine[0], mine[1]]  # the spread over seeds
        assert row["hv_ratio_25"] is None and row["hv_ratio_25_range"] is None  # 12 evaluations
    for suffix in ("_fronts.png", "_hv.png", "_optimizers.csv", "_fronts.csv"):
        assert Path(f"{tmp / 'study'}{suffix}").stat().st_size > 0
    md = (tmp / "study.md").read_text()
    assert "leanet_study.py --quick" in md
    row = payload["optimizers"]["summary"][0]
    low, high = row["hv_ratio_10_range"]
    assert f"({low:.3f}-{high:.3f})" in md


def test_second_run_reuses_everything(study, monkeypatch):
    module, argv, payload, _ = study

    def no_new_runs(*args, **kwargs):
        raise AssertionError("a finished optimizer run was recomputed")

    monkeypatch.setattr(module, "run_optimizer", no_new_runs)
    again = module.main(argv)
    assert again["optimizers"]["summary"] == payload["optimizers"]["summary"]

    # Everything but latency (measured again, so noisy) comes back the same.
    def measured(savings):
        return [{k: v for k, v in s.items() if not k.startswith("latency")} for s in savings]

    assert measured(again["networks"][0]["savings"]) == measured(payload["networks"][0]["savings"])


def test_unknown_optimizer_network_is_named(study, capsys):
    module, argv, _, _ = study
    with pytest.raises(SystemExit):
        module.main(argv + ["--optimizer-networks", "convnet-nope-width"])
    assert "convnet-nope-width" in capsys.readouterr().err
