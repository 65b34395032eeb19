"""Where training and record caching run: ``device="auto"`` picks an accelerator if present.

Training (:mod:`leanet.train`, :func:`leanet.baselines.train_slimmable`) and the level
records a threshold evaluator caches (:func:`leanet.records.level_records`) take a
``device`` argument. ``"auto"`` (the default) is CUDA when available, else Apple's MPS,
else the CPU; any ``torch.device`` string works too. The network moves there for the
work and comes back to where it was, so everything after (cost counting, the runtime,
checkpoints) sees it where the caller left it. On a machine without an accelerator the
CPU path is exactly what it was.

:func:`evaluating` makes the same promise for modes: a module runs in eval mode for the
work, and every submodule gets its own mode back (a caller's frozen batch norms stay
frozen inside a network that trains).

:func:`batch_memory_hint` turns torch's bare out-of-memory error inside a pass over
batches into one that names the step, its batch size and the argument to lower.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

__all__ = [
    "BatchMemoryError",
    "batch_memory_hint",
    "evaluating",
    "module_device",
    "on_device",
    "resolve_device",
]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> ``cuda`` if available, else ``mps`` if available, else ``cpu``;
    anything else is parsed by ``torch.device``.

    Raises:
        ValueError: naming the argument, for a string torch cannot parse or a device this
            machine does not have.
    """
    if isinstance(device, str) and device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(
            f"device must be 'auto' or a torch device such as 'cpu' or 'cuda:0', got {device!r}"
        ) from err
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r}: CUDA is not available on this machine")
    return resolved


def module_device(module: nn.Module) -> torch.device:
    """The device of the module's first parameter or buffer (CPU for an empty module)."""
    for tensor in (*module.parameters(), *module.buffers()):
        return tensor.device
    return torch.device("cpu")


@contextlib.contextmanager
def on_device(module: nn.Module, device: str | torch.device = "auto") -> Iterator[torch.device]:
    """Move ``module`` to ``device`` for the body of the ``with``, then back where it was;
    yields the resolved device (move the batches there)."""
    target = resolve_device(device)
    home = module_device(module)
    if target == home:
        yield target
        return
    module.to(target)
    try:
        yield target
    finally:
        module.to(home)


@contextlib.contextmanager
def evaluating(module: object) -> Iterator[None]:
    """``module`` in eval mode inside the block; every submodule's own mode restored after,
    also on an error (training code may train some heads and not others, a caller may
    freeze some batch norms: ``module.train(was_training)`` set them all alike). Anything
    but an ``nn.Module`` (a plain callable) has no modes and is left alone."""
    if not isinstance(module, nn.Module):
        yield
        return
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for m, mode in modes:
            m.training = mode


class BatchMemoryError(MemoryError):
    """A pass over batches ran out of memory; the message names the argument to lower."""


def _out_of_memory(err: BaseException) -> bool:
    """torch's allocation failure: ``torch.OutOfMemoryError`` (accelerators) or the CPU
    allocator's plain RuntimeError ("DefaultCPUAllocator: can't allocate memory")."""
    # torch.cuda.OutOfMemoryError (torch 1.13 on) where the top-level name is missing, so a
    # torch at pyproject's floor cannot fail here with an AttributeError (sweep35).
    if isinstance(err, getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)):
        return True
    text = str(err)
    return isinstance(err, RuntimeError) and (
        "can't allocate memory" in text or "DefaultCPUAllocator" in text
    )


@contextlib.contextmanager
def batch_memory_hint(
    step: str, batch_size: int, argument: str, dataset: object = None
) -> Iterator[None]:
    """Inside, torch's out-of-memory error becomes a :class:`BatchMemoryError` naming
    ``step``, ``batch_size`` and the ``argument`` that sets it (with a smaller value to
    try), and the image shape of ``dataset``: a level pass holds every layer's activation
    per image (about 150 MB per 224 px image on VGG-11), and torch's message says none of
    this. Nested, the outermost names its argument: the one its caller can set. Not
    retried with a smaller batch: batch-norm recalibration averages per-batch statistics,
    so its result depends on the batch size."""
    try:
        yield
    except Exception as err:
        if isinstance(err, BatchMemoryError):
            err = err.__cause__
        elif not _out_of_memory(err):
            raise
        shape = ""
        with contextlib.suppress(Exception):  # the hint's detail only
            shape = " (images " + " x ".join(map(str, dataset[0][0].shape)) + ")"
        raise BatchMemoryError(
            f"{step} at {argument}={batch_size} ran out of memory{shape}: pass a smaller "
            f"{argument}, e.g. {argument}={max(1, batch_size // 8)}"
        ) from err
