"""Deployable artifacts of a design search's front (:class:`leanet.design.DesignProblem`).

One artifact per design among the chosen points, so a device loads one LEANet with every
threshold vector of the front that uses it (:func:`leanet.artifact.save_artifact`). Apart
from the search itself: writing artifacts imports the runtime, which a search never needs.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from leanet.artifact import save_artifact
from leanet.costs import measure_costs
from leanet.train import correct_predictions, evaluate

if TYPE_CHECKING:
    from leanet.design import DesignProblem


def save_artifacts(
    problem: DesignProblem,
    X: Tensor,
    folder: str | Path,
    *,
    meta: dict | None = None,
    selection=None,
) -> list[Path]:
    """One deployable artifact per design among the points ``X`` (e.g. a result's Pareto
    set), ``<folder>/<design key>.artifact.pt``: its LEANet and its points' validation
    metrics as the Pareto table, with every threshold at 1.0 (the pretrained network alone)
    added as a fallback. Each records what ``leanet report`` measures against: the data set
    and split, and the pretrained network's accuracies and validation outcomes; ``meta`` is
    kept too. With ``selection`` (held-out validation images, :func:`leanet.data.hold_out`;
    ``meta`` then says how to draw them again, as ``leanet design --holdout`` does) the
    tables and the pretrained network's figures are measured there, free of the search's
    selection. Thresholds are deployed as :meth:`DesignProblem.deployed` moves them. Tables
    are priced by the cost model (what a device's energy budget reads), also after a
    measured-cost search."""
    by_design: dict = {}
    for design, thresholds in problem.decode(X):
        by_design.setdefault(design, []).append(thresholds)
    chosen_on = problem.data.val if selection is None else selection
    full_val_correct = correct_predictions(problem.base, chosen_on)
    common = {
        "dataset": problem.data.name,
        "split_seed": getattr(problem.data, "seed", 0),
        "full_val_accuracy": float(full_val_correct.double().mean()),
        "full_test_accuracy": float(evaluate(problem.base, problem.data.test)),
        "full_val_correct": full_val_correct,
        **(meta or {}),
    }
    paths = []
    for design, points in by_design.items():
        net = problem.network(design)
        T = torch.cat([torch.stack(points), torch.ones(1, design.num_levels - 1).double()])
        evaluator = problem.evaluator_on(design, selection)
        front = evaluator.evaluate(problem.deployed(design, T, evaluator)).pareto()
        costs = measure_costs(net, problem.platform, latency=False)
        kept = {**common, "design": asdict(design), "seed": problem.seed}
        kept["trained_with"] = problem.trained_with(design)  # leanet.machine
        path = Path(folder) / f"{design.key}.artifact.pt"
        paths.append(
            save_artifact(
                path,
                net,
                front,
                costs,
                meta=kept,
                input_normalization=problem.data.train.normalization,
            )
        )
    return paths
