"""A study's ledger: the points it asked and was told, its budget, and its journal.

Kept apart from :mod:`mobo.study` so this bookkeeping has one owner with a public interface:
the loops that run a study (:mod:`mobo.evaluate`, :mod:`mobo.executor`, :mod:`mobo.loop`)
call it instead of each reaching into the study's state and restating its rules (a point is
forgotten exactly when it is to be asked again first; an ask's state is journaled before its
evaluations). :class:`~mobo.study.Study` keeps what involves the algorithm (ask, tell, load).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from mobo.asked import AskedPoints
from mobo.journal import Journal, replay
from mobo.metrics import cost_rounding
from mobo.problem import Problem
from mobo.result import Evaluation


class StudyLedger:
    """What a study of ``problem`` asked and was told, journaled to ``journal`` (None: kept
    in memory only). :class:`~mobo.study.Study` reads and sets its ``evaluations``,
    ``n_evals``, ``max_cost``, ``batch_size`` and ``read_only`` here."""

    def __init__(self, problem: Problem, journal: Journal | None = None) -> None:
        self.problem = problem
        #: The points asked and not told: pending, or to be asked again first.
        self.asked = AskedPoints(problem.dim, problem.bounds[1] - problem.bounds[0])
        #: The evaluations told, in the order told.
        self.evaluations: list[Evaluation] = []
        self.journal = journal
        #: Closed, or loaded only to read: nothing may be told.
        self.read_only = False
        #: The budget of :meth:`Study.optimize` (journaled, so ``optimize()`` resumes to it).
        self.n_evals: int | None = None
        self.max_cost: float | None = None
        self.batch_size = 1
        #: :meth:`Study.stop` was called in this run of :meth:`Study.optimize`.
        self.stopped = False
        # Per ask step with points untold: its Evaluation fields and the state it left.
        self._asks: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}
        self._journaled_state: dict[str, Any] = {}  # the last state journaled

    def close(self) -> None:
        """Release the journal's lock; nothing more can be told."""
        if self.journal is not None:
            self.journal.close()
            self.journal = None
            self.read_only = True

    def check_writable(self) -> None:
        if self.read_only:
            raise ValueError(
                "this study is read-only (loaded with read_only=True, or closed): it cannot "
                "tell; load it with Study.load(path) to continue it"
            )

    def restore(self, records: list[dict[str, Any]]) -> dict[str, Any] | None:
        """Take over a journal's ``records``: its evaluations, budget, and the points asked
        and not told (to be asked again first). Returns the algorithm state it journaled
        last, for the caller to load (None if none)."""
        evaluations, budget, state, unanswered = replay(records, self.asked.same)
        steps = [r.get("step", 0) for r in records if r.get("type") in ("eval", "ask")]
        self.asked.restore(unanswered, max((s for s in steps if s is not None), default=-1))
        for r in (r for r in records if r.get("type") == "ask" and r.get("step") is not None):
            self.asked.remember_ask(r["step"], r["x"])
        if budget is not None:
            self.n_evals = budget["n_evals"]
            self.batch_size = budget.get("batch_size", 1)
            self.max_cost = budget.get("max_cost")
        self.evaluations = [Evaluation.from_record(r) for r in evaluations]
        if state is not None:
            self._journaled_state = state
        return state

    # ----------------------------------------------------------------- asks
    def remember_replayed(self, X: Tensor, state: dict[str, Any]) -> None:
        """``X`` (taken from :attr:`asked`'s replay) is asked again, the algorithm left in
        ``state``; each keeps its first ask's step, timings and price."""
        for step in {self.asked.step_of(x) for x in X}:  # timed when first asked
            self._asks.setdefault(step, ({}, state))
        self._price(X)

    def remember_asked(
        self,
        X: Tensor,
        fields: dict[str, Any],
        state: dict[str, Any],
        costs: list[float | None] | None = None,
    ) -> None:
        """A new ask proposed ``X`` (``fields``: its Evaluation fields, such as its timings),
        leaving the algorithm in ``state``: pending under a new step, and journaled. Under
        fidelities priced now, or at ``costs`` where given (points asked elsewhere)."""
        step = self.asked.new_step()
        self._asks[step] = (fields, state)
        self.asked.add(X, step)
        if costs is not None and self.problem.has_fidelities:
            self.asked.price(X, costs)
        self._price(X)
        if self.journal is not None:
            record = {"type": "ask", "step": step, "x": X.tolist(), "state": state}
            if self.problem.has_fidelities:  # a resumed ask is charged this, not repriced
                record["cost"] = [self.asked.cost_of(x) for x in X]
            self.journal.append(record)

    def _price(self, X: Tensor) -> None:
        """Under fidelities, record what evaluating the asked ``X`` costs now
        (:meth:`mobo.Problem.current_cost`): the evaluation's journaled cost. A point asked
        again after an interrupt keeps the price of its first ask."""
        X = X[[self.asked.cost_of(x) is None for x in X]]
        if self.problem.has_fidelities and X.shape[0]:
            self.asked.price(X, self.problem.current_cost(X).tolist())

    def ask_of(self, step: int) -> tuple[dict[str, Any], dict[str, Any]]:
        """Ask ``step``'s Evaluation fields (wall and CPU time, warnings; none for a point
        no ask proposed, or one asked before a crash) and the algorithm state it left."""
        return self._asks.get(step, ({}, {}))

    # ----------------------------------------------------------------- tells
    def journal_state(self, step: int, state: dict[str, Any]) -> None:
        """Journal the algorithm state left by ask ``step`` (before its evaluations), unless
        it is empty or unchanged: :meth:`Study.load` restores it so a GP algorithm's kept
        hyperparameters, and so its next proposal, are those of an uninterrupted study."""
        if self.journal is None or not state or state == self._journaled_state:
            return
        self.journal.append({"type": "state", "step": step, "state": state})
        self._journaled_state = state

    def record(
        self,
        x: Tensor,
        y: Tensor,
        error: str | None,
        *,
        step: int,
        eval_seconds: float,
        ask_seconds: float = 0.0,
        ask_cpu_seconds: float = 0.0,
        ask_warnings: dict[str, int] | None = None,
        extra: bool = False,
        cost: float | None = None,
    ) -> Evaluation:
        """Record one evaluation (``y``: its ``m + k`` outcomes): journaled (fsynced), then
        appended, then no longer pending. Under fidelities it cost ``cost`` if given (known
        from elsewhere), else its price when asked, else (told directly) what it costs now."""
        problem = self.problem
        ok = bool(torch.isfinite(y).all()) and error is None
        objectives, constraints = problem.split_outcomes(y)
        if cost is None or not problem.has_fidelities:
            cost = self.asked.cost_of(x)
        if cost is None and problem.has_fidelities:
            cost = float(problem.current_cost(x.unsqueeze(0)))
        what = "objective and constraint values" if problem.num_constraints else "objective values"
        evaluation = Evaluation(
            index=len(self.evaluations),
            x=x.tolist(),
            y=objectives.tolist() if ok else None,
            c=constraints.tolist() if ok and problem.num_constraints else None,
            cost=cost,
            error=None if ok else (error or f"non-finite {what} {y.tolist()}"),
            step=step,
            ask_seconds=ask_seconds,
            ask_cpu_seconds=ask_cpu_seconds,
            eval_seconds=eval_seconds,
            ask_warnings=dict(ask_warnings or {}),
            extra=bool(extra),
        )
        if self.journal is not None:
            self.journal.append(evaluation.to_record())
        self.evaluations.append(evaluation)
        self.asked.remove(x)
        if step not in self.asked.pending_steps:  # its ask is all told
            self._asks.pop(step, None)
        return evaluation

    # ----------------------------------------------------------------- budget
    def set_budget(self, n_evals: int | None, max_cost: float | None, batch_size: int) -> None:
        """Keep :meth:`Study.optimize`'s budget; journaled when it changed, so
        ``optimize()`` resumes to it."""
        if (n_evals, max_cost, batch_size) == (self.n_evals, self.max_cost, self.batch_size):
            return
        self.n_evals, self.max_cost, self.batch_size = n_evals, max_cost, batch_size
        if self.journal is not None:
            budget = {"type": "budget", "n_evals": n_evals, "batch_size": batch_size}
            if max_cost is not None:  # absent unless used: records as before
                budget["max_cost"] = max_cost
            self.journal.append(budget)

    def spent(self, left: float) -> bool:
        """Whether ``left`` to spend is none, up to rounding (for :meth:`Study.may_ask` and
        :func:`mobo.evaluate.within_budget` alike)."""
        return left <= cost_rounding(self.max_cost or 0.0)
