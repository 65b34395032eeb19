"""Optimize a problem in one call, resuming the study a journal holds.

Kept apart from :mod:`mobo.study` (the ask/tell loop and its journal): this is the front
door most users call, and what it checks before resuming a journal is its own concern.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from concurrent.futures import Executor
from typing import Any

from mobo.evaluate import check_budget, check_failure_limit, check_max_cost
from mobo.journal import (
    JournalMismatchError,
    JournalRecoveryWarning,
    JournalUncheckedWarning,
    check_same_problem,
    read_journal,
)
from mobo.problem import Problem, plain_number
from mobo.result import Result
from mobo.study import Callback, Study, as_journaled


def optimize(
    problem: Problem,
    algorithm: str = "qlognehvi",
    *,
    n_evals: int | None = None,
    max_cost: float | None = None,
    seed: int = 0,
    batch_size: int | None = None,
    journal: str | os.PathLike | None = None,
    show_progress: bool = True,
    callbacks: Sequence[Callback] = (),
    executor: Executor | None = None,
    asynchronous: bool = False,
    timeout: float | None = None,
    max_failures_in_a_row: int | None = 10,
    **algorithm_options: Any,
) -> Result:
    """Optimize ``problem`` in one call and return the :class:`~mobo.result.Result`.

    Args:
        problem: The problem to optimize.
        algorithm: An algorithm name (see :func:`mobo.available_algorithms`).
        n_evals: Total evaluations, the initial design included. A journal holding more
            (of a longer run) is kept whole, budget and all, and the result is of its first
            ``n_evals``, with a warning (see :meth:`Study.optimize`).
        max_cost: A cost budget instead of (or with) ``n_evals``: evaluations are asked
            until their cost reaches it (see :meth:`Study.optimize`; multi-fidelity
            problems).
        seed: Seed of every random choice.
        batch_size: Points proposed and evaluated together (None: 1, or the journaled
            batch size when resuming).
        journal: Optional journal path (see :class:`Study`); if it exists, the study it
            holds is resumed: it must be of the same problem, algorithm, seed and
            algorithm options, or it is refused before any byte of it is written.
        show_progress: Show a progress bar.
        callbacks: Called as ``callback(study, evaluations)`` after each tell.
        executor: Evaluate on this :class:`concurrent.futures.Executor`, telling results
            as they complete (see :meth:`Study.optimize`).
        asynchronous: With an executor, keep ``batch_size`` evaluations in flight.
        timeout: With an executor, seconds after which an evaluation counts as failed.
        max_failures_in_a_row: Stop with :class:`~mobo.study.StudyFailedError` once this
            many evaluations failed in a row (None: go on through failures); asynchronously,
            up to ``batch_size`` more (see :meth:`Study.optimize`).
        **algorithm_options: Options of the algorithm (e.g. ``n_initial=10``).
    """
    if n_evals is None and max_cost is None:
        raise ValueError("n_evals or max_cost is required")
    if n_evals is not None:  # checked before any file is written
        n_evals = check_budget(n_evals)
    max_cost, seed = check_max_cost(max_cost), plain_number(seed)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {seed!r}")
    max_failures_in_a_row = check_failure_limit(max_failures_in_a_row)  # before any file
    if journal is not None and os.path.isfile(journal) and os.path.getsize(journal) > 0:
        check_resumable(journal, problem, algorithm, seed, **algorithm_options)
        study = Study.load(journal, problem, **algorithm_options)
    else:
        study = Study(problem, algorithm, seed=seed, journal=journal, **algorithm_options)
    with study:
        return study.optimize(
            n_evals,
            max_cost=max_cost,
            batch_size=batch_size,
            show_progress=show_progress,
            callbacks=callbacks,
            executor=executor,
            asynchronous=asynchronous,
            timeout=timeout,
            max_failures_in_a_row=max_failures_in_a_row,
        )


def check_resumable(
    journal: str | os.PathLike, problem: Problem, algorithm: str, seed: int, **options: Any
) -> None:
    """Raise :class:`~mobo.journal.JournalError` (:class:`~mobo.journal.JournalMismatchError`
    for another study) unless :func:`optimize` would resume the
    study journaled at ``journal``: the same problem (its spec), algorithm, seed and
    algorithm options (compared as journaled: plain numbers, JSON). Writes nothing.
    Resumed with other options, the journal would no longer say how its evaluations were
    proposed. A caller whose problem is costly to finish (e.g. a reference front) checks
    first with a cheap problem of the same spec."""
    with warnings.catch_warnings():  # Study.load says these
        warnings.simplefilter("ignore", JournalRecoveryWarning)
        warnings.simplefilter("ignore", JournalUncheckedWarning)
        header, _ = read_journal(journal)
        check_same_problem(
            journal, header["problem"], problem.spec(), advice=problem.fingerprint_advice
        )
    if header["algorithm"] != algorithm or header["seed"] != seed:
        raise JournalMismatchError(
            f"journal {str(journal)!r} holds a study of algorithm {header['algorithm']!r} "
            f"with seed {header['seed']!r}, not {algorithm!r} with seed {seed!r}"
        )
    journaled = header.get("algorithm_options", {})
    # Normalized as Study journals them: compared as given, np.int64(4) was 'np.int64(4)'
    # against the journal's 4, and the same call refused its own study.
    given = as_journaled(options)
    if given != journaled:
        raise JournalMismatchError(
            f"journal {str(journal)!r} holds a study of {algorithm!r} with options "
            f"{journaled}, not {given}: resume it with the same options, or start a new journal"
        )
