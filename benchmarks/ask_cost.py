"""CPU seconds of one ``ask`` per algorithm variant, interleaved and repeated.

What an iteration of each algorithm costs, measured apart from the long benchmark runs
(whose per-iteration seconds depend on what else the machine ran): the same 30
random observations of each problem, every variant asked for one point in turn, and that
round repeated. CPU time of this process on one torch thread; the ratio to the first
variant is taken within each problem.

    python benchmarks/ask_cost.py --variants 'mesmo' 'mesmo:{"information": "front"}' qlognehvi
    python benchmarks/ask_cost.py --out /tmp/cost   # also /tmp/cost.md and /tmp/cost.json

With ``--out``, the table is written with the command, the commit and the machine, so a
results file can quote it as measured.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch

import mobo
from mobo.problem import DTYPE

sys.path.insert(0, str(Path(__file__).parent))
import provenance  # noqa: E402  (a sibling module)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--problems",
        nargs="+",
        default=["BraninCurrin", "VehicleSafety"],
        choices=mobo.problems.available_problems(),
    )
    parser.add_argument(
        "--variants",
        nargs="+",
        default=[
            "mesmo",
            'mesmo:{"information": "front"}',
            'mesmo:{"information": "hypervolume"}',
            "qlognehvi",
            "usemo",
        ],
        help="algorithm names, each optionally ':' and a JSON of its options",
    )
    parser.add_argument("--observations", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None, help="also write <out>.md and <out>.json")
    return parser.parse_args(argv)


def variant(text: str) -> tuple[str, dict]:
    name, _, options = text.partition(":")
    return name, json.loads(options) if options else {}


def main(argv: list[str] | None = None) -> list[dict]:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    rows = []
    lines = [
        "| problem | variant | median CPU s per ask | repeats | x first variant |",
        "|---|---|---|---|---|",
    ]
    print("\n".join(lines))
    for problem_name in args.problems:
        problem = mobo.problems.make(problem_name)
        generator = torch.Generator().manual_seed(0)
        U = torch.rand(args.observations, problem.dim, generator=generator, dtype=DTYPE)
        X = problem.from_unit(U)
        Y = problem.evaluate(X)
        seconds: dict[str, list[float]] = {text: [] for text in args.variants}
        for repeat in range(args.repeats):
            for text in args.variants:  # interleaved: every variant once per round
                name, options = variant(text)
                algorithm = mobo.make_algorithm(name, problem, n_initial=10, **options)
                start = time.process_time()
                algorithm.ask(1, X, Y, seed=repeat)
                seconds[text].append(time.process_time() - start)
        first = statistics.median(seconds[args.variants[0]])
        for text, values in seconds.items():
            median = statistics.median(values)
            rows.append({"problem": problem_name, "variant": text, "seconds": values})
            spread = " ".join(f"{v:.2f}" for v in values)
            lines.append(
                f"| {problem_name} | {text} | {median:.2f} | {spread} | {median / first:.1f} |"
            )
            print(lines[-1])
    if args.out is not None:
        write_outputs(args.out, argv, rows, lines)
    return rows


def write_outputs(out: Path, argv: list[str], rows: list[dict], table: list[str]) -> None:
    """``<out>.json`` (the seconds of every ask) and ``<out>.md`` (command, commit, machine,
    the table)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    command = provenance.command_line("ask_cost.py", argv)
    commit, machine = provenance.commit(), provenance.machine()
    payload = {"command": command, "commit": commit, "machine": machine, "rows": rows}
    out.with_suffix(".json").write_text(json.dumps(payload, indent=1))
    md = [
        "# CPU seconds of one ask",
        "",
        f"Command: `{command}`",
        "",
        f"Commit: {commit}. Machine: {machine}. CPU time of one process on one torch thread; "
        "every variant once per round (interleaved); the ratio is to the first variant.",
        "",
        *table,
    ]
    provenance.write_markdown(out.with_suffix(".md"), "\n".join(md) + "\n")


if __name__ == "__main__":
    main()
