"""Evaluation on executors: results told as they complete, asynchronous refills, lost workers."""

from __future__ import annotations

import functools
import json
import os
import re
import signal
import threading
import time
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

import mobo


def _journal(path):
    return [json.loads(line) for line in path.read_text().splitlines()[1:] if '"eval"' in line]


def _two_objectives(X):
    return torch.stack([X[:, 0], 1 - X[:, 1]], dim=-1)


def _hanging_on_first(release: threading.Event, ran: list):
    """Objectives that hang on their first call until ``release`` (at most 30 s),
    recording each call's first point in ``ran``."""

    def hangs_first(X):
        ran.append(X[0].tolist())
        if len(ran) == 1:
            release.wait(timeout=30)
        return _two_objectives(X)

    return hangs_first


def _first_sobol_batch(problem, q, seed):
    empty = torch.empty(0, problem.dim, dtype=torch.float64)
    return mobo.make_algorithm("sobol", problem).ask(q, empty, empty, seed=seed)


def test_a_batch_is_told_as_it_completes_each_journaled_at_once(tmp_path):
    unit = [[0.0, 0.0], [1.0, 1.0]]
    probe = mobo.FunctionProblem(_two_objectives, unit, 2, [-1.0, -1.0], name="slow")
    asked = _first_sobol_batch(probe, 3, seed=0)
    # Completion order forced by events, not by sleeps (a loaded machine reorders sleeps):
    # the last asked point finishes first, each tell releases the next one.
    released = [threading.Event(), threading.Event(), threading.Event()]
    released[2].set()
    rank = {tuple(x.tolist()): k for k, x in enumerate(asked)}

    def slow(X):
        k = rank.get(tuple(X[0].tolist()))
        if k is not None:
            assert released[k].wait(timeout=60), "the study never told the point before"
            if k == 0:
                time.sleep(0.2)  # the slowest point: the batch lasts at least this long
        return _two_objectives(X)

    problem = mobo.FunctionProblem(slow, unit, 2, [-1.0, -1.0], name="slow")
    path = tmp_path / "study.jsonl"
    journaled_at_tell = []

    def count_journal(study, told):
        journaled_at_tell.append((len(told), len(_journal(path)), study.n_evaluated))
        if len(journaled_at_tell) < 3:
            released[2 - len(journaled_at_tell)].set()

    with ThreadPoolExecutor(3) as executor:
        result = mobo.optimize(
            problem,
            "sobol",
            n_evals=3,
            batch_size=3,
            journal=path,
            executor=executor,
            show_progress=False,
            callbacks=[count_journal],
        )
    # The first asked point is the slowest: told last, and the journal keeps the told order.
    torch.testing.assert_close(result.X, asked.flip(0), rtol=0, atol=0)
    records = _journal(path)
    assert [r["index"] for r in records] == [0, 1, 2]
    assert {r["step"] for r in records} == {0}  # one ask proposed all three
    assert journaled_at_tell == [(1, 1, 1), (1, 2, 2), (1, 3, 3)]
    # The batch took as long as its slowest point.
    assert result.eval_seconds.shape == (1,) and float(result.eval_seconds[0]) >= 0.2


def _fails_high(X, *, slow_for_large_x0):
    """Fails above x1 = 0.55; slower the larger (or the smaller) x0, so a batch of two
    finishes in one order or the other."""
    x0 = float(X[0, 0])
    time.sleep(0.3 * (x0 if slow_for_large_x0 else 1 - x0))
    Y = torch.stack([X[:, 0] - X[:, 1] ** 2, 1 - X[:, 0] ** 2 + 0.3 * X[:, 1]], dim=-1)
    Y[X[:, 1] > 0.55] = float("nan")
    return Y


