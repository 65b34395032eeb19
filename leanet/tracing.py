"""TorchScript for :mod:`leanet.runtime`: each level step traced and frozen into one file
(with its headless ``body`` when the next step reads it), what a device without Python loads.

Trace + freeze measured the fastest mode at batch 1 (``benchmarks/results/runtime_design.md``).
"""

from __future__ import annotations

import contextlib
import copy
import warnings

import torch
from torch import Tensor, nn

from leanet.folding import script_depthwise

__all__ = ["band_views", "jit_quietly", "trace", "trace_steps"]


def _example_inputs(step: nn.Module, x: Tensor, shapes, feature: Tensor | None):
    if step.call == "band":
        bufs = [x.new_zeros(x.shape[0], *s) for s in shapes]
        return (x, *band_views(bufs, step.view_specs()))
    return (feature,) if step.call == "chain" else (x,)


def band_views(bufs: list[Tensor], specs) -> tuple[Tensor, ...]:
    """The channel views ``(buffer, lo, hi)`` of the band buffers a band step takes."""
    return tuple(bufs[b].narrow(1, lo, hi - lo) for b, lo, hi in specs)


@contextlib.contextmanager
def jit_quietly():
    """On torch 2.14 ``torch.jit.trace/freeze/save/load`` warn that they are deprecated in
    favour of torch.compile / torch.export; only those warnings are silenced, only here,
    because a frozen TorchScript file is what a device without Python loads."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r"`torch\.jit\.\w+` is deprecated", category=FutureWarning
        )
        yield


def trace(module: nn.Module, inputs: tuple, body: bool = False) -> torch.jit.ScriptModule:
    """``torch.jit.trace`` + ``torch.jit.freeze`` of an eval-mode module (measured the
    fastest mode here, see the module docstring); with ``body``, its ``body`` method too,
    traced on the same inputs and kept by the freeze (one file, weights shared)."""
    with torch.no_grad(), jit_quietly():
        # The entropy confidence divides by log C, C read from the logits' shape, which the
        # trace bakes in as a constant: right, since a step's class count never changes.
        # Only that warning, only from leanet.confidence, is silenced; users saw it on
        # every saved artifact of an entropy design.
        warnings.filterwarnings(
            "ignore", category=torch.jit.TracerWarning, module=r"leanet\.confidence"
        )
        module = script_depthwise(copy.deepcopy(module).eval())
        methods = {"forward": inputs} | ({"body": inputs} if body else {})
        traced = torch.jit.trace_module(module, methods, check_trace=False)
        return torch.jit.freeze(traced, preserved_attrs=["body"] if body else None)


def trace_steps(steps, shapes, input_shape, bodies) -> list[torch.jit.ScriptModule]:
    x = torch.randn(2, *input_shape, generator=torch.Generator().manual_seed(0))
    out, h = [], x
    with torch.no_grad():
        for step, body in zip(steps, bodies, strict=True):
            inputs = _example_inputs(step, x, shapes, h)
            res = step(*inputs)
            if step.call == "chain":
                h = res[2]
            out.append(trace(step, inputs, body))
    return out
