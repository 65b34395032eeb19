"""Choosing thresholds on a design search's front that hold on test: the plain rule against
the paired bound (``threshold_choice.py`` for fronts that mix designs).

A design search chooses among many designs and thresholds on one validation split, so the
cheapest front point that reaches the full network's validation accuracy is even more
likely than on one design's front to be one that was lucky there (``leanet design`` on a
ConvNet: 0% loss on validation, -0.6 points on test, stop 65's note). For every run of the
given ``design_search.py`` results, whose design cache must be on this machine, the run's
recorded front (every design it used, thresholds searched densely inside each on
validation, the union's validation Pareto set: the ``polished`` front of
``design_search.py``) is re-measured on validation, and for each allowed loss the cheapest
point is chosen by each rule (:func:`leanet.policy.cheapest_allowed`):

* plain: validation accuracy at least the full network's minus the loss (``leanet design``'s
  closing table, the paper's rule);
* bound c: the paired lower confidence bound at level c on the accuracy change against the
  full network (:func:`leanet.policy.accuracy_change_bound`) at least minus the loss.

Reported on the test split as in ``threshold_choice.py``: accuracy change against the full
network, energy saved, and how many runs' choices lost more than allowed. No qualifying
point counts as the full network (no change, nothing saved). A run that held validation
images out of its search (``design_search.py --holdout``) is also chosen on those, by both
rules. Findings: ``results/design_choice.md``. Torch on one thread.

    python benchmarks/design_choice.py \
        --runs benchmarks/results/design_search_extras/ds_vgg_1800_val1250.json
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
import warnings
from pathlib import Path

import torch
from torch import Tensor

from leanet.design import Design
from leanet.policy import cheapest_across
from leanet.train import correct_predictions

sys.path.insert(0, str(Path(__file__).parent))
import design_search  # noqa: E402
import provenance  # noqa: E402
from design_search_args import parse_args as design_search_args  # noqa: E402
from threshold_choice import (  # noqa: E402
    LOSSES,
    add_report_arguments,
    log_choice,
    markdown,
    rewritten,
    write_report,
)

RESULTS = Path(__file__).parent / "results"
TITLE = "Choosing thresholds on a design search's front that hold on test"
DESCRIPTION = (
    "For each design-search run (rows: network and method; cells over its seeds), the "
    "cheapest point of the run's front (every design it used, thresholds searched densely "
    "inside each on validation, the union's validation Pareto set) allowed by each rule; "
    "'plain': validation accuracy >= the full network's minus the loss (`leanet design`'s "
    "closing table); 'bound c': the paired lower confidence bound (level c) on the accuracy "
    "change against the full network >= minus the loss. Rules marked '(holdout)' choose on "
    "the validation images the run held out of its search (`design_search.py --holdout`), "
    "the others on the validation split the search read. Cells: median (min to max) over "
    "seeds, on test; no qualifying point counts as the full network (change 0, nothing "
    "saved); '-': the run had no such split."
)
KEY = re.compile(r"L(\d+)-f([\d.]+)-h(\d+)-(\w+?)-ft(\d+)$")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs", type=Path, nargs="+", required=True, help="design_search.py results (.json)"
    )
    add_report_arguments(parser, RESULTS / "design_choice")
    args = parser.parse_args(argv)
    args.command = provenance.command_line("design_choice.py", argv)
    return args


def design_of(key: str) -> Design:
    """The target-fidelity design a results file names by its key."""
    match = KEY.match(key)
    if match is None:
        raise ValueError(f"not a target-fidelity design key: {key!r}")
    levels, fraction, hidden, confidence, epochs = match.groups()
    return Design(int(levels), float(fraction), int(hidden), confidence, int(epochs))


def network_of(run: dict) -> dict:
    """The run's design problem, set up from its recorded command (so that its base, split
    and design cache are found), with the full network's outcomes on each split."""
    args = design_search_args(shlex.split(run["command"])[2:])  # no interpreter, script
    arch = run["network"].split("-")[0]
    setup = design_search.network_setup(arch, args)
    held = setup.get("holdout")
    return {
        "problem": design_search.make_problem(arch, setup, args),
        "full_test": setup["full_test_accuracy"],
        "splits": {
            "": (None, correct_predictions(setup["base"], setup["data"].val)),
            **(
                {}
                if held is None
                else {" (holdout)": (held, correct_predictions(setup["base"], held))}
            ),
        },
    }