def test_a_synchronous_batch_is_seen_by_the_algorithm_in_the_order_asked():
    """Told as they complete, a batch reached the model in completion order: which failures
    were 'in a row' (modelled at the worst outcome) changed with which worker was quicker,
    and so did the first model batch ([[0, 1], [0.91, 0]] against [[0.73, 0], [0.04, 0.85]]
    on Dask). Now each batch is seen in the order asked: the same seed, the same study."""
    studies = []
    for slow_for_large_x0 in (True, False):
        function = functools.partial(_fails_high, slow_for_large_x0=slow_for_large_x0)
        problem = mobo.FunctionProblem(function, [[0, 0], [1, 1]], 2, [-1.0, -1.0], name="g")
        study = mobo.Study(problem, "qlognehvi", seed=0, n_initial=4)
        with ThreadPoolExecutor(2) as executor:
            study.optimize(
                6, batch_size=2, executor=executor, show_progress=False, max_failures_in_a_row=None
            )
        studies.append(study)
    a, b = studies
    assert a.result().failed.any()  # failures to tell apart in a row or not
    assert torch.equal(a.X, b.X) and torch.equal(a.Y, b.Y)  # the model's data, rows and all
    ask_order = [sorted((e.step, tuple(e.x), e.failed) for e in s.evaluations) for s in studies]
    assert ask_order[0] == ask_order[1]  # the same proposals, the model batch included


def test_asynchronous_mode_keeps_the_batch_in_flight_and_passes_pending_points(toy_problem):
    in_flight, most = [0], [0]
    lock = threading.Lock()

    def tracked(X):
        with lock:
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
        time.sleep(0.02 + 0.1 * float(X[0, 0]))
        with lock:
            in_flight[0] -= 1
        return _two_objectives(X)

    problem = mobo.FunctionProblem(tracked, [[0, 0], [1, 1]], 2, [-1.0, -1.0], name="tracked")
    study = mobo.Study(problem, "random", seed=0)
    asks = []
    ask = study.algorithm.ask

    def spy(q, X, Y, **kwargs):
        asks.append((q, kwargs["X_pending"].shape[0], X.shape[0]))
        return ask(q, X, Y, **kwargs)

    study.algorithm.ask = spy
    with ThreadPoolExecutor(3) as executor:
        result = study.optimize(
            8, batch_size=3, executor=executor, asynchronous=True, show_progress=False
        )
    assert result.n_evaluations == 8 and most[0] <= 3
    assert asks[0] == (3, 0, 0)
    # Later asks refill freed slots, the points still running passed as pending.
    assert all(q + pending <= 3 for q, pending, _ in asks[1:])
    assert sum(pending >= 1 for _, pending, _ in asks[1:]) >= len(asks[1:]) // 2 >= 1
    assert sum(q for q, _, _ in asks) == 8
    assert study.ledger.asked.pending.shape[0] == 0
    steps = [e.step for e in study.evaluations]
    assert len(set(steps)) == len(asks)  # each ask is one step, whatever the told order


def test_failures_and_timeouts_on_an_executor_are_recorded_and_the_study_goes_on(tmp_path):
    def flaky(X):
        if X[0, 0] > 0.85:
            time.sleep(1.0)  # overdue
        if X[0, 0] < 0.15:
            raise RuntimeError("simulator crashed")
        Y = _two_objectives(X)
        Y[X[:, 1] < 0.2] = float("nan")
        return Y

    problem = mobo.FunctionProblem(flaky, [[0, 0], [1, 1]], 2, [-1.0, -1.0], name="flaky")
    path = tmp_path / "flaky.jsonl"
    # Spare threads: an overdue evaluation still holds its thread until it returns.
    with ThreadPoolExecutor(8) as executor:
        result = mobo.optimize(
            problem,
            "sobol",
            n_evals=16,
            batch_size=4,
            seed=0,
            journal=path,
            executor=executor,
            timeout=0.5,
            show_progress=False,
        )
    assert result.n_evaluations == 16
    errors = {r["error"].split(":")[0] for r in _journal(path) if r["error"]}
    assert errors == {"TimeoutError", "RuntimeError", "non-finite objective values [nan, nan]"}
    late, crashed = result.X[:, 0] > 0.85, result.X[:, 0] < 0.15
    nan = (result.X[:, 1] < 0.2) & ~late & ~crashed
    assert torch.equal(result.failed, late | crashed | nan)


