"""Which machine trained a network, so a user can tell whether a rerun should repeat it.

Training with one seed repeats bit for bit only on the same CPU (family, model, vector
kernels), torch version and torch thread count: convolution weight gradients are summed in
an order that depends on the thread count, and a few fine-tuning epochs grow that rounding
into differences another seed would give (measured: ConvNet levels up to 0.4 test points
apart between 1 and 2 threads; ``benchmarks/results/reproducibility.md``). Checkpoints and
artifacts record it (``trained_with``); ``leanet report`` prints it.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

__all__ = ["describe", "machine", "trained_with"]


def machine() -> str:
    """The CPU model, architecture, the vector kernels torch dispatches to, and the torch
    version: the same seed's figures can differ between machines (floating point, BLAS
    kernels). Two CPUs sold under one name can differ: measured, ConstrainedBraninCurrin
    seed 0 of constrained qLogNEHVI ends at 601.5 on an "AMD EPYC" and at 603.3 on an "AMD
    EPYC" of family 25, model 17 with AVX-512 kernels, at the same commit
    (``benchmarks/results/reproducibility.md``); so the family, model and kernels are named
    too (x86 Linux)."""
    cpu = platform.processor() or platform.machine()
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
            if not line.strip():
                break  # the first processor's block is enough
    except OSError:
        pass
    cpu = fields.get("model name", cpu)
    details = [platform.machine()]
    if "cpu family" in fields and "model" in fields:
        details.append(f"family {fields['cpu family']} model {fields['model']}")
    capability = getattr(getattr(torch.backends, "cpu", None), "get_cpu_capability", None)
    if capability is not None:
        details.append(f"{capability()} kernels")
    return f"{cpu} ({', '.join(details)}), torch {torch.__version__}"


def trained_with() -> dict[str, Any]:
    """What a rerun needs to match to repeat this process's training bit for bit (with the
    same seed and data): the machine and the torch thread count."""
    return {"machine": machine(), "torch_threads": torch.get_num_threads()}


def describe(record: Mapping[str, Any] | None) -> str:
    """One line for a report: where the network was trained, or that it is not recorded."""
    if not record:
        return "trained on: not recorded (made before checkpoints recorded it)"
    threads = record.get("torch_threads")
    on = f", {threads} torch thread{'s' if threads != 1 else ''}" if threads else ""
    return (
        f"trained on: {record.get('machine', 'unknown machine')}{on} (a rerun with the same "
        "seed repeats it bit for bit only with both the same)"
    )
