"""Where training and record caching run: ``device="auto"`` picks an accelerator if present.

Training (:mod:`leanet.train`, :func:`leanet.baselines.train_slimmable`) and the level
records a threshold evaluator caches (:func:`leanet.evaluator.level_records`) take a
``device`` argument. ``"auto"`` (the default) is CUDA when available, else Apple's MPS,
else the CPU; any ``torch.device`` string works too. The network moves there for the
work and comes back to where it was, so everything after (cost counting, the runtime,
checkpoints) sees it where the caller left it. On a machine without an accelerator the
CPU path is exactly what it was.

:func:`evaluating` makes the same promise for modes: a module runs in eval mode for the
work, and every submodule gets its own mode back (a caller's frozen batch norms stay
frozen inside a network that trains).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

__all__ = ["evaluating", "module_device", "on_device", "resolve_device"]


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