def test_a_timeout_runs_from_the_start_of_an_evaluation_not_its_time_in_the_queue(tmp_path):
    """One worker, batches of 3 points of 0.2 s each, timeout 0.5 s: the third waited
    0.4 s in the queue and was recorded as a TimeoutError that never ran."""
    ran = []

    def steady(X):
        ran.append(X[0].tolist())
        time.sleep(0.2)
        return _two_objectives(X)

    problem = mobo.FunctionProblem(steady, [[0, 0], [1, 1]], 2, [-1.0, -1.0], name="steady")
    study = mobo.Study(problem, "sobol", seed=0)
    with ThreadPoolExecutor(1) as executor:
        study.optimize(6, batch_size=3, executor=executor, timeout=0.5, show_progress=False)
    assert [e.error for e in study.evaluations] == [None] * 6 and len(ran) == 6
    assert max(e.eval_seconds for e in study.evaluations) < 0.45  # each timed from its start


def test_a_pool_clogged_by_timed_out_evaluations_stops_the_study_without_failing_the_queue(
    tmp_path,
):
    """A hung evaluation keeps its thread after its timeout; the points queued behind it
    were recorded as failed (never proposed again) without running. Now the study stops
    with ExecutorStalledError and a resumed study asks them first."""
    release, ran = threading.Event(), []
    problem = mobo.FunctionProblem(
        _hanging_on_first(release, ran), [[0, 0], [1, 1]], 2, [-1.0, -1.0], name="h"
    )
    path = tmp_path / "h.jsonl"
    executor = ThreadPoolExecutor(1)
    try:
        with pytest.raises(mobo.ExecutorStalledError, match="started none of 1 queued"):
            mobo.optimize(
                problem, "sobol", n_evals=4, batch_size=2, seed=0, journal=path,
                executor=executor, timeout=0.3, show_progress=False,
            )  # fmt: skip
    finally:
        release.set()
        executor.shutdown(wait=True)
    told = _journal(path)
    assert [r["error"].split(":")[0] for r in told] == ["TimeoutError"] and len(ran) == 1
    queued = _first_sobol_batch(problem, 2, seed=0)[1]
    with ThreadPoolExecutor(1) as fresh:
        study = mobo.Study.load(path, problem)
        result = study.optimize(batch_size=2, executor=fresh, timeout=5, show_progress=False)
    torch.testing.assert_close(result.X[1], queued)  # asked first, not skipped
    assert result.failed.tolist() == [True, False, False, False]


def test_each_timeout_fires_at_its_own_deadline_not_at_a_later_ones():
    """Two hung evaluations started 0.4 s apart, timeout 1 s: the first is recorded as
    timed out about 1 s after its start, not when the second one's time is up too."""
    release, lock, calls = threading.Event(), threading.Lock(), [0]

    def two_hang(X):
        with lock:
            calls[0] += 1
            call = calls[0]
        if call == 2:
            time.sleep(0.4)  # frees its thread: the third point starts 0.4 s late
        else:
            release.wait(timeout=30)
        return _two_objectives(X)

    problem = mobo.FunctionProblem(two_hang, [[0, 0], [1, 1]], 2, [-1.0, -1.0], name="h2")
    study = mobo.Study(problem, "sobol", seed=0)
    with ThreadPoolExecutor(2) as executor:
        try:
            study.optimize(3, batch_size=2, executor=executor, asynchronous=True,
                           timeout=1.0, show_progress=False)  # fmt: skip
        finally:
            release.set()
    timed_out = [e for e in study.evaluations if e.failed]
    assert [e.error.split(":")[0] for e in timed_out] == ["TimeoutError"] * 2
    assert timed_out[0].eval_seconds < 1.25  # not ~1.4 s: the second one's deadline


