"""CPU seconds of the dense reference front (as ThresholdProblem computes it: 50,000 samples
per search) on synthetic records of N validation inputs and L levels.

python benchmarks/reference_front_speed.py --inputs 256 1024 2048 --levels 5

Records are shaped like a trained LEANet's (later levels surer and more often right, a third
of the inputs near confidence 1), with a standalone top level as a hybrid's. To time another
commit, put its tree first on PYTHONPATH; the script prints each front's digest, so two
commits' fronts can be compared bit for bit.
"""

from __future__ import annotations

import argparse
import hashlib
import time

import torch

from leanet.evaluator import ThresholdEvaluator
from leanet.reference_front import reference_front


def synthetic_evaluator(n: int, levels: int, seed: int = 0) -> ThresholdEvaluator:
    """``levels x n`` records of a cascade: input difficulty against a level's skill."""
    g = torch.Generator().manual_seed(seed)
    hard = torch.randn(n, generator=g)
    skill = torch.linspace(0.3, 2.0, levels).unsqueeze(1)
    correct = torch.rand(levels, n, generator=g) < torch.sigmoid(skill - hard)
    logit = 3 * (skill - hard) + 1.5 * correct + torch.randn(levels, n, generator=g)
    cost = torch.cumsum(torch.linspace(0.1, 0.3, levels), 0).double()
    cost[-1] = 1.0  # the top level: the pretrained network, run alone
    standalone = (False,) * (levels - 1) + (True,)
    return ThresholdEvaluator(torch.sigmoid(logit), correct, cost, 1.0, standalone)


def digest(front) -> str:
    """A short digest of a front's thresholds and objectives."""
    h = hashlib.blake2b(digest_size=6)
    for t in (front.thresholds, front.accuracy, front.energy_ratio):
        h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, nargs="+", default=[256, 1024, 2048])
    parser.add_argument("--levels", type=int, nargs="+", default=[5])
    parser.add_argument("--samples", type=int, default=50_000)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print("| inputs | levels | CPU s | front points | digest |\n|---|---|---|---|---|")
    for levels in args.levels:
        for n in args.inputs:
            evaluator = synthetic_evaluator(n, levels)
            start = time.process_time()
            front, _ = reference_front(evaluator, n_samples=args.samples)
            seconds = time.process_time() - start
            print(
                f"| {n} | {levels} | {seconds:.1f} | {len(front)} | {digest(front)} |", flush=True
            )


if __name__ == "__main__":
    main()
