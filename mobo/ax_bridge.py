"""Move studies between mobo and Ax [Ax2024]_ through Ax's ``Client`` API (ax-platform 1.x).

An Ax experiment made here has one float ``RangeParameter`` per input (``x0 .. x{d-1}``,
the problem's bounds), one metric per objective in its natural sense (a ``"min"``
objective, which mobo stores negated, is minimized in Ax with its natural values) and the
problem's reference point as the objective thresholds. Every evaluation is a one-arm
trial: completed with its objective values, or marked failed with its error.

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

import logging
import math
import os
import re
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from mobo.problem import DTYPE, Problem
from mobo.result import Result

if TYPE_CHECKING:
    from ax.api.client import Client

    from mobo.study import Study


def parameter_names(problem: Problem) -> list[str]:
    """The Ax parameter name of each input: ``x0 .. x{d-1}``."""
    return [f"x{i}" for i in range(problem.dim)]


def metric_names(problem: Problem) -> list[str]:
    """The Ax metric name of each objective: its name made an identifier, made unique.

    Ax parses objectives and thresholds from strings, so ``"energy ratio"`` becomes
    ``"energy_ratio"``.
    """
    names: list[str] = []
    for j, name in enumerate(problem.objective_names):
        name = re.sub(r"\W+", "_", name).strip("_")
        if not name or name[0].isdigit() or name in names:
            name = f"f{j}_{name}".rstrip("_")
        names.append(name)
    return names


def new_client(problem: Problem, *, seed: int | None = None) -> Client:
    """An Ax ``Client`` whose experiment is ``problem``: parameters, objectives, thresholds.

    Args:
        problem: The problem.
        seed: Ax's ``random_seed`` (its candidate generation), or None.
    """
    from ax.api.client import Client
    from ax.api.configs import RangeParameterConfig

    client = Client(random_seed=seed)
    lower, upper = problem.bounds.tolist()
    with quiet_ax():
        client.configure_experiment(
            parameters=[
                RangeParameterConfig(name=name, parameter_type="float", bounds=(lo, hi))
                for name, lo, hi in zip(parameter_names(problem), lower, upper, strict=True)
            ],
            name=re.sub(r"\W+", "_", problem.name),
            description=f"mobo problem {problem.name!r}",
        )
        objectives, thresholds = [], []
        reference = problem.natural(problem.ref_point).tolist()
        for name, sense, ref in zip(metric_names(problem), problem.senses, reference, strict=True):
            objectives.append(name if sense == "max" else f"-{name}")
            thresholds.append(f"{name} {'>=' if sense == 'max' else '<='} {ref!r}")
        client.configure_optimization(
            objective=", ".join(objectives), outcome_constraints=thresholds
        )
    return client


def parameters_of(problem: Problem, x: Tensor | Sequence[float]) -> dict[str, float]:
    """The Ax parameterization of a length-``d`` point (clipped into the bounds)."""
    x = torch.as_tensor(x, dtype=DTYPE).clamp(problem.bounds[0], problem.bounds[1])
    return dict(zip(parameter_names(problem), x.tolist(), strict=True))


def attach_evaluation(
    client: Client,
    problem: Problem,
    x: Tensor | Sequence[float],
    y: Tensor | Sequence[float] | None,
    *,
    error: str | None = None,
) -> int:
    """Attach one evaluation as a trial and return its index.

    Args:
        client: A client made by :func:`new_client` for ``problem``.
        x: A length-``d`` point.
        y: Its length-``m`` objective values (maximized, mobo's convention), or None for
            a failed evaluation (marked FAILED with ``error``).
    """
    with quiet_ax():
        index = client.attach_trial(parameters=parameters_of(problem, x))
        if y is None:
            client.mark_trial_failed(index, failed_reason=error or "failed")
        else:
            natural = problem.natural(torch.as_tensor(y, dtype=DTYPE)).tolist()
            client.complete_trial(
                index, raw_data=dict(zip(metric_names(problem), natural, strict=True))
            )
    return index


def to_ax(study_or_result: Study | Result) -> Client:
    """Export a study (or its :class:`~mobo.result.Result`) to a new Ax ``Client``.

    The experiment holds the problem (see :func:`new_client`) and one trial per
    evaluation, in the order told; failed evaluations are FAILED trials with their error
    (from a Result, whose errors are not kept, the reason is just ``"failed"``).
    """
    from mobo.study import Study

    if isinstance(study_or_result, Study):
        problem = study_or_result.problem
        rows = [(e.x, e.y, e.error) for e in study_or_result.evaluations]
    elif isinstance(study_or_result, Result):
        result = study_or_result
        problem = result.problem
        rows = [
            (x, None if failed else y, "failed" if failed else None)
            for x, y, failed in zip(result.X, result.Y, result.failed.tolist(), strict=True)
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
        ValueError: If the experiment lacks a parameter or metric of ``problem``.
    """
    from mobo.study import Study

    trials = list(read_trials(client, problem))  # checked before a journal is created
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

    ``y`` is maximized (mobo's convention) and all NaN for a failed trial.
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
    signs = problem.natural(torch.ones(problem.num_objectives, dtype=DTYPE)).tolist()
    nan = [math.nan] * problem.num_objectives
    for index, trial in sorted(experiment.trials.items()):
        if trial.arm is None:
            continue
        x = [float(trial.arm.parameters[name]) for name in names]
        if trial.status.is_failed:
            yield x, nan, trial.status_reason or "failed in Ax"
        elif trial.status.is_completed:
            values = [means.get((index, name), math.nan) for name in metrics]
            if all(math.isfinite(v) for v in values):
                yield x, [s * v for s, v in zip(signs, values, strict=True)], None


@contextmanager
def quiet_ax(level: int = logging.WARNING) -> Iterator[None]:
    """Silence Ax's INFO logging (one line per trial) and the deprecation warnings Ax's own
    code raises (Ax 1.3 against pandas 3) inside the block, then restore both."""
    loggers = [
        logger
        for name, logger in logging.Logger.manager.loggerDict.items()
        if isinstance(logger, logging.Logger) and (name == "ax" or name.startswith("ax."))
    ]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(max(level, logger.level))
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"ax\.")
            warnings.filterwarnings("ignore", category=FutureWarning, module=r"ax\.")
            yield
    finally:
        for logger, previous in zip(loggers, levels, strict=True):
            logger.setLevel(previous)