def test_an_evaluation_that_overruns_its_timeout_briefly_does_not_stall_the_study():
    """The point queued behind a timed-out one gets a whole timeout to start: the overdue
    evaluation ends soon after and frees the pool, so the study goes on to its budget."""
    ran = []

    def overruns_first(X):
        ran.append(X[0].tolist())
        time.sleep(0.75 if len(ran) == 1 else 0.01)
        return _two_objectives(X)

    problem = mobo.FunctionProblem(overruns_first, [[0, 0], [1, 1]], 2, [-1.0, -1.0], name="o")
    study = mobo.Study(problem, "sobol", seed=0)
    with ThreadPoolExecutor(1) as executor:
        study.optimize(2, batch_size=2, executor=executor, timeout=0.5, show_progress=False)
    errors = [e.error and e.error.split(":")[0] for e in study.evaluations]
    assert errors == ["TimeoutError", None] and len(ran) == 2


def test_an_evaluation_of_the_wrong_shape_on_an_executor_stops_the_study():
    """A problem returning the wrong shape is a bug in its code: on an executor too the
    study stops at the first one instead of recording every evaluation as failed."""

    def one_outcome(X):
        return X[:, :1]

    problem = mobo.FunctionProblem(one_outcome, [[0, 0], [1, 1]], 2, [-1.0, -1.0], name="m")
    study = mobo.Study(problem, "sobol", seed=0)
    with ThreadPoolExecutor(2) as executor, pytest.raises(mobo.EvaluationShapeError):
        study.optimize(4, batch_size=2, executor=executor, show_progress=False)
    assert study.n_evaluated == 0


class _Delegating(Executor):
    """An executor of another kind than mobo knows: its futures report no start."""

    def __init__(self, workers):
        self.pool = ThreadPoolExecutor(workers)

    def submit(self, fn, /, *args, **kwargs):
        return self.pool.submit(fn, *args, **kwargs)

    def shutdown(self, wait=True, **kwargs):
        self.pool.shutdown(wait=wait)


def test_on_an_executor_reporting_no_starts_an_overdue_queued_point_is_cancelled():
    """Its clock runs from submission: a point still queued when its time is up is recorded
    as timed out and cancelled, not run later for nothing on the study's executor."""
    release, ran = threading.Event(), []
    problem = mobo.FunctionProblem(
        _hanging_on_first(release, ran), [[0, 0], [1, 1]], 2, [-1.0, -1.0], name="q"
    )
    study = mobo.Study(problem, "sobol", seed=0)
    executor = _Delegating(1)
    try:
        with pytest.raises(mobo.StudyFailedError, match="all 2 evaluations"):
            study.optimize(2, batch_size=2, executor=executor, timeout=0.3, show_progress=False)
    finally:
        release.set()
        executor.shutdown(wait=True)
    assert [e.error.split(":")[0] for e in study.evaluations] == ["TimeoutError"] * 2
    assert len(ran) == 1  # the queued point never ran


@pytest.mark.parametrize("asynchronous", [False, True])
def test_failures_in_a_row_on_an_executor_stop_the_study(tmp_path, asynchronous):
    calls = []

    def broken(X):
        calls.append(X)
        raise RuntimeError("the licence server is down")

    problem = mobo.FunctionProblem(broken, [[0, 0], [1, 1]], 2, [-1.0, -1.0], name="broken")
    with ThreadPoolExecutor(2) as executor, pytest.raises(mobo.StudyFailedError) as err:
        mobo.optimize(
            problem,
            "sobol",
            n_evals=40,
            batch_size=2,
            journal=tmp_path / "broken.jsonl",
            executor=executor,
            asynchronous=asynchronous,
            show_progress=False,
            max_failures_in_a_row=4,
        )
    # Asynchronously a failure told while its ask's other point is in flight is judged
    # once that point is told (a batch in the order asked), and the free worker has been
    # given a point meanwhile: two asks of 2 and 1 points can carry the streak to 6 before
    # it is judged (seen under load: failures 4 and 5 told before the 4th's partner).
    # So 4 to 4 + batch_size, never more.
    streak = r"last [456] evaluations" if asynchronous else r"last 4 evaluations"
    assert re.search(streak, str(err.value)), str(err.value)
    assert "licence server" in str(err.value)
    assert 4 <= len(calls) <= (6 if asynchronous else 5)
    assert len(_journal(tmp_path / "broken.jsonl")) == len(calls)  # each one kept


