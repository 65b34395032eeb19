"""Baselines a LEANet is compared against.

- :func:`static_width_points`: each LEANet level run alone, no early exit (the comparison
  [Jayakodi2020] calls "slimmable"; nothing new is trained).
- :class:`SlimmableNet` with :func:`train_slimmable` and :func:`slimmable_points`: a
  slimmable network with switchable batch norm [Yu2019], trained at the LEANet's widths.

[Jayakodi2020] Jayakodi, Belakaria, Deshwal, Doppa. ACM TECS 19(1), 2020.
[Yu2019] Yu, Yang, Xu, Yang, Huang. Slimmable neural networks. ICLR 2019.
"""

from __future__ import annotations

from leanet.baselines.slimmable import (
    SlimmableNet,
    SlimmablePoints,
    SwitchableBatchNorm2d,
    evaluate_widths,
    slimmable_points,
    train_slimmable,
    width_work,
)
from leanet.baselines.static import static_width_points

__all__ = [
    "SlimmableNet",
    "SlimmablePoints",
    "SwitchableBatchNorm2d",
    "evaluate_widths",
    "slimmable_points",
    "static_width_points",
    "train_slimmable",
    "width_work",
]
