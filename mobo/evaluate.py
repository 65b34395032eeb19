"""Evaluating a study's points here, in batches: ask, evaluate, tell.

Kept apart from :mod:`mobo.study` so each stays one idea: the study records what is told;
this module runs :meth:`Study.optimize`'s loop without an executor, turning proposals into
told evaluations, failures and interrupts included, with the budget, progress and failure
checks both loops share. The loop on an executor is :mod:`mobo.executor`.
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

from mobo.metrics import hypervolume
from mobo.problem import DTYPE, EvaluationShapeError, Problem, plain_number, positive_int
from mobo.result import Evaluation, counted_objectives

if TYPE_CHECKING:
    from mobo.asked import AskedPoints
    from mobo.study import Callback, Study


#: Seconds between two progress lines of a study that runs with no terminal (a log file).
LOG_INTERVAL = 60.0


@contextmanager
def progress(
    study: Study, callbacks: Sequence[Callback], show_progress: bool
) -> Iterator[Callable[[list[Evaluation]], None]]:
    """What :meth:`Study.optimize`'s loops call after each tell: a tqdm bar over the
    study's budget (its cost under ``max_cost``, else its evaluations) and the callbacks
    (those with a ``start(study)`` method have it called first). On no terminal the bar is
    off: a long study (a design search runs for hours) prints a line at most every
    :data:`LOG_INTERVAL` seconds, and every study one summary line at the end, for a log."""
    by_cost, total = study.max_cost is not None, study.max_cost or study.n_evals
    started = last_line = time.monotonic()

    def done() -> float:
        return min(study.cost_spent if by_cost else study.n_evaluated, total or math.inf)

    desc = f"{study.algorithm_name} on {study.problem.name}"
    bar = tqdm(
        total=total,
        initial=done(),
        desc=desc,
        disable=None if show_progress else True,  # None: only on a terminal
        unit="cost" if by_cost else "eval",
    )
    for callback in callbacks:  # an optional hook, e.g. to catch up a resumed study
        start = getattr(callback, "start", None)
        if callable(start):
            start(study)

    reference_checked = False

    def after_tell(evaluations: list[Evaluation]) -> None:
        nonlocal last_line, reference_checked
        if not reference_checked:
            reference_checked = check_reference_point(study)
        bar.update(done() - bar.n)
        if not bar.disable:
            failed = sum(e.failed for e in study.evaluations)
            bar.set_postfix(hv=f"{study_hypervolume(study):.4g}", failed=failed)
        elif show_progress and time.monotonic() - last_line >= LOG_INTERVAL:
            last_line = time.monotonic()
            failed = sum(e.failed for e in study.evaluations)
            spent = f"{done():g}/{total or '?'} {'cost' if by_cost else 'evaluations'}"
            print(
                f"{desc}: {spent}, hypervolume {study_hypervolume(study):.4g}, "
                f"{failed} failed, {last_line - started:.0f} s",
                file=sys.stderr,
                flush=True,
            )
        for callback in callbacks:
            callback(study, evaluations)

    try:
        yield after_tell
    finally:
        bar.close()
    if show_progress and bar.disable:
        print(study.result().summary(), file=sys.stderr, flush=True)


class FailureStreak:
    """A :meth:`Study.optimize` callback that stops the study once ``limit`` evaluations
    told in this run failed in a row (each batch in the order asked), e.g. a design that
    fails the same way whatever the algorithm proposes: without it such a study spends its
    whole budget on failures (which may cost minutes each) before it can say so.
    ``limit=None``: never stop."""

    def __init__(self, limit: int | None) -> None:
        self.limit, self.first, self.errors = check_failure_limit(limit), 0, []

    def start(self, study: Study) -> None:
        self.first, self.errors = study.n_evaluated, []  # a resumed journal's count nothing

    def __call__(self, study: Study, evaluations: list[Evaluation]) -> None:
        if self.limit is None:
            return
        told, streak = study.evaluations[self.first :], []
        if told and told[-1].step in study.ledger.asked.pending_steps:
            return  # its batch is not all told: judge it whole, in the order asked
        for evaluation in reversed(in_ask_order(told, study.ledger.asked)):
            if not evaluation.failed:
                break
            streak.append(evaluation)
        if len(streak) >= self.limit:
            self.errors = [e.error for e in reversed(streak)]
            study.stop()

    def error_message(self, study: Study) -> str | None:
        """Why the study stopped, or None if this guard did not stop it."""
        if not self.errors:
            return None
        distinct = list(dict.fromkeys(self.errors))
        kept = "kept in its journal" if study.ledger.journal is not None else "kept"
        return (
            f"the last {len(self.errors)} evaluations of {study.problem.name!r} failed in a "
            f"row, so the study stopped before its budget; "
            f"{'the error' if len(distinct) == 1 else 'the errors'}: {'; '.join(distinct[:3])}"
            f". Its {study.n_evaluated} evaluations are {kept}: fix the cause and call "
            f"optimize() again to go on, or pass max_failures_in_a_row=None to go on through "
            f"failures."
        )


def in_ask_order(evaluations: Sequence[Evaluation], asked: AskedPoints) -> list[Evaluation]:
    """``evaluations`` as an algorithm sees them: each run told of one ask's points (a
    synchronous batch) in the order asked, not the order an executor finished them, so which
    worker was quicker changes neither the model's data nor which failures are in a row."""
    ordered, start = list(evaluations), 0
    for end in range(1, len(ordered) + 1):
        if end == len(ordered) or ordered[end].step != ordered[start].step:
            ordered[start:end] = sorted(ordered[start:end], key=lambda e: asked.row_of(e.x, e.step))
            start = end
    return ordered