def test_a_synchronous_batch_is_judged_for_failures_whole_as_without_an_executor():
    # A batch whose first two points fail and whose last two succeed ends no streak: told
    # one by one on an executor, its failures are not judged before the rest is told, so
    # the study stops (or not) as the same study evaluated here, whatever finished first.
    rows = []

    def first_two_fail(X):
        failing = torch.arange(len(rows), len(rows) + X.shape[0]).unsqueeze(-1) < 2
        rows.extend(X.tolist())
        return torch.where(failing, float("nan"), _two_objectives(X))

    problem = mobo.FunctionProblem(first_two_fail, [[0, 0], [1, 1]], 2, [-1.0, -1.0])
    failed = []
    with ThreadPoolExecutor(1) as pool:  # one worker: told one by one, in ask order
        for executor in (None, pool):
            rows.clear()
            study = mobo.Study(problem, "sobol", seed=0)
            result = study.optimize(
                8, batch_size=4, executor=executor, max_failures_in_a_row=2, show_progress=False
            )
            failed.append(result.failed.tolist())
    assert failed == [[True] * 2 + [False] * 6] * 2


def test_an_interrupted_executor_study_resumes_from_its_journal(tmp_path, toy_problem):
    path = tmp_path / "study.jsonl"

    class Interrupt(Exception):
        pass

    def interrupt_after_5(study, told):
        if study.n_evaluated >= 5:
            raise Interrupt

    study = mobo.Study(toy_problem, "sobol", seed=2, journal=path)
    with ThreadPoolExecutor(2) as executor, pytest.raises(Interrupt):
        study.optimize(
            12,
            batch_size=2,
            executor=executor,
            asynchronous=True,
            show_progress=False,
            callbacks=[interrupt_after_5],
        )
    assert study.ledger.asked.pending.shape[0] == 0  # what was cancelled is no longer pending
    study.close()
    resumed = mobo.Study.load(path, toy_problem)
    assert resumed.n_evaluated == 5 and resumed.n_evals == 12
    with ThreadPoolExecutor(2) as executor:
        result = resumed.optimize(batch_size=2, executor=executor, show_progress=False)
    assert result.n_evaluations == 12 and len(_journal(path)) == 12


def test_an_executor_that_refuses_a_submission_leaves_nothing_pending(tmp_path, toy_problem):
    """A shut-down executor (or, on Dask, a problem it cannot serialize) raises at submit:
    the asked batch stayed pending for ever, so a retry in the same process skipped it (2
    of 6 points) and differed from the uninterrupted study. Now it is asked first."""
    plain = mobo.optimize(toy_problem, "sobol", n_evals=6, seed=0, show_progress=False)
    study = mobo.Study(toy_problem, "sobol", seed=0, journal=tmp_path / "s.jsonl")
    closed = ThreadPoolExecutor(1)
    closed.shutdown()
    with pytest.raises(RuntimeError, match="after shutdown"):
        study.optimize(6, batch_size=2, executor=closed, show_progress=False)
    assert study.ledger.asked.pending.shape[0] == 0
    with ThreadPoolExecutor(1) as pool:
        result = study.optimize(6, batch_size=2, executor=pool, show_progress=False)
    assert torch.equal(result.X, plain.X) and study.ledger.asked.pending.shape[0] == 0


def test_a_point_whose_journal_write_fails_is_asked_first_on_the_retry(tmp_path, monkeypatch):
    """A full disk while an executor study told a point left it pending for ever: the retry
    in the same process never evaluated it (without an executor the retry did)."""
    import errno

    problem = mobo.problems.make("BraninCurrin")
    plain = mobo.optimize(problem, "sobol", n_evals=6, seed=0, show_progress=False)
    study = mobo.Study(problem, "sobol", seed=0, journal=tmp_path / "s.jsonl")
    real_append, calls = mobo.journal.Journal.append, {"n": 0}

    def full_disk_once(journal, record):
        calls["n"] += record.get("type") == "eval"
        if record.get("type") == "eval" and calls["n"] == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_append(journal, record)

    monkeypatch.setattr(mobo.journal.Journal, "append", full_disk_once)
    with ThreadPoolExecutor(1) as pool:
        with pytest.raises(OSError, match="No space left"):
            study.optimize(6, batch_size=2, executor=pool, show_progress=False)
        result = study.optimize(6, batch_size=2, executor=pool, show_progress=False)
    # every point of the uninterrupted study, the unjournaled one asked again (later)
    assert sorted(result.X.tolist()) == sorted(plain.X.tolist())
    assert mobo.Study.load(tmp_path / "s.jsonl", problem, read_only=True).n_evaluated == 6


