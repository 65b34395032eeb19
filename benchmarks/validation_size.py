"""Would more validation images lift a design search's front on unseen data? (issue 17)

On VGG-16 the validation front of every trained design measures *lower* on test than that
of a few random designs (``results/design_space_vgg_mnist.md``): with 833 validation images
the designs that look best are partly lucky, and choosing the front on held-out halves of
those images does not help (``results/design_space_crossfit_vgg_mnist.md``). The remedy left
is more validation images, which means retraining the base and every design on a smaller
training split. This diagnostic asks whether that would pay, without retraining, from the
designs in a design cache:

- the test split is cut in two halves (``--splits`` random cuts, both ways round); one half
  is the **scoring half**, the other joins the validation images as extra choosing images;
- every design's dense front is searched on the 833 validation images (**833**) and on them
  plus the extra half (**833 + half**), and the union front of a pool of designs is chosen
  on each;
- both fronts are scored on the scoring half: hypervolume from (full test accuracy - 0.05,
  energy ratio 1.25), as in ``design_space.py``, for all designs and for random pools.

Half the test split chooses fronts here, so no figure of this script is a search's test
hypervolume; it only says whether more validation images would be worth retraining for
(measured: yes on VGG-16, ``results/validation_size_vgg_mnist.md``; made real by
moving training images, it was not: ``results/design_search_extras/ds_vgg_1800_val1250.md``).
Command::

    .venv/bin/python benchmarks/validation_size.py --archs vgg16 --dataset mnist5k

Writes ``benchmarks/results/validation_size.{json,md}`` with the command and commit.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import torch
from torch import Tensor
from tqdm.auto import tqdm

from leanet.evaluator import ThresholdEvaluator
from leanet.reference_front import reference_front
from mobo.metrics import pareto_mask

sys.path.insert(0, str(Path(__file__).parent))
import study_networks  # noqa: E402
from design_search import make_problem, network_setup  # noqa: E402
from design_space import (  # noqa: E402
    add_cache_arguments,
    cached_designs,
    objectives,
    on_inputs,
    search_defaults,
    spread,
)
from provenance import command_line, commit, heading, machine, write_results  # noqa: E402
from study_networks import front_hv  # noqa: E402

RESULTS = Path(__file__).parent / "results"
RULES = ("833", "833 + half")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_cache_arguments(parser, archs=["vgg16"], dataset="mnist5k")
    parser.add_argument("--sizes", type=int, nargs="+", default=[14, 28, 56])
    parser.add_argument("--draws", type=int, default=100, help="random pools per size and cut")
    parser.add_argument("--splits", type=int, default=3, help="random cuts of the test split")
    parser.add_argument("--out", type=Path, default=RESULTS / "validation_size")
    args = parser.parse_args(argv)
    search_defaults(args)
    args.command = command_line("validation_size.py", argv)
    return args


def _joined(a: ThresholdEvaluator, b: ThresholdEvaluator, index: Tensor) -> ThresholdEvaluator:
    """``a``'s inputs and ``b``'s inputs ``index`` in one evaluator (same network)."""
    return a.on_records(
        torch.cat([a.confidence, b.confidence[:, index]], dim=1),
        torch.cat([a.correct, b.correct[:, index]], dim=1),
    )


def cuts(n: int, splits: int) -> list[tuple[Tensor, Tensor]]:
    """(extra half, scoring half) of ``n`` test inputs: ``splits`` random cuts, both ways."""
    out = []
    for s in range(splits):
        order = torch.randperm(n, generator=torch.Generator().manual_seed(s))
        a, b = order[: n // 2], order[n // 2 :]
        out += [(a, b), (b, a)]
    return out


def design_fronts(val, test, halves, samples: int) -> list[dict]:
    """Per cut: the design's dense fronts chosen on 833 and on 833 + half, each point's
    choosing objectives and its objectives on the scoring half."""
    plain, _ = reference_front(val, n_samples=samples)
    plain_chosen = objectives(val, plain.thresholds)  # the same for every cut
    out = []
    for extra, scoring in halves:
        score = on_inputs(test, scoring)
        joined = _joined(val, test, extra)
        bigger, _ = reference_front(joined, n_samples=samples)
        out.append(
            {
                "833": (plain_chosen, objectives(score, plain.thresholds)),
                "833 + half": (
                    objectives(joined, bigger.thresholds),
                    objectives(score, bigger.thresholds),
                ),
            }
        )
    return out


def pool_hv(fronts: list[tuple[Tensor, Tensor]], full_test: float) -> float:
    """Scoring-half HV of the union front of the designs' fronts, chosen on their choosing
    objectives."""
    chosen = torch.cat([c for c, _ in fronts])
    scored = torch.cat([s for _, s in fronts])[pareto_mask(chosen)]
    return front_hv(
        {"accuracy": scored[:, 0].tolist(), "energy_ratio": (-scored[:, 1]).tolist()}, full_test
    )


def measure(arch: str, args) -> dict:
    setup = network_setup(arch, args)
    problem = make_problem(arch, setup, args)
    designs = cached_designs(problem.cache, problem.seed, problem.epochs[-1])
    study_networks.log(f"validation size: {setup['name']}, {len(designs)} cached designs")
    halves = cuts(len(setup["data"].test), args.splits)
    per_design = []
    for design in tqdm(designs, desc=f"dense fronts, {setup['name']}", unit="design"):
        test = problem.test_evaluator(design)
        per_design.append(
            design_fronts(problem.evaluator(design), test, halves, args.reference_samples)
        )
    full = setup["full_test_accuracy"]
    rng = random.Random(0)
    rows = []
    for n in [len(designs), *[s for s in args.sizes if s < len(designs)]]:
        values = {rule: [] for rule in RULES}
        for c in range(len(halves)):
            pools = (
                [per_design]
                if n == len(designs)
                else [rng.sample(per_design, n) for _ in range(args.draws)]
            )
            for pool in pools:
                for rule in RULES:
                    values[rule].append(pool_hv([d[c][rule] for d in pool], full))
        plain, bigger = values["833"], values["833 + half"]
        rows.append(
            {
                "pool": "all" if n == len(designs) else f"random {n}",
                "n": n,
                "833": spread(plain),
                "833 + half": spread(bigger),
                "above": sum(b > p for p, b in zip(plain, bigger, strict=True)),
                "below": sum(b < p for p, b in zip(plain, bigger, strict=True)),
                "count": len(plain),
            }
        )
    return {"network": setup["name"], "designs": len(designs), "cuts": len(halves), "rows": rows}


def report(args, results: list[dict]) -> str:
    lines = heading(
        "More validation images for the design search? (issue 17, diagnostic)", args.command
    ) + [
        "Hypervolume on a scoring half of the test split (417 images) of the union front of a "
        "pool of designs, chosen on the 833 validation images or on them plus the other test "
        f"half (1250 images); {args.splits} random cuts of the test split, both ways round; "
        "median [10%-90%] over cuts (and random pools), and in how many the larger choosing "
        "set is above / below the 833. Half the test split chooses here: no figure is a "
        "search's test hypervolume.",
        "",
        "| network | pool | chosen on 833 | chosen on 833 + half | above / below (of) |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        for row in r["rows"]:
            cells = [
                f"{row[k]['median']:.5f} [{row[k]['p10']:.5f}-{row[k]['p90']:.5f}]" for k in RULES
            ]
            lines.append(
                f"| {r['network']} | {row['pool']} | {cells[0]} | {cells[1]} | "
                f"{row['above']} / {row['below']} ({row['count']}) |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> list[dict]:
    args = parse_args(argv)
    torch.set_num_threads(1)
    results = [measure(arch, args) for arch in args.archs]
    payload = {"command": args.command, "commit": commit(), "machine": machine(), "rows": results}
    write_results(args.out, payload, report(args, results))
    return results


if __name__ == "__main__":
    main()
