"""Measured, not modelled: run a LEANet's compiled runtime on data and meter it.

The energy model (:mod:`leanet.costs`) prices counted work. A user who has a meter (a power
monitor of the device: joules for a run) or who cares about latency on their own machine
can measure instead. :class:`MeasuredCost` runs the compiled runtime
(:mod:`leanet.runtime`, what an artifact ships) at a threshold vector over inputs one at a
time (batch 1, the device case), and the full pretrained network compiled the same way over
the same inputs, interleaved within each repeat, and returns the median over repeats of
the ratio of the meter's readings. The default meter is CPU seconds of this thread, so the
ratio is measured latency. The result is noisy (a repeat's ratio varies by a few percent on
a shared machine): an optimizer must treat it as a noisy objective (mobo's GPs infer the
noise; no outcome keys are claimed for it).

:meth:`MeasuredCost.modelled` gives, for comparison, what the per-exit latencies of
:func:`leanet.costs.measure_costs` predict for the same thresholds (each input charged the
latency of an exit at its level, less the levels the runtime skips, as the energy model
charges; those latencies time each level with its head, so a level the runtime runs without
its head is predicted a little slow unless ``head_cost`` says otherwise), so a user sees how
far the model lies from the meter.
"""

from __future__ import annotations

import math
import numbers
import statistics
import time
from collections.abc import Callable

import torch
from torch import Tensor

from leanet.evaluator import exit_costs
from leanet.runtime import compile_full, compile_runtime

__all__ = ["Meter", "MeasuredCost", "cpu_meter"]

#: Untimed calls of each compiled step before a measurement (see :meth:`MeasuredCost.ratio`).
WARMUP_CALLS = 3

#: Runs a no-argument callable once and returns what that run cost (seconds, joules...).
Meter = Callable[[Callable[[], object]], float]


def cpu_meter(run: Callable[[], object]) -> float:
    """CPU seconds of this thread while ``run()`` runs (latency on this machine)."""
    start = time.thread_time()
    run()
    return time.thread_time() - start


class MeasuredCost:
    """The metered cost of a LEANet's adaptive runtime over inputs, relative to the full
    network's.

    Args:
        net: A :class:`leanet.LEANet` (its runtime and its full network are compiled here).
        inputs: ``N x C x H x W`` images, run one at a time.
        meter: A :data:`Meter` (default :func:`cpu_meter`).
        repeats: Interleaved repeats; the ratio is their median.
        mode: The runtime's execution mode (``"trace"``, ``"eager"``).
        depthwise: How both sides run depthwise convolutions (``"conv"``, or ``"dense"``:
            faster at batch 1 on a CPU, see :mod:`leanet.runtime`).
    """

    def __init__(
        self,
        net,
        inputs: Tensor,
        *,
        meter: Meter = cpu_meter,
        repeats: int = 3,
        mode: str = "trace",
        depthwise: str = "conv",
    ) -> None:
        if inputs.dim() != 4 or inputs.shape[0] < 1:
            raise ValueError(f"inputs must be N x C x H x W with N >= 1, got {tuple(inputs.shape)}")
        if repeats < 1:
            raise ValueError(f"repeats must be >= 1, got {repeats}")
        self.runtime = compile_runtime(net, mode=mode, depthwise=depthwise)
        self.full = compile_full(net.base, mode=mode, depthwise=depthwise)
        self.standalone = tuple(net.levels.standalone)  # levels the runtime may skip
        self.inputs = [x[None].contiguous() for x in inputs.float()]
        self.meter, self.repeats = meter, repeats

    def _run_leanet(self, thresholds: list[float]) -> Callable[[], None]:
        def run() -> None:
            with torch.no_grad():
                for x in self.inputs:
                    self.runtime(x, thresholds)

        return run

    def _run_full(self) -> None:
        with torch.no_grad():
            for x in self.inputs:
                self.full(x)

    def ratio(self, thresholds: Tensor) -> float:
        """Median over repeats of meter(runtime at ``thresholds``) / meter(full network)."""
        t = torch.as_tensor(thresholds, dtype=torch.float64).reshape(-1).tolist()
        leanet = self._run_leanet(t)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            # TorchScript profiles a traced step's first call and optimizes it at the second:
            # with one warm-up run over a single input, that was timed (2.2 ms against 0.2 ms
            # per input later). Each side runs until the steps every input takes were called
            # 3 times (as leanet.timing.cpu_times): one run from 3 inputs on (100 by default).
            for _ in range(math.ceil(WARMUP_CALLS / len(self.inputs))):
                leanet(), self._run_full()
            ratios = []
            for r in range(self.repeats):
                if r % 2:  # alternate which runs first, so drifts hit both alike
                    full = self._reading(self._run_full)
                    ours = self._reading(leanet)
                else:
                    ours = self._reading(leanet)
                    full = self._reading(self._run_full)
                ratios.append(ours / full)
        finally:
            torch.set_num_threads(threads)
        return statistics.median(ratios)

    def _reading(self, run: Callable[[], object]) -> float:
        """The meter's reading of ``run``: a positive finite number, or an error that says
        what the meter returned (a user's power monitor may return anything)."""
        value = self.meter(run)
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
        if not ok or not math.isfinite(value) or value <= 0:
            raise ValueError(
                f"the meter {getattr(self.meter, '__name__', self.meter)!r} must return a "
                f"positive finite number (joules or seconds of a run), got {value!r}"
            )
        return float(value)

    def ratios(self, thresholds: Tensor) -> Tensor:
        """:meth:`ratio` of each row of a ``B x (L-1)`` batch."""
        T = torch.as_tensor(thresholds, dtype=torch.float64).reshape(
            -1, self.runtime.num_levels - 1
        )
        return torch.tensor([self.ratio(t) for t in T], dtype=torch.float64)

    def modelled(
        self, thresholds: Tensor, exit_latency: Tensor, full_latency: float, head_cost=None
    ) -> Tensor:
        """What per-exit latencies predict for the same inputs and thresholds: the mean over
        inputs of the latency of an exit at the level where each input exits (without the
        levels the runtime skips, :func:`leanet.evaluator.exit_costs`), over the full
        network's (``exit_latency``, ``full_latency``: from :func:`leanet.costs.measure_costs`).
        A level the runtime runs without its head (it cannot answer, a later level reads
        it) is predicted less ``head_cost`` of it (``L``, in the unit of ``exit_latency``);
        None, as for measure_costs' latencies that time each level with its head: with it
        (a little slower than the runtime)."""
        T = torch.as_tensor(thresholds, dtype=torch.float64).reshape(
            -1, self.runtime.num_levels - 1
        )
        x = torch.cat(self.inputs)
        out = []
        for t in T:
            with torch.no_grad():
                levels = self.runtime(x, t.tolist()).exit_level - 1
            per_exit = exit_costs(t[None], exit_latency.double(), self.standalone, head_cost)[0]
            out.append(float(per_exit[levels].mean()) / full_latency)
        return torch.tensor(out, dtype=torch.float64)