def choices_on(points: list, problem, split, full_correct: Tensor, confidences) -> dict:
    """Each rule's choice (an index into ``points``, or None) at each loss, on ``split``
    (None: the search's own validation split), with the chosen points' accuracy changes."""
    evaluators = {d: problem.evaluator_on(d, split) for d, _ in points}
    pairs = [(evaluators[d], t) for d, t in points]
    full = float(full_correct.double().mean())
    rules = {"plain": cheapest_across(pairs, full, LOSSES)}
    for c in confidences:
        rules[f"bound {c:g}"] = cheapest_across(
            pairs, full, LOSSES, confidence=c, full_correct=full_correct
        )
    change = {}
    for i in {i for chosen in rules.values() for i in chosen if i is not None}:
        evaluator, thresholds = pairs[i]
        change[i] = float(evaluator.evaluate(thresholds[None]).accuracy[0]) - full
    return {"rules": rules, "change": change}


def one_run(run: dict, networks: dict, confidences: list[float]) -> dict:
    """Each rule's choices on one run's front, on its search's validation split and on the
    held-out one if the run had one, measured on test. ``networks``: :func:`network_of`'s
    dicts by network, filled when missing."""
    if run["network"] not in networks:
        networks[run["network"]] = network_of(run)
    network = networks[run["network"]]
    problem, full_test = network["problem"], network["full_test"]
    points = [(design_of(p["design"]), torch.tensor(p["thresholds"])) for p in run["front"]]
    tests: dict = {}

    def on_test(i: int | None, change: dict) -> dict:
        if i is None:
            return {"test_change": 0.0, "energy_saved": 0.0, "design": None}
        design, thresholds = points[i]
        if design.key not in tests:
            tests[design.key] = problem.test_evaluator(design)
        m = tests[design.key].evaluate(thresholds[None])
        return {
            "test_change": float(m.accuracy[0]) - full_test,
            "energy_saved": 1.0 - float(m.energy_ratio[0]),
            "design": design.key,
            "chosen_on_change": change[i],
        }

    choices = {}
    for suffix, (split, full_correct) in network["splits"].items():
        chosen = choices_on(points, problem, split, full_correct, confidences)
        for rule, picks in chosen["rules"].items():
            choices[rule + suffix] = [
                {"allowed_loss": loss, **on_test(i, chosen["change"])}
                for loss, i in zip(LOSSES, picks, strict=True)
            ]
    return {
        "network": run["network"],
        "method": run["method"],
        "seed": run["seed"],
        "val_inputs": {k or "search": len(v[1]) for k, v in network["splits"].items()},
        "front_points": len(points),
        "full_test_accuracy": full_test,
        "choices": choices,
    }


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    torch.set_num_threads(1)
    if args.rewrite:
        return rewritten(args, report, indent=1)
    payload = {"command": args.command, "commit": provenance.commit(), "note": args.note}
    payload["machine"], payload["runs"], networks = provenance.machine(), [], {}
    for path in args.runs:
        for run in provenance.read_results(path)["runs"]:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = one_run(run, networks, args.confidence)
            # threshold_choice's report names a row by its network: here one per method
            result["network"] = f"{run['network']} {run['method']}"
            payload["runs"].append(result)
            log_choice(result)
    write_report(args, payload, report, indent=1)
    print(report(payload))
    return payload


def report(payload: dict) -> str:
    return markdown(payload, TITLE, DESCRIPTION)


if __name__ == "__main__":
    main()
