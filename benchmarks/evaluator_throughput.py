"""Threshold vectors evaluated per second by the cached evaluator (issue: N = 10,000, L = 5).

python benchmarks/evaluator_throughput.py
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from leanet.evaluator import ThresholdEvaluator

sys.path.insert(0, str(Path(__file__).parent))
import provenance  # noqa: E402  (a sibling module)

RESULTS = Path(__file__).parent / "results"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=10_000)
    parser.add_argument("--levels", type=int, default=5)
    parser.add_argument("--vectors", type=int, default=8192)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    generator = torch.Generator().manual_seed(0)
    L, N = args.levels, args.inputs
    confidence = torch.rand(L, N, generator=generator) ** (1.0 / (1 + torch.arange(L)[:, None]))
    correct = torch.rand(L, N, generator=generator) < 0.9
    evaluator = ThresholdEvaluator(confidence, correct, torch.arange(1.0, L + 1), float(L))
    T = torch.rand(args.vectors, L - 1, generator=generator, dtype=torch.float64)
    evaluator.evaluate(T[:256])  # warm up
    rates = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        evaluator.evaluate(T)
        rates.append(args.vectors / (time.perf_counter() - start))
    command = provenance.command_line("evaluator_throughput.py", argv)
    commit = provenance.commit()
    row = {
        "command": command,
        "commit": commit,
        "inputs": N,
        "levels": L,
        "vectors": args.vectors,
        "torch_threads": torch.get_num_threads(),
        "median_vectors_per_second": statistics.median(rates),
        "min_vectors_per_second": min(rates),
    }
    print(json.dumps(row, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "evaluator_throughput.json").write_text(json.dumps(row, indent=2) + "\n")


if __name__ == "__main__":
    main()
