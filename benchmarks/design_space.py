"""How much can any design search gain over random designs? (issue 17)

``design_search.py`` compares searches of equal charged time; on the ConvNet a random design
search told each design's dense front ended at 0.0561 test hypervolume with a spread of
0.0542-0.0562, and no model-based search beat it. This script asks what the space itself
allows, from the designs already trained into a design cache (the searches' union):

- every cached design at the target fine-tune epochs gets its dense validation front
  (:func:`leanet.reference_front.reference_front`), and each point is measured on test once;
- **all designs**: the validation Pareto front of the union of every design's dense front
  (``polished``), and of ``K`` points of each (``dense K``, picked as
  :class:`leanet.dense_fronts.DenseFronts` picks them), measured on test: the best a search
  that ends with these designs can report, a ceiling for both of ``design_search``'s figures;
- **random n designs**: the same two figures for ``--draws`` random subsets of ``n``
  cached designs (without replacement), median and 10-90% range: what a random design
  search of ``n`` designs gets, without re-running it;
- the designs that make the all-designs front, and the best single designs;
- with ``--cross-fit``, two selection rules meant to resist validation noise: the
  validation split is cut in two halves, each design's dense front is searched on one half
  and measured on the other (both ways), and the union front is chosen on those held-out
  measurements (**cross-fitted points**: their half-fitted thresholds, measured on test),
  or only its designs are kept and their full-validation dense fronts make the front
  (**cross-fitted designs**). Measured: not a remedy
  (``results/design_space_crossfit_vgg_mnist.md``).

The cache holds the designs the searches chose, so it leans to good ones; the table says how
many of the space's designs it holds. Test hypervolume from (full test accuracy - 0.05,
energy ratio 1.25), as in ``design_search``. Command::

    .venv/bin/python benchmarks/design_space.py --archs convnet vgg16

Writes ``benchmarks/results/design_space.{json,md}`` with the command and commit.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from pathlib import Path

import torch
from torch import Tensor
from tqdm.auto import tqdm

from leanet.checkpoints import load_leanet
from leanet.dense_fronts import spread_indices
from leanet.design import Design
from leanet.evaluator import ThresholdEvaluator
from leanet.reference_front import reference_front
from mobo.metrics import pareto_mask

sys.path.insert(0, str(Path(__file__).parent))
import study_networks  # noqa: E402
from design_search import DEFAULT_FIDELITY_EPOCHS, make_problem, network_setup  # noqa: E402
from provenance import command_line, commit, heading, machine, write_results  # noqa: E402
from study_networks import front_hv  # noqa: E402

RESULTS = Path(__file__).parent / "results"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_cache_arguments(parser, archs=["convnet", "vgg16"], dataset="digits8x8")
    parser.add_argument("--sizes", type=int, nargs="+", default=[7, 14, 28, 56])
    parser.add_argument("--draws", type=int, default=200, help="random subsets per size")
    parser.add_argument("--dense-points", type=int, default=5)
    parser.add_argument(
        "--cross-fit", action="store_true", help="also the two cross-fitted selection rules"
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "design_space")
    args = parser.parse_args(argv)
    search_defaults(args)
    args.command = command_line("design_space.py", argv)
    return args


def add_cache_arguments(parser: argparse.ArgumentParser, *, archs: list[str], dataset: str):
    """The options naming a design search's networks and cache, shared by the scripts that
    read its cached designs (this one, ``validation_size.py``, ``level_gaps.py``)."""
    parser.add_argument("--archs", nargs="+", default=archs)
    parser.add_argument("--dataset", default=dataset)
    parser.add_argument(
        "--moved-to-validation",
        type=int,
        default=0,
        help="as design_search.py's: the designs of a search on that split",
    )
    parser.add_argument("--reference-samples", type=int, default=20_000)
    parser.add_argument("--head-epochs", type=int, default=20)
    parser.add_argument("--cache", type=Path, default=Path("runs/leanet-study"))


def search_defaults(args: argparse.Namespace) -> None:
    """make_problem's options that these scripts do not offer, as design_search's defaults."""
    args.first_fraction, args.fine_tune_epochs = (0.25, 0.75), None
    args.fidelity_epochs, args.build_costs = DEFAULT_FIDELITY_EPOCHS, False


def cached_designs(folder: Path, seed: int, epochs: int, schedule: int = 0) -> list[Design]:
    """The designs trained into ``folder`` (seed ``seed``) at ``epochs`` fine-tune epochs
    (of a ``schedule``-epoch run: a design search's continued cheap fidelity; 0: whole), by
    any search: files named with their source (``-<12 digits>.pt``) and from before."""
    designs = []
    names = (f"*-s{seed}.pt", f"*-s{seed}-{'?' * 12}.pt")
    for path in sorted({p for name in names for p in folder.glob(name)}):
        _, meta = load_leanet(path)
        design = Design(**meta["design"])
        keep = (design.fine_tune_epochs, design.schedule_epochs) == (epochs, schedule)
        if keep and design not in designs:  # one design built by searches of two settings
            designs.append(design)
    return designs


def design_points(problem, design: Design, setup: dict, args) -> dict:
    """The design's dense validation front, each point's validation and test objectives,
    and the indices of the ``K`` points ``DenseFronts`` would tell a study; with
    ``--cross-fit``, its cross-fitted points (:func:`cross_fitted`)."""
    val = problem.evaluator(design)
    front, _ = reference_front(val, n_samples=args.reference_samples)
    tester = problem.test_evaluator(design)
    test = tester.evaluate(front.thresholds)
    pick = spread_indices(front.thresholds.shape[0], args.dense_points)
    point = {
        "design": design.key,
        "val": torch.stack([front.accuracy, -front.energy_ratio], dim=-1),
        "test": {"accuracy": test.accuracy.tolist(), "energy_ratio": test.energy_ratio.tolist()},
        "dense": pick.tolist(),
    }
    if args.cross_fit:
        point["cross"] = cross_fitted(val, tester, args.reference_samples)
    return point


def on_inputs(evaluator: ThresholdEvaluator, index: Tensor) -> ThresholdEvaluator:
    """The evaluator on the inputs ``index`` only."""
    return evaluator.on_records(evaluator.confidence[:, index], evaluator.correct[:, index])


def objectives(evaluator: ThresholdEvaluator, thresholds: Tensor) -> Tensor:
    """(accuracy, -energy ratio) of each threshold vector on ``evaluator``: both maximized."""
    m = evaluator.evaluate(thresholds)
    return torch.stack([m.accuracy, -m.energy_ratio], dim=-1)


def cross_fitted(val: ThresholdEvaluator, test: ThresholdEvaluator, samples: int) -> dict:
    """Dense fronts searched on one half of the validation inputs (a fixed split, the same
    for every design) and measured on the other half, both ways: objectives no threshold
    was tuned on, to choose a front by. Also each point's test objectives."""
    n = val.num_inputs
    order = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    halves = (order[: n // 2], order[n // 2 :])
    held, tested = [], []
    for fit, other in (halves, halves[::-1]):
        front, _ = reference_front(on_inputs(val, fit), n_samples=samples)
        held.append(objectives(on_inputs(val, other), front.thresholds))
        on_test = test.evaluate(front.thresholds)
        tested.append(torch.stack([on_test.accuracy, on_test.energy_ratio], dim=-1))
    return {"held": torch.cat(held), "test": torch.cat(tested)}


def val_hv(point: dict, full_val: float) -> float:
    """Validation HV of one design's dense front, from (full validation accuracy - 0.05, 1.25)."""
    front = {
        "accuracy": point["val"][:, 0].tolist(),
        "energy_ratio": (-point["val"][:, 1]).tolist(),
    }
    return front_hv(front, full_val)


def cross_fit_hv(points: list[dict], full_test: float, designs_only: bool) -> float:
    """Test HV of the front chosen on the cross-fitted (held-out half) objectives: its
    points, or (``designs_only``) its designs' full-validation dense fronts."""
    held = torch.cat([p["cross"]["held"] for p in points])
    owner = [j for j, p in enumerate(points) for _ in range(p["cross"]["held"].shape[0])]
    keep = pareto_mask(held)
    if designs_only:
        chosen = sorted({owner[i] for i in keep.nonzero().flatten().tolist()})
        return union_hv([points[j] for j in chosen], full_test, False)[0]
    test = torch.cat([p["cross"]["test"] for p in points])[keep]
    return front_hv(
        {"accuracy": test[:, 0].tolist(), "energy_ratio": test[:, 1].tolist()}, full_test
    )


def best_by_validation(points: list[dict], full_test: float, dense: bool) -> float:
    """Test HV of the front of the one design whose own dense front is best on validation."""
    best = max(points, key=lambda p: p["val_hv"])
    return union_hv([best], full_test, dense)[0]


def union_hv(points: list[dict], full_test: float, dense: bool) -> tuple[float, list[str]]:
    """Test HV of the validation Pareto front of the designs' points (all, or their dense K)."""
    val, acc, energy, names = [], [], [], []
    for p in points:
        idx = p["dense"] if dense else range(p["val"].shape[0])
        for i in idx:
            val.append(p["val"][i])
            acc.append(p["test"]["accuracy"][i])
            energy.append(p["test"]["energy_ratio"][i])
            names.append(p["design"])
    keep = pareto_mask(torch.stack(val)).tolist()
    front = {
        "accuracy": [a for a, k in zip(acc, keep, strict=True) if k],
        "energy_ratio": [e for e, k in zip(energy, keep, strict=True) if k],
    }
    return front_hv(front, full_test), sorted({n for n, k in zip(names, keep, strict=True) if k})


def measure(arch: str, args) -> dict:
    setup = network_setup(arch, args)
    problem = make_problem(arch, setup, args)
    epochs = problem.epochs[-1]
    designs = cached_designs(problem.cache, problem.seed, epochs)
    study_networks.log(f"design space: {setup['name']}, {len(designs)} cached designs")
    points = [
        design_points(problem, d, setup, args)
        for d in tqdm(designs, desc=f"dense fronts, {setup['name']}", unit="design")
    ]
    full, full_val = setup["full_test_accuracy"], problem.full_accuracy
    for p in points:
        p["val_hv"] = val_hv(p, full_val)
        p["test_hv"] = union_hv([p], full, False)[0]
    out: dict = {
        "network": setup["name"],
        "space_size": space_size(problem),
        "designs": len(designs),
        "hand_fixed_test_hv": setup["hand_fixed_test_hv"],
        "all": {},
        "random": [],
    }
    for dense in (False, True):
        hv, front_designs = union_hv(points, full, dense)
        out["all"]["dense" if dense else "polished"] = {"hv": hv, "designs": front_designs}
    for dense in (False, True):
        name = "best_dense" if dense else "best_polished"
        out["all"][name] = best_by_validation(points, full, dense)
    if args.cross_fit:
        for only, name in ((False, "cross_points"), (True, "cross_designs")):
            out["all"][name] = cross_fit_hv(points, full, only)
    single = sorted(points, key=lambda p: p["test_hv"], reverse=True)
    out["best_single"] = [{"design": p["design"], "hv": p["test_hv"]} for p in single[:5]]
    by_val = sorted(points, key=lambda p: p["val_hv"], reverse=True)
    out["best_by_validation"] = [
        {"design": p["design"], "val_hv": p["val_hv"], "hv": p["test_hv"]} for p in by_val[:5]
    ]
    out["val_test_rank_correlation"] = rank_correlation(
        [p["val_hv"] for p in points], [p["test_hv"] for p in points]
    )
    rng = random.Random(0)
    for n in args.sizes:
        if n > len(points):
            continue
        draws = [rng.sample(points, n) for _ in range(args.draws)]
        row = {"n": n}
        union = {dense: [union_hv(d, full, dense)[0] for d in draws] for dense in (False, True)}
        for dense in (False, True):
            name = "dense" if dense else "polished"
            row[name] = spread(union[dense])
            row[f"best_{name}"] = spread([best_by_validation(d, full, dense) for d in draws])
        if args.cross_fit:
            plain = union[False]
            for only, name in ((False, "cross_points"), (True, "cross_designs")):
                hv = [cross_fit_hv(d, full, only) for d in draws]
                row[name] = spread(hv)
                row[f"{name}_above"] = sum(c > p for c, p in zip(hv, plain, strict=True))
                row[f"{name}_below"] = sum(c < p for c, p in zip(hv, plain, strict=True))
        out["random"].append(row)
    return out


def spread(values: list[float]) -> dict:
    values = sorted(values)
    n = len(values)
    return {
        "median": statistics.median(values),
        "p10": values[n // 10],
        "p90": values[(9 * n) // 10],
    }


def rank_correlation(a: list[float], b: list[float]) -> float:
    """Spearman's rank correlation (ties ranked by order; enough for a summary)."""
    ra = torch.tensor(a).argsort().argsort().double()
    rb = torch.tensor(b).argsort().argsort().double()
    return float(torch.corrcoef(torch.stack([ra, rb]))[0, 1])


def space_size(problem) -> int:
    lo, hi = problem.levels
    f_lo, f_hi = problem.fraction_range
    fractions = round((f_hi - f_lo) / problem.fraction_step) + 1
    return (hi - lo + 1) * fractions * len(problem.head_hidden) * len(problem.confidences)


def report(args, rows: list[dict]) -> str:
    k = args.dense_points
    lines = heading(
        "What the design space allows: all cached designs and random subsets (issue 17)",
        args.command,
    ) + [
        "Test hypervolume of the validation Pareto front of the designs' dense fronts "
        f"(union, polished), of {k} points of each (union, dense {k}), and of the one design "
        "whose own dense front has the best validation hypervolume (best design); random "
        f"rows: median [10%-90%] over {args.draws} random subsets of n cached designs.",
        "",
        f"| network | cached / space | hand-fixed | designs | union, polished | union, dense {k} "
        f"| best design, polished | best design, dense {k} |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        head = f"| {r['network']} | {r['designs']} / {r['space_size']} | "
        head += f"{r['hand_fixed_test_hv']:.5f} | "
        every = r["all"]
        cells = [every[v]["hv"] for v in ("polished", "dense")]
        cells += [every[v] for v in ("best_polished", "best_dense")]
        lines.append(head + f"all {r['designs']} | " + " | ".join(f"{c:.5f}" for c in cells) + " |")
        for s in r["random"]:
            cells = [
                f"{s[v]['median']:.5f} [{s[v]['p10']:.5f}-{s[v]['p90']:.5f}]"
                for v in ("polished", "dense", "best_polished", "best_dense")
            ]
            lines.append(head + f"random {s['n']} | " + " | ".join(cells) + " |")
    lines.append("")
    if args.cross_fit:
        lines += cross_fit_table(args, rows)
    for r in rows:
        lines += [
            f"- {r['network']}: the all-designs union front (polished) uses "
            + ", ".join(r["all"]["polished"]["designs"])
            + ".",
            "  Best single designs on test (own dense front): "
            + ", ".join(f"{b['design']} {b['hv']:.5f}" for b in r["best_single"])
            + ".",
            "  Best on validation (validation HV / test HV): "
            + ", ".join(
                f"{b['design']} {b['val_hv']:.5f} / {b['hv']:.5f}" for b in r["best_by_validation"]
            )
            + f". Rank correlation of designs' validation and test HV: "
            f"{r['val_test_rank_correlation']:.2f}.",
        ]
    return "\n".join(lines) + "\n"


def cross_fit_table(args, rows: list[dict]) -> list[str]:
    """The cross-fitted selection rules against the validation front (union, polished)."""
    lines = [
        "Selection rules (`--cross-fit`): test HV of the front chosen on validation (as above, "
        "union, polished), of the front chosen on held-out halves (cross-fitted points), and "
        "of the designs that front names, with their full-validation dense fronts "
        "(cross-fitted designs); random rows: median [10%-90%], and in how many of the "
        f"{args.draws} draws the rule is above / below the validation front.",
        "",
        "| network | designs | validation front | cross-fitted points | above / below "
        "| cross-fitted designs | above / below |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        every = r["all"]
        lines.append(
            f"| {r['network']} | all {r['designs']} | {every['polished']['hv']:.5f} | "
            f"{every['cross_points']:.5f} | - | {every['cross_designs']:.5f} | - |"
        )
        for s in r["random"]:
            cells = [
                f"{s[v]['median']:.5f} [{s[v]['p10']:.5f}-{s[v]['p90']:.5f}]"
                for v in ("polished", "cross_points", "cross_designs")
            ]
            lines.append(
                f"| {r['network']} | random {s['n']} | {cells[0]} | {cells[1]} | "
                f"{s['cross_points_above']} / {s['cross_points_below']} | {cells[2]} | "
                f"{s['cross_designs_above']} / {s['cross_designs_below']} |"
            )
    return lines + [""]


def main(argv: list[str] | None = None) -> list[dict]:
    args = parse_args(argv)
    torch.set_num_threads(1)
    rows = [measure(arch, args) for arch in args.archs]
    payload = {"command": args.command, "commit": commit(), "machine": machine(), "rows": rows}
    write_results(args.out, payload, report(args, rows))
    return rows


if __name__ == "__main__":
    main()
