"""The best known maximum hypervolume of the test problems whose BoTorch value is too low.

Every "log10 HV difference" and "of max_hv" column of the mobo benchmarks subtracts from or
divides by ``problem.max_hv``. BoTorch approximates three of them with NSGA-II
(BraninCurrin, ConstrainedBraninCurrin, C2DTLZ2) and gets DTLZ1's formula wrong; evaluated
points beat all four (sweep21), so a converged run read -12 ("solved"). Here:

- BraninCurrin and ConstrainedBraninCurrin (2 inputs): the feasible Pareto set of a
  1001 x 1001 grid, then ``--rounds`` local refinements (an 11 x 11 patch around every
  Pareto point, the patch shrunk 5x a round); the hypervolume of evaluated points, so a
  lower bound that grows to the maximum.
- C2DTLZ2 and DTLZ1 (any input size, 2 objectives): the analytic Pareto set, distance
  variables at 0.5 and ``--front-points`` values of the position variable, constraint
  applied; DTLZ1's value also in closed form (ref^M - 0.5^M / M!).

    .venv/bin/python benchmarks/max_hv.py

Writes ``results/max_hv.{json,md}``; :mod:`mobo.problems` carries the values rounded up.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch

from mobo.metrics import hypervolume, pareto_mask
from mobo.problems import make

sys.path.insert(0, str(Path(__file__).parent))
import provenance  # noqa: E402  (a sibling module)

RESULTS = Path(__file__).parent / "results"


def feasible_front(problem, U: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The unit-cube points of ``U`` that are feasible and Pareto-optimal, with their
    objectives."""
    F, C = problem.split_outcomes(problem.evaluate(problem.from_unit(U)))
    ok = (C <= 0).all(dim=-1) if C.shape[-1] else torch.ones(len(F), dtype=torch.bool)
    U, F = U[ok], F[ok]
    keep = pareto_mask(F)
    return U[keep], F[keep]


def refined(name: str, rounds: int) -> list[float]:
    """Hypervolume of the grid's front, then after each refinement round."""
    problem = make(name)
    grid = torch.linspace(0, 1, 1001, dtype=torch.float64)
    U, F = feasible_front(problem, torch.cartesian_prod(grid, grid))
    trace, half = [hypervolume(F, problem.ref_point)], 1e-3
    for _ in range(rounds):
        patch = torch.linspace(-half, half, 11, dtype=torch.float64)
        seeds = U if len(U) <= 50_000 else U[:: len(U) // 50_000]
        around = (seeds[:, None, :] + torch.cartesian_prod(patch, patch)[None]).reshape(-1, 2)
        U, F = feasible_front(problem, torch.cat([U, around.clamp(0, 1)]))
        trace.append(hypervolume(F, problem.ref_point))
        half /= 5
    return trace


def analytic(name: str, points: int) -> float:
    """Hypervolume of the analytic Pareto set of a 2-objective DTLZ-type problem."""
    problem = make(name)
    X = torch.full((points, problem.dim), 0.5, dtype=torch.float64)
    X[:, 0] = torch.linspace(0, 1, points, dtype=torch.float64)
    _, F = feasible_front(problem, problem.to_unit(X))
    return hypervolume(F, problem.ref_point)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--front-points", type=int, default=400_001)
    parser.add_argument("--out", type=Path, default=RESULTS / "max_hv")
    args = parser.parse_args(argv)
    rows = []
    for name in ("BraninCurrin", "ConstrainedBraninCurrin"):
        trace = refined(name, args.rounds)
        rows.append(dict(problem=name, method="grid + refinement", trace=trace))
    for name in ("C2DTLZ2", "DTLZ1"):
        rows.append(
            dict(
                problem=name,
                method=f"analytic front, {args.front_points} points",
                trace=[analytic(name, args.front_points)],
            )
        )
    m = 2
    closed = 400.0**m - 0.5**m / math.factorial(m)
    rows.append(dict(problem="DTLZ1", method="closed form", trace=[closed]))
    for row in rows:
        row["botorch"] = float(make(row["problem"]).function.max_hv)
        row["carried"] = make(row["problem"]).max_hv
    md = provenance.heading(
        "Best known maximum hypervolume of the test problems",
        provenance.command_line("max_hv.py", argv),
    )
    md += [
        "Hypervolume of evaluated points from each problem's reference point (a lower bound "
        "on the maximum; DTLZ1 also in closed form), against BoTorch's `max_hv` and what "
        "`mobo.problems` carries (rounded up from these).",
        "",
        "| problem | method | hypervolume (each refinement round) | BoTorch | carried |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        trace = " / ".join(f"{v:.7f}" for v in row["trace"])
        md.append(
            f"| {row['problem']} | {row['method']} | {trace} | {row['botorch']:.6f} | "
            f"{row['carried']:.6f} |"
        )
    payload = {"command": provenance.command_line("max_hv.py", argv), "rows": rows}
    provenance.write_results(args.out, payload, "\n".join(md) + "\n")
    return payload


if __name__ == "__main__":
    main()
