"""Exact hypervolume: moocore (what ``mobo.hypervolume`` uses) against BoTorch's box
decomposition (what it used), CPU time per call on Pareto fronts of n points in m-D.

A study computes the hypervolume after every evaluation (its trace), and the threshold
problem's reference front has hundreds of points, so this is on every iteration's path.

    .venv/bin/python benchmarks/hypervolume_speed.py

Writes ``results/hypervolume_speed.{json,md}`` with the command and the commit.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import moocore
import torch
from botorch.utils.multi_objective.box_decompositions.dominated import DominatedPartitioning

from leanet.timing import cpu_times

sys.path.insert(0, str(Path(__file__).parent))
import provenance  # noqa: E402  (a sibling module)

RESULTS = Path(__file__).parent / "results"
CASES = ((2, 50), (2, 500), (2, 2000), (3, 50), (3, 200), (4, 50), (4, 100))


def front(m: int, n: int, seed: int = 0) -> torch.Tensor:
    """n mutually non-dominated points on the positive unit sphere (maximized)."""
    g = torch.Generator().manual_seed(seed)
    Y = torch.rand(n, m, generator=g, dtype=torch.float64) + 1e-3
    return Y / Y.norm(dim=-1, keepdim=True)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", type=Path, default=RESULTS / "hypervolume_speed")
    args = parser.parse_args(argv)
    rows = []
    for m, n in CASES:
        Y, ref = front(m, n), torch.zeros(m, dtype=torch.float64)
        fns = {
            "botorch": lambda Y=Y, ref=ref: DominatedPartitioning(
                ref_point=ref, Y=Y
            ).compute_hypervolume(),
            "moocore": lambda Y=Y, ref=ref: moocore.hypervolume(
                Y.numpy(), ref=ref.numpy(), maximise=True
            ),
        }
        values = {name: float(fn()) for name, fn in fns.items()}
        times = cpu_times(fns, repeats=args.repeats, warmup=1)
        rows.append(
            dict(
                m=m,
                n=n,
                botorch_ms=times["botorch"].median * 1e3,
                moocore_ms=times["moocore"].median * 1e3,
                speedup=times["botorch"].median / times["moocore"].median,
                abs_difference=abs(values["botorch"] - values["moocore"]),
            )
        )
        print(rows[-1], flush=True)
    commit = provenance.commit()
    command = provenance.command_line("hypervolume_speed.py", argv)
    payload = dict(command=command, commit=commit, torch=torch.__version__, rows=rows)
    args.out.with_suffix(".json").write_text(json.dumps(payload, indent=1))
    lines = [
        "# Exact hypervolume: moocore vs BoTorch's box decomposition",
        "",
        f"Command: `{command}`. Commit: {commit}. CPU time per call, median of "
        f"{args.repeats} interleaved samples, one thread. Fronts: n non-dominated points "
        "on the unit sphere, reference point 0.",
        "",
        "| m | n | BoTorch (ms) | moocore (ms) | speed-up | abs. difference |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['m']} | {r['n']} | {r['botorch_ms']:.2f} | {r['moocore_ms']:.3f} | "
            f"{r['speedup']:.0f}x | {r['abs_difference']:.1e} |"
        )
    provenance.write_markdown(args.out.with_suffix(".md"), "\n".join(lines) + "\n")
    return payload


if __name__ == "__main__":
    main()
