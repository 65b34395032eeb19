"""Confidence of a level's prediction, a number in [0, 1] per input.

An input exits at level i when its confidence is >= the threshold T_i [Jayakodi2020].

- ``"max_softmax"`` (default): the largest softmax probability.
- ``"margin"``: top-1 minus top-2 softmax probability.
- ``"entropy"``: 1 - H(p) / log(C), with H the Shannon entropy of the softmax p over C
  classes (1 = one-hot, 0 = uniform).

[Jayakodi2020] Jayakodi, Belakaria, Deshwal, Doppa. ACM TECS 19(1), 2020.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["CONFIDENCES", "confidence", "entropy", "margin", "max_softmax"]


def max_softmax(logits: Tensor) -> Tensor:
    """`... x C` logits -> `...` largest softmax probability, in [1/C, 1]."""
    return torch.softmax(logits, dim=-1).amax(dim=-1)


def margin(logits: Tensor) -> Tensor:
    """`... x C` logits -> `...` top-1 minus top-2 softmax probability, in [0, 1]."""
    top2 = torch.softmax(logits, dim=-1).topk(2, dim=-1).values
    return top2[..., 0] - top2[..., 1]


def entropy(logits: Tensor) -> Tensor:
    """`... x C` logits -> `...` 1 - normalized entropy of the softmax, in [0, 1]."""
    logp = torch.log_softmax(logits, dim=-1)
    h = -(logp.exp() * logp).sum(dim=-1)
    return (1.0 - h / math.log(logits.shape[-1])).clamp(0.0, 1.0)


CONFIDENCES: dict[str, Callable[[Tensor], Tensor]] = {
    "max_softmax": max_softmax,
    "margin": margin,
    "entropy": entropy,
}


def confidence(logits: Tensor, kind: str = "max_softmax") -> Tensor:
    """Confidence of `... x C` logits by name (a key of :data:`CONFIDENCES`)."""
    if kind not in CONFIDENCES:
        raise ValueError(f"unknown confidence {kind!r}; choose from {sorted(CONFIDENCES)}")
    return CONFIDENCES[kind](logits)
