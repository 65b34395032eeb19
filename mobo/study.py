"""A study: the ask/tell loop around one problem and one algorithm, journaled to disk.

>>> study = Study(problems.make("BraninCurrin"), "qlognehvi", seed=0, journal="bc.jsonl")
>>> result = study.optimize(n_evals=30)
>>> study.close()                    # releases the journal's lock (or use `with`)
>>> study = Study.load("bc.jsonl")   # after a crash: continues to the same budget
>>> result = study.optimize()

Evaluations can run in parallel on any :class:`concurrent.futures.Executor` (threads,
processes, or a Dask cluster through ``distributed.Client(...).get_executor()``):

>>> study.optimize(n_evals=40, batch_size=4, executor=executor, asynchronous=True)
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Any

import torch
from torch import Tensor

from mobo.algorithms import make_algorithm
from mobo.algorithms.base import MAX_SEED
from mobo.evaluate import failed_points, in_ask_order
from mobo.journal import (
    Journal,
    JournalMismatchError,
    JournalRecoveryWarning,
    check_evaluations,
    check_same_problem,
    read_journal,
)
from mobo.ledger import StudyLedger
from mobo.loop import run_to_budget
from mobo.problem import DTYPE, Problem, as_tensor, plain_number, positive_int
from mobo.result import Evaluation, Result

Callback = Callable[["Study", list[Evaluation]], None]


def _on_ledger(name: str, doc: str) -> property:
    """A Study attribute that its :class:`~mobo.ledger.StudyLedger` keeps (read and set there)."""
    return property(
        lambda study: getattr(study.ledger, name),
        lambda study, value: setattr(study.ledger, name, value),
        doc=doc,
    )


def journaled_options(options: dict[str, Any]) -> dict[str, Any]:
    """An algorithm's options as a study keeps and journals them: NumPy numbers as the
    Python ones they stand for (:func:`~mobo.problem.plain_number`), so a resumed call that
    gives them again compares equal (:func:`mobo.check_resumable`)."""
    return {k: plain_number(v) for k, v in options.items()}


def as_journaled(options: dict[str, Any]) -> dict[str, Any]:
    """``options`` as a journal reads back (:func:`journaled_options`, then JSON: a tuple
    as a list; a value JSON cannot hold as its repr, so it differs from any journaled one)."""
    return json.loads(json.dumps(journaled_options(options), default=repr))


def check_same_options(
    path: str | os.PathLike, algorithm: str, journaled: dict[str, Any], given: dict[str, Any]
) -> None:
    """Raise :class:`~mobo.journal.JournalMismatchError` naming each option of ``given``
    whose value differs from the ``journaled`` one (absent there: the algorithm's default).
    Resumed with other options, the journal would no longer say how its evaluations were
    proposed (it records the options once, in its header)."""
    absent = object()
    differ = [
        f"{key}={journaled[key]!r}, not {value!r}"
        if key in journaled
        else f"no {key} (the algorithm's default), not {key}={value!r}"
        for key, value in as_journaled(given).items()
        if journaled.get(key, absent) != value
    ]
    if differ:
        raise JournalMismatchError(
            f"journal {str(path)!r} holds a study of {algorithm!r} with {'; '.join(differ)}: "
            "resume it with the same options (or none: the journaled ones), or start a new journal"
        )


class StudyFailedError(RuntimeError):
    """Every evaluation of a study failed (there is no result to return), or its last ones
    failed in a row (``max_failures_in_a_row``), so it stopped before its budget."""


class Study:
    """Optimizes ``problem`` with ``algorithm``, one batch of evaluations at a time.

    Args:
        problem: The problem to optimize.
        algorithm: An algorithm name (see :func:`mobo.available_algorithms`).
        seed: Seed of every random choice; the same seed gives the same study.
        journal: Path of a JSON-lines journal to write (must not exist yet); every told
            evaluation is on disk before :meth:`tell` returns. None: keep it in memory.
            The study holds the journal's lock until :meth:`close` (or ``with study:``).
        **algorithm_options: Options of the algorithm (e.g. ``n_initial=10``); they must
            be JSON-serializable when a journal is kept, since the journal records them.
    """

    def __init__(
        self,
        problem: Problem,
        algorithm: str = "qlognehvi",
        *,
        seed: int = 0,
        journal: str | os.PathLike | None = None,
        **algorithm_options: Any,
    ) -> None:
        if not isinstance(problem, Problem):
            raise TypeError(f"problem must be a mobo.Problem, got {type(problem).__name__}")
        seed = plain_number(seed)
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise TypeError(f"seed must be an int, got {seed!r}")
        if not 0 <= seed < MAX_SEED:  # seeds a multiple of it apart made the same study
            raise ValueError(f"seed must be in [0, {MAX_SEED - 1}], got {seed}")
        self.problem = problem
        self.algorithm_name = algorithm
        self.algorithm_options = journaled_options(algorithm_options)
        self.algorithm = make_algorithm(algorithm, problem, **self.algorithm_options)
        self.seed = seed
        #: What the study asked and was told, its budget and its journal.
        self.ledger = StudyLedger(problem)
        if journal is not None:
            header = self._header()
            for key, value in header.items():  # name the part that is not
                try:
                    json.dumps(value, allow_nan=False)
                except (TypeError, ValueError) as err:
                    part = "the problem's spec()" if key == "problem" else key.replace("_", " ")
                    raise TypeError(
                        f"{part} must be JSON-serializable to be journaled: {err}"
                    ) from err
            self.ledger.journal = Journal.create(journal, header)

    evaluations = _on_ledger("evaluations", "The evaluations told, in the order told.")
    n_evals = _on_ledger("n_evals", "The evaluation budget (:meth:`optimize`'s; journaled).")
    max_cost = _on_ledger("max_cost", "The cost budget (:meth:`optimize`'s; journaled).")
    batch_size = _on_ledger("batch_size", "Points asked together by :meth:`optimize`.")
    read_only = _on_ledger("read_only", "Loaded only to read, or closed: it cannot tell.")

    # ----------------------------------------------------------------- persistence
    def _header(self) -> dict[str, Any]:
        return {
            "problem": self.problem.spec(),
            "algorithm": self.algorithm_name,
            "algorithm_options": self.algorithm_options,
            "seed": self.seed,
        }

    def close(self) -> None:
        """Release the journal's lock; the study can no longer tell."""
        self.ledger.close()

    def __enter__(self) -> Study:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        problem: Problem | None = None,
        *,
        read_only: bool = False,
        **algorithm_options: Any,
    ) -> Study:
        """Resume the study journaled at ``path`` with every completed evaluation.

        Args:
            path: The journal file.
            problem: The problem (needed unless it is one of :mod:`mobo.problems`, which
                the journal can rebuild). Must match the journal's problem.
            read_only: Only read (no lock, no byte written; the study cannot tell), e.g.
                to report on a study another process is running.
            **algorithm_options: The journaled algorithm options, given again (as
                :func:`mobo.optimize` does); each must equal its journaled value. None can
                be overridden: a journaled study's options are all journaled (:class:`Study`
                refuses one JSON cannot hold), and resumed with others the journal would no
                longer say how its evaluations were proposed. What is not journaled, how
                evaluations run (``executor``, ``callbacks``, ``timeout``), is given to
                :meth:`optimize` on each call instead.

        Raises:
            FileNotFoundError: If there is no journal at ``path``.
            JournalError: If the journal belongs to another problem or is corrupt.
            JournalMismatchError: If an option in ``algorithm_options`` differs from the
                journaled one (naming the option and both values).
            JournalLockedError: If another study holds it for writing.
            PermissionError: If it is to be written and cannot be.
        """
        header, records, lines = read_journal(path, numbered=True)
        spec = header["problem"]
        given = problem is not None
        if problem is None:
            from mobo.problems import from_journal

            problem = from_journal(path, spec)
        check_same_problem(
            path, spec, problem.spec(), given=given, advice=problem.fingerprint_advice
        )
        check_evaluations(path, records, problem, lines)
        options = header.get("algorithm_options", {})
        check_same_options(path, header["algorithm"], options, algorithm_options)
        study = cls(problem, header["algorithm"], seed=header["seed"], **options)
        study.read_only = read_only
        if not read_only:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", JournalRecoveryWarning)  # said once above
                study.ledger.journal, header, records = Journal.open_writer(path)
        state = study.ledger.restore(records)
        if state is not None:
            study.algorithm.load_state_dict(state)
        return study

    # ----------------------------------------------------------------- observations
    @property
    def n_evaluated(self) -> int:
        """Evaluations told so far, failed ones included."""
        return len(self.evaluations)

    @property
    def X(self) -> Tensor:
        """An ``n x d`` tensor of the successfully evaluated points, as the algorithm sees
        them (:func:`~mobo.evaluate.in_ask_order`)."""
        ok = [e for e in self._in_ask_order() if not e.failed]
        return torch.tensor([e.x for e in ok], dtype=DTYPE).reshape(-1, self.problem.dim)

    @property
    def Y(self) -> Tensor:
        """An ``n x m`` tensor of their objective values (maximized)."""
        ok = [e for e in self._in_ask_order() if not e.failed]
        return torch.tensor([e.y for e in ok], dtype=DTYPE).reshape(-1, self.problem.num_objectives)

    @property
    def C(self) -> Tensor:
        """An ``n x k`` tensor of their constraint values (``<= 0`` feasible; ``k = 0`` for
        an unconstrained problem)."""
        rows = [e.c or [] for e in self._in_ask_order() if not e.failed]
        return torch.tensor(rows, dtype=DTYPE).reshape(len(rows), self.problem.num_constraints)

    def _in_ask_order(self) -> list[Evaluation]:
        """The evaluations as the algorithm sees them (:func:`~mobo.evaluate.in_ask_order`)."""
        return in_ask_order(self.evaluations, self.ledger.asked)

    def result(self, n_evals: int | None = None) -> Result:
        """The study's :class:`~mobo.result.Result` so far; with ``n_evals``, of only its
        first ``n_evals`` evaluations in ask order (in the order told): the points a study of
        that budget asks too, since proposals do not depend on the budget (unless it cuts
        a batch, which that study asks smaller)."""
        evaluations = self.evaluations
        if n_evals is not None:
            first = self._in_ask_order()[: positive_int(n_evals, "n_evals")]
            evaluations = sorted(first, key=lambda e: e.index)
        return Result.from_evaluations(self.problem, self.algorithm_name, self.seed, evaluations)

    # ----------------------------------------------------------------- ask / tell
    def ask(self, q: int = 1) -> Tensor:
        """Propose ``q`` points (a ``q x d`` tensor in the problem's bounds).

        Points asked and not yet told are pending: later asks avoid them. Every ask is
        journaled, so after a crash or an interrupt with points untold (the rest of a batch,
        points in flight on an executor), the next ask returns those points (possibly fewer
        than ``q``), as the uninterrupted study evaluated them, before it proposes anything
        new.
        """
        q = positive_int(q, "q")
        X = self.ledger.asked.take_replay(q)
        if X is not None:
            self.ledger.remember_replayed(X, self.algorithm.state_dict())
            return X
        if self.max_cost is not None and hasattr(self.algorithm, "remaining_cost"):
            # MF-OSEMO keeps the end of a cost budget for target evaluations.
            self.algorithm.remaining_cost = self.cost_left
            self.algorithm.budget_cost = self.max_cost
        start, cpu_start = time.perf_counter(), time.process_time()
        seen = self._in_ask_order()  # not the order an executor told
        X_failed, in_a_row = failed_points(seen, self.problem.dim)
        X = self.algorithm.ask(
            q,
            self.X,
            self.Y,
            C=self.C,
            seed=self.seed,
            X_pending=self.ledger.asked.pending,
            X_failed=X_failed,
            failed_in_a_row=in_a_row,
            n_evaluated=self.n_evaluated + self.ledger.asked.pending.shape[0],
            n_extra=sum(e.extra for e in self.evaluations),
        )
        fields = dict(
            ask_seconds=time.perf_counter() - start,
            ask_cpu_seconds=time.process_time() - cpu_start,
            ask_warnings=dict(self.algorithm.last_warnings),
        )
        self.ledger.remember_asked(X, fields, self.algorithm.state_dict())
        return X

    def tell(
        self,
        X: Any,
        Y: Any,
        *,
        errors: Sequence[str | None] | None = None,
        eval_seconds: float = 0.0,
        extra: bool = False,
        costs: Sequence[float | None] | None = None,
    ) -> list[Evaluation]:
        """Record evaluations; each is in the journal (fsynced) before this returns.

        Args:
            X: A ``q x d`` array of evaluated points.
            Y: A ``q x (m + k)`` array of their outcomes, as :meth:`Problem.evaluate`
                returns them: objective values (maximized), then the ``k`` constraint
                values of a constrained problem. A row with a NaN or infinite value is
                recorded as a failed evaluation.
            errors: Per row, why it failed (or None).
            eval_seconds: Wall time the evaluation took, for the result's timings.
            extra: The points were told alongside an asked evaluation and explore no new
                region (e.g. other threshold vectors of a design just built,
                :class:`leanet.dense_fronts.DenseFronts`): the model learns from them, but
                the initial design does not count them, so it still spreads over the space.
            costs: Under fidelities, per row what the evaluation cost, or None: its price
                when asked, else :meth:`Problem.current_cost` now (e.g. evaluations made
                elsewhere, told with what they cost then, as :func:`~mobo.ax_bridge.from_ax`).
        """
        self.ledger.check_writable()
        X, Y = as_tensor(X, "X"), as_tensor(Y, "Y")
        if X.dim() == 1 and Y.dim() == 1:  # a single evaluation
            X, Y = X.unsqueeze(0), Y.unsqueeze(0)
        self.problem.check_told(X, Y)
        errors = list(errors) if errors is not None else [None] * X.shape[0]
        if len(errors) != X.shape[0]:
            raise ValueError(f"errors must have one entry per row of X ({X.shape[0]})")
        costs = list(costs) if costs is not None else [None] * X.shape[0]
        if len(costs) != X.shape[0]:
            raise ValueError(f"costs must have one entry per row of X ({X.shape[0]})")
        if not self.problem.has_fidelities and any(c is not None for c in costs):
            raise ValueError("costs are kept under fidelities only (else each costs 1)")
        costs = [None if c is None else plain_number(c) for c in costs]
        for c in costs:  # journaled, and summed into every cost budget from here on
            number = isinstance(c, (int, float)) and not isinstance(c, bool)
            if c is not None and not (number and math.isfinite(c) and c >= 0):
                raise ValueError(f"costs must be finite non-negative numbers or None, got {c!r}")
        if not X.shape[0]:
            return []  # nothing told
        # Each row under the ask that proposed it (rows no ask proposed: one new step).
        steps = self.ledger.asked.steps_of(X)
        asks = [self.ledger.ask_of(step) for step in steps]
        told = []
        rows = zip(X, Y, errors, costs, steps, asks, strict=True)
        for x, y, error, cost, step, (fields, state) in rows:
            self.ledger.journal_state(step, state)
            told.append(
                self.ledger.record(
                    x,
                    y,
                    error,
                    step=step,
                    eval_seconds=eval_seconds,
                    extra=extra,
                    cost=cost,
                    **fields,
                )
            )
        return told

    def stop(self) -> None:
        """Ask :meth:`optimize` to stop after the current batch (e.g. from a callback).

        On an executor no new point is submitted; those in flight are still told.
        """
        self.ledger.stopped = True

    # ----------------------------------------------------------------- the loop
    def optimize(
        self,
        n_evals: int | None = None,
        *,
        max_cost: float | None = None,
        batch_size: int | None = None,
        show_progress: bool = True,
        callbacks: Sequence[Callback] = (),
        executor: Executor | None = None,
        asynchronous: bool = False,
        timeout: float | None = None,
        max_failures_in_a_row: int | None = 10,
    ) -> Result:
        """Ask, evaluate and tell until ``n_evals`` evaluations (in all) are done, or
        their cost reaches ``max_cost``.

        Without an executor each batch is evaluated here, in one ``problem.evaluate``
        call, and told in order: the study is deterministic given its seed.

        With an ``executor`` each point of a batch is submitted on its own and told as
        soon as it completes (journaled at once, so the journal and ``Evaluation.index``
        hold the order told, which may differ from the order asked; ``Evaluation.step``
        names the ask; the algorithm sees each batch in the order asked, so a synchronous
        study does not depend on which worker was quicker). With ``asynchronous=True`` up
        to ``batch_size`` evaluations are in flight and new points are proposed as soon as
        one completes, with the running points passed to the algorithm as ``X_pending``.
        A future that raises (e.g. Dask's ``KilledWorker`` when workers died running it;
        Dask itself retries such a task on another worker first) or gives no result within
        ``timeout`` is recorded as a failed evaluation and the study goes on.

        Args:
            n_evals: The study's total budget, failed evaluations and those already done
                included. None: the budget recorded in the journal (to resume), or no
                limit on the count if ``max_cost`` is given. Fewer than the study holds
                (a rerun with a smaller budget on a longer run's journal): nothing is run
                or journaled, the recorded budget stays, a warning says so, and the result
                is of the first ``n_evals`` (:meth:`result`), as a run of that budget.
            max_cost: A cost budget (under fidelities in the problem's cost units, else
                one per evaluation): no point is asked once the evaluations told and in
                flight cost this much (the last may take the total past it). MF-OSEMO is
                told what is left before each ask (``remaining_cost``), so it spends the
                end of the budget at the target fidelity, the only one counted.
                Journaled, so ``optimize()`` resumes to it. Less than the study spent:
                as for a smaller ``n_evals``, the result is of the points a run of that
                budget asks (a ValueError under MF-OSEMO, whose proposals depend on it).
            batch_size: Points proposed and evaluated together; asynchronously, the
                number of evaluations kept in flight. None: the journaled one (to resume
                as the study ran), else 1.
            show_progress: Show a tqdm progress bar on a terminal; elsewhere (a log file)
                print one summary line when done.
            callbacks: Called as ``callback(study, evaluations)`` after each tell: after
                each batch without an executor, after each evaluation with one. A callback
                with a ``start(study)`` method has it called once before the first ask.
            executor: A :class:`concurrent.futures.Executor` to evaluate on (e.g.
                ``ThreadPoolExecutor``, ``ProcessPoolExecutor`` or
                ``distributed.Client(...).get_executor()``). Process and cluster
                executors need a picklable problem (a spawn or forkserver pool, one whose
                functions a module defines, not ``python -c`` or a notebook). A process
                pool that breaks (a worker died) stops the study, its points in flight
                not recorded but asked first on resume.
            asynchronous: With an executor, refill free slots as evaluations complete
                instead of waiting for the whole batch.
            timeout: With an executor, seconds an evaluation may take from its start
                on a thread or process pool or Dask (from submission on other
                executors); a late one is recorded as failed, though it runs on (no
                pool or Dask worker stops a running task; in a thread, one that leaves a
                ``catch_warnings`` block after the study may change the warning filters
                it restored, see :func:`~mobo.executor.run_on_executor`). When such late
                evaluations hold every worker and no queued one starts for another
                ``timeout``, :class:`~mobo.executor.ExecutorStalledError` stops the
                study; the queued points are asked first on resume. None: wait as long
                as it takes.
            max_failures_in_a_row: Stop and raise :class:`StudyFailedError` once this
                many evaluations told in this call failed in a row, rather than spend the
                rest of the budget on a cause that no proposal escapes. None: go on. With
                an executor and ``asynchronous=True`` the streak is judged per ask (an
                ask's points are told in the order asked), and free workers get new points
                meanwhile: up to ``batch_size`` more failures may be told (and paid for)
                before the study stops.

        Returns:
            The study's :class:`~mobo.result.Result` (of its first ``n_evals``, see above).
        """
        why, within = run_to_budget(
            self,
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
        if why is not None:
            raise StudyFailedError(why)
        return self.result(within)  # within: a budget of fewer than held ran nothing

    def may_ask(self, in_flight: int = 0) -> int:
        """How many points :meth:`optimize` may still ask: its ``n_evals`` less the
        evaluations told and ``in_flight``, none once stopped or the cost budget spent
        (without fidelities, each costs one: the budget caps the count)."""
        left = self.cost_left
        if self.ledger.stopped or self.ledger.spent(left):
            return 0
        n = sys.maxsize if self.n_evals is None else self.n_evals - self.n_evaluated - in_flight
        n = max(n, 0)  # a callback may have told points past the budget
        return n if self.problem.has_fidelities or left == math.inf else min(n, math.ceil(left))

    @property
    def cost_spent(self) -> float:
        """The total cost of the evaluations told so far (their number, without fidelities)."""
        return sum(e.cost if e.cost is not None else 1.0 for e in self.evaluations)

    @property
    def cost_left(self) -> float:
        """What the cost budget leaves after the evaluations told and those in flight
        (infinite without ``max_cost``)."""
        if self.max_cost is None:
            return math.inf
        asked = self.ledger.asked
        priced = asked.pending_cost if self.problem.has_fidelities else asked.pending.shape[0]
        return self.max_cost - self.cost_spent - priced

    def __repr__(self) -> str:
        return (
            f"Study(problem={self.problem.name!r}, algorithm={self.algorithm_name!r}, "
            f"seed={self.seed}, evaluations={self.n_evaluated})"
        )