def failed_points(evaluations: Sequence[Evaluation], dim: int) -> tuple[Tensor, Tensor]:
    """The points of the failed ``evaluations`` (``f x dim``) and, for each, whether the
    evaluation told just before or just after it failed too: a run of failures, the sign
    of a model proposing into a failing region (``failures`` of
    :class:`~mobo.algorithms.bayesian.BayesianAlgorithm`)."""
    failed = [e.failed for e in evaluations]
    rows = [i for i, bad in enumerate(failed) if bad]
    in_a_row = [(i > 0 and failed[i - 1]) or (i + 1 < len(failed) and failed[i + 1]) for i in rows]
    X = torch.tensor([evaluations[i].x for i in rows], dtype=DTYPE).reshape(-1, dim)
    return X, torch.tensor(in_a_row, dtype=torch.bool)


def check_failure_limit(limit: Any) -> int | None:
    """``max_failures_in_a_row`` is None or a positive int (returned as a Python int)."""
    limit = plain_number(limit)
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)):
        raise TypeError(f"max_failures_in_a_row must be an int or None, got {limit!r}")
    if limit is not None and limit <= 0:
        raise ValueError(f"max_failures_in_a_row must be positive, got {limit}")
    return limit


def check_max_cost(max_cost: Any) -> float | None:
    """A cost budget is None or a positive finite number (returned as a Python number)."""
    max_cost = plain_number(max_cost)
    ok = isinstance(max_cost, (int, float)) and not isinstance(max_cost, bool)
    if max_cost is not None and not (ok and math.isfinite(max_cost) and max_cost > 0):
        raise ValueError(f"max_cost must be a positive number, got {max_cost!r}")
    return max_cost


def check_budget(n_evals: Any) -> int:
    """A study's budget is a positive int of evaluations (returned as a Python int)."""
    return positive_int(n_evals, "n_evals")


class ReferencePointWarning(UserWarning):
    """No evaluation of a study's initial design dominates its reference point."""


def check_reference_point(study: Study) -> bool:
    """Once the study holds as many evaluations at the target as its initial design (at
    most the default design's ``2 (d + 1)``), warn if every one is no better than the
    reference point in every objective (feasible or not: a forgotten negation, not
    infeasibility), or in any one objective (a minimized objective's reference written
    un-negated): its hypervolume stays 0 and hypervolume-based proposals have nothing
    to improve on. A point that ties the reference counts as not better, as in
    :func:`mobo.metrics.hypervolume`, where it adds no volume. A study maximizing raw
    costs ran to the end with its worst points as the "Pareto set" before. Whether the
    check was made."""
    problem = study.problem
    Y = torch.where(problem.at_target(study.X).unsqueeze(-1), study.Y, math.nan)
    Y = Y[~Y.isnan().any(dim=-1)]
    if Y.shape[0] < min(study.algorithm.n_initial, 2 * (problem.dim + 1)):  # Sobol: all
        return False
    # Not a tight reference (few of BraninCurrin's first random points dominate it, many
    # beat it in one objective) but maximized costs or a reference cost of the wrong sign.
    # <=: a point on the reference adds no volume (hypervolume counts Y > ref_point only)
    worse = (Y <= problem.ref_point).all(dim=0)
    reference = problem.natural(problem.ref_point).tolist()
    if worse.all():
        where = f"the reference point {reference} in every objective"
        why = "every objective is maximized (return a cost negated; senses only label it)"
    else:
        best = problem.natural(Y.max(dim=0).values)
        where = "the reference point in " + "; ".join(
            f"{problem.objective_names[j]!r} ({problem.senses[j]}): best {best[j]:.4g}, "
            f"reference {reference[j]:.4g}"
            for j in worse.nonzero().flatten().tolist()
        )
        why = "it is written as the function returns outcomes (a minimized one's negated)"
    if worse.any():
        warnings.warn(
            f"all of the first {Y.shape[0]} evaluations of {problem.name!r} are no better than "
            f"{where}, so the hypervolume is 0: {why}, and the reference point must be worse "
            "than the outcomes that count",
            ReferencePointWarning,
            stacklevel=2,
        )
    return True


