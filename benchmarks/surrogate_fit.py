"""How long does a GP fit take on step-function objectives? Ours vs BoTorch's default fit.

The objectives mimic a LEANet threshold problem (DESIGN.md, section 4): 5 levels, 4
thresholds, 1,000 synthetic samples with per-level confidences and correctness; accuracy
and energy change only where a threshold crosses a sample's confidence.

    python benchmarks/surrogate_fit.py            # n = 20, 35, 50; 5 repeats
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
from botorch.fit import fit_gpytorch_mll
from botorch.models import ModelListGP, SingleTaskGP
from botorch.models.transforms.outcome import Standardize
from gpytorch.mlls import SumMarginalLogLikelihood

from mobo.surrogate import WARM_FIT, Surrogate

sys.path.insert(0, str(Path(__file__).parent))
import provenance  # noqa: E402  (a sibling module)

RESULTS = Path(__file__).parent / "results"


def threshold_objectives(T: torch.Tensor, n_samples: int = 1000, levels: int = 5) -> torch.Tensor:
    """Accuracy and -energy of a synthetic cascade for thresholds ``T`` (``n x levels-1``)."""
    generator = torch.Generator().manual_seed(0)
    confidence = torch.rand(levels, n_samples, generator=generator, dtype=torch.float64) ** 0.3
    correct = (
        torch.rand(levels, n_samples, generator=generator)
        < (0.7 + 0.06 * torch.arange(levels))[:, None]
    )
    cost = torch.cumsum(torch.linspace(1.0, 2.0, levels, dtype=torch.float64), 0)
    exits = confidence[None, :-1, :] >= T[:, :, None]  # n x (L-1) x N
    exits = torch.cat([exits, torch.ones(T.shape[0], 1, n_samples, dtype=torch.bool)], dim=1)
    level = exits.int().argmax(dim=1)  # first level confident enough
    accuracy = correct.double().gather(0, level.T.clamp(max=levels - 1)).T.mean(-1)
    energy = cost[level].mean(-1) / cost[-1]
    return torch.stack([accuracy, -energy], dim=-1)


def botorch_default_fit(U: torch.Tensor, Y: torch.Tensor) -> None:
    models = [
        SingleTaskGP(U, Y[:, j : j + 1], outcome_transform=Standardize(m=1))
        for j in range(Y.shape[1])
    ]
    model = ModelListGP(*models)
    fit_gpytorch_mll(SumMarginalLogLikelihood(model.likelihood, model))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 35, 50])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    rows = []
    for n in args.sizes:
        times = {
            "botorch default": [],
            "mobo Surrogate (default: cold start)": [],
            "mobo Surrogate (warm start, 60 iterations)": [],
        }
        for r in range(args.repeats):  # the three interleaved, CPU seconds
            generator = torch.Generator().manual_seed(100 + r)
            U = torch.rand(n, 4, generator=generator, dtype=torch.float64)
            Y = threshold_objectives(U)
            start = time.process_time()
            botorch_default_fit(U, Y)
            times["botorch default"].append(time.process_time() - start)
            for method, surrogate in [
                ("mobo Surrogate (default: cold start)", Surrogate()),
                ("mobo Surrogate (warm start, 60 iterations)", Surrogate(**WARM_FIT)),
            ]:
                surrogate.fit(U[:-1], Y[:-1])  # a study's case: one point more than last time
                start = time.process_time()
                surrogate.fit(U, Y)
                times[method].append(time.process_time() - start)
        for method, values in times.items():
            rows.append(
                {
                    "n": n,
                    "objectives": 2,
                    "method": method,
                    "median_seconds": statistics.median(values),
                    "max_seconds": max(values),
                }
            )
            median = statistics.median(values)
            print(f"n={n:3d}  {method:24s} median {median:.3f} s  max {max(values):.3f} s")
    command = provenance.command_line("surrogate_fit.py", argv)
    commit = provenance.commit()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "surrogate_fit.json").write_text(
        json.dumps(
            dict(command=command, commit=commit, threads=torch.get_num_threads(), rows=rows),
            indent=2,
        )
        + "\n"
    )
    lines = [
        f"Made by `{command}` at {commit} (torch threads: {torch.get_num_threads()}). "
        "CPU seconds to fit the "
        "GP model list (2 objectives) on step-function data, the surrogates after a fit on "
        "all but the last point (a study's case).",
        "",
        "| n | method | median s | max s |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {r['n']} | {r['method']} | {r['median_seconds']:.3f} | {r['max_seconds']:.3f} |"
        for r in rows
    ]
    provenance.write_markdown((RESULTS / "surrogate_fit.md"), "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
