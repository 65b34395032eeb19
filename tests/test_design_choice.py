"""The design-front choice benchmark (``benchmarks/design_choice.py``) on a tiny network: each
rule takes the cheapest front point it allows, across designs, and reports it on test."""

from __future__ import annotations

import argparse

import pytest
import torch

import leanet
from leanet.design import Design
from leanet.policy import accuracy_change_bound
from leanet.reference_front import reference_front
from leanet.train import correct_predictions
from tests.benchmark_scripts import load_benchmark
from tests.leanet.conftest import tiny_base


def test_a_design_key_reads_back_and_a_cheap_fidelity_key_is_refused():
    module = load_benchmark("design_choice")
    design = Design(3, 0.35, 32, "entropy", 10)
    assert module.design_of(design.key) == design
    with pytest.raises(ValueError, match="target-fidelity"):
        module.design_of(design.prefix(4).key)


def test_each_rule_takes_the_cheapest_point_it_allows_on_each_split(tmp_path, monkeypatch):
    """On the search's validation split and on a held-out one (the search never read it):
    each rule's choice is the cheapest front point it allows there, reported on test."""
    from leanet.costs import measure_costs
    from leanet.data import hold_out, load_dataset
    from leanet.evaluator import ThresholdEvaluator

    module = load_benchmark("design_choice")
    search = load_benchmark("design_search")
    # losses a one-epoch network's levels can meet, so that the rules have points to choose
    monkeypatch.setattr(module, "LOSSES", (0.0, 0.2, 0.5))
    data, held = hold_out(load_dataset("digits8x8", seed=0), 120)
    base = tiny_base("convnet")
    leanet.train_base(base, data.train, epochs=1, progress=False)
    base.eval()
    setup = {"base": base, "data": data, "name": "tiny"}
    args = argparse.Namespace(
        head_epochs=1,
        fine_tune_epochs=0,
        fidelity_epochs=0,
        build_costs=False,
        first_fraction=[0.25, 0.75],
        cache=tmp_path,
    )
    problem = search.make_problem("convnet", setup, args)
    designs = [Design(2, 0.5, 0, "max_softmax", 0), Design(3, 0.25, 0, "margin", 0)]
    points = []
    for design in designs:
        front, _ = reference_front(problem.evaluator(design), n_samples=300)
        points += [(design, t) for t in front.thresholds]
    full_test = leanet.evaluate(base, data.test)
    splits = {"": (None, correct_predictions(base, data.val))}
    splits[" (holdout)"] = (held, correct_predictions(base, held))
    run = {
        "network": "tiny",
        "method": "m",
        "seed": 0,
        "front": [{"design": d.key, "thresholds": t.tolist()} for d, t in points],
    }
    network = {"problem": problem, "full_test": full_test, "splits": splits}
    result = module.one_run(run, {"tiny": network}, [0.9])
    assert result["val_inputs"] == {"search": len(data.val), " (holdout)": 120}

    for suffix, (split, full) in splits.items():
        evaluators = {}
        for design in designs:
            net = problem.network(design)
            costs = measure_costs(net, latency=False)
            evaluators[design.key] = ThresholdEvaluator.from_model(net, split or data.val, costs)
        val = [evaluators[d.key].evaluate(t[None]) for d, t in points]
        accuracy = torch.cat([m.accuracy for m in val]).double()
        energy = torch.cat([m.energy_ratio for m in val]).double()
        correct = torch.stack([evaluators[d.key].correct_at(t[None])[0] for d, t in points])
        bound = accuracy_change_bound(correct, full, 0.9)
        full_accuracy = float(full.double().mean())
        for rule, allowed in (
            ("plain", lambda loss, a=accuracy, f=full_accuracy: a >= f - loss),
            ("bound 0.9", lambda loss, b=bound: b >= -loss - 1e-12),
        ):
            for choice in result["choices"][rule + suffix]:
                # The full network (ratio 1) is a candidate ahead of the points: one that
                # costs as much (the top level alone, ratio exactly 1) is not chosen over it.
                ok = allowed(choice["allowed_loss"]) & (energy < 1.0)
                if not ok.any():  # the full network runs: no change, nothing saved
                    assert choice["design"] is None and choice["energy_saved"] == 0.0
                    continue
                i = int(torch.where(ok, energy, torch.tensor(float("inf"))).argmin())
                design, thresholds = points[i]
                test = problem.test_evaluator(design).evaluate(thresholds[None])
                assert choice["design"] == design.key
                assert choice["chosen_on_change"] == pytest.approx(
                    float(accuracy[i]) - full_accuracy
                )
                assert choice["test_change"] == pytest.approx(float(test.accuracy[0]) - full_test)
                assert choice["energy_saved"] == pytest.approx(1.0 - float(test.energy_ratio[0]))
    # not only the full network: each rule chose a cheap point somewhere
    for choices in result["choices"].values():
        assert any(c["energy_saved"] > 0.1 for c in choices)
