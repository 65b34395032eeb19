"""What the last share of validation hypervolume is worth on test.

For every cached LEANet of the study and network seed (``benchmarks/leanet_seeds.py``
trains them into ``runs/leanet-study``), three validation fronts: the dense reference
front (the best reachable), and the fronts of a 25-evaluation threshold search by Sobol and
by qLogNEHVI (the default; 10 Sobol points first, log space, optimizer seed = network
seed). From each, the study's rule (:func:`leanet.policy.energy_savings`) picks the cheapest
thresholds within 0/1/2% of the full network's validation accuracy; reported on test: the
energy saved and the accuracy change against the full network (median and range over
every network and seed), and the validation hypervolume share of each front. If a search
front that reaches 0.95 of the reference hypervolume saves as much on test, the rest is
worth nothing to a user. Torch runs on one thread.

    python benchmarks/search_on_test.py              # results/search_on_test.*
    python benchmarks/search_on_test.py --datasets digits8x8 --out /tmp/part   # a part
    python benchmarks/search_on_test.py --seeds 1 --fine-tune-epochs 10   # threshold_search's nets

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

import mobo  # noqa: E402
from leanet.policy import PAPER_LOSSES, energy_savings  # noqa: E402
from leanet.problem import ThresholdProblem  # noqa: E402
from leanet.train import evaluate  # noqa: E402

RESULTS = Path(__file__).parent / "results"
LOSSES = PAPER_LOSSES
FRONTS = ("reference", "sobol", "qlognehvi")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_network_arguments(parser)
    parser.add_argument("--evals", type=int, default=25)
    parser.add_argument(
        "--fine-tune-epochs",
        type=int,
        default=None,
        help="joint fine-tuning epochs of the cached networks (default: each recipe's, "
        "study_networks.FINE_TUNE)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "search_on_test")
    parser.add_argument(
        "--merge", type=Path, nargs="+", default=[], help="add these parts' runs and report"
    )
    parser.add_argument("--note", default=None, help="findings kept at the top of the report")
    args = parser.parse_args(argv)
    args.command = provenance.command_line("search_on_test.py", argv)
    return args


def one_network(arch: str, dataset: str, levels: str, seed: int, args) -> dict:
    """The three fronts of one network and seed, their choices measured on test."""
    name = f"{arch}-{dataset}-{levels}"
    data, base, val, test = cached_evaluators(arch, dataset, levels, seed, args)
    full_val, full_test = evaluate(base, data.val), evaluate(base, data.test)
    problem = ThresholdProblem(val, reference_samples=args.reference_samples)
    fronts = {"reference": problem.reference}
    for algorithm in FRONTS[1:]:
        result = mobo.optimize(
            problem, algorithm, n_evals=args.evals, seed=seed, show_progress=False, n_initial=10
        )
        fronts[algorithm] = val.evaluate(result.pareto_X).pareto()
    out = {
        "network": name,
        "seed": seed,
        "fine_tune_epochs": args.fine_tune_epochs,  # None: the recipe's
        "machine": provenance.machine(),
        "full_test_accuracy": full_test,
        "fronts": {},
    }
    for label, front in fronts.items():
        hv = mobo.hypervolume(front.objectives(), problem.ref_point)
        out["fronts"][label] = {
            "val_hv_ratio": hv / problem.max_hv,
            "choices": [
                {
                    "allowed_loss": s.allowed_loss,
                    # No qualifying point: the full network runs (no change, nothing saved).
                    "test_change": 0.0 if s.thresholds is None else s.test_accuracy - full_test,
                    "energy_saved": 0.0 if s.thresholds is None else s.energy_saved,
                }
                for s in energy_savings(front, full_val, test, LOSSES)
            ],
        }
    return out


def _median_range(values: list[float], fmt: str) -> str:
    return (
        f"{fmt.format(statistics.median(values))} "
        f"({fmt.format(min(values))} to {fmt.format(max(values))})"
    )


def _networks_of(runs: list[dict]) -> str:
    """What the pairs are: how many LEANets, which network seeds, how long fine-tuned."""
    seeds = sorted({r["seed"] for r in runs})
    recipe = "the recipe's"
    epochs = sorted(
        {recipe if r.get("fine_tune_epochs") is None else str(r["fine_tune_epochs"]) for r in runs}
    )
    return (
        f"{len({r['network'] for r in runs})} LEANets of the study at network seed"
        f"{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}, width and hybrid "
        f"levels fine-tuned for {' / '.join(epochs)} epochs"
    )


def markdown(payload: dict) -> str:
    runs = payload["runs"]
    lines = [
        "# What the last share of validation hypervolume is worth on test",
        "",
        "Commands: " + provenance.listed_commands(payload["commands"]) + "  ",
        "Commits: " + ", ".join(payload["commits"]) + "; torch on 1 thread.  ",
        f"Machine: {provenance.machines_of(runs)}",
        "",
        *([payload["note"], ""] if payload.get("note") else []),
        f"{len(runs)} (network, seed) pairs: {_networks_of(runs)}. "
        "Fronts on validation: the dense reference front, and the Pareto set of a "
        "25-evaluation search (10 Sobol + 15) by Sobol and by qLogNEHVI in the log space "
        "(optimizer seed = network seed). From each, the study's rule picks the cheapest "
        "thresholds within the allowed loss of the full network's validation accuracy; "
        "measured on test. Cells: median (min to max) over every pair; no qualifying point "
        "counts as the full network (change 0, nothing saved).",
        "",
        "| front | validation HV share | allowed loss | energy saved on test | test accuracy "
        "change (points) | pairs losing more than allowed |",
        "|---|---|---|---|---|---|",
    ]
    for label in FRONTS:
        share = _median_range([r["fronts"][label]["val_hv_ratio"] for r in runs], "{:.3f}")
        for k, loss in enumerate(LOSSES):
            picks = [r["fronts"][label]["choices"][k] for r in runs]
            saved = _median_range([p["energy_saved"] * 100 for p in picks], "{:.1f}%")
            change = _median_range([p["test_change"] * 100 for p in picks], "{:+.2f}")
            over = sum(p["test_change"] < -loss - 1e-9 for p in picks)
            lines.append(
                f"| {label} | {share if k == 0 else ''} | {loss:.0%} | {saved} | {change} | "
                f"{over} of {len(picks)} |"
            )
    lines += [
        "",
        "Per pair, the search front's test saving minus the reference front's (points of "
        "energy; positive: the search front's choice saved more):",
        "",
        "| front | allowed loss | median | min to max | pairs within 1 point |",
        "|---|---|---|---|---|",
    ]
    for label in FRONTS[1:]:
        for k, loss in enumerate(LOSSES):
            gap = [
                100 * (r["fronts"][label]["choices"][k]["energy_saved"])
                - 100 * (r["fronts"]["reference"]["choices"][k]["energy_saved"])
                for r in runs
            ]
            close = sum(abs(g) <= 1.0 for g in gap)
            lines.append(
                f"| {label} | {loss:.0%} | {statistics.median(gap):+.1f} | "
                f"{min(gap):+.1f} to {max(gap):+.1f} | {close} of {len(gap)} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    torch.set_num_threads(1)
    at = provenance.commit()
    # A merge runs nothing: its commit is not one of the runs'.
    payload = {"commands": [args.command], "commits": [] if args.merge else [at], "runs": []}
    for part in args.merge:
        other = provenance.read_results(part)
        payload["runs"] = provenance.merge_runs(
            payload["runs"], other["runs"], key=lambda r: (r["network"], r["seed"])
        )
        payload["commands"] = list(dict.fromkeys(other["commands"] + payload["commands"]))
        payload["commits"] = list(dict.fromkeys(other["commits"] + payload["commits"]))
    payload["note"] = args.note
    done = {(r["network"], r["seed"]) for r in payload["runs"]}
    for dataset in args.datasets if not args.merge else []:
        for arch in args.archs:
            for levels in args.levels:
                for seed in range(args.seeds):
                    if (f"{arch}-{dataset}-{levels}", seed) in done:
                        continue
                    run = one_network(arch, dataset, levels, seed, args)
                    payload["runs"].append(run)
                    print(
                        f"{run['network']} seed {seed}: val HV share "
                        + ", ".join(
                            f"{k} {v['val_hv_ratio']:.3f}" for k, v in run["fronts"].items()
                        ),
                        flush=True,
                    )
                    args.out.parent.mkdir(parents=True, exist_ok=True)
                    provenance.write_atomic(args.out.with_suffix(".json"), json.dumps(payload))
    provenance.write_atomic(args.out.with_suffix(".json"), json.dumps(payload))
    provenance.write_markdown(args.out.with_suffix(".md"), markdown(payload))
    return payload


if __name__ == "__main__":
    main()
