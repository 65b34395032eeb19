"""Choosing thresholds on validation that hold on test: the plain rule against a paired bound.

For every cached LEANet of the study and seed (``benchmarks/leanet_seeds.py`` trains them
into ``runs/leanet-study``), the dense reference front on validation, then for each allowed
loss the cheapest Pareto point by two rules (:func:`leanet.policy.energy_savings`):

* plain: validation accuracy at least the full network's minus the loss (the study's rule);
* bound: the paired lower confidence bound on the accuracy change against the full network
  (:func:`leanet.policy.accuracy_change_bound`) at least minus the loss.

Reported on the test split: the accuracy change against the full network and the energy
saved, median (min-max) over seeds, and how many (network, seed) choices lost more test
accuracy than allowed. Torch runs on one thread.

    python benchmarks/threshold_choice.py                  # results/threshold_choice.*
    python benchmarks/threshold_choice.py --levels hybrid --confidence 0.9

A missing network is an error, never trained here.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import provenance  # noqa: E402
from study_networks import add_network_arguments, cached_evaluators  # noqa: E402

from leanet.policy import PAPER_LOSSES, energy_savings  # noqa: E402
from leanet.problem import ThresholdProblem  # noqa: E402
from leanet.train import correct_predictions  # noqa: E402

RESULTS = Path(__file__).parent / "results"
LOSSES = PAPER_LOSSES


def add_report_arguments(parser: argparse.ArgumentParser, out: Path) -> None:
    """The options of a choice report (this script's and ``design_choice.py``'s)."""
    parser.add_argument("--confidence", type=float, nargs="+", default=[0.9, 0.95])
    parser.add_argument("--out", type=Path, default=out)
    parser.add_argument("--note", default=None, help="findings kept at the top of the report")
    parser.add_argument(
        "--rewrite", action="store_true", help="only rewrite <out>.md from <out>.json (and --note)"
    )


def write_report(args, payload: dict, text, indent: int | None = None) -> None:
    """``<out>.json`` and ``<out>.md`` (``text``: the payload -> markdown)."""
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(payload, indent=indent) + "\n")
    provenance.write_markdown(args.out.with_suffix(".md"), text(payload))


def rewritten(args, text, indent: int | None = None) -> dict:
    """``--rewrite``: the report made again from ``<out>.json``, with ``--note`` if given."""
    payload = json.loads(args.out.with_suffix(".json").read_text())
    payload["note"] = args.note or payload.get("note")
    write_report(args, payload, text, indent)
    return payload


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_network_arguments(parser)
    add_report_arguments(parser, RESULTS / "threshold_choice")
    args = parser.parse_args(argv)
    args.command = provenance.command_line("threshold_choice.py", argv)
    return args


def one_network(arch: str, dataset: str, levels: str, seed: int, args) -> dict:
    """Both rules' choices on one network and seed, measured on test."""
    name = f"{arch}-{dataset}-{levels}"
    data, base, val, test = cached_evaluators(arch, dataset, levels, seed, args)
    full_val = correct_predictions(base, data.val)
    full_test = float(correct_predictions(base, data.test).double().mean())
    front = ThresholdProblem(val, reference_samples=args.reference_samples).reference
    rules: dict[str, list] = {
        "plain": energy_savings(front, float(full_val.double().mean()), test, LOSSES)
    }
    for confidence in args.confidence:
        rules[f"bound {confidence:g}"] = energy_savings(
            front,
            float(full_val.double().mean()),
            test,
            LOSSES,
            confidence=confidence,
            val_evaluator=val,
            full_val_correct=full_val,
        )
    return {
        "network": name,
        "seed": seed,
        "val_inputs": val.num_inputs,
        "full_test_accuracy": full_test,
        "choices": {
            rule: [
                {
                    "allowed_loss": s.allowed_loss,
                    # No qualifying point: the full network runs (no change, nothing saved).
                    "test_change": 0.0 if s.thresholds is None else s.test_accuracy - full_test,
                    "energy_saved": 0.0 if s.thresholds is None else s.energy_saved,
                }
                for s in savings
            ]
            for rule, savings in rules.items()
        },
    }


