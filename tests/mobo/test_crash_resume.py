"""A study killed with SIGKILL at an arbitrary point resumes with nothing completed lost."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch

import mobo

SCRIPT = textwrap.dedent(
    """
    import sys, time
    import mobo

    def slow_down(study, told):
        time.sleep(0.05)  # widen the window so the kill lands mid-study

    study = mobo.Study(mobo.problems.make("ZDT2", dim=3), "nsga2", seed=7, journal=sys.argv[1])
    study.optimize(40, batch_size=2, show_progress=False, callbacks=[slow_down])
    """
)


def _evaluations(path):
    lines = path.read_bytes().split(b"\n")
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            pass  # an empty tail or a torn last line
    return [r for r in records if r.get("type") == "eval"]


def test_sigkilled_study_resumes_without_losing_completed_evaluations(tmp_path):
    path = tmp_path / "killed.jsonl"
    script = tmp_path / "run_study.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    process = subprocess.Popen([sys.executable, str(script), str(path)], env=env)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if path.exists() and len(_evaluations(path)) >= 13:
                break
            if process.poll() is not None:
                raise AssertionError(f"study process exited early with {process.returncode}")
            time.sleep(0.01)
        else:
            raise AssertionError("the study never reached 13 evaluations")
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    before_kill = _evaluations(path)
    assert 13 <= len(before_kill) < 40

    study = mobo.Study.load(path)
    assert study.n_evaluated == len(before_kill)  # nothing completed was lost
    assert study.n_evals == 40
    result = study.optimize(show_progress=False)
    assert result.n_evaluations == 40
    for record, x in zip(before_kill, result.X, strict=False):
        assert torch.equal(torch.tensor(record["x"], dtype=torch.float64), x)

    # What the killed process journaled is exactly what an uninterrupted study does. (Past
    # the kill they may part: a kill between the two tells of a batch shifts the batches.)
    straight = mobo.optimize(
        mobo.problems.make("ZDT2", dim=3),
        "nsga2",
        n_evals=40,
        seed=7,
        batch_size=2,
        show_progress=False,
    )
    n = len(before_kill)
    torch.testing.assert_close(result.X[:n], straight.X[:n], rtol=0, atol=0)
    problem = study.problem
    assert torch.all(result.X >= problem.bounds[0]) and torch.all(result.X <= problem.bounds[1])


RESUMING = textwrap.dedent(
    """
    import os, sys, time
    import mobo

    print("imported", flush=True)  # the test times its later kills from here

    def slow_down(study, told):
        time.sleep(0.02)

    path = sys.argv[1]
    if os.path.exists(path) and os.path.getsize(path) > 0:  # killed before its header: anew
        study = mobo.Study.load(path)
    else:
        study = mobo.Study(mobo.problems.make("ZDT2", dim=3), "sobol", seed=3, journal=path)
    study.optimize(400, batch_size=3, show_progress=False, callbacks=[slow_down])
    """
)


def _complete_evaluations(path):
    """The eval records on disk as complete JSON lines (a torn tail does not count)."""
    if not path.exists():
        return []
    return [json.dumps(r, sort_keys=True) for r in _evaluations(path)]


@pytest.mark.slow
def test_twenty_sigkills_at_random_moments_lose_no_completed_evaluation(tmp_path):
    path = tmp_path / "killed.jsonl"
    script = tmp_path / "run_study.py"
    script.write_text(RESUMING)
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    rng = random.Random(20)
    survived: list[str] = []
    for round_ in range(20):
        process = subprocess.Popen(
            [sys.executable, str(script), str(path)], env=env, stdout=subprocess.PIPE
        )
        # Even rounds kill anywhere in the start-up (imports take 2-20 s by machine and
        # load) or later; odd rounds wait for the imports, then kill while the journal is
        # loaded or the study runs, so evaluations are written on any machine.
        if round_ % 2:
            assert process.stdout.readline() == b"imported\n", "the study script failed"
            time.sleep(rng.uniform(0.0, 3.0))
        else:
            time.sleep(rng.uniform(0.5, 6.0))
        process.send_signal(signal.SIGKILL)
        process.wait()
        process.stdout.close()
        on_disk = _complete_evaluations(path)
        assert on_disk[: len(survived)] == survived, f"round {round_}: a completed eval was lost"
        if on_disk:
            study = mobo.Study.load(path, read_only=True)  # a torn tail is dropped, no more
            assert study.n_evaluated == len(on_disk)
            assert [e.index for e in study.evaluations] == list(range(len(on_disk)))
        survived = on_disk
    assert len(survived) > 0, "no round got as far as an evaluation: kill later"
    with mobo.Study.load(path) as study:
        assert study.n_evaluated == len(survived)
        result = study.optimize(len(survived) + 3, show_progress=False)
    assert result.n_evaluations == len(survived) + 3


def test_relative_journal_survives_a_black_box_that_changes_folder(tmp_path, monkeypatch):
    # A simulator wrapper that cd's into a scratch folder sent every eval record after the
    # first evaluation to scratch/j.jsonl, a file without a header: j.jsonl loaded with 0.
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.chdir(tmp_path)  # restored at teardown, wherever the black box left it

    def f(X):
        os.chdir(scratch)
        return torch.stack([-(X**2).sum(-1), -((X - 1) ** 2).sum(-1)], dim=-1)

    problem = mobo.FunctionProblem(f, [[0.0, 0.0], [1.0, 1.0]], 2, [-2.0, -2.0])
    result = mobo.optimize(problem, "sobol", n_evals=6, seed=0, journal="j.jsonl")
    loaded = mobo.Study.load(tmp_path / "j.jsonl", problem, read_only=True)
    assert len(loaded.result().Y) == len(result.Y) == 6
    assert torch.equal(loaded.result().Y, result.Y)
    assert not (scratch / "j.jsonl").exists()
