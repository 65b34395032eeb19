"""Evaluation on a ``concurrent.futures`` process pool: timeouts from a point's real start
(the pool marks queued futures running), and a pool whose workers die."""

from __future__ import annotations

import functools
import multiprocessing
import sys
import tempfile
import time
import types
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest
import torch

import mobo
from tests.mobo.test_executor import _first_sobol_batch, _journal, _two_objectives


def _steady(X):
    time.sleep(0.5)
    return _two_objectives(X)


def test_a_process_pool_times_a_point_from_its_start_not_from_entering_the_call_queue():
    """One worker, batches of 3 points of 0.5 s, timeout 0.8 s. The pool marks a future
    running when it enters its call queue (one more than the workers), so the second point's
    clock ran while the first was evaluated: 1.0 s, journaled as a TimeoutError."""
    problem = mobo.FunctionProblem(_steady, [[0, 0], [1, 1]], 2, [-1.0, -1.0], name="steady")
    study = mobo.Study(problem, "sobol", seed=0)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as pool:
        study.optimize(6, batch_size=3, executor=pool, timeout=0.8, show_progress=False)
    assert [e.error for e in study.evaluations] == [None] * 6
    assert max(e.eval_seconds for e in study.evaluations) < 0.75  # each timed from its start


def test_a_process_pool_study_leaves_no_start_markers_behind(tmp_path, monkeypatch):
    """Each evaluation on a process pool marks its start with a file in a folder of its
    own; the study removes that folder when it returns."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    problem = mobo.problems.make("BraninCurrin")
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as pool:
        mobo.optimize(problem, "sobol", n_evals=2, executor=pool, timeout=30, show_progress=False)
    assert list(tmp_path.glob("mobo-*")) == []


def _hangs_first(X, *, marker_dir):
    """Hangs the first point it evaluates until a ``release`` file appears (at most 30 s);
    logs each point it starts to ``ran``."""
    with open(Path(marker_dir) / "ran", "a") as log:
        log.write(f"{float(X[0, 0])!r}\n")
    if not (Path(marker_dir) / "hung").exists():
        (Path(marker_dir) / "hung").touch()
        deadline = time.monotonic() + 30
        while not (Path(marker_dir) / "release").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
    return _two_objectives(X)


def test_points_queued_on_a_process_pool_behind_a_hung_one_are_not_failed(tmp_path):
    """The point in the pool's call queue behind a hung one was journaled as 'no result
    within 0.5 s' without having run, so never proposed again. Now only the hung point
    fails, the stalled study stops, and a resumed study asks the queued ones first."""
    function = functools.partial(_hangs_first, marker_dir=tmp_path)
    problem = mobo.FunctionProblem(function, [[0, 0], [1, 1]], 2, [-1.0, -1.0], name="h")
    path = tmp_path / "h.jsonl"
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"))
    try:
        with pytest.raises(mobo.ExecutorStalledError, match="started none of 2 queued"):
            mobo.optimize(
                problem, "sobol", n_evals=6, batch_size=3, seed=0, journal=path,
                executor=pool, timeout=0.5, show_progress=False,
            )  # fmt: skip
        assert [r["error"].split(":")[0] for r in _journal(path)] == ["TimeoutError"]
        assert len((tmp_path / "ran").read_text().split()) == 1  # the queued ones never ran
    finally:
        (tmp_path / "release").touch()
        pool.shutdown(wait=True)
    with ThreadPoolExecutor(1) as fresh:
        result = mobo.Study.load(path, problem).optimize(
            batch_size=3, executor=fresh, timeout=5, show_progress=False
        )
    torch.testing.assert_close(result.X[1:3], _first_sobol_batch(problem, 3, seed=0)[1:])
    assert result.failed.tolist() == [True] + [False] * 5


def test_a_pool_broken_by_a_function_of_an_interactive_main_fails_no_point(tmp_path, monkeypatch):
    """A function defined under python -c or in a notebook pickles by reference to
    __main__, which a spawn worker cannot import: the worker died, the first batch was
    journaled as failed with BrokenProcessPool (never asked again, counted in the budget)
    and the error said nothing of why. Now no point is recorded, a resumed study asks them
    first, and the error names the function to move into a module."""
    # A function that lives only in this process's __main__, as one typed at a prompt does.
    interactive = types.FunctionType(_two_objectives.__code__, globals(), "typed_at_a_prompt")
    interactive.__module__, interactive.__qualname__ = "__main__", "typed_at_a_prompt"
    # A script's __main__ (one with a file; xdist's workers have none, and one without is
    # refused before submitting, next test): the pool's workers run the script, which
    # defines no such function, so they die unpickling the problem.
    script = tmp_path / "script.py"
    script.write_text("")
    main = types.ModuleType("__main__")
    main.__file__, main.typed_at_a_prompt = str(script), interactive
    monkeypatch.setitem(sys.modules, "__main__", main)
    problem = mobo.FunctionProblem(interactive, [[0, 0], [1, 1]], 2, [-1.0, -1.0], name="i")
    path = tmp_path / "i.jsonl"
    study = mobo.Study(problem, "sobol", seed=0, journal=path)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        with pytest.raises(BrokenProcessPool) as err:
            study.optimize(4, batch_size=2, executor=pool, show_progress=False)
        with pytest.raises(BrokenProcessPool, match="typed_at_a_prompt"):  # refused at submit
            study.optimize(4, batch_size=2, executor=pool, show_progress=False)
    message = str(err.value)
    assert "not recorded as failed" in message and "asks them first" in message
    assert "typed_at_a_prompt" in message and "'spawn'" in message
    assert "importable module" in message
    assert _journal(path) == [] and study.n_evaluated == 0
    assert study.ledger.asked.pending.shape[0] == 0
    study.close()
    with ThreadPoolExecutor(2) as fresh:
        result = mobo.Study.load(path, problem).optimize(executor=fresh, show_progress=False)
    torch.testing.assert_close(result.X[:2], _first_sobol_batch(problem, 2, seed=0))
    assert result.n_evaluations == 4 and not result.failed.any()


def test_a_function_of_an_interactive_main_is_refused_before_a_spawn_pool_breaks(
    tmp_path, monkeypatch
):
    """In a notebook or under python -c (a __main__ without a file) a spawn worker cannot
    import the problem's function: refused before any point is submitted, the pool whole."""
    interactive = types.FunctionType(_two_objectives.__code__, globals(), "typed_in_a_cell")
    interactive.__module__, interactive.__qualname__ = "__main__", "typed_in_a_cell"
    notebook = types.ModuleType("__main__")  # a kernel's __main__ has no __file__
    notebook.typed_in_a_cell = interactive
    monkeypatch.setitem(sys.modules, "__main__", notebook)
    problem = mobo.FunctionProblem(interactive, [[0, 0], [1, 1]], 2, [-1.0, -1.0], name="i")
    study = mobo.Study(problem, "sobol", seed=0, journal=tmp_path / "i.jsonl")
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        with pytest.raises(TypeError, match=r"uses typed_in_a_cell from an interactive __main__"):
            study.optimize(4, executor=pool, show_progress=False)
        assert study.n_evaluated == 0 and _journal(tmp_path / "i.jsonl") == []
        assert pool.submit(abs, -2).result() == 2  # not broken
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as forked:
        assert study.optimize(2, executor=forked, show_progress=False).n_evaluations == 2
    study.close()
