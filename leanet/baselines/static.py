"""Static widths: each LEANet level run alone, no early exit.

The comparison that [Jayakodi2020] calls "slimmable": every level is a network of its own
(the first F_k of the channels of the pretrained network, with level k's head), run on
every input, with no early exit and no reuse. Nothing new is trained: the accuracies come
from the evaluator's cached correctness and the energies from
:attr:`leanet.costs.LevelCosts.static_energy`. A network actually trained to be slimmable
is in :mod:`leanet.baselines.slimmable`.

[Jayakodi2020] Jayakodi, Belakaria, Deshwal, Doppa. ACM TECS 19(1), 2020.
"""

from __future__ import annotations

import torch
from torch import Tensor

from leanet.costs import LevelCosts
from leanet.evaluator import ThresholdEvaluator

__all__ = ["static_width_points"]


def static_width_points(evaluator: ThresholdEvaluator, costs: LevelCosts) -> tuple[Tensor, Tensor]:
    """Accuracy and energy ratio of each level run alone.

    Args:
        evaluator: Holds the ``L x N`` boolean ``correct`` of every level on every input.
        costs: Counted costs of the same LEANet (:func:`leanet.costs.measure_costs`); its
            ``static_energy`` is the joules of level k alone, its head included.

    Returns:
        ``(accuracy, energy_ratio)``, two ``L``-dim float64 tensors: the fraction of inputs
        level k gets right, and its energy over the full pretrained network's.

    Raises:
        ValueError: ``costs`` has no static energies (a joules table from
            :meth:`LevelCosts.from_joules`) or a level count other than the evaluator's.
    """
    if costs.static_energy is None:
        raise ValueError(
            "costs have no static_energy (a measured joules table has no per-level "
            "'run alone' cost); count them with leanet.costs.measure_costs"
        )
    static = costs.static_energy.to(torch.float64)
    if static.shape != (evaluator.num_levels,):
        raise ValueError(
            f"costs.static_energy has {tuple(static.shape)} entries, the evaluator "
            f"{evaluator.num_levels} levels"
        )
    accuracy = evaluator.correct.to(torch.float64).mean(dim=1)
    return accuracy, static / costs.full_energy
