"""The paper's study: LEANets from ConvNet, VGG-16 and MobileNet, measured end to end.

For every base network and data set (the bundled MNIST digits ``mnist5k`` and
scikit-learn's 8x8 ``digits8x8``; any torchvision data set found locally with
``--datasets cifar10 --data-root DIR``) it trains the base network, builds a 5-level width
LEANet (triangular reuse, linear heads, joint fine-tuning) and a 5-exit depth variant
(linear heads on frozen features), and measures:

1. **The paper's table**: energy saved at 0, 1, 2 and 5% accuracy loss against the full
   network, on the test split, with the thresholds chosen on the validation split from the
   reference front (the dense search: the best any optimizer can reach). Energy from the
   45nm model (``45nm-fp32``: weights from DRAM) and from the latency measured here.
2. **Threshold optimizers side by side** on the networks of ``--optimizer-networks``:
   hypervolume ratio to the reference front (validation) after 10, 25 and 50 evaluations
   and the evaluations needed to reach 99%, medians over ``--seeds`` seeds.
3. **LEANet vs static widths vs a trained slimmable network** (width LEANets): each level
   run alone with no early exit, and a slimmable network with switchable batch norm at the
   same widths, trained here with the base network's recipe and epochs. Fronts on the test
   split with their hypervolume from ``(full test accuracy - 5%, energy ratio 1.25)``.

Commands::

    .venv/bin/python benchmarks/leanet_study.py                # the full study (about 2 h)
    .venv/bin/python benchmarks/leanet_study.py --quick        # about a minute: the tests' run
    .venv/bin/python benchmarks/leanet_study.py --datasets cifar10 --data-root ~/data

Writes ``<out>.json`` (everything; read by ``notebooks/03_tradeoff_study.ipynb``),
``<out>_savings.csv``, ``<out>_optimizers.csv``, ``<out>_fronts.csv``, ``<out>.md`` (tables
and the exact command), ``<out>_fronts.png`` and ``<out>_hv.png``. Trained networks and
level records are cached under ``--cache``; optimizer runs are kept in ``<out>.json`` and
skipped when found there for the same network (by fingerprint), so an interrupted study
resumes where it stopped.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch

import mobo
from leanet import baselines
from leanet.data import load_dataset
from leanet.evaluator import ThresholdEvaluator
from leanet.policy import energy_savings
from leanet.problem import ThresholdProblem
from leanet.records import fingerprint
from leanet.train import evaluate

sys.path.insert(0, str(Path(__file__).parent))
from provenance import command_line, commit, machine, write_markdown  # noqa: E402
from study_networks import (  # noqa: E402, F401  (re-exported: the other scripts use them)
    FINE_TUNE,
    FRONT_HV_ENERGY,
    FRONT_HV_LOSS,
    NETS,
    WIDTH_LEVELS,
    Recipe,
    front_hv,
    front_hypervolume,
    front_of,
    level_evaluators,
    network_name,
    recipe_choice,
    trained_base,
    trained_leanet,
    trained_slimmable,
)
from study_networks import log as _log  # noqa: E402
from study_report import MARKS, markdown, plot_fronts, plot_hv  # noqa: E402, F401
from study_report import fmt as _fmt  # noqa: E402

RESULTS = Path(__file__).parent / "results"
# PESMO last: it is by far the slowest (seconds per iteration), so the others finish first.
ALGORITHMS = ["usemo", "mesmo", "qlognehvi", "qparego", "nsga2", "sobol", "pesmo"]
LOSSES = (0.0, 0.01, 0.02, 0.05)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", nargs="+", default=list(NETS), choices=list(NETS))
    parser.add_argument("--datasets", nargs="+", default=["mnist5k", "digits8x8"])
    parser.add_argument("--data-root", default=None, help="folder of torchvision data sets")
    parser.add_argument(
        "--levels",
        nargs="+",
        default=["width", "hybrid", "depth"],
        choices=[*WIDTH_LEVELS, "depth"],
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="base network epochs (default: per architecture, see NETS)",
    )
    parser.add_argument(
        "--fine-tune-epochs",
        type=int,
        default=None,
        help="joint fine-tuning epochs of width LEANets (default: per architecture, see "
        "study_networks.FINE_TUNE)",
    )
    parser.add_argument("--head-epochs", type=int, default=20)
    parser.add_argument("--algorithms", nargs="+", default=ALGORITHMS)
    parser.add_argument(
        "--optimizer-networks",
        nargs="+",
        default=None,
        help="network names (arch-dataset-levels) the optimizers are "
        "compared on, or 'all' (default: convnet-mnist5k-width "
        "convnet-mnist5k-depth)",
    )
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0 .. seeds-1")
    parser.add_argument("--evals", type=int, default=50, help="evaluations per run")
    parser.add_argument(
        "--front-algorithm",
        default="usemo",
        help="its seed-0 run gives each network's 'found' front",
    )
    parser.add_argument("--front-evals", type=int, default=25)
    parser.add_argument(
        "--no-slimmable", action="store_true", help="skip training the slimmable baseline"
    )
    parser.add_argument("--reference-samples", type=int, default=50_000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0, help="seed of data splits and training")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="convnet on digits8x8, width levels, 1 epoch, sobol+usemo, 2 seeds, 12 evaluations",
    )
    parser.add_argument("--cache", type=Path, default=Path("runs/leanet-study"))
    parser.add_argument("--out", type=Path, default=RESULTS / "leanet_study")
    args = parser.parse_args(argv)
    if args.quick:
        args.archs, args.datasets, args.levels = ["convnet"], ["digits8x8"], ["width"]
        args.epochs, args.fine_tune_epochs, args.head_epochs = 1, 0, 5
        args.algorithms, args.seeds, args.evals = ["sobol", "usemo"], 2, 12
        args.front_evals, args.reference_samples = 12, 5_000
        if args.out == RESULTS / "leanet_study":
            args.out = RESULTS / "leanet_study_quick"
        if args.cache == Path("runs/leanet-study"):
            args.cache = Path("runs/leanet-study-quick")
    names = [f"{a}-{d}-{v}" for d in args.datasets for a in args.archs for v in args.levels]
    if args.optimizer_networks is None:
        args.optimizer_networks = (
            ["all"] if args.quick else ["convnet-mnist5k-width", "convnet-mnist5k-depth"]
        )
    if args.optimizer_networks == ["all"]:
        args.optimizer_networks = names
    unknown = sorted(set(args.optimizer_networks) - set(names))
    if unknown:
        parser.error(f"--optimizer-networks {unknown} are not in this study: {names}")
    args.command = command_line("leanet_study.py", argv)
    args.commit = commit()  # the code that runs is the code at start
    return args


# ---------------------------------------------------------------- measurements


def _points_front(energy_ratio, accuracy) -> dict:
    """The non-dominated subset of a few (energy ratio, accuracy) points, by energy."""
    Y = torch.stack(
        [torch.as_tensor(accuracy).double(), -torch.as_tensor(energy_ratio).double()], dim=-1
    )
    keep = mobo.metrics.pareto_mask(Y)
    order = torch.argsort(-Y[keep, 1])
    return {"energy_ratio": (-Y[keep, 1][order]).tolist(), "accuracy": Y[keep, 0][order].tolist()}


def study_network(arch: str, dataset: str, levels: str, data, args) -> tuple[dict, object]:
    """Measure one LEANet; returns its results and its validation ThresholdProblem."""
    name = network_name(arch, dataset, levels, args)  # tagged if not the paper's widths
    args.cache.mkdir(parents=True, exist_ok=True)
    base, base_info = trained_base(arch, dataset, data, args)
    net = trained_leanet(base, f"{arch}-{dataset}-{levels}", levels, data, args)
    costs, val, test = level_evaluators(net, name, args.seed, data, args.cache)
    latency = ThresholdEvaluator(
        test.confidence, test.correct, costs.exit_latency, costs.full_latency, costs.standalone
    )
    full_val, full_test = evaluate(base, data.val), evaluate(base, data.test)
    problem = ThresholdProblem(val, reference_samples=args.reference_samples)

    savings = []
    for s in energy_savings(problem.reference, full_val, test, losses=LOSSES):
        row = {
            "allowed_loss": s.allowed_loss,
            "test_accuracy": s.test_accuracy,
            "energy_ratio": s.test_energy_ratio,
            "energy_saved": s.energy_saved,
            "latency_ratio": None,
            "latency_saved": None,
            "thresholds": None if s.thresholds is None else s.thresholds.tolist(),
        }
        if s.thresholds is not None:
            ratio = float(latency.evaluate(s.thresholds).energy_ratio[0])
            row.update(latency_ratio=ratio, latency_saved=1.0 - ratio)
        savings.append(row)

    static_acc, static_ratio = baselines.static_width_points(test, costs)
    fronts = {
        "reference": front_of(test.evaluate(problem.reference.thresholds)),
        "static_widths": _points_front(static_ratio, static_acc),
    }
    result = {
        "name": name,
        "arch": arch,
        "dataset": dataset,
        "levels": levels,
        "fingerprint": fingerprint(net, data.val),
        "base": base_info,
        "levels_config": net.levels.config(),
        "full": {
            "val_accuracy": full_val,
            "test_accuracy": full_test,
            "macs": costs.full_work.macs,
            "energy_joules": costs.full_energy,
            "latency_seconds": costs.full_latency,
        },
        "level_test_accuracy": static_acc.tolist(),
        "level_val_accuracy": val.correct.double().mean(dim=1).tolist(),
        "exit_macs": costs.exit_macs,
        "exit_energy_ratio": costs.exit_energy_ratio.tolist(),
        "exit_latency_ratio": (costs.exit_latency / costs.full_latency).tolist(),
        "static_energy_ratio": static_ratio.tolist(),
        "oracle_test": dict(zip(("accuracy", "energy_ratio"), test.oracle(), strict=True)),
        "reference_check": problem.reference_check,
        "savings": savings,
        "fronts": fronts,
        # the same figure on the split a recipe may be chosen on (the test one is the bar)
        "val_hypervolume": {"reference": front_hv(front_of(problem.reference), full_val)},
        "distill_choice": recipe_choice(f"{arch}-{dataset}-{levels}", levels, args),
    }
    if levels in WIDTH_LEVELS and not args.no_slimmable:
        epochs = base_info["epochs"]
        slim, seconds = trained_slimmable(base, f"{arch}-{dataset}", data, epochs, args)
        points = baselines.slimmable_points(
            slim, data.test, "45nm-fp32", full_energy=costs.full_energy
        )
        fronts["slimmable"] = _points_front(points.energy_ratio, points.accuracy)
        on_val = baselines.slimmable_points(
            slim, data.val, "45nm-fp32", full_energy=costs.full_energy
        )
        result["val_hypervolume"]["slimmable"] = front_hv(
            _points_front(on_val.energy_ratio, on_val.accuracy), full_val
        )
        result["slimmable"] = {
            "epochs": epochs,
            "train_seconds": seconds,
            "test_accuracy": points.accuracy.tolist(),
            "energy_ratio": points.energy_ratio.tolist(),
        }
    return result, (problem, test)


# ---------------------------------------------------------------- optimizers


def run_optimizer(problem, network: dict, algorithm: str, seed: int, evals: int) -> dict:
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = mobo.optimize(problem, algorithm, n_evals=evals, seed=seed, show_progress=False)
    hv_ratio = (result.hypervolume / problem.max_hv).tolist()
    reached = [i + 1 for i, r in enumerate(hv_ratio) if r >= 0.99]
    # Model-based iterations only: the initial Sobol design's asks take no time.
    steps = result.seconds_per_iteration[2 * (problem.dim + 1) :]
    return {
        "network": network["name"],
        "fingerprint": network["fingerprint"],
        "algorithm": algorithm,
        "seed": seed,
        "evals": evals,
        "hv_ratio": hv_ratio,
        "evals_to_99": reached[0] if reached else None,
        "seconds_per_iteration": float(steps.mean()) if steps.numel() else 0.0,
        "wall_seconds": time.perf_counter() - start,
        "X": result.X.tolist(),
    }


def summarize_runs(runs: list[dict], networks: list[str], algorithms: list[str]) -> list[dict]:
    rows = []
    for name in networks:
        for algorithm in algorithms:
            mine = [r for r in runs if r["network"] == name and r["algorithm"] == algorithm]
            if not mine:
                continue
            row = {"network": name, "algorithm": algorithm, "runs": len(mine)}
            for mark in MARKS:
                at = [r["hv_ratio"][mark - 1] for r in mine if len(r["hv_ratio"]) >= mark]
                row[f"hv_ratio_{mark}"] = statistics.median(at) if at else None
                row[f"hv_ratio_{mark}_range"] = [min(at), max(at)] if at else None
            # Runs that never reach 99% count as "more than the budget" (infinity), so the
            # median says "not reached" when fewer than half of the runs get there.
            needed = [r["evals_to_99"] or math.inf for r in mine]
            median = statistics.median(needed)
            row["evals_to_99"] = None if math.isinf(median) else median
            row["reached_99"] = sum(r["evals_to_99"] is not None for r in mine)
            row["seconds_per_iteration"] = statistics.median(
                r["seconds_per_iteration"] for r in mine
            )
            rows.append(row)
    return rows


# ---------------------------------------------------------------- outputs


def write_outputs(args, networks: list[dict], runs: list[dict], seconds: float) -> dict:
    names = [n["name"] for n in networks]
    summary = summarize_runs(runs, names, args.algorithms)
    payload = {
        "command": args.command,
        "commit": args.commit,
        "settings": {
            k: (str(v) if isinstance(v, Path) else v)
            for k, v in vars(args).items()
            if k != "command"
        },
        "machine": f"{machine()}, {torch.get_num_threads()} thread(s)",
        "seconds": seconds,
        "losses": list(LOSSES),
        "front_hv_box": {"accuracy_below_full": FRONT_HV_LOSS, "energy_ratio": FRONT_HV_ENERGY},
        "networks": networks,
        "optimizers": {"runs": runs, "summary": summary},
    }
    out = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(".json.tmp")
    partial.write_text(json.dumps(payload, indent=1) + "\n")
    os.replace(partial, out.with_suffix(".json"))

    lines = [
        "network,allowed_loss,test_accuracy,energy_ratio,energy_saved,latency_ratio,latency_saved"
    ]
    for n in networks:
        for s in n["savings"]:
            lines.append(
                ",".join(
                    [n["name"], str(s["allowed_loss"])]
                    + [
                        _fmt(s[k], "{:.4f}")
                        for k in (
                            "test_accuracy",
                            "energy_ratio",
                            "energy_saved",
                            "latency_ratio",
                            "latency_saved",
                        )
                    ]
                )
            )
    Path(f"{out}_savings.csv").write_text("\n".join(lines) + "\n")
    lines = [
        "network,algorithm,runs,hv_ratio_10,hv_ratio_25,hv_ratio_50,evals_to_99,"
        "reached_99,seconds_per_iteration"
    ]
    for r in summary:
        lines.append(
            ",".join(
                [r["network"], r["algorithm"], str(r["runs"])]
                + [_fmt(r[f"hv_ratio_{m}"], "{:.4f}") for m in MARKS]
                + [
                    _fmt(r["evals_to_99"], "{:g}"),
                    str(r["reached_99"]),
                    f"{r['seconds_per_iteration']:.3f}",
                ]
            )
        )
    Path(f"{out}_optimizers.csv").write_text("\n".join(lines) + "\n")
    lines = ["network,front,energy_ratio,accuracy"]
    for n in networks:
        for front_name, front in n["fronts"].items():
            lines += [
                f"{n['name']},{front_name},{e:.5f},{a:.5f}"
                for e, a in zip(front["energy_ratio"], front["accuracy"], strict=True)
            ]
    Path(f"{out}_fronts.csv").write_text("\n".join(lines) + "\n")
    write_markdown(out.with_suffix(".md"), markdown(payload))
    plot_fronts(networks, Path(f"{out}_fronts.png"))
    plot_hv(runs, summary, Path(f"{out}_hv.png"))
    return payload


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", category=FutureWarning)
    start = time.perf_counter()
    done: list[dict] = []
    if args.out.with_suffix(".json").exists():
        done = json.loads(args.out.with_suffix(".json").read_text())["optimizers"]["runs"]
    networks, problems = [], {}
    for dataset in args.datasets:
        data = load_dataset(dataset, seed=args.seed, root=args.data_root)
        for arch in args.archs:
            for levels in args.levels:
                _log(f"{arch} on {dataset}, {levels} levels")
                network, problems[f"{arch}-{dataset}-{levels}"] = study_network(
                    arch, dataset, levels, data, args
                )
                networks.append(network)
    by_name = {n["name"]: n for n in networks}
    # A depth LEANet is compared with the slimmable network of the same base network too.
    for n in networks:
        width = by_name.get(f"{n['arch']}-{n['dataset']}-width")
        if n["levels"] == "depth" and width is not None and "slimmable" in width["fronts"]:
            n["fronts"]["slimmable"] = width["fronts"]["slimmable"]
    compared = args.optimizer_networks
    todo = [(name, args.front_algorithm, 0) for name in by_name]
    todo += [(name, a, s) for a in args.algorithms for name in compared for s in range(args.seeds)]
    runs = []
    for name, algorithm, seed in dict.fromkeys(todo):
        evals = args.evals if name in compared else args.front_evals
        key = (name, by_name[name]["fingerprint"], algorithm, seed, evals)
        old = [
            r
            for r in done
            if (r["network"], r["fingerprint"], r["algorithm"], r["seed"], r["evals"]) == key
        ]
        if old:
            runs.append(old[0])
            continue
        _log(f"optimizing {name} with {algorithm}, seed {seed}, {evals} evaluations")
        run = run_optimizer(problems[name][0], by_name[name], algorithm, seed, evals)
        runs.append({**run, "commit": args.commit})
        attach_found_fronts(networks, runs, problems, args)
        write_outputs(args, networks, runs, time.perf_counter() - start)
    attach_found_fronts(networks, runs, problems, args)
    payload = write_outputs(args, networks, runs, time.perf_counter() - start)
    print(markdown(payload))
    _log(f"wrote {args.out}.json/.md, CSVs and PNGs in {time.perf_counter() - start:.0f} s")
    return payload


def attach_found_fronts(networks: list[dict], runs: list[dict], problems: dict, args) -> None:
    """Each network's 'found' front (its front algorithm's seed-0 run, first evaluations,
    measured on test) and every front's hypervolume."""
    for n in networks:
        problem, test = problems[n["name"]]
        run = next(
            (
                r
                for r in runs
                if r["network"] == n["name"]
                and r["seed"] == 0
                and r["algorithm"] == args.front_algorithm
            ),
            None,
        )
        if run is not None:
            X = torch.tensor(run["X"][: args.front_evals], dtype=torch.float64)
            found = problem.metrics(X).pareto()
            n["fronts"][f"{args.front_algorithm}@{args.front_evals}"] = front_of(
                test.evaluate(found.thresholds)
            )
        n["hypervolume"] = {
            name: front_hv(front, n["full"]["test_accuracy"]) for name, front in n["fronts"].items()
        }


if __name__ == "__main__":
    main()
