"""Move studies between mobo and Ax [Ax2024]_ through Ax's ``Client`` API (ax-platform 1.x).

An Ax experiment made here has one float ``RangeParameter`` per input (``x0 .. x{d-1}``,
the problem's bounds; a fidelity input an ordered choice of its levels, or the range from
the first to the target level if continuous), one metric per objective in its natural
sense (a ``"min"`` objective, which mobo stores negated, is minimized in Ax with its
natural values), the problem's reference point as the objective thresholds, and one
metric per black-box constraint with the outcome constraint ``c <= 0``. Every evaluation
is a one-arm trial: completed with its outcome values, or marked failed with its error.
What Ax has no field for travels in the trial's ``run_metadata``: the evaluation's cost
(``"mobo_cost"``, under fidelities: a problem's :meth:`~mobo.Problem.current_cost` may price
it otherwise at import, as a design search prices a trained design at 0) and whether it
was told as ``extra`` (``"mobo_extra"``). A point asked and not told (pending, or to ask
again after a crash) is a RUNNING trial; imported, it is asked again first, as by
:meth:`Study.load <mobo.Study.load>`. So an imported study spends and proposes as the
exported one went on to (the initial design counts the same points). Ax itself reads none
of this metadata; trials Ax made without it are priced at import, as told directly.

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
from typing import TYPE_CHECKING, Any, NamedTuple

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
    "AxTrial",
    "attach_evaluation",
    "from_ax",
    "metric_names",
    "new_client",
    "parameter_names",
    "parameters_of",
    "quiet_ax",
    "read_experiment",
    "read_trials",
    "to_ax",
]


#: The ``run_metadata`` keys of a trial's cost and ``extra`` flag (see the module docstring).
COST_KEY, EXTRA_KEY = "mobo_cost", "mobo_extra"


class AxTrial(NamedTuple):
    """One trial as :func:`from_ax` imports it: ``y`` None for a running (pending) one."""

    x: list[float]
    y: list[float] | None
    error: str | None
    cost: float | None
    extra: bool


def to_ax(study_or_result: Study | Result) -> Client:
    """Export a study (or its :class:`~mobo.result.Result`) to a new Ax ``Client``.

    The experiment holds the problem (see :func:`new_client`) and one trial per
    evaluation, in the order told, with its cost and ``extra`` flag in the trial's
    ``run_metadata``; failed evaluations are FAILED trials with their error, then the
    study's points asked and not told are RUNNING trials, in the order asked. A Result
    keeps no errors (the reason is just ``"failed"``), ``extra`` flags or pending points.
    Under fidelities every evaluation is exported at its fidelity, cheap ones included: Ax
    has no target fidelity, so its own Pareto frontier may hold cheap results that
    :attr:`Result.counted <mobo.result.Result.counted>` leaves out.
    """
    pending: list[tuple[list[float], float | None]] = []
    if isinstance(study_or_result, Study):
        problem = study_or_result.problem
        rows = [
            (e.x, None if e.failed else [*e.y, *(e.c or [])], e.error, e.cost, e.extra)
            for e in study_or_result.evaluations
        ]
        pending = study_or_result.ledger.asked.untold()
    elif isinstance(study_or_result, Result):
        result = study_or_result
        problem = result.problem
        outcomes = torch.cat([result.Y, result.C], dim=-1)
        costs = (
            result.costs
            if result.costs is not None
            else torch.full_like(result.failed, math.nan, dtype=DTYPE)
        )
        rows = [
            (
                x,
                None if failed else y,
                "failed" if failed else None,
                None if math.isnan(cost) else cost,
                False,
            )
            for x, y, failed, cost in zip(
                result.X, outcomes, result.failed.tolist(), costs.tolist(), strict=True
            )
        ]
    else:
        raise TypeError(f"expected a mobo Study or Result, got {type(study_or_result).__name__}")
    client = new_client(problem)
    experiment = client._experiment
    for x, y, error, cost, extra in rows:
        index = attach_evaluation(client, problem, x, y, error=error)
        _keep(experiment.trials[index], cost, extra)
    for x, cost in pending:
        with quiet_ax():
            index = client.attach_trial(parameters=parameters_of(problem, x))  # RUNNING
        _keep(experiment.trials[index], cost, False)
    return client


def _keep(trial: Any, cost: float | None, extra: bool) -> None:
    """Put what Ax has no field for into ``trial``'s run metadata."""
    metadata = {COST_KEY: cost} if cost is not None else {}
    if extra:
        metadata[EXTRA_KEY] = True
    if metadata:
        trial.update_run_metadata(metadata)


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
    maximized convention), FAILED trials failed evaluations, each with the cost and
    ``extra`` flag :func:`to_ax` kept (a trial without a cost is priced by
    :meth:`~mobo.Problem.current_cost` now). Trials are told in index order, one step
    each; then RUNNING trials are points asked and not told, asked again first (as after
    :meth:`Study.load <mobo.Study.load>`). All journaled if ``journal`` is given. Abandoned
    trials and completed ones without a finite value of every metric (objective or
    constraint; Ax completes a trial with some missing) are left out, neither failed
    evaluations nor asked again.

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
    trials = list(read_experiment(client, problem))
    if trials:  # all checked before a journal is created: none is left half-written
        X = torch.tensor([t.x for t in trials], dtype=DTYPE)
        nan = [math.nan] * problem.num_outcomes
        problem.check_told(X, torch.tensor([t.y or nan for t in trials], dtype=DTYPE))
    study = Study(problem, algorithm, seed=seed, journal=journal, **algorithm_options)
    priced = problem.has_fidelities  # a cost without fidelities is 1 (Study.tell)
    for t in (t for t in trials if t.y is not None):
        study.tell(
            torch.tensor([t.x], dtype=DTYPE),
            torch.tensor([t.y], dtype=DTYPE),
            errors=[t.error],
            extra=t.extra,
            costs=[t.cost if priced else None],
        )
    pending = [t for t in trials if t.y is None]
    if pending:
        X = torch.tensor([t.x for t in pending], dtype=DTYPE)
        state = study.algorithm.state_dict()
        study.ledger.remember_asked(X, {}, state, costs=[t.cost for t in pending])
        study.ledger.asked.forget(X)  # asked again first, as a journal's untold points
    return study


def read_trials(
    client: Client, problem: Problem
) -> Iterator[tuple[list[float], list[float], str | None]]:
    """Yield ``(x, y, error)`` per completed or failed trial, in trial order.

    ``y`` holds the objectives maximized (mobo's convention) then the constraint values,
    all NaN for a failed trial.
    """
    for t in read_experiment(client, problem):
        if t.y is not None:
            yield t.x, t.y, t.error


def read_experiment(client: Client, problem: Problem) -> Iterator[AxTrial]:
    """Yield an :class:`AxTrial` per completed, failed or running trial, in trial order
    (:func:`read_trials`, plus the running ones and what :func:`to_ax` kept in the run
    metadata)."""
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
        metadata = trial.run_metadata or {}
        cost = None if metadata.get(COST_KEY) is None else float(metadata[COST_KEY])
        extra = bool(metadata.get(EXTRA_KEY, False))
        if trial.status.is_failed:
            yield AxTrial(x, nan, trial.status_reason or "failed in Ax", cost, extra)
        elif trial.status.is_running:
            yield AxTrial(x, None, None, cost, extra)
        elif trial.status.is_completed:
            values = [means.get((index, name), math.nan) for name in metrics]
            if all(math.isfinite(v) for v in values):
                y = natural_outcomes(problem, torch.tensor(values, dtype=DTYPE)).tolist()
                yield AxTrial(x, y, None, cost, extra)
