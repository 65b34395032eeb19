"""The body of :meth:`mobo.Study.optimize`: check its arguments, record the budget, run
the loop here (:mod:`mobo.evaluate`) or on an executor (:mod:`mobo.executor`) under the
progress bar and the failure guard, and say whether the study failed.

Kept apart from :mod:`mobo.study` so that module holds one idea, the study's ask/tell
(its bookkeeping and journal are :mod:`mobo.ledger`). It returns why a study failed rather
than raising :class:`~mobo.study.StudyFailedError`: :mod:`mobo.study` imports this module, so
it cannot import that module back (``tests/mobo/test_imports.py``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from concurrent.futures import Executor
from typing import TYPE_CHECKING

from mobo.evaluate import (
    FailureStreak,
    check_budget,
    check_max_cost,
    in_ask_order,
    progress,
    run_here,
)
from mobo.executor import run_on_executor
from mobo.metrics import cost_rounding
from mobo.problem import positive_int

if TYPE_CHECKING:
    from mobo.study import Callback, Study


def run_to_budget(
    study: Study,
    n_evals: int | None,
    *,
    max_cost: float | None,
    batch_size: int | None,
    show_progress: bool,
    callbacks: Sequence[Callback],
    executor: Executor | None,
    asynchronous: bool,
    timeout: float | None,
    max_failures_in_a_row: int | None,
) -> tuple[str | None, int | None]:
    """Ask, evaluate and tell until the budget is spent, as :meth:`Study.optimize` says
    (its arguments, with their meaning there). Returns why the study failed (the message
    of its :class:`~mobo.study.StudyFailedError`) or None, and how many of its evaluations
    the result is of when the budget holds fewer than the study (:func:`held_within`)."""
    study.ledger.check_writable()
    if n_evals is not None:
        n_evals = check_budget(n_evals)
    max_cost = check_max_cost(max_cost)
    # given: a recorded budget that a callback told past is not a smaller one
    within = held_within(study, n_evals, max_cost)
    if n_evals is None and max_cost is None:
        if study.n_evals is None and study.max_cost is None:
            raise ValueError("n_evals or max_cost is required: this study has no recorded budget")
        n_evals, max_cost = study.n_evals, study.max_cost
    batch_size = positive_int(study.batch_size if batch_size is None else batch_size, "batch_size")
    if executor is None and (asynchronous or timeout is not None):
        raise ValueError("asynchronous and timeout need an executor")
    if timeout is not None and not timeout > 0:
        raise ValueError(f"timeout must be positive seconds, got {timeout!r}")
    streak = FailureStreak(max_failures_in_a_row)  # checked before the budget is journaled
    if within is not None:
        warn_held_more(study, within, n_evals, max_cost)
        return None, within  # nothing to run; the budget stays
    if n_evals is not None and n_evals > study.n_evaluated:
        warn_if_all_initial_design(study, n_evals)
    study.ledger.set_budget(n_evals, max_cost, batch_size)
    study.ledger.stopped = False
    with progress(study, [*callbacks, streak], show_progress) as after_tell:
        if executor is None:
            run_here(study, batch_size, after_tell)
        else:
            run_on_executor(study, executor, batch_size, asynchronous, timeout, after_tell)
    if (why := streak.error_message(study)) is not None:
        return why, None
    if study.evaluations and all(e.failed for e in study.evaluations):
        first = study.evaluations[0]
        return (
            f"all {study.n_evaluated} evaluations of {study.problem.name!r} failed; the "
            f"first with: {first.error}"
        ), None
    return None, None


def held_within(study: Study, n_evals: int | None, max_cost: float | None) -> int | None:
    """How many of the study's evaluations a run of ``n_evals`` and ``max_cost`` (as given
    to :meth:`Study.optimize`, checked) holds, when fewer than the study holds (a rerun
    with a smaller budget, on a longer run's journal); None when it holds them all.

    Counted in ask order, as that run asks: a point is asked while the cost of those
    before it leaves some of ``max_cost`` (:meth:`Study.may_ask`). Raises ValueError for
    an algorithm whose proposals depend on the cost budget (MF-OSEMO spends its end at the
    target fidelity): no part of a longer run is what a smaller budget asks."""
    ordered = in_ask_order(study.evaluations, study.ledger.asked)
    counted = len(ordered) if n_evals is None else min(n_evals, len(ordered))
    within = counted
    if max_cost is not None:
        spent = 0.0
        for k, evaluation in enumerate(ordered[:counted]):
            if max_cost - spent <= cost_rounding(max_cost):  # spent: k points asked
                within = k
                break
            spent += 1.0 if evaluation.cost is None else evaluation.cost
    if within == len(ordered):
        return None
    if within < counted and hasattr(study.algorithm, "remaining_cost"):  # the cost cut it
        raise ValueError(
            f"the study holds {len(ordered)} evaluations costing {cost_text(study.cost_spent)}, "
            f"more than a run of max_cost={cost_text(max_cost)} spends, and "
            f"{study.algorithm_name}'s proposals depend on the cost budget, so none of its "
            f"parts is what that run asks: start a new journal for it, or pass "
            f"max_cost={cost_text(study.cost_spent)} or more"
        )
    return within


def warn_held_more(study: Study, within: int, n_evals: int | None, max_cost: float | None) -> None:
    """Say once that a study holding more evaluations than a run of the given budget runs
    nothing and returns the first ``within`` of them, keeping all and its budget: rerun
    with a smaller budget, it had returned (and journaled a budget of) the longer run's
    without a word."""
    held, journal = study.n_evaluated, study.ledger.journal
    where = "the study" if journal is None else f"journal {str(journal.path)!r}"
    budget = budget_text(study.n_evals, study.max_cost)
    budget = f" and its budget of {budget}" if budget else ""
    if max_cost is None:
        asked, more = f"the n_evals={n_evals} asked", f"n_evals={held}"
    else:
        asked = f"the {within} a run of {budget_text(n_evals, max_cost)} holds"
        more = f"max_cost={cost_text(study.cost_spent)}"
        more += "" if n_evals is None else f", n_evals={held}"
    warnings.warn(
        f"{where} holds {held} evaluations, more than {asked}: nothing is run, and the "
        f"result is of the first {within} (the points a run of that budget asks first); "
        f"{'it' if journal is None else 'the journal'} keeps all {held}{budget}. "
        f"Pass {more} for them all",
        UserWarning,
        stacklevel=4,
    )


def budget_text(n_evals: int | None, max_cost: float | None) -> str:
    """``"n_evals=8, max_cost=4.5"``, each part only when given (warnings' budgets)."""
    parts = [] if n_evals is None else [f"n_evals={n_evals}"]
    return ", ".join(parts + ([] if max_cost is None else [f"max_cost={cost_text(max_cost)}"]))


def cost_text(cost: float) -> str:
    """A cost as a user types it back: ``8`` for 8.0, all the digits that matter (``:g``
    rounds to 6, so "pass max_cost=1.23456e+06" advised less than 1234564 spent)."""
    return f"{cost:.12g}"


def warn_if_all_initial_design(study: Study, n_evals: int) -> None:
    """Warn if a model-based algorithm's budget ends within its initial Sobol design: the
    study would be Sobol's under the algorithm's name (a 20-input problem's default design
    is 42 points; qLogNEHVI, USeMO and qParEGO with 40 evaluations returned Sobol's points).
    Not for NSGA-II, whose first generation is random whatever the budget."""
    algorithm = study.algorithm
    if algorithm.model_based and n_evals <= algorithm.n_initial:
        warnings.warn(
            f"n_evals={n_evals} is within the initial Sobol design of {algorithm.n_initial} "
            f"points (default 2 (d + 1) for d={study.problem.dim}), so the run is pure Sobol: "
            f"{study.algorithm_name!r} proposes none of its points. Raise n_evals above "
            f"{algorithm.n_initial}, or pass n_initial below n_evals, e.g. "
            f"n_initial={max(1, n_evals // 2)}",
            UserWarning,
            stacklevel=4,
        )
