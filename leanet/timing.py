"""CPU time of small callables, measured so that two of them can be compared fairly.

Wall-clock time on a shared, noisy machine mixes in other processes; CPU time of the
calling thread (``time.thread_time``) does not. Callables compared with each other all run
within every repeat, in a fresh (seeded) random order each time, so slow drifts of the
machine (frequency, cache pressure from neighbours) hit all of them alike, and no callable
always runs right after the same other one: with a fixed cyclic order, the one after its
near twin found the caches warm (two traced runtimes of one network, each step timed
after the other's: the second 5% faster, the sign flipping with the order;
``benchmarks/results/runtime_latency.md``); each is warmed up first;
each sample times enough back-to-back calls to last about ``min_sample`` seconds (a single
fast call is shorter than the clock's useful resolution); the result is the median over
repeats with the interquartile range as the spread. Torch runs on one thread meanwhile.
"""

from __future__ import annotations

import math
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

__all__ = ["Timing", "cpu_times"]


@dataclass(frozen=True)
class Timing:
    """CPU seconds per call: median, quartiles, and every repeat's sample (in repeat order,
    so that two callables' samples of the same repeat can be paired)."""

    median: float
    q1: float
    q3: float
    repeats: int
    samples: tuple[float, ...] = ()


def cpu_times(
    fns: dict[str, Callable[[], object]],
    *,
    repeats: int = 30,
    warmup: int = 3,
    min_sample: float = 2e-3,
    clock: Callable[[], float] = time.thread_time,
) -> dict[str, Timing]:
    """Time each callable of `fns` (name -> no-argument callable), interleaved.

    Args:
        fns: The callables to compare.
        repeats: Samples per callable (median and quartiles over these).
        warmup: Untimed calls of each callable first.
        min_sample: Seconds one sample should last (sets the calls per sample).
        clock: CPU-time clock (default: this thread's CPU time).
    """
    if not fns or repeats < 1:
        raise ValueError("need at least one callable and one repeat")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        names = list(fns)
        calls = {}
        for name in names:
            for _ in range(warmup):
                fns[name]()
            start = clock()
            fns[name]()
            once = max(clock() - start, 1e-7)
            calls[name] = max(1, math.ceil(min_sample / once))
        samples: dict[str, list[float]] = {name: [] for name in names}
        order = random.Random(0)  # seeded: the same schedule on every run
        for _ in range(repeats):
            for name in order.sample(names, len(names)):
                fn, n = fns[name], calls[name]
                start = clock()
                for _ in range(n):
                    fn()
                samples[name].append((clock() - start) / n)
    finally:
        torch.set_num_threads(threads)
    out = {}
    for name, s in samples.items():
        q = statistics.quantiles(s, n=4) if len(s) > 1 else [s[0]] * 3
        out[name] = Timing(statistics.median(s), q[0], q[2], len(s), tuple(s))
    return out
