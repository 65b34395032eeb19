"""What does a smaller training split cost the base network? (issue 17)

``results/validation_size_vgg_mnist.md`` shows that 1250 validation images instead of 833
would stop VGG-16's design front from falling as designs are added. On the 5,000 MNIST
digits those images must come from the training split (3333 -> 2916 images). This measures
the price: each base network of the study (``study_networks.NETS``: width, epochs, recipe)
is trained on the whole training split and on it less ``--moved`` images (a seeded draw),
from the same initial weights, for each seed, and both are measured on the test split. Bases
only: a LEANet's levels and heads are fitted on the same images and inherit the base's
accuracy. Measured: no price on VGG-16, a fifth of a point on the ConvNet
(``results/train_split_cost_vgg_mnist.md``). Command::

    .venv/bin/python benchmarks/train_split_cost.py --archs convnet vgg16 --seeds 3

Writes ``benchmarks/results/train_split_cost.{json,md}`` with the command and commit.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

from leanet.data import load_dataset
from leanet.train import evaluate

sys.path.insert(0, str(Path(__file__).parent))
import study_networks  # noqa: E402
from provenance import command_line, commit, heading, machine, write_results  # noqa: E402

RESULTS = Path(__file__).parent / "results"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", nargs="+", default=["convnet", "vgg16"])
    parser.add_argument("--dataset", default="mnist5k")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--moved", type=int, default=417, help="training images held out")
    parser.add_argument("--out", type=Path, default=RESULTS / "train_split_cost")
    args = parser.parse_args(argv)
    args.command = command_line("train_split_cost.py", argv)
    return args


def smaller(train, moved: int, seed: int):
    """``train`` less ``moved`` images drawn with ``seed``."""
    keep = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[moved:]
    return train.subset(keep.sort().values)


def base_accuracy(arch: str, data, train, seed: int) -> float:
    """Test accuracy of ``arch``'s study base trained on ``train`` (initial weights: ``seed``)."""
    epochs = study_networks.NETS[arch].epochs
    base, _ = study_networks.train_study_base(arch, data, train, seed, epochs)
    return evaluate(base, data.test)


def measure(arch: str, data, args) -> list[dict]:
    rows = []
    for seed in range(args.seeds):
        whole = base_accuracy(arch, data, data.train, seed)
        less = base_accuracy(arch, data, smaller(data.train, args.moved, seed), seed)
        rows.append(
            {"network": f"{arch}-{args.dataset}", "seed": seed, "whole": whole, "less": less}
        )
        study_networks.log(f"{arch} seed {seed}: {whole:.4f} whole, {less:.4f} less {args.moved}")
    return rows


def report(args, data, rows: list[dict]) -> str:
    n = len(data.train)
    lines = heading("The price of a smaller training split (issue 17)", args.command) + [
        f"Test accuracy ({len(data.test)} images) of each study base trained on the whole "
        f"training split ({n} images) and on {n - args.moved} of them, same initial weights.",
        "",
        "| network | seed | whole split | smaller split | difference (points) |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        diff = 100 * (r["less"] - r["whole"])
        lines.append(
            f"| {r['network']} | {r['seed']} | {r['whole']:.4f} | {r['less']:.4f} | {diff:+.2f} |"
        )
    lines.append("")
    for name in sorted({r["network"] for r in rows}):
        diffs = [100 * (r["less"] - r["whole"]) for r in rows if r["network"] == name]
        lines.append(
            f"- {name}: median difference {statistics.median(diffs):+.2f} points "
            f"({min(diffs):+.2f} to {max(diffs):+.2f})."
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> list[dict]:
    args = parse_args(argv)
    torch.set_num_threads(1)
    data = load_dataset(args.dataset, seed=0)
    rows = [row for arch in args.archs for row in measure(arch, data, args)]
    payload = {"command": args.command, "commit": commit(), "machine": machine(), "rows": rows}
    write_results(args.out, payload, report(args, data, rows))
    return rows


if __name__ == "__main__":
    main()
