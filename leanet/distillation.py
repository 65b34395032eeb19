"""Distillation for :func:`leanet.fine_tune`: which network teaches, and the soft-label loss
of [Hinton2015].

A run's teacher must be one network for every epoch, resumed or not: the hybrid scheme's
top level is frozen, but depth levels' default teacher is a copy of the backbone the run
trains, so its weights travel in the run's :class:`leanet.train_loop.TrainState`.

[Hinton2015] Hinton, Vinyals, Dean. Distilling the Knowledge in a Neural Network. NIPS
Deep Learning Workshop, 2015.
"""

from __future__ import annotations

import copy

import torch.nn.functional as F
from torch import Tensor, nn

from leanet.levels import DepthLevels, WidthLevels
from leanet.model import LEANet
from leanet.train_loop import TrainState

__all__ = ["default_teacher", "distillation_loss", "run_teacher"]


def default_teacher(net: LEANet) -> nn.Module:
    """The pretrained network inside ``net``, frozen, for distillation: the hybrid scheme's
    top level, or for depth levels a copy of ``net.base`` as it is now (the backbone the
    exits run; recalibration re-estimates its batch norm on the data). Fine-tuning trains
    that backbone, so :func:`leanet.fine_tune` copies it once, before a run's first epoch, and a
    resumed run distils from the copy its ``TrainState`` carries: the pretrained
    network, unless ``net`` was fine-tuned by an earlier run.

    Raises:
        ValueError: for the triangular and slice schemes. Their levels share ``net.base``'s
            weights and batch norm, which recalibration rewrites for the levels' channels
            (measured: a recalibrated MobileNet's ``net.base`` scores 0.11, the pretrained
            network 0.94), so no copy of it is the pretrained network: pass ``teacher=``.
    """
    levels = net.levels
    if isinstance(levels, WidthLevels) and levels.scheme == "hybrid":
        return nn.Sequential(levels.pretrained, net.heads[-1]).eval()
    if isinstance(levels, DepthLevels):
        return copy.deepcopy(net.base).eval().requires_grad_(False)
    raise ValueError(
        f"distillation in the {getattr(levels, 'scheme', type(levels).__name__)!r} scheme "
        "needs teacher= (e.g. the pretrained network): net.base shares the levels' weights "
        "and batch norm, which recalibration and fine-tuning change"
    )


def run_teacher(
    net: LEANet, teacher: nn.Module | None, distill: float, resume: TrainState | None
) -> tuple[nn.Module | None, dict[str, Tensor] | None]:
    """A run's teacher, and the weights its :class:`TrainState` must carry for a resumed
    run to distil from the same network: depth levels' default teacher is a copy of the
    backbone the run trains, which a later copy would take half fine-tuned (measured: its
    logits 6.4 away from the pretrained network's after 2 of 4 epochs)."""
    if distill <= 0 or teacher is not None:
        return teacher, None
    teacher = default_teacher(net)
    if not isinstance(net.levels, DepthLevels):
        return teacher, None
    if resume is not None:
        if resume.teacher is None:
            raise ValueError(
                "fine_tune: the resumed state carries no teacher (its run did not distil, "
                "or it was saved before states kept one); pass teacher= (the pretrained "
                "network) to continue it with distillation"
            )
        teacher.load_state_dict(resume.teacher)
    return teacher, {k: v.detach().clone() for k, v in teacher.state_dict().items()}


def distillation_loss(student: Tensor, teacher: Tensor, temperature: float) -> Tensor:
    """[Hinton2015]'s soft-label loss on `N x C` logits:
    T^2 KL(softmax(teacher/T) || softmax(student/T)), averaged over the N inputs."""
    t = temperature
    return (
        F.kl_div(
            F.log_softmax(student / t, dim=-1),
            F.log_softmax(teacher / t, dim=-1),
            log_target=True,
            reduction="batchmean",
        )
        * t
        * t
    )