def test_executor_options_are_checked(toy_problem):
    study = mobo.Study(toy_problem, "random")
    with pytest.raises(ValueError, match="asynchronous and timeout need an executor"):
        study.optimize(3, asynchronous=True, show_progress=False)
    with ThreadPoolExecutor(1) as executor, pytest.raises(ValueError, match="timeout must be"):
        study.optimize(3, executor=executor, timeout=0, show_progress=False)


# ----------------------------------------------------------------------------------- Dask
def _first_to_create(path: Path) -> bool:
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        return False
    return True


def _closes_its_worker(X, *, marker_dir):
    """Shuts down the Dask worker running it mid-evaluation: the first point with x0 > 0.5."""
    from distributed import get_worker

    if float(X[0, 0]) > 0.5 and _first_to_create(Path(marker_dir) / "closed_a_worker"):
        worker = get_worker()
        worker.loop.add_callback(worker.close)
        time.sleep(1.0)  # still evaluating when the worker goes away
    return _two_objectives(X)


def test_dask_a_worker_lost_mid_evaluation_fails_that_evaluation_only(tmp_path):
    dask = pytest.importorskip("dask")
    distributed = pytest.importorskip("distributed")
    function = functools.partial(_closes_its_worker, marker_dir=tmp_path)
    problem = mobo.FunctionProblem(function, [[0, 0], [1, 1]], 2, [-1.0, -1.0], name="lossy")
    path = tmp_path / "lossy.jsonl"
    # No retries: the first worker lost running a task fails it (KilledWorker). One task per
    # worker at a time: Dask also blames the tasks queued on a worker that dies.
    with (
        dask.config.set(
            {
                "distributed.scheduler.allowed-failures": 0,
                "distributed.scheduler.worker-saturation": 1.0,
            }
        ),
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        result = mobo.optimize(
            problem,
            "sobol",
            n_evals=6,
            batch_size=2,
            seed=0,
            journal=path,
            executor=client.get_executor(),
            timeout=30,
            show_progress=False,
        )
    assert result.n_evaluations == 6 and len(_journal(path)) == 6
    lost = [r for r in _journal(path) if r["error"]]
    assert len(lost) == 1 and lost[0]["error"].startswith("KilledWorker")
    assert lost[0]["x"][0] > 0.5  # the point that took its worker down; the rest went on
    assert int(result.failed.sum()) == 1


def _hangs_first(X, *, marker_dir):
    """Hangs the first point it evaluates until a ``release`` file appears (at most 30 s);
    logs each point it starts to ``ran``."""
    with open(Path(marker_dir) / "ran", "a") as log:
        log.write(f"{float(X[0, 0])!r}\n")
    if _first_to_create(Path(marker_dir) / "hung"):
        deadline = time.monotonic() + 30
        while not (Path(marker_dir) / "release").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
    return _two_objectives(X)


def test_dask_points_queued_behind_a_timed_out_evaluation_are_not_failed(tmp_path):
    """Dask's futures report no start and cancelling a running task does not stop it: a
    timeout ran from submission, so the point queued behind a hung one was journaled as a
    TimeoutError without ever running. Now a worker reports each start: only the hung point
    fails, the stalled study stops, and the queued point is asked first on resume."""
    distributed = pytest.importorskip("distributed")
    function = functools.partial(_hangs_first, marker_dir=tmp_path)
    problem = mobo.FunctionProblem(function, [[0, 0], [1, 1]], 2, [-1.0, -1.0], name="h")
    path = tmp_path / "h.jsonl"
    run = dict(batch_size=2, timeout=0.5, show_progress=False)
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        try:
            with pytest.raises(mobo.ExecutorStalledError, match="started none of 1 queued"):
                mobo.optimize(
                    problem, "sobol", n_evals=4, seed=0, journal=path,
                    executor=client.get_executor(), **run,
                )  # fmt: skip
            assert [r["error"].split(":")[0] for r in _journal(path)] == ["TimeoutError"]
            ran = (tmp_path / "ran").read_text().split()
            assert len(ran) == 1  # the queued point never ran, and was not failed
        finally:
            (tmp_path / "release").touch()
        result = mobo.Study.load(path, problem).optimize(executor=client.get_executor(), **run)
    torch.testing.assert_close(result.X[1], _first_sobol_batch(problem, 2, seed=0)[1])
    assert result.failed.tolist() == [True, False, False, False]


def _kills_its_process(X, *, marker_dir):
    """SIGKILLs the worker process: every time for x0 > 0.9, once for 0.5 < x0 <= 0.9."""
    x0 = float(X[0, 0])
    if x0 > 0.9 or (x0 > 0.5 and _first_to_create(Path(marker_dir) / f"{x0:.15f}")):
        os.kill(os.getpid(), signal.SIGKILL)
    return _two_objectives(X)


@pytest.mark.slow
def test_dask_a_killed_worker_process_is_retried_once_then_recorded(tmp_path):
    dask = pytest.importorskip("dask")
    distributed = pytest.importorskip("distributed")
    function = functools.partial(_kills_its_process, marker_dir=tmp_path)
    problem = mobo.FunctionProblem(function, [[0, 0], [1, 1]], 2, [-1.0, -1.0], name="killer")
    with (
        dask.config.set(
            {
                "distributed.scheduler.allowed-failures": 1,
                "distributed.scheduler.worker-saturation": 1.0,  # see the test above
            }
        ),
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        result = mobo.optimize(
            problem,
            "sobol",
            n_evals=8,
            batch_size=2,
            seed=0,
            executor=client.get_executor(),
            timeout=120,
            show_progress=False,
        )
    assert result.n_evaluations == 8
    x0 = result.X[:, 0]
    # Killed twice (two workers died running it): failed. Killed once: retried, evaluated.
    assert torch.equal(result.failed, x0 > 0.9)
    assert ((x0 > 0.5) & (x0 <= 0.9)).any() and (x0 > 0.9).any()


def test_an_asynchronous_thread_pool_study_leaves_the_warning_filters_as_they_were():
    # catch_warnings saves and restores the process-wide filters, so an ask's block and an
    # objective's in a worker thread that exit out of order leave one side's temporary
    # filters for good (seen: mobo's surrogate-fit 'ignore Warning' silencing every later
    # warning). The order is staged here: the worker's block spans the start of an ask's,
    # and ends inside it, so the ask's exit writes back the worker's 'ignore RuntimeWarning'.
    import warnings

    worker_in, ask_in, worker_out = threading.Event(), threading.Event(), threading.Event()
    calls, lock = [0], threading.Lock()

    def filtering_locally(X):
        with lock:
            calls[0] += 1
            first = calls[0] == 1
        if first:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                worker_in.set()
                ask_in.wait(10)
            worker_out.set()
        else:  # done once the first is inside its block: the next ask starts inside it
            worker_in.wait(10)
        return _two_objectives(X)

    problem = mobo.FunctionProblem(filtering_locally, [[0, 0], [1, 1]], 2, [-1.0, -1.0])
    study = mobo.Study(problem, "random", seed=0)  # it asks through propose every time
    propose = study.algorithm.propose

    def propose_while_the_worker_leaves(*args, **kwargs):
        if worker_in.is_set() and not ask_in.is_set():
            ask_in.set()
            worker_out.wait(10)
        return propose(*args, **kwargs)

    study.algorithm.propose = propose_while_the_worker_leaves
    before = (list(warnings.filters), warnings.showwarning)
    with ThreadPoolExecutor(2) as executor:
        study.optimize(4, batch_size=2, executor=executor, asynchronous=True, show_progress=False)
    assert worker_out.is_set()  # the race was staged as described
    assert (list(warnings.filters), warnings.showwarning) == before