def study_hypervolume(study: Study) -> float:
    """The hypervolume of the study's counted evaluations (for the bar)."""
    Y = counted_objectives(study.problem, study.X, study.Y, study.C)
    return hypervolume(Y, study.problem.ref_point) if Y.numel() else 0.0


def run_here(study: Study, batch_size: int, after_tell: Callable[[list[Evaluation]], None]) -> None:
    """The loop of :meth:`Study.optimize` without an executor: ask, evaluate, tell."""
    while q := min(batch_size, study.may_ask()):
        with replayed_if_interrupted(study):
            X = within_budget(study, study.ask(q))
            start = time.perf_counter()
            Y, errors = evaluate_batch(study.problem, X)
            eval_seconds = time.perf_counter() - start
            told = study.tell(X, Y, errors=errors, eval_seconds=eval_seconds)
        after_tell(told)


def within_budget(study: Study, X: Tensor) -> Tensor:
    """The first rows of the just-asked batch ``X`` that sequential asks would have made:
    each while the cost budget was not spent, at its price when asked (one without
    fidelities). The rest are asked first if the budget is raised, as an interrupted batch
    is. Under fidelities :meth:`Study.may_ask` cannot cap the count, a point's price being
    known only once asked: a batch of 4 target points (cost 1 each) took a budget with
    0.5 left to 3.5 past it."""
    if study.max_cost is None:
        return X
    prices = [study.ledger.asked.cost_of(x) for x in X]
    prices = [1.0 if price is None else price for price in prices]
    left, keep = study.cost_left + sum(prices), 0  # left before this batch
    while keep < len(prices) and not study.ledger.spent(left):
        left, keep = left - prices[keep], keep + 1
    study.ledger.asked.forget(X[keep:])
    return X[:keep]


@contextmanager
def replayed_if_interrupted(study: Study) -> Iterator[None]:
    """Ask, evaluate and tell one batch. If anything interrupts it (Ctrl-C, an exception
    escaping the evaluation): after a completed ask, the batch's untold points are asked
    first next time (:meth:`AskedPoints.forget`), as a resumed journal replays them; during
    the ask, the algorithm's state is put back. Either way calling :meth:`Study.optimize`
    again continues as an uninterrupted study did."""
    state = study.algorithm.state_dict()
    before, step = study.ledger.asked.pending, study.ledger.asked.next_step
    try:
        yield
    except BaseException:
        asked = study.ledger.asked.pending[before.shape[0] :]
        if asked.shape[0]:
            study.ledger.asked.forget(asked)
        elif study.ledger.asked.next_step == step:  # interrupted inside the algorithm's ask
            study.algorithm.load_state_dict(state)
        raise


def evaluate_batch(problem: Problem, X: Tensor) -> tuple[Tensor, list[str | None]]:
    """Evaluate a ``q x d`` batch; if it raises, evaluate row by row to isolate the failures.

    Returns a ``q x (m + k)`` tensor of outcomes (NaN rows for failures) and, per row, the
    error or None.
    A module-level function, so process and Dask executors can pickle it.
    """
    nan_row = torch.full((problem.num_outcomes,), math.nan, dtype=DTYPE)
    try:
        return problem.evaluate(X), [None] * X.shape[0]
    except EvaluationShapeError:
        raise  # the problem's code is wrong, not one evaluation: stop at the first
    except Exception as err:  # noqa: BLE001 - any failure of a black box is data
        if X.shape[0] == 1:
            return nan_row.unsqueeze(0), [f"{type(err).__name__}: {err}"]
    rows, errors = [], []
    for x in X:
        Y, error = evaluate_batch(problem, x.unsqueeze(0))
        rows.append(Y[0])
        errors.append(error[0])
    return torch.stack(rows), errors


#: Names e03c073 moved to :mod:`mobo.executor`, still importable from here (the study's
#: docstring named ``mobo.evaluate.ExecutorStalledError``). Looked up when asked for, since
#: mobo.executor imports this module: imported at its top, they would be a cycle.
_MOVED_TO_EXECUTOR = frozenset(
    {
        "START_POLL_SECONDS",
        "ExecutorStalledError",
        "run_on_executor",
        "DaskStarts",
        "evaluate_reporting_start",
        "InFlight",
        "check_picklable",
        "outcome",
    }
)


def __getattr__(name: str) -> Any:
    if name in _MOVED_TO_EXECUTOR:
        import mobo.executor

        return getattr(mobo.executor, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
