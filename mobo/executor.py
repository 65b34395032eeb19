"""Evaluating a study's points one by one on an executor (a thread or process pool, Dask).

:meth:`Study.optimize`'s loop with ``executor=``: submit, wait, tell each as it completes,
with timeouts that run from an evaluation's start. Apart from :mod:`mobo.evaluate` (the loop
without an executor, and what both share) because knowing when a pool or a Dask worker
started an evaluation is its own concern.
"""

from __future__ import annotations

import io
import math
import os
import pickle
import shutil
import sys
import tempfile
import time
import types
import uuid
import warnings
from collections.abc import Callable
from concurrent.futures import (
    FIRST_COMPLETED,
    BrokenExecutor,
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from mobo.evaluate import evaluate_batch, within_budget
from mobo.problem import DTYPE, EvaluationShapeError, Problem, as_tensor
from mobo.result import Evaluation

if TYPE_CHECKING:
    from mobo.study import Study


#: Seconds between two looks at which queued evaluations a pool has started, while a
#: timeout runs: a start is seen at most this late, so an evaluation gets its whole time.
START_POLL_SECONDS = 0.05


class ExecutorStalledError(RuntimeError):
    """An executor started none of the queued evaluations for a whole ``timeout`` while
    its workers still ran evaluations that had timed out (a thread or process pool cannot
    stop them). The queued points are not failures: a resumed study asks them first."""


def run_on_executor(
    study: Study,
    executor: Executor,
    batch_size: int,
    asynchronous: bool,
    timeout: float | None,
    after_tell: Callable[[list[Evaluation]], None],
) -> None:
    """The executor loop of :meth:`Study.optimize`: submit, wait, tell each as it completes.

    A timeout runs from when the evaluation starts (a thread pool's future turns running;
    a process pool's worker or a Dask worker reports it, :class:`ProcessStarts` and
    :class:`DaskStarts`), so a point that waits
    in the queue behind slow ones is not recorded as failed without ever running; other
    executors report no start, so their clock runs from submission.

    The caller's warning filters and ``showwarning`` are as before when this returns or
    raises, whatever the evaluations running in threads meanwhile did to them. Not later: an
    evaluation still running after its timeout (no pool stops it) that leaves a
    ``catch_warnings`` block after the study writes back what it saved on entering, which
    may be an ask's temporary state (every later warning then recorded to a dead list)."""
    # catch_warnings saves and restores the process-wide filters and is not thread-safe: an
    # ask's block (mobo.expected_warnings, the GP fits) and one in an objective on a worker
    # thread that exit out of order leave the other's temporary filters for good (seen:
    # the fits' 'ignore Warning', which silenced every later warning in the process). Python
    # before 3.14 cannot keep filters per thread, so the state before the study is put back.
    # Putting it back again when an abandoned evaluation ends would also undo a caller's own
    # catch_warnings open at that moment (pytest.warns), which no check here can tell apart.
    with warnings.catch_warnings():
        _submit_and_tell(study, executor, batch_size, asynchronous, timeout, after_tell)


def _submit_and_tell(
    study: Study,
    executor: Executor,
    batch_size: int,
    asynchronous: bool,
    timeout: float | None,
    after_tell: Callable[[list[Evaluation]], None],
) -> None:
    """:func:`run_on_executor`'s loop, without putting the warning filters back."""
    if isinstance(executor, ProcessPoolExecutor):
        check_picklable(study.problem, executor)
    reporter: DaskStarts | ProcessStarts | None = None  # evaluations that report a start
    if DaskStarts.serves(executor):
        reporter = DaskStarts(executor)
    elif isinstance(executor, ProcessPoolExecutor):
        reporter = ProcessStarts(executor)
    is_running: Callable[[Future], bool] | None = None  # None: starts unknown
    if reporter is not None:
        is_running = reporter.running
    elif isinstance(executor, ThreadPoolExecutor):
        is_running = Future.running
    in_flight: dict[Future, InFlight] = {}
    started: dict[Future, float] = {}
    abandoned: list[Future] = []  # timed out while running: a pool cannot stop them
    last_progress = time.perf_counter()
    try:
        while True:
            free = min(batch_size - len(in_flight), study.may_ask(len(in_flight)))
            if free > 0 and (asynchronous or not in_flight):
                X = within_budget(study, study.ask(free))
                for i, x in enumerate(X):
                    try:
                        future = (
                            reporter.submit(study.problem, x.unsqueeze(0))
                            if reporter is not None
                            else executor.submit(evaluate_batch, study.problem, x.unsqueeze(0))
                        )
                    except BaseException as err:  # a shut-down executor; a problem Dask cannot send
                        study.ledger.asked.forget(X[i:])  # never submitted: asked first next time
                        if isinstance(err, BrokenExecutor):
                            n = len(in_flight) + len(X) - i
                            raise broken_pool_error(err, executor, study.problem, n) from err
                        raise
                    step = study.ledger.asked.step_of(x)
                    fields, state = study.ledger.ask_of(step)
                    in_flight[future] = InFlight(x, step, fields, time.perf_counter(), state)
                    if is_running is None:
                        started[future] = in_flight[future].submitted
                last_progress = time.perf_counter()
            if not in_flight:
                return
            if _see_starts(in_flight, started, is_running):
                last_progress = time.perf_counter()
            wait_seconds = None
            if timeout is not None:
                now = time.perf_counter()
                deadlines = [started[f] + timeout for f in in_flight if f in started]
                wait_seconds = max(0.0, min(deadlines) - now) if deadlines else None
                if len(deadlines) < len(in_flight):  # some queued: look again soon
                    wait_seconds = (
                        START_POLL_SECONDS
                        if wait_seconds is None
                        else min(wait_seconds, START_POLL_SECONDS)
                    )
            done, _ = wait(in_flight, timeout=wait_seconds, return_when=FIRST_COMPLETED)
            _see_starts(in_flight, started, is_running)
            now = time.perf_counter()
            finished = [  # in submission order, so a tie is told the same way every time
                future
                for future, job in in_flight.items()
                if future in done
                or (timeout is not None and future in started and now - started[future] >= timeout)
            ]
            # A pool whose workers died fails every future it holds: no evaluation's outcome.
            # They stay in flight, to be asked first next time (the finally below).
            broken = [f for f in finished if f.done() and _broke(f)]
            finished = [f for f in finished if f not in broken]
            for future in finished:
                job = in_flight.pop(future)
                # Before a cancel: a cancelled future's outcome is a bare CancelledError.
                y, error = outcome(future, timeout, study.problem.num_outcomes)
                if not future.done() and is_running is None:
                    future.cancel()  # it may be queued still, on an executor that can stop it
                elif not future.done():  # running: no pool or Dask worker can stop it
                    abandoned.append(future)
                try:
                    study.ledger.journal_state(job.step, job.algorithm_state)
                    evaluation = study.ledger.record(
                        job.x,
                        y,
                        error,
                        step=job.step,
                        eval_seconds=now - started.pop(future, job.submitted),
                        **job.ask,
                    )
                except BaseException:  # e.g. a full disk: asked first next time, not lost
                    study.ledger.asked.forget(job.x.unsqueeze(0))
                    raise
                after_tell([evaluation])
                last_progress = now
            if broken:
                err = broken[0].exception()
                raise broken_pool_error(err, executor, study.problem, len(in_flight)) from err
            if (
                timeout is not None
                and in_flight
                and not any(f in started for f in in_flight)
                and any(not f.done() for f in abandoned)
                and now - last_progress >= timeout
            ):
                raise ExecutorStalledError(
                    f"the executor started none of {len(in_flight)} queued evaluations in "
                    f"{timeout} s while its workers still run evaluations that timed out "
                    "(a thread or process pool or a Dask worker cannot stop them): evaluate "
                    "on a fresh executor; the study resumes from its journal, queued points "
                    "first"
                )
    finally:
        # Interrupted: what will not be told now is asked first next time (not skipped).
        for future in in_flight:
            future.cancel()
        if in_flight:
            study.ledger.asked.forget(torch.stack([job.x for job in in_flight.values()]))
        if reporter is not None:
            reporter.close()


def _see_starts(
    in_flight: dict[Future, InFlight],
    started: dict[Future, float],
    is_running: Callable[[Future], bool] | None,
) -> bool:
    """Note the time of every in-flight future the executor has started since the last
    look (one that finished unseen keeps its submission time); whether there was one."""
    now, seen = time.perf_counter(), False
    for future in in_flight if is_running is not None else ():
        if future not in started and is_running(future):
            started[future], seen = now, True
    return seen


class DaskStarts:
    """Which evaluations a Dask executor (``distributed.Client(...).get_executor()``) has
    started: its futures stay pending until done, so each evaluation is submitted wrapped
    to send an event (on a topic of its own) as a worker starts it. Timed from submission
    instead, the points queued behind a hung one timed out and were journaled as failed
    without ever running."""

    @staticmethod
    def serves(executor: Executor) -> bool:
        return type(executor).__module__.startswith("distributed") and hasattr(executor, "_client")

    def __init__(self, executor: Executor) -> None:
        self.executor, self.client = executor, executor._client  # its only way to the client
        self.topic = f"mobo-started-{uuid.uuid4().hex}"
        self.started: set[str] = set()  # added to on the client's event-loop thread
        self.keys: dict[Future, str] = {}
        self.client.subscribe_topic(self.topic, lambda event: self.started.add(event[1]))

    def submit(self, problem: Problem, X: Tensor) -> Future:
        key = uuid.uuid4().hex
        future = self.executor.submit(evaluate_reporting_start, self.topic, key, problem, X)
        self.keys[future] = key
        return future

    def running(self, future: Future) -> bool:
        return self.keys.get(future) in self.started and not future.done()

    def close(self) -> None:
        try:
            self.client.unsubscribe_topic(self.topic)
        except Exception:  # noqa: BLE001 - a closed client: nothing to unsubscribe from
            pass


def evaluate_reporting_start(
    topic: str, key: str, problem: Problem, X: Tensor
) -> tuple[Tensor, list[str | None]]:
    """:func:`evaluate_batch` on a Dask worker, which first reports ``key`` on ``topic``
    (:class:`DaskStarts`). Module-level, so Dask can pickle it."""
    from distributed import get_worker

    get_worker().log_event(topic, key)
    return evaluate_batch(problem, X)


class ProcessStarts:
    """Which evaluations a ``concurrent.futures`` process pool has started: it marks a
    future running when it enters the pool's call queue, which holds one more than the
    workers, so a point waiting there behind a hung one timed out and was journaled as
    failed without ever running. Each evaluation creates a file of its own as a worker
    starts it (a pool's workers share the machine's file system)."""

    def __init__(self, executor: Executor) -> None:
        self.executor = executor
        self.folder = tempfile.mkdtemp(prefix="mobo-starts-")
        self.markers: dict[Future, str] = {}

    def submit(self, problem: Problem, X: Tensor) -> Future:
        marker = os.path.join(self.folder, uuid.uuid4().hex)
        future = self.executor.submit(evaluate_marking_start, marker, problem, X)
        self.markers[future] = marker
        return future

    def running(self, future: Future) -> bool:
        return future.running() and os.path.exists(self.markers[future])

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def evaluate_marking_start(
    marker: str, problem: Problem, X: Tensor
) -> tuple[Tensor, list[str | None]]:
    """:func:`evaluate_batch` in a process pool's worker, which first creates the file
    ``marker`` (:class:`ProcessStarts`). Module-level, so the pool can pickle it."""
    try:
        with open(marker, "x"):
            pass
    except OSError:  # the study stopped waiting (its folder is gone): evaluate all the same
        pass
    return evaluate_batch(problem, X)


@dataclass(frozen=True)
class InFlight:
    """A point submitted to an executor, with what its evaluation record needs."""

    x: Tensor
    step: int
    ask: dict[str, Any]  # the ask's Evaluation fields (StudyLedger.ask_of)
    submitted: float
    algorithm_state: dict[str, Any]


def check_picklable(problem: Problem, executor: Executor | None = None) -> None:
    """A process pool sends the problem to its workers by pickle; one that cannot be pickled
    would fail every evaluation alike (journaled as failures that use up the budget), so it
    is refused before any is submitted. (Dask pickles with cloudpickle, lambdas included.)
    So is one that refers to functions of an interactive ``__main__`` (a notebook, ``python
    -c``) on a pool that does not fork: its workers cannot import them and die, breaking
    the pool (:func:`broken_pool_error`, for the cases this cannot see)."""
    try:
        pickle.dumps(problem)
    except Exception as err:  # noqa: BLE001 - pickle raises several types for the same thing
        raise TypeError(
            f"problem {problem.name!r} cannot be pickled for a process pool "
            f"({type(err).__name__}: {err}): define its functions at module level, or "
            "evaluate on a ThreadPoolExecutor"
        ) from err
    method = start_method(executor)
    interactive = getattr(sys.modules.get("__main__"), "__file__", None) is None
    names = main_references(problem) if method not in (None, "fork") and interactive else []
    if names:
        raise TypeError(
            f"problem {problem.name!r} uses {', '.join(names)} from an interactive __main__ "
            f"(a notebook, python -c or a prompt), which the workers of a {method!r} process "
            "pool cannot import: define it in an importable module, or use a 'fork' context "
            "or a ThreadPoolExecutor"
        )


def start_method(executor: Executor | None) -> str | None:
    """How a process pool starts its workers ('fork', 'spawn', 'forkserver'), or None."""
    context = getattr(executor, "_mp_context", None)  # a process pool's; private, no other way
    return context.get_start_method() if context is not None else None


def _broke(future: Future) -> bool:
    """Whether a finished future failed because its executor broke (a worker died)."""
    return not future.cancelled() and isinstance(future.exception(), BrokenExecutor)


def broken_pool_error(
    err: BrokenExecutor, executor: Executor, problem: Problem, n_in_flight: int
) -> BrokenExecutor:
    """``err`` (of its type, so callers catching it still do) saying what became of the
    points in flight and, for a problem that refers to ``__main__`` on a pool that does not
    fork, the likely cause: its workers cannot import what an interactive session defined."""
    message = (
        f"the executor's workers broke ({str(err).rstrip('.')}; a worker's own error is on "
        f"its stderr). The points in flight ({n_in_flight}) are not recorded as failed: a "
        "resumed study asks them first, on a fresh executor (a point whose evaluation kills "
        "its worker, by a crash or running out of memory, will do so again)."
    )
    method = start_method(executor)
    names = main_references(problem)
    if method not in (None, "fork") and names:
        message += (
            f" The problem uses {', '.join(names)} from __main__, which a {method!r} worker "
            "imports only when __main__ is a script file, not under python -c or in a "
            "notebook: define it in an importable module (or use a 'fork' context or a "
            "ThreadPoolExecutor)."
        )
    return type(err)(message)


def main_references(obj: Any) -> list[str]:
    """The functions and classes of ``__main__`` that pickling ``obj`` refers to by name."""
    found: set[str] = set()

    class Spy(pickle.Pickler):
        def reducer_override(self, o: Any) -> Any:
            if isinstance(o, (type, types.FunctionType)) and o.__module__ == "__main__":
                found.add(o.__qualname__)
            return NotImplemented

    try:
        Spy(io.BytesIO()).dump(obj)
    except Exception:  # noqa: BLE001 - what could not be pickled has been reported already
        pass
    return sorted(found)


def outcome(future: Future, timeout: float | None, m: int) -> tuple[Tensor, str | None]:
    """The outcomes (length ``m``: objectives and constraint values) and error of a
    finished or overdue future."""
    nan_row = torch.full((m,), math.nan, dtype=DTYPE)
    if not future.done():
        return nan_row, f"TimeoutError: no result within {timeout} s"
    try:
        Y, errors = future.result()
    except (KeyboardInterrupt, SystemExit, EvaluationShapeError):
        raise
    except BaseException as err:  # noqa: BLE001 - a lost Dask worker or a cancelled task is data
        return nan_row, f"{type(err).__name__}: {err}"
    return as_tensor(Y, "Y")[0], errors[0]
