"""Which designs does the validation split flatter? (issue 17)

A design search chooses its front on validation. A design whose lower levels look closer to
the full network on validation than they are on test draws the front to it, and the front
then falls on test (``results/design_search_extras/ds_vgg_1800_val1250.md``). For every
cached design of a search (target fine-tune epochs) this measures, on validation and on
test, each level's accuracy gap to the top level (the pretrained network), paired on the
same images, with its standard error, and how far the two gaps disagree in standard errors
(z > 0: validation flatters the level). Measured on VGG-16's 66 designs of the 1250-image
split: the first-fraction-0.25 family at a median z of +1.3, the others around zero
(``results/level_gaps_vgg_val1250_mnist.md``). Command::

    .venv/bin/python benchmarks/level_gaps.py --archs vgg16 --dataset mnist5k \
        --moved-to-validation 417 --cache /work/runs/s64/leanet-study

Writes ``benchmarks/results/level_gaps.{json,md}`` with the command and commit.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from design_search import make_problem, network_setup  # noqa: E402
from design_space import add_cache_arguments, cached_designs, search_defaults  # noqa: E402
from provenance import command_line, commit, heading, machine, write_results  # noqa: E402

RESULTS = Path(__file__).parent / "results"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_cache_arguments(parser, archs=["vgg16"], dataset="mnist5k")
    parser.add_argument("--out", type=Path, default=RESULTS / "level_gaps")
    args = parser.parse_args(argv)
    search_defaults(args)
    args.command = command_line("level_gaps.py", argv)
    return args


def paired_gaps(correct: torch.Tensor) -> list[tuple[float, float]]:
    """For an ``L x N`` correctness tensor: each level below the top, its accuracy minus
    the top level's on the same inputs, and that difference's standard error."""
    out = []
    top = correct[-1].double()
    for level in correct[:-1]:
        diff = level.double() - top
        out.append((float(diff.mean()), float(diff.std() / math.sqrt(diff.numel()))))
    return out


def flattery(val: tuple[float, float], test: tuple[float, float]) -> float:
    """How many standard errors the validation gap lies above the test gap."""
    return (val[0] - test[0]) / math.hypot(val[1], test[1])


def measure(arch: str, args) -> list[dict]:
    setup = network_setup(arch, args)
    problem = make_problem(arch, setup, args)
    rows = []
    for design in cached_designs(problem.cache, problem.seed, problem.epochs[-1]):
        test = problem.test_evaluator(design)
        val_gaps = paired_gaps(problem.evaluator(design).correct)
        test_gaps = paired_gaps(test.correct)
        rows.append(
            {
                "network": setup["name"],
                "design": design.key,
                "first_fraction": design.first_fraction,
                "val": val_gaps,
                "test": test_gaps,
                "z": [flattery(v, t) for v, t in zip(val_gaps, test_gaps, strict=True)],
            }
        )
    return rows


def report(args, rows: list[dict]) -> str:
    lines = heading("Which designs does the validation split flatter? (issue 17)", args.command)
    lines += [
        "Level 1's accuracy minus the top level's (points, paired, +- standard error) on "
        "validation and on test, and z = (validation gap - test gap) / its standard error "
        "for level 1 and, in brackets, the mean over the levels below the top.",
        "",
        "| network | design | level 1 - top, validation | level 1 - top, test | z (mean) |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        (v, sv), (t, st) = r["val"][0], r["test"][0]
        lines.append(
            f"| {r['network']} | {r['design']} | {100 * v:+.2f} +- {100 * sv:.2f} | "
            f"{100 * t:+.2f} +- {100 * st:.2f} | {r['z'][0]:+.1f} "
            f"({statistics.fmean(r['z']):+.1f}) |"
        )
    lines += [
        "",
        "| network | first fraction | designs | median z of level 1 |",
        "|---|---|---|---|",
    ]
    for network in sorted({r["network"] for r in rows}):
        for fraction in sorted({r["first_fraction"] for r in rows if r["network"] == network}):
            zs = [
                r["z"][0]
                for r in rows
                if r["network"] == network and r["first_fraction"] == fraction
            ]
            lines.append(f"| {network} | {fraction:g} | {len(zs)} | {statistics.median(zs):+.1f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> list[dict]:
    args = parse_args(argv)
    torch.set_num_threads(1)
    rows = [row for arch in args.archs for row in measure(arch, args)]
    payload = {"command": args.command, "commit": commit(), "machine": machine(), "rows": rows}
    write_results(args.out, payload, report(args, rows))
    return rows


if __name__ == "__main__":
    main()
