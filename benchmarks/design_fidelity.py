"""Does the cheap fidelity rank designs as the target does? (issue 17, multi-fidelity search)

MF-OSEMO's design search may train a design with few fine-tune epochs first; that pays only
if a design's quality after few epochs predicts its quality after the target's. This script
asks the design cache: for every design trained at both a cheap and the target fine-tune
epochs (the same seed), the hypervolume of its dense validation front
(:func:`leanet.reference_front.reference_front`) from the design search's own reference point
(``DesignProblem.ref_point``), at each fidelity; then the rank (Spearman) and linear
(Pearson) correlation over designs, what picking the best design by the cheap fidelity
loses at the target (regret), and how the cheap/target ratio depends on the number of
levels. ``--train K`` first trains the cheap fidelity of up to ``K`` target designs not yet
cached at it, spread over the target hypervolume's range.

The cache holds the designs past searches chose, and a cheap design has a target twin only
where a search promoted it, so the pairs lean to good designs. Command::

    .venv/bin/python benchmarks/design_fidelity.py --archs convnet vgg16 mobilenet \\
        --dataset mnist5k --fine-tune-epochs 10 --cheap-epochs 2 5

Writes ``benchmarks/results/design_fidelity.{json,md}`` with the command and commit.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import replace
from pathlib import Path

import torch

from leanet.dense_fronts import spread_indices
from leanet.reference_front import reference_front
from mobo.metrics import hypervolume

sys.path.insert(0, str(Path(__file__).parent))
import study_networks  # noqa: E402
from design_search import make_problem, network_setup  # noqa: E402
from design_space import cached_designs, rank_correlation  # noqa: E402
from provenance import command_line, commit, heading, machine, write_results  # noqa: E402

RESULTS = Path(__file__).parent / "results"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", nargs="+", default=["convnet", "vgg16", "mobilenet"])
    parser.add_argument("--dataset", default="mnist5k")
    parser.add_argument("--cheap-epochs", type=int, nargs="+", default=[2])
    parser.add_argument(
        "--fine-tune-epochs", type=int, default=10, help="the target fidelity's epochs"
    )
    parser.add_argument("--train", type=int, default=0, help="cheap designs to train first")
    parser.add_argument(
        "--continue-fidelities",
        action="store_true",
        help="the cheap fidelity is the first epochs of the target's run (design_search's "
        "--continue-fidelities): its designs are keyed ft<cheap>of<target>",
    )
    parser.add_argument("--reference-samples", type=int, default=20_000)
    parser.add_argument("--head-epochs", type=int, default=20)
    parser.add_argument("--cache", type=Path, default=Path("runs/leanet-study"))
    parser.add_argument("--out", type=Path, default=RESULTS / "design_fidelity")
    args = parser.parse_args(argv)
    # make_problem's other options, as design_search's defaults
    args.first_fraction, args.build_costs = (0.25, 0.75), True
    args.command = command_line("design_fidelity.py", argv)
    return args


def front_hv(problem, design, samples: int) -> float:
    """Hypervolume of the design's dense validation front from the search's reference point."""
    front, _ = reference_front(problem.evaluator(design), n_samples=samples)
    Y = front.objectives()
    return hypervolume(Y, problem.ref_point.to(Y))


def pairs(problem, cheap: int, train: int, samples: int, known: dict[str, float]) -> list[dict]:
    """Every design cached at both fidelities, after training up to ``train`` cheap twins.
    ``known`` holds target designs' HVs by key, shared across cheap fidelities so each is
    computed once (an unpaired design's only when it may be trained)."""
    designs = cached_designs(problem.cache, problem.seed, problem.epochs[-1])
    schedule = problem.epochs[-1] if problem.continue_fidelities else 0
    twin = {
        d.key: problem.prefixes(d)[0] if schedule else replace(d, fine_tune_epochs=cheap)
        for d in designs
    }
    cached = {d.key for d in cached_designs(problem.cache, problem.seed, cheap, schedule)}

    def target(d) -> float:
        if d.key not in known:
            known[d.key] = front_hv(problem, d, samples)
        return known[d.key]

    if train:
        missing = sorted((d for d in designs if twin[d.key].key not in cached), key=target)
        for i in spread_indices(len(missing), train).tolist() if missing else []:
            cached.add(twin[missing[i].key].key)  # front_hv's problem.evaluator trains it
    out = [
        {
            "design": d.key.rsplit("-ft", 1)[0],
            "levels": d.num_levels,
            "cheap": front_hv(problem, twin[d.key], samples),
            "target": target(d),
        }
        for d in designs
        if twin[d.key].key in cached
    ]
    return sorted(out, key=lambda r: -r["target"])


def summarize(rows: list[dict]) -> dict:
    """Correlations, the regret of choosing by the cheap fidelity, the ratio by level count."""
    if len(rows) < 3:
        return {"n": len(rows)}
    cheap, target = [r["cheap"] for r in rows], [r["target"] for r in rows]
    pick = max(rows, key=lambda r: r["cheap"])["target"]
    by_levels: dict[int, list[float]] = {}
    for r in rows:
        by_levels.setdefault(r["levels"], []).append(r["cheap"] / r["target"])
    return {
        "n": len(rows),
        "spearman": rank_correlation(cheap, target),
        "pearson": float(torch.corrcoef(torch.tensor([cheap, target]))[0, 1]),
        "regret": max(target) - pick,
        "best_target": max(target),
        "ratio_by_levels": {k: statistics.median(v) for k, v in sorted(by_levels.items())},
    }


def measure(arch: str, args) -> list[dict]:
    """Each cheap fidelity's pairs and summary; with two or more cheap fidelities, also the
    summary over the designs paired at every one of them, which compares them fairly (a
    correlation depends on how wide a range of designs it is taken over)."""
    setup = network_setup(arch, args)
    results, known = [], {}
    for cheap in args.cheap_epochs:
        args.fidelity_epochs = cheap
        problem = make_problem(arch, setup, args, "mfosemo")
        rows = pairs(problem, cheap, args.train, args.reference_samples, known)
        study_networks.log(f"design fidelity: {setup['name']}, ft{cheap}: {len(rows)} pairs")
        if problem.continue_fidelities:  # the first epochs of the target's run
            cheap = f"{cheap} of {problem.epochs[-1]}"
        results.append(
            {"network": setup["name"], "cheap": cheap, "over": "all", "pairs": rows}
            | summarize(rows)
        )
    return results + common(results)


def common(results: list[dict]) -> list[dict]:
    """Each cheap fidelity's summary over only the designs paired at every cheap fidelity
    that has pairs; nothing when fewer than two have."""
    results = [r for r in results if r["pairs"]]
    if len(results) < 2:
        return []
    names = set.intersection(*({p["design"] for p in r["pairs"]} for r in results))
    out = []
    for r in results:
        rows = [p for p in r["pairs"] if p["design"] in names]
        head = {"network": r["network"], "cheap": r["cheap"], "over": "common", "pairs": rows}
        out.append(head | summarize(rows))
    return out


def report(args, results: list[dict]) -> str:
    target = args.fine_tune_epochs
    lines = heading(
        "Does the cheap fidelity rank designs as the target does? (issue 17)", args.command
    ) + [
        f"Designs cached at a cheap fine-tune epoch count and at the target's ({target}): "
        "dense validation-front hypervolume from the design search's reference point at "
        "each; rank (Spearman) and linear (Pearson) correlation over designs; regret: the "
        "best target HV minus the target HV of the design best at the cheap fidelity; "
        "median cheap/target HV ratio by number of levels. Over: every design paired at that "
        "cheap fidelity (all), or only those paired at every cheap fidelity of the run "
        "(common), which compares the fidelities on the same designs.",
        "",
        "| network | cheap epochs | over | designs | Spearman | Pearson | regret (of best) "
        "| cheap/target by levels |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if r["n"] < 3:
            lines.append(
                f"| {r['network']} | {r['cheap']} | {r['over']} | {r['n']} | - | - | - | - |"
            )
            continue
        ratios = ", ".join(f"L{k}: {v:.2f}" for k, v in r["ratio_by_levels"].items())
        lines.append(
            f"| {r['network']} | {r['cheap']} | {r['over']} | {r['n']} | {r['spearman']:+.2f} | "
            f"{r['pearson']:+.2f} | {r['regret']:.5f} ({r['best_target']:.5f}) | {ratios} |"
        )
    for r in results:
        if r["n"] >= 3 and r["over"] == "all":
            cells = ", ".join(
                f"{p['design']} {p['cheap']:.4f} / {p['target']:.4f}" for p in r["pairs"]
            )
            lines += ["", f"- {r['network']}, ft{r['cheap']} / ft{target}: {cells}."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> list[dict]:
    args = parse_args(argv)
    torch.set_num_threads(1)
    results = [r for arch in args.archs for r in measure(arch, args)]
    payload = {"command": args.command, "commit": commit(), "machine": machine()}
    payload["results"] = results
    write_results(args.out, payload, report(args, results))
    return results


if __name__ == "__main__":
    main()