def log_choice(run: dict) -> None:
    """A progress line: the plain rule's choice at 0% loss, on test."""
    plain = run["choices"]["plain"][0]
    print(
        f"{run['network']} seed {run['seed']}: 0% loss, plain "
        f"{plain['test_change'] * 100:+.1f} pts {plain['energy_saved']:.1%}",
        flush=True,
    )


def _cell(values: list[float], scale: float, fmt: str) -> str:
    med, low, high = (fmt.format(v * scale) for v in (statistics.median(values), *_ends(values)))
    return f"{med} ({low} to {high})"


def _ends(values: list[float]) -> tuple[float, float]:
    return min(values), max(values)


#: What a row of the report is: the cached networks' dense fronts (design_choice.py says
#: its own).
DESCRIPTION = (
    "For each network of the study (seeds 0-2, the cached networks of "
    "`benchmarks/results/leanet_seeds.md`), the cheapest point of the dense validation "
    "front allowed by each rule; 'plain': validation accuracy >= the full network's minus "
    "the loss (the study's rule); 'bound c': the paired lower confidence bound (level c) "
    "on the accuracy change against the full network >= minus the loss. Cells: median "
    "(min to max) over seeds, on test; no qualifying point counts as the full network "
    "(change 0, nothing saved)."
)


def markdown(
    payload: dict,
    title: str = "Choosing thresholds on validation that hold on test",
    description: str = DESCRIPTION,
) -> str:
    runs = payload["runs"]
    # every rule of any run (design_choice's holdout rules exist only for some); a summary
    # row counts the runs that have its rule, a cell without one is "-"
    rules = list(dict.fromkeys(rule for r in runs for rule in r["choices"]))
    names = list(dict.fromkeys(r["network"] for r in runs))
    lines = [
        f"# {title}",
        "",
        f"Command: `{payload['command']}`  ",
        f"Commit: {payload['commit']}; torch on 1 thread.",
        *([f"Machine: {payload['machine']}"] if payload.get("machine") else []),
        "",
        *([payload["note"], ""] if payload.get("note") else []),
        description,
        "",
        "## Over every network and seed",
        "",
        "| rule | allowed loss | choices losing more than allowed on test | median test change "
        "(points) | median energy saved |",
        "|---|---|---|---|---|",
    ]
    for rule in rules:
        for k, loss in enumerate(LOSSES):
            picks = [r["choices"][rule][k] for r in runs if rule in r["choices"]]
            over = sum(p["test_change"] < -loss - 1e-9 for p in picks)
            lines.append(
                f"| {rule} | {loss:.0%} | {over} of {len(picks)} | "
                f"{statistics.median(p['test_change'] for p in picks) * 100:+.2f} | "
                f"{statistics.median(p['energy_saved'] for p in picks):.1%} |"
            )
    for k, loss in enumerate(LOSSES):
        lines += [
            "",
            f"## Allowed loss {loss:.0%}: test accuracy change (points) / energy saved",
            "",
            "| network | " + " | ".join(rules) + " |",
            "|---|" + "---|" * len(rules),
        ]
        for name in names:
            mine = [r for r in runs if r["network"] == name]
            cells = []
            for rule in rules:
                picks = [r["choices"][rule][k] for r in mine if rule in r["choices"]]
                if not picks:
                    cells.append("-")
                    continue
                change = _cell([p["test_change"] for p in picks], 100, "{:+.1f}")
                saved = _cell([p["energy_saved"] for p in picks], 100, "{:.0f}%")
                cells.append(f"{change} / {saved}")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    torch.set_num_threads(1)
    if args.rewrite:
        return rewritten(args, markdown)
    payload = {"command": args.command, "commit": provenance.commit(), "runs": []}
    payload["note"] = args.note
    for dataset in args.datasets:
        for arch in args.archs:
            for levels in args.levels:
                for seed in range(args.seeds):
                    run = one_network(arch, dataset, levels, seed, args)
                    payload["runs"].append(run)
                    log_choice(run)
    write_report(args, payload, markdown)
    return payload


if __name__ == "__main__":
    main()
