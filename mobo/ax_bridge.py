"""Move studies between mobo and Ax [Ax2024]_ through Ax's ``Client`` API (ax-platform 1.x).

An Ax experiment made here has one float ``RangeParameter`` per input (``x0 .. x{d-1}``,
the problem's bounds; a fidelity input an ordered choice of its levels, or the range from
the first to the target level if continuous), one metric per objective in its natural
sense (a ``"min"`` objective, which mobo stores negated, is minimized in Ax with its
natural values), the problem's reference point as the objective thresholds, and one
metric per black-box constraint with the outcome constraint ``c <= 0``. Every evaluation
is a one-arm trial: completed with its outcome values, or marked failed with its error.

>>> client = to_ax(study)                      # a finished study, or its Result
>>> client.save_to_json_file("study_ax.json")  # Ax from here on
>>> study = from_ax(client, problem, "qlognehvi", journal="back.jsonl")

The ``ax`` algorithm (:mod:`mobo.algorithms.ax`) builds its Ax experiment with the same
helpers, so an exported study and an Ax-run study describe the problem alike.

.. [Ax2024] M. Olson, E. Santorella, L. C. Tiao, S. Cakmak, D. Eriksson, M. Garrard,
   S. Daulton, M. Balandat, E. Bakshy, E. Kashtelyan, et al. Ax: A Platform for Adaptive
   Experimentation. AutoML Conference 2025 (ABCD track).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import torch

from mobo.ax_client import (
    attach_evaluation,
    metric_names,
    natural_outcomes,
    new_client,
    parameter_names,
    parameters_of,
    quiet_ax,
)
from mobo.problem import DTYPE, Problem
from mobo.result import Result
from mobo.study import Study

if TYPE_CHECKING:
    from ax.api.client import Client

__all__ = [
    "attach_evaluation",
    "from_ax",
    "metric_names",
    "new_client",
    "parameter_names",
    "parameters_of",
    "quiet_ax",
    "read_trials",
    "to_ax",
]


def to_ax(study_or_result: Study | Result) -> Client:
    """Export a study (or its :class:`~mobo.result.Result`) to a new Ax ``Client``.

    The experiment holds the problem (see :func:`new_client`) and one trial per
    evaluation, in the order told; failed evaluations are FAILED trials with their error
    (from a Result, whose errors are not kept, the reason is just ``"failed"``). Under
    fidelities every evaluation is exported at its fidelity, cheap ones included: Ax has
    no target fidelity, so its own Pareto frontier may hold cheap results that
    :attr:`Result.counted <mobo.result.Result.counted>` leaves out.
    """
    if isinstance(study_or_result, Study):
        problem = study_or_result.problem
        rows = [
            (e.x, None if e.failed else [*e.y, *(e.c or [])], e.error)
            for e in study_or_result.evaluations
        ]
    elif isinstance(study_or_result, Result):
        result = study_or_result
        problem = result.problem
        outcomes = torch.cat([result.Y, result.C], dim=-1)
        rows = [
            (x, None if failed else y, "failed" if failed else None)
            for x, y, failed in zip(result.X, outcomes, result.failed.tolist(), strict=True)
        ]
    else:
        raise TypeError(f"expected a mobo Study or Result, got {type(study_or_result).__name__}")
    client = new_client(problem)
    for x, y, error in rows:
        attach_evaluation(client, problem, x, y, error=error)
    return client


def from_ax(
    client: Client,
    problem: Problem,
    algorithm: str = "qlognehvi",
    *,
    seed: int = 0,
    journal: str | os.PathLike | None = None,
    **algorithm_options: Any,
) -> Study:
    """Import an Ax experiment into a new :class:`~mobo.Study` of ``problem``.

    Completed trials become evaluations (objective values converted back to mobo's
    maximized convention), FAILED trials failed evaluations; trials still running,
    abandoned or without data for every objective are left out. Trials are told in
    index order, one step each, and journaled if ``journal`` is given.

    Args:
        client: An Ax ``Client`` whose parameters and metrics are named as
            :func:`parameter_names` and :func:`metric_names` name them for ``problem``
            (as made by :func:`to_ax` or the ``ax`` algorithm).
        problem: The problem the experiment is about.
        algorithm, seed, journal, **algorithm_options: As for :class:`~mobo.Study`.

    Raises:
        ValueError: If the experiment lacks a parameter or metric of ``problem``, or a
            trial is not a point of it (e.g. not at one of its fidelity levels); no
            journal is created then.
    """
    trials = list(read_trials(client, problem))
    if trials:  # all checked before a journal is created: none is left half-written
        X = torch.tensor([x for x, _, _ in trials], dtype=DTYPE)
        problem.check_told(X, torch.tensor([y for _, y, _ in trials], dtype=DTYPE))
    study = Study(problem, algorithm, seed=seed, journal=journal, **algorithm_options)
    for x, y, error in trials:
        study.tell(
            torch.tensor([x], dtype=DTYPE),
            torch.tensor([y], dtype=DTYPE),
            errors=[error],
        )
    return study


def read_trials(
    client: Client, problem: Problem
) -> Iterator[tuple[list[float], list[float], str | None]]:
    """Yield ``(x, y, error)`` per completed or failed trial, in trial order.

    ``y`` holds the objectives maximized (mobo's convention) then the constraint values,
    all NaN for a failed trial.
    """
    # The experiment itself, not client.summarize(): the summary rounds metric values.
    experiment = client._experiment
    names, metrics = parameter_names(problem), metric_names(problem)
    missing = [n for n in names if n not in experiment.search_space.parameters]
    missing += [n for n in metrics if n not in experiment.metrics]
    if missing:
        raise ValueError(
            f"the Ax experiment has no {missing} of problem {problem.name!r} (expected "
            f"parameters {names} and metrics {metrics})"
        )
    with quiet_ax():
        data = experiment.lookup_data().df
    means = {
        (int(i), str(metric)): float(mean)
        for i, metric, mean in zip(
            data["trial_index"], data["metric_name"], data["mean"], strict=True
        )
    }
    nan = [math.nan] * problem.num_outcomes
    for index, trial in sorted(experiment.trials.items()):
        if trial.arm is None:
            continue
        x = [float(trial.arm.parameters[name]) for name in names]
        if trial.status.is_failed:
            yield x, nan, trial.status_reason or "failed in Ax"
        elif trial.status.is_completed:
            values = [means.get((index, name), math.nan) for name in metrics]
            if all(math.isfinite(v) for v in values):
                yield x, natural_outcomes(problem, torch.tensor(values, dtype=DTYPE)).tolist(), None
