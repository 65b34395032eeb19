from __future__ import annotations

import contextlib
import errno
import itertools
import json
import os
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

import mobo
from mobo.journal import JournalError, JournalRecoveryWarning
from tests.mobo.conftest import FAST_BO, toy_function


def _eval_lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()[1:] if '"eval"' in line]


@pytest.mark.parametrize("algorithm", ["sobol", "nsga2", "qlognehvi"])
def test_same_seed_gives_the_same_observations(algorithm, toy_problem):
    options = FAST_BO if algorithm == "qlognehvi" else {}
    runs = [
        mobo.optimize(
            toy_problem, algorithm, n_evals=9, seed=s, show_progress=False, n_initial=5, **options
        )
        for s in (3, 3, 4)
    ]
    torch.testing.assert_close(runs[0].X, runs[1].X, rtol=0, atol=0)
    torch.testing.assert_close(runs[0].Y, runs[1].Y, rtol=0, atol=0)
    assert not torch.allclose(runs[0].X, runs[2].X)


def test_every_told_evaluation_is_in_the_journal_before_tell_returns(tmp_path, toy_problem):
    path = tmp_path / "study.jsonl"
    study = mobo.Study(toy_problem, "random", seed=0, journal=path)
    for i in range(3):
        X = study.ask(2)
        study.tell(X, toy_problem.evaluate(X))
        records = _eval_lines(path)
        assert len(records) == 2 * (i + 1)
        torch.testing.assert_close(torch.tensor(records[-1]["x"], dtype=torch.float64), X[-1])


def test_load_resumes_to_the_recorded_budget_with_the_same_proposals(tmp_path, branin_currin):
    path = tmp_path / "study.jsonl"
    full = mobo.optimize(
        branin_currin, "nsga2", n_evals=20, seed=1, batch_size=3, show_progress=False
    )

    class Interrupt(Exception):
        pass

    def interrupt_after_9(study, told):
        if study.n_evaluated >= 9:
            raise Interrupt

    study = mobo.Study(branin_currin, "nsga2", seed=1, journal=path)
    with pytest.raises(Interrupt):
        study.optimize(20, batch_size=3, show_progress=False, callbacks=[interrupt_after_9])
    study.close()  # as a crash would: the lock goes with the process
    resumed = mobo.Study.load(path)  # a BoTorch test problem is rebuilt from the journal
    assert resumed.n_evaluated == 9 and resumed.n_evals == 20
    result = resumed.optimize(batch_size=3, show_progress=False)
    assert result.n_evaluations == 20
    assert len(_eval_lines(path)) == 20
    # nsga2 keeps no state beyond the journal, so the interrupted-and-resumed study
    # proposes exactly what the straight one did.
    torch.testing.assert_close(result.X, full.X, rtol=0, atol=0)


def test_failed_evaluations_are_recorded_and_the_study_goes_on(tmp_path):
    def flaky(X):
        if (X[:, 0] > 0.7).any():
            raise RuntimeError("simulator crashed")
        Y = torch.stack([X[:, 0], 1 - X[:, 1]], dim=-1)
        Y[X[:, 1] < 0.2] = float("nan")
        return Y

    problem = mobo.FunctionProblem(flaky, [[0, 0], [1, 1]], 2, [-1.0, -1.0], name="flaky")
    path = tmp_path / "flaky.jsonl"
    result = mobo.optimize(
        problem, "sobol", n_evals=24, seed=0, batch_size=4, journal=path, show_progress=False
    )
    assert result.n_evaluations == 24
    crashed = result.X[:, 0] > 0.7
    nan = (result.X[:, 1] < 0.2) & ~crashed
    assert crashed.any() and nan.any()
    assert torch.equal(result.failed, crashed | nan)
    assert torch.isnan(result.Y[result.failed]).all()
    errors = [r["error"] for r in _eval_lines(path) if r["error"]]
    assert any("RuntimeError: simulator crashed" in e for e in errors)
    assert any("non-finite" in e for e in errors)
    # Failures never enter the Pareto set; one failed point does not fail its batch-mates.
    assert not (result.pareto_mask & result.failed).any()
    assert (~result.failed).sum() == 24 - int(crashed.sum()) - int(nan.sum())


def test_a_row_told_with_an_error_fails_whatever_its_values(tmp_path, toy_problem):
    """``errors`` say a row failed even where its values are finite (a simulator that
    returns its last good output with an error code): recorded failed, out of the result."""
    path = tmp_path / "errors.jsonl"
    study = mobo.Study(toy_problem, "random", seed=0, journal=path)
    X = study.ask(2)
    told = study.tell(X, toy_problem.evaluate(X), errors=["solver diverged", None])
    assert [e.failed for e in told] == [True, False]
    assert told[0].error == "solver diverged" and told[0].y is None
    assert [r["error"] for r in _eval_lines(path)] == ["solver diverged", None]
    assert study.X.shape == (1, 2) and torch.equal(study.X[0], X[1])


def test_an_evaluation_whose_journal_line_failed_is_not_kept_and_is_asked_again(
    tmp_path, toy_problem, monkeypatch
):
    """Told is journaled: an evaluation the journal refused (a full disk) is neither in the
    study nor told, so the same point is asked again, as a resume from the journal would."""
    path = tmp_path / "full.jsonl"
    study = mobo.Study(toy_problem, "sobol", seed=0, journal=path)
    X = study.ask(1)
    real_append = mobo.journal.Journal.append

    def refuse_evals(journal, record):
        if record["type"] == "eval":
            raise OSError(errno.ENOSPC, "No space left on device")
        real_append(journal, record)

    monkeypatch.setattr(mobo.journal.Journal, "append", refuse_evals)
    with pytest.raises(OSError, match="No space left"):
        study.tell(X, toy_problem.evaluate(X))
    monkeypatch.undo()
    assert study.n_evaluated == 0 and study.ledger.asked.pending.shape[0] == 1
    study.ledger.asked.forget(X)  # what optimize does with points not told
    again = study.ask(1)
    torch.testing.assert_close(again, X, rtol=0, atol=0)
    study.tell(again, toy_problem.evaluate(again))
    assert [e.index for e in study.evaluations] == [r["index"] for r in _eval_lines(path)] == [0]


def test_a_budget_is_journaled_once_until_it_changes(tmp_path, toy_problem):
    path = tmp_path / "budget.jsonl"
    with mobo.Study(toy_problem, "random", seed=0, journal=path) as study:
        study.optimize(2, show_progress=False)
        study.optimize(show_progress=False)  # the recorded budget: nothing to journal
        study.optimize(2, batch_size=1, show_progress=False)
        study.optimize(4, max_cost=3.0, show_progress=False)
    records = [json.loads(line) for line in path.read_text().splitlines()[1:]]
    budgets = [r for r in records if r["type"] == "budget"]
    assert budgets == [
        {"type": "budget", "n_evals": 2, "batch_size": 1},
        {"type": "budget", "n_evals": 4, "batch_size": 1, "max_cost": 3.0},
    ]
    assert mobo.Study.load(path, toy_problem, read_only=True).max_cost == 3.0


def test_bad_arguments_get_clear_errors(tmp_path, toy_problem):
    with pytest.raises(ValueError, match="unknown algorithm 'bogus'"):
        mobo.Study(toy_problem, "bogus")
    study = mobo.Study(toy_problem, "random")
    for bad in (0, -3, 2.5):
        with pytest.raises(ValueError, match=f"n_evals must be a positive int, got {bad}"):
            study.optimize(bad, show_progress=False)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        study.optimize(4, batch_size=0, show_progress=False)
    with pytest.raises(ValueError, match="no recorded budget"):
        study.optimize(show_progress=False)
    for bad in (0, -1.0, float("nan"), float("inf"), "3", True):
        with pytest.raises(ValueError, match=r"max_cost must be a positive number, got"):
            study.optimize(max_cost=bad, show_progress=False)
    with pytest.raises(ValueError, match=r"Y must have shape \(2, 2\)"):
        study.tell(torch.zeros(2, 2), torch.zeros(2, 3))
    with pytest.raises(TypeError, match="JSON-serializable"):
        mobo.Study(
            toy_problem, "qlognehvi", journal=tmp_path / "j.jsonl", surrogate=mobo.Surrogate()
        )


def test_a_journal_of_another_problem_is_refused(tmp_path, branin_currin):
    path = tmp_path / "bc.jsonl"
    mobo.optimize(branin_currin, "random", n_evals=3, journal=path, show_progress=False)
    with pytest.raises(
        JournalError, match="belongs to another problem: its name is 'BraninCurrin'"
    ):
        mobo.Study.load(path, mobo.problems.make("ZDT1", dim=2))
    with pytest.raises(FileExistsError, match="already exists; resume it with Study.load"):
        mobo.Study(branin_currin, "random", journal=path)
    with pytest.raises(JournalError, match="holds a study of algorithm 'random'"):
        mobo.optimize(branin_currin, "sobol", n_evals=5, journal=path, show_progress=False)


def test_an_older_journal_resumes_and_one_of_other_bounds_is_refused(tmp_path, branin_currin):
    """A journal from before constraints and fingerprints (its spec has neither) resumes:
    rebuilt from its own spec without a word, with a given problem under a warning that it
    cannot be checked. Bounds are compared as the rest of the spec is."""
    path = tmp_path / "old.jsonl"
    mobo.optimize(branin_currin, "random", n_evals=2, journal=path, show_progress=False)
    lines = path.read_text().splitlines(keepends=True)
    header = json.loads(lines[0])
    for key in ("num_constraints", "fingerprint", "fingerprint_version"):
        header["problem"].pop(key, None)
    path.write_text(json.dumps(header) + "\n" + "".join(lines[1:]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert mobo.Study.load(path, read_only=True).n_evaluated == 2
    with pytest.warns(mobo.JournalUncheckedWarning, match="has no fingerprint"):
        assert mobo.Study.load(path, branin_currin, read_only=True).n_evaluated == 2
    header["problem"]["bounds"] = [[0.0, 0.0], [2.0, 1.0]]
    path.write_text(json.dumps(header) + "\n" + "".join(lines[1:]))
    with pytest.raises(mobo.JournalMismatchError, match="its bounds is .*0.0, 0.0., .2.0, 1.0"):
        mobo.Study.load(path, branin_currin, read_only=True)


def test_a_truncated_last_line_is_dropped_and_every_complete_line_kept(tmp_path, branin_currin):
    path = tmp_path / "torn.jsonl"
    mobo.optimize(branin_currin, "random", n_evals=5, journal=path, show_progress=False)
    complete = path.read_bytes()
    with open(path, "ab") as f:
        f.write(b'{"type":"eval","index":5,"x":[0.1,')  # a write torn by a crash (34 bytes)
    with pytest.warns(
        JournalRecoveryWarning,
        match=r"dropped a truncated last line \(34 bytes\); kept the 12 complete",
    ):
        study = mobo.Study.load(path)
    assert study.n_evaluated == 5
    assert path.read_bytes() == complete  # the torn bytes are gone, appends stay clean
    assert study.optimize(7, show_progress=False).n_evaluations == 7
    assert len(_eval_lines(path)) == 7


def test_a_last_line_without_its_newline_is_ended_so_the_next_record_appends_cleanly(
    tmp_path, branin_currin
):
    """A hand edit (or an editor) can drop the journal's final newline. The line is whole,
    so it is kept and ended: appended to as it was, the next record was glued onto it and
    the journal no longer loaded ('line 8 is corrupt: Extra data'), losing the study."""
    path = tmp_path / "edited.jsonl"
    mobo.optimize(branin_currin, "random", n_evals=3, journal=path, show_progress=False)
    first = mobo.Study.load(path, read_only=True).result().Y
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing was lost, so nothing to warn about
        with mobo.Study.load(path) as study:
            study.optimize(5, show_progress=False)
        resumed = mobo.Study.load(path, read_only=True)
    assert resumed.n_evaluated == 5
    torch.testing.assert_close(resumed.result().Y[:3], first, rtol=0, atol=0)
    assert [record["index"] for record in _eval_lines(path)] == [0, 1, 2, 3, 4]


def test_blank_lines_of_a_hand_edit_are_skipped_and_a_torn_tail_still_cut(tmp_path, branin_currin):
    """A blank line mid-journal was 'line 3 is corrupt'; it holds no record."""
    path = tmp_path / "edited.jsonl"
    mobo.optimize(branin_currin, "random", n_evals=4, journal=path, show_progress=False)
    expected = mobo.Study.load(path, read_only=True).result().Y
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines[:3], "", "   ", *lines[3:]]) + "\n")
    edited = path.read_bytes()
    with open(path, "ab") as f:
        f.write(b'{"type":"eval","index":4,"x":[0.1,')  # torn by a crash
    with pytest.warns(JournalRecoveryWarning, match="dropped a truncated last line"):
        study = mobo.Study.load(path)
    torch.testing.assert_close(study.result().Y, expected)
    assert path.read_bytes() == edited  # cut right after the complete lines, blanks kept
    lines = path.read_text().splitlines()
    lines[-1] = lines[-1][:10]  # now a corrupt line after the blanks names its number
    path.write_text("\n".join([*lines, lines[1]]) + "\n")
    with pytest.raises(JournalError, match=f"line {len(lines)} is corrupt"):
        mobo.Study.load(path)


class _FullDisk:
    """An unbuffered journal file whose next write stores half its bytes, then finds the
    disk full (what a full disk does to a line that crosses its last free block)."""

    def __init__(self, f, *, truncate_fails: bool) -> None:
        self.f, self.truncate_fails = f, truncate_fails

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.f.close()

    def seek(self, *args):
        return self.f.seek(*args)

    def fileno(self) -> int:
        return self.f.fileno()

    def truncate(self, size: int) -> int:
        if self.truncate_fails:
            raise OSError(errno.EIO, "I/O error")
        return self.f.truncate(size)

    def write(self, data) -> int:
        self.f.write(bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("truncate_fails", [False, True])
def test_a_study_that_goes_on_after_a_full_disk_keeps_a_readable_journal(
    tmp_path, branin_currin, monkeypatch, truncate_fails
):
    """The torn half line of a failed write was left mid-file once the study went on, and
    then the whole journal was refused ("line 9 is corrupt")."""
    path = tmp_path / "full.jsonl"
    study = mobo.Study(branin_currin, "sobol", seed=0, journal=path)
    study.optimize(3, show_progress=False)
    real_open = open
    monkeypatch.setattr(
        mobo.journal,
        "open",
        lambda *a, **k: _FullDisk(real_open(*a, **k), truncate_fails=truncate_fails),
        raising=False,
    )
    with pytest.raises(OSError, match="No space left on device"):
        study.optimize(4, show_progress=False)
    monkeypatch.undo()
    study.optimize(6, show_progress=False)  # space freed: the user goes on
    assert path.read_bytes().endswith(b"\n")
    loaded = mobo.Study.load(path, branin_currin, read_only=True)
    assert loaded.n_evaluated == study.n_evaluated >= 5
    torch.testing.assert_close(loaded.result().X, study.result().X, rtol=0, atol=0)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda r: r.update(y=[float("nan"), 1.0]), r"y must be 2 finite numbers"),
        (lambda r: r.update(y=[float("inf"), 1.0]), r"y must be 2 finite numbers"),
        (lambda r: r.update(x=[20.0, 0.5]), r"x \[20.0, 0.5\] lies outside the problem's"),
        (lambda r: r.update(step="two"), r"step must be an int, got 'two'"),
    ],
    ids=["nan", "infinity", "outside", "step"],
)
def test_hand_edited_eval_values_are_refused_by_line(tmp_path, branin_currin, edit, message):
    """NaN or Infinity (which json reads) loaded as a successful evaluation and failed in
    the GP fit; an x outside the bounds entered the result; a string step failed in
    Study with a bare TypeError."""
    path, line = _journal_with_an_edited_record(tmp_path, branin_currin, "eval", edit)
    with pytest.raises(JournalError, match=f"line {line}: an eval record's {message}"):
        mobo.Study.load(path, branin_currin)


def _journal_with_an_edited_record(tmp_path, problem, kind, edit, *, blanks=(), last=False):
    """A 3-evaluation journal whose first (or ``last``) ``kind`` record ``edit`` changed,
    after ``blanks`` inserted below the header; returns its path and that record's line."""
    path = tmp_path / "edited.jsonl"
    mobo.optimize(problem, "random", n_evals=3, journal=path, show_progress=False)
    lines = path.read_text().splitlines()
    lines[1:1] = list(blanks)
    ats = [i for i, line in enumerate(lines) if line.strip() and json.loads(line)["type"] == kind]
    at = ats[-1] if last else ats[0]
    record = json.loads(lines[at])
    edit(record)
    lines[at] = json.dumps(record)
    path.write_text("\n".join(lines) + "\n")
    return path, at + 1


def test_every_journal_line_is_fsynced_once_written_and_a_cut_tail_too(
    tmp_path, branin_currin, monkeypatch
):
    """A line is durable when append returns: fsynced at the size that ends it (written but
    not fsynced, a power cut could lose an evaluation tell had returned), and so is the
    cut of a torn tail a writer makes on load."""
    path = tmp_path / "synced.jsonl"
    synced = []  # the journal's size at each fsync of it
    real_fsync = os.fsync

    def fsync(fd):
        real_fsync(fd)
        if path.exists() and os.fstat(fd).st_ino == path.stat().st_ino:
            synced.append(os.fstat(fd).st_size)

    monkeypatch.setattr(os, "fsync", fsync)
    study = mobo.Study(branin_currin, "random", seed=0, journal=path)
    for _ in range(3):
        X = study.ask(2)
        study.tell(X, branin_currin.evaluate(X))
        lines = path.read_bytes().splitlines(keepends=True)
        assert synced == list(itertools.accumulate(len(line) for line in lines))
    study.close()
    complete = path.stat().st_size
    with open(path, "ab") as f:
        f.write(b'{"type":"eval","index":6,"x":[0.1,')  # torn by a crash
    synced.clear()
    with pytest.warns(JournalRecoveryWarning):
        mobo.Study.load(path).close()
    assert synced == [complete]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda text: "", "is empty: no header line"),
        (lambda text: "\n" + text, r"not a mobo journal \(line 1 is not JSON"),
        (lambda text: _edit_header(text, format="other-journal"), "first line is not its header"),
        (lambda text: _edit_header(text, version=0), "has format version 0, this library reads 1"),
        (lambda text: _edit_header(text, version=None), "has format version None"),
        (lambda text: _edit_header(text, seed=None), r"header \(line 1\) lacks \['seed'\]"),
    ],
    ids=["empty", "blank-first-line", "format", "older-version", "no-version", "no-seed"],
)
def test_a_file_without_this_version_s_journal_header_is_refused(
    tmp_path, branin_currin, edit, message
):
    """Line 1 must be a header of this format and version naming problem, algorithm and
    seed; a journal of another format or version is refused, not resumed as if it were one."""
    path = tmp_path / "other.jsonl"
    mobo.optimize(branin_currin, "random", n_evals=2, journal=path, show_progress=False)
    path.write_text(edit(path.read_text()))
    with pytest.raises(JournalError, match=message.replace("reads 1", "reads version 1")):
        mobo.Study.load(path, branin_currin, read_only=True)


def _edit_header(text: str, **fields) -> str:
    """``text`` with its header's ``fields`` set (None: removed)."""
    lines = text.splitlines(keepends=True)
    header = json.loads(lines[0])
    for key, value in fields.items():
        header.pop(key) if value is None else header.update({key: value})
    return json.dumps(header) + "\n" + "".join(lines[1:])


def test_a_journal_that_cannot_be_appended_to_is_refused_when_loaded(
    tmp_path, branin_currin, monkeypatch
):
    """Before anything is evaluated: loaded anyway, the first evaluation of the resumed
    study ran and its result was lost when the append failed."""
    path = tmp_path / "readonly.jsonl"
    mobo.optimize(branin_currin, "random", n_evals=2, journal=path, show_progress=False)
    before = path.read_bytes()
    real_open = open

    def refuse_appends(file, mode="r", *args, **kwargs):
        if "a" in mode:
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(mobo.journal, "open", refuse_appends, raising=False)
    with pytest.raises(PermissionError, match="cannot be written .Permission denied.: a read-only"):
        mobo.Study.load(path)
    assert mobo.Study.load(path, read_only=True).n_evaluated == 2  # reading needs no append
    monkeypatch.undo()
    assert path.read_bytes() == before
    with mobo.Study.load(path) as study:  # the lock was released with the refusal
        assert study.optimize(3, show_progress=False).n_evaluations == 3


def test_replay_gives_the_latest_budget_the_state_to_resume_from_and_the_untold_points():
    """What a resumed study takes over from a journal's records: the latest budget; the
    state of the last ask, or (a journal from before asks were journaled) the latest state
    whose ask got a point told; and each point asked and not told, under its ask's step
    and price (one told back rounded is told)."""
    from mobo.asked import AskedPoints
    from mobo.journal import replay

    def told(x, step):
        return {"type": "eval", "index": 0, "x": x, "y": [0.0, 0.0], "step": step}

    older = [
        {"type": "budget", "n_evals": 4, "batch_size": 1},
        {"type": "state", "step": 0, "state": {"fit": 0}},
        told([0.1, 0.1], 0),
        {"type": "state", "step": 1, "state": {"fit": 1}},
        told([0.2, 0.2], 1),
        {"type": "budget", "n_evals": 6, "batch_size": 2},
        {"type": "state", "step": 2, "state": {"fit": 2}},  # a crash before its evaluations
    ]
    evaluations, budget, state, untold = replay(older)
    assert len(evaluations) == 2 and budget["n_evals"] == 6 and budget["batch_size"] == 2
    assert state == {"fit": 1} and untold == []

    rounded = torch.tensor([0.3, 1 / 3], dtype=torch.float32).tolist()
    asks = [
        {"type": "ask", "step": 0, "x": [[0.3, 1 / 3], [0.5, 0.5]], "state": {"fit": 0}},
        {"type": "ask", "step": 1, "x": [[0.7, 0.7]], "state": {"fit": 1}, "cost": [0.2]},
        told(rounded, 0),
    ]
    evaluations, budget, state, untold = replay(asks, AskedPoints(2).same)
    assert budget is None and state == {"fit": 1}
    assert untold == [(0, [0.5, 0.5], None), (1, [0.7, 0.7], 0.2)]


@pytest.mark.parametrize(
    ("kind", "edit", "message"),
    [
        ("eval", lambda r: r.update(x=0.5), r"an eval record needs lists x and y"),
        ("ask", lambda r: r.update(x=[[0.5]]), r"an ask record's x must be lists of 2 numbers"),
    ],
    ids=["eval-x", "ask-x"],
)
def test_hand_edited_records_of_the_wrong_shape_are_refused_by_line(
    tmp_path, branin_currin, kind, edit, message
):
    path, line = _journal_with_an_edited_record(tmp_path, branin_currin, kind, edit)
    with pytest.raises(JournalError, match=f"line {line}: {message}"):
        mobo.Study.load(path, branin_currin)


def test_a_damaged_record_after_blank_lines_is_named_by_its_line_in_the_file(
    tmp_path, branin_currin
):
    """Blank lines (a hand edit) hold no record; the line a refusal names is still the
    file's, where the user opens it (it named the record's number among the records)."""

    def out_of_bounds(record):
        record["x"] = [20.0, 0.5]

    path, line = _journal_with_an_edited_record(
        tmp_path, branin_currin, "eval", out_of_bounds, blanks=["", "   "], last=True
    )
    with pytest.raises(JournalError, match=f"line {line}: .* lies outside the problem's bounds"):
        mobo.Study.load(path, branin_currin)


def test_a_record_of_a_later_version_and_a_point_rounded_past_a_bound_still_load(
    tmp_path, branin_currin
):
    """A record type this version does not know is kept but not used, and an x a rounding
    past its bound (a pipeline's float arithmetic) is the point at the bound, not a
    corrupt line."""
    path = tmp_path / "later.jsonl"
    mobo.optimize(branin_currin, "random", n_evals=3, journal=path, show_progress=False)
    lines = path.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if json.loads(line)["type"] == "eval")
    record = json.loads(lines[at])
    record["x"] = [1.0 + 1e-12, -1e-12]
    lines[at] = json.dumps(record)
    lines.insert(at, json.dumps({"type": "note", "text": "from a later version"}))
    path.write_text("\n".join(lines) + "\n")
    with mobo.Study.load(path, branin_currin) as study:
        assert study.n_evaluated == 3 and study.evaluations[0].x == [1.0 + 1e-12, -1e-12]
        assert study.optimize(4, show_progress=False).n_evaluations == 4


def test_a_corrupt_line_in_the_middle_is_an_error(tmp_path, branin_currin):
    path = tmp_path / "bad.jsonl"
    mobo.optimize(branin_currin, "random", n_evals=4, journal=path, show_progress=False)
    lines = path.read_text().splitlines()
    lines[2] = lines[2][:10]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(JournalError, match="line 3 is corrupt"):
        mobo.Study.load(path)
    path.write_text('{"hello": 1}\n')
    with pytest.raises(JournalError, match="not a mobo journal"):
        mobo.Study.load(path)


def test_callbacks_see_each_batch_and_can_stop_the_study(toy_problem):
    seen = []

    def callback(study, told):
        seen.append(len(told))
        if study.n_evaluated >= 6:
            study.stop()

    result = mobo.optimize(
        toy_problem, "random", n_evals=20, batch_size=3, show_progress=False, callbacks=[callback]
    )
    assert seen == [3, 3] and result.n_evaluations == 6


def test_a_callbacks_start_hook_is_called_once_per_run_before_its_first_ask(toy_problem):
    # E.g. to catch up on what a resumed study already holds before the first tell.
    class Counting:
        def __init__(self):
            self.events = []

        def start(self, study):
            self.events.append(("start", study.n_evaluated, study.ledger.asked.next_step))

        def __call__(self, study, told):
            self.events.append(("tell", study.n_evaluated))

    counting = Counting()
    study = mobo.Study(toy_problem, "sobol", seed=0)
    study.optimize(4, batch_size=2, show_progress=False, callbacks=[counting])
    study.optimize(6, batch_size=2, show_progress=False, callbacks=[counting])
    assert counting.events == [
        ("start", 0, 0), ("tell", 2), ("tell", 4), ("start", 4, 2), ("tell", 6)
    ]  # fmt: skip


def test_result_reports_pareto_set_hypervolume_and_timing(branin_currin):
    result = mobo.optimize(
        branin_currin, "random", n_evals=40, seed=2, batch_size=4, show_progress=False
    )
    assert result.hypervolume.shape == (40,)
    assert torch.all(result.hypervolume[1:] >= result.hypervolume[:-1])
    assert result.hypervolume[-1] == pytest.approx(
        mobo.hypervolume(result.pareto_Y, branin_currin.ref_point)
    )
    assert result.seconds_per_iteration.shape == (10,)  # one ask per batch
    assert torch.all(
        result.log_hv_difference
        <= torch.log10(torch.tensor(branin_currin.max_hv, dtype=torch.float64))
    )
    table = result.pareto_table().splitlines()
    assert table[0].split() == ["x0", "x1", "f0", "f1"]
    assert len(table) == 1 + int(result.pareto_mask.sum())


@pytest.mark.parametrize(
    ("algorithm", "kill_between_ask_and_tell"),
    [("qlognehvi", False), ("qlognehvi", True), ("usemo", True)],
)
def test_a_resumed_gp_study_proposes_exactly_what_an_uninterrupted_one_does(
    tmp_path, toy_problem, algorithm, kill_between_ask_and_tell
):
    # With warm_start=True a GP algorithm starts each fit from the previous fit's
    # hyperparameters; the journal keeps them, so resuming changes nothing. (A cold fit
    # does not depend on them: checked at the end.) One model step before the stop and two
    # after it are enough to show both.
    options = {"n_initial": 4, **FAST_BO, "surrogate": {"warm_start": True}}
    if algorithm == "usemo":
        options.update(pop_size=16, n_gen=8)
    full = mobo.optimize(toy_problem, algorithm, n_evals=7, seed=2, show_progress=False, **options)

    path = tmp_path / "gp.jsonl"
    study = mobo.Study(toy_problem, algorithm, seed=2, journal=path, **options)
    study.optimize(5, show_progress=False)
    if kill_between_ask_and_tell:
        asked = study.ask(1)  # journaled with its state: the resumed study evaluates it first
    states = [json.loads(line) for line in path.read_text().splitlines() if '"state"' in line]
    assert states and "surrogate" in states[-1]["state"], "the GP state is journaled"
    study.close()
    resumed = mobo.Study.load(path, toy_problem)
    # The state the last ask left (telling does not change an algorithm's state).
    assert resumed.algorithm.state_dict() == study.algorithm.state_dict()
    if kill_between_ask_and_tell:
        assert torch.equal(resumed.ledger.asked.replay, asked)  # to be evaluated before any new ask
    result = resumed.optimize(7, show_progress=False)
    torch.testing.assert_close(result.X, full.X, rtol=0, atol=0)

    # Without the journaled state the warm start differs, and so do the proposals: the
    # state is what makes the two agree (if this fails, the test above proves nothing).
    bare = tmp_path / "bare.jsonl"
    _write_evaluations_only(path, bare, 5)
    stateless = mobo.Study.load(bare, toy_problem).optimize(7, show_progress=False)
    assert not torch.equal(stateless.X, full.X)

    # A cold fit (the default, except for USeMO and MESMO) starts afresh each time, so even a
    # journal without states resumes exactly (the straight run's own journal, cut at 5).
    options["surrogate"] = {"warm_start": False}
    cold = mobo.Study(toy_problem, algorithm, seed=2, journal=tmp_path / "cold.jsonl", **options)
    cold_X = cold.optimize(7, show_progress=False).X
    cold.close()
    _write_evaluations_only(tmp_path / "cold.jsonl", bare, 5)
    resumed = mobo.Study.load(bare, toy_problem).optimize(7, show_progress=False)
    torch.testing.assert_close(resumed.X, cold_X, rtol=0, atol=0)


def _write_evaluations_only(journal, out, count):
    """``journal``'s header and its first ``count`` evaluations (no states, no asks)."""
    header, *records = journal.read_text().splitlines()
    evaluations = [line for line in records if json.loads(line)["type"] == "eval"]
    out.write_text("\n".join([header, *evaluations[:count]]) + "\n")


def test_a_stateless_algorithm_refuses_a_state(toy_problem):
    algorithm = mobo.make_algorithm("sobol", toy_problem)
    assert algorithm.state_dict() == {}
    with pytest.raises(ValueError, match="algorithm 'sobol' keeps no state"):
        algorithm.load_state_dict({"surrogate": {}})


def test_a_cost_budget_without_fidelities_counts_evaluations(tmp_path, toy_problem):
    # each evaluation costs one, so no batch or evaluation in flight takes it past 5
    study = mobo.Study(toy_problem, "random", journal=tmp_path / "c.jsonl")
    assert study.optimize(max_cost=5, batch_size=2, show_progress=False).n_evaluations == 5
    with ThreadPoolExecutor(2) as pool:
        result = study.optimize(
            max_cost=7, batch_size=2, executor=pool, asynchronous=True, show_progress=False
        )
    assert result.n_evaluations == 7 and study.cost_spent == 7
    study.close()
    assert mobo.Study.load(tmp_path / "c.jsonl", toy_problem, read_only=True).max_cost == 7


@pytest.mark.parametrize("batch_size", [1, 2])
def test_a_fractional_cost_budget_is_spent_and_a_rounded_one_not_overspent(toy_problem, batch_size):
    """Evaluations cost one each and optimize runs until their cost reaches max_cost: 2.5
    takes a third evaluation (rounded down, the study stopped at 2 with 0.5 left), and a
    budget summed as 30 x 0.1 = 3.0000000000000013 is 3 up to rounding (compared exactly,
    its ulp bought a 4th evaluation)."""
    for max_cost in (2.5, sum([0.1] * 30)):
        study = mobo.Study(toy_problem, "random", seed=0)
        result = study.optimize(max_cost=max_cost, batch_size=batch_size, show_progress=False)
        assert (result.n_evaluations, study.cost_spent) == (3, 3.0)


def _tell_neighbours(study, told):
    """A callback telling, after each asked point, two points next to it as extras."""
    for e in told:
        if not e.extra:
            X = (torch.tensor([e.x], dtype=torch.float64) + torch.tensor([[1e-3], [2e-3]])).clamp(
                max=1.0
            )
            study.tell(X, study.problem.evaluate(X), extra=True)


def test_extras_inform_the_model_but_do_not_use_up_the_initial_design(tmp_path, toy_problem):
    plain = mobo.optimize(toy_problem, "sobol", n_evals=4, seed=1, show_progress=False)
    path = tmp_path / "extras.jsonl"
    run = mobo.optimize(
        toy_problem,
        "sobol",
        n_evals=8,  # the callback's last two extras take the study past it: it ends there
        seed=1,
        journal=path,
        show_progress=False,
        callbacks=[_tell_neighbours],
    )
    assert run.n_evaluations == 9
    # Every third point is asked: the Sobol sequence's first points, as with no extras.
    torch.testing.assert_close(run.X[[0, 3, 6]], plain.X[:3], rtol=0, atol=0)
    assert [bool(r.get("extra")) for r in _eval_lines(path)] == [False, True, True] * 3
    assert "extra" not in _eval_lines(path)[0]  # an asked point's record is as before
    resumed = mobo.Study.load(path, toy_problem)  # the flags survive a resume, so the
    assert [e.extra for e in resumed.evaluations] == [False, True, True] * 3
    torch.testing.assert_close(resumed.ask(1), plain.X[3:4], rtol=0, atol=0)  # 4th is next
    # A model-based algorithm's initial design counts and indexes only the asked points.
    algorithm = mobo.make_algorithm("qlognehvi", toy_problem, n_initial=4)
    X = torch.rand(10, toy_problem.dim, dtype=torch.float64)
    proposed = algorithm.ask(2, X, toy_problem.evaluate(X), seed=1, n_evaluated=10, n_extra=8)
    torch.testing.assert_close(proposed, plain.X[2:4], rtol=0, atol=0)


def test_a_record_keeps_a_zero_cost_and_drops_only_unused_fields():
    from mobo.result import Evaluation

    evaluation = Evaluation(index=0, x=[0.1, 0.2], y=[1.0, 2.0], cost=0.0)  # a built design
    record = evaluation.to_record()
    assert record["cost"] == 0.0 and "c" not in record and "extra" not in record
    assert Evaluation.from_record(record) == evaluation
    extra = Evaluation(index=1, x=[0.1, 0.2], y=[1.0, 2.0], extra=True)
    assert Evaluation.from_record(extra.to_record()).extra


def test_a_study_loaded_read_only_cannot_tell(tmp_path, toy_problem):
    path = tmp_path / "running.jsonl"
    with mobo.Study(toy_problem, "sobol", seed=0, journal=path) as running:
        running.optimize(2, show_progress=False)
        before = path.read_bytes()
        reader = mobo.Study.load(path, toy_problem, read_only=True)  # beside the writer
        assert reader.read_only and reader.n_evaluated == 2
        with pytest.raises(ValueError, match="this study is read-only"):
            reader.tell([0.5, 0.5], [0.0, 0.0])
        with pytest.raises(ValueError, match="this study is read-only"):
            reader.optimize(3, show_progress=False)
        assert reader.n_evaluated == 2 and path.read_bytes() == before


def test_load_rebuilds_a_test_problem_and_names_one_it_cannot(tmp_path, toy_problem):
    path = tmp_path / "bc.jsonl"
    mobo.optimize(mobo.problems.make("BraninCurrin"), "random", n_evals=2, journal=path,
                  show_progress=False)  # fmt: skip
    assert mobo.Study.load(path, read_only=True).problem.name == "BraninCurrin"
    other = tmp_path / "toy.jsonl"
    mobo.optimize(toy_problem, "random", n_evals=2, journal=other, show_progress=False)
    with pytest.raises(JournalError, match="problem 'toy', which it cannot rebuild: pass"):
        mobo.Study.load(other, read_only=True)


@mobo.register
class _Sleepy(mobo.Algorithm):
    """Waits 0.3 s in every ask without computing: wall time, no CPU time."""

    name = "test-sleepy"
    uses_initial_design = False

    def propose(self, q, U, Y, *, seed, U_pending):
        import time

        time.sleep(0.3)
        return torch.rand(q, self.problem.dim, dtype=torch.float64)


@mobo.register
class _Phased(mobo.Algorithm):
    """Random points; its state, the phase (one per three points told), stands for a GP's
    hyperparameters, which change with the data now and then."""

    name = "test-phased"
    uses_initial_design = False
    phase = 0

    def propose(self, q, U, Y, *, seed, U_pending):
        self.phase = U.shape[0] // 3
        return torch.rand(q, self.problem.dim, dtype=torch.float64)

    def state_dict(self):
        return {"phase": self.phase}

    def load_state_dict(self, state):
        self.phase = state["phase"]


def test_a_state_is_journaled_when_it_changes_and_not_again_after_a_resume(tmp_path, toy_problem):
    """The state an ask leaves is journaled before its evaluations only when it changed:
    a GP's hyperparameters are hundreds of bytes, and a resumed study is not to write
    again the state it loaded."""
    path = tmp_path / "phased.jsonl"
    with mobo.Study(toy_problem, "test-phased", seed=0, journal=path) as study:
        study.optimize(5, show_progress=False)
    with mobo.Study.load(path, toy_problem) as study:
        assert study.algorithm.phase == 1  # left by the fifth ask, of 4 points told
        study.optimize(8, show_progress=False)
    records = [json.loads(line) for line in path.read_text().splitlines()[1:]]
    states = [(r["step"], r["state"]["phase"]) for r in records if r["type"] == "state"]
    assert states == [(0, 0), (3, 1), (6, 2)]


@pytest.mark.parametrize("executor", [None, "threads"])
def test_each_ask_records_its_cpu_time_beside_its_wall_time(tmp_path, toy_problem, executor):
    # Only wall time was recorded: on a shared machine 2.3-2.7x the asks' CPU time.
    path = tmp_path / "s.jsonl"
    with ThreadPoolExecutor(1) if executor else contextlib.nullcontext() as pool:
        result = mobo.optimize(
            toy_problem, "test-sleepy", n_evals=2, journal=path, executor=pool, show_progress=False
        )
    assert result.seconds_per_iteration.shape == (2,)
    assert (result.seconds_per_iteration >= 0.3).all()
    assert (result.cpu_seconds_per_iteration < 0.05).all()
    assert "wall s/iteration (0.0" in result.summary()
    reloaded = mobo.Study.load(path, toy_problem, read_only=True).result()
    assert torch.equal(reloaded.cpu_seconds_per_iteration, result.cpu_seconds_per_iteration)
    # A journal from before CPU times loads, with them unknown (NaN) and unreported.
    old = tmp_path / "old.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert all("ask_cpu_seconds" in r for r in lines if r.get("type") == "eval")
    old.write_text(
        "".join(
            json.dumps({k: v for k, v in r.items() if k != "ask_cpu_seconds"}) + "\n" for r in lines
        )
    )
    before = mobo.Study.load(old, toy_problem, read_only=True).result()
    assert torch.equal(before.seconds_per_iteration, result.seconds_per_iteration)
    assert before.cpu_seconds_per_iteration.isnan().all()
    assert "CPU" not in before.summary()


def test_points_of_two_outstanding_asks_are_recorded_under_their_own_ask(toy_problem):
    # Every row took the step and ask time of the first row's ask: B's point was recorded
    # under A's step, and A's other point, told later, with no ask time.
    study = mobo.Study(toy_problem, "random", seed=0)
    A, B = study.ask(2), study.ask(1)
    first = study.tell(torch.cat([A[1:], B]), toy_problem.evaluate(torch.cat([A[1:], B])))
    later = study.tell(A[:1], toy_problem.evaluate(A[:1]))
    assert [e.step for e in first + later] == [0, 1, 0]
    assert all(e.ask_seconds > 0 for e in first + later)
    extras = study.tell(torch.rand(2, 2, dtype=torch.float64), torch.zeros(2, 2))
    assert [e.step for e in extras] == [2, 2]  # told directly, together: one new step
    assert study.result().seconds_per_iteration.shape == (3,)


def test_a_budget_within_the_initial_design_warns_a_model_based_algorithm():
    """20 inputs and 40 evaluations: the default design is 42 points, and qLogNEHVI, USeMO
    and qParEGO returned Sobol's very points under their own names, without a word."""
    wide = mobo.FunctionProblem(
        lambda X: torch.stack([X.sum(-1), -X.sum(-1)], -1), [[0.0] * 20, [1.0] * 20], 2, [-99, -99]
    )
    with pytest.warns(UserWarning, match=r"n_evals=40 .* 42 points") as caught:
        mobo.optimize(wide, "qlognehvi", n_evals=40, show_progress=False)
    said = [str(w.message) for w in caught if "initial Sobol design" in str(w.message)]
    assert len(said) == 1
    # What the run is, and both ways out: the CLI's --n-evals, or n_initial (--n-initial).
    assert "so the run is pure Sobol: 'qlognehvi' proposes none of its points" in said[0]
    assert said[0].endswith(
        "Raise n_evals above 42, or pass n_initial below n_evals, e.g. n_initial=20"
    )
    # Not where the design is the algorithm's start (NSGA-II's first generation) or all of it.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for name in ["sobol", "random", "nsga2"]:
            mobo.optimize(wide, name, n_evals=40, show_progress=False)
        small = mobo.FunctionProblem(toy_function, [[0, 0], [1, 1]], 2, [-1, -1])
        mobo.optimize(small, "qparego", n_evals=4, n_initial=3, show_progress=False, **FAST_BO)
    assert not [w for w in caught if "initial Sobol design" in str(w.message)]


def test_numpy_numbers_are_settings_like_python_ones(tmp_path):
    # Settings read with NumPy or pandas were refused as their own contradiction
    # ("n_evals must be a positive int, got np.int64(6)"); they are now the Python numbers
    # they stand for, journaled as plain JSON numbers.
    journals = []
    for kind, real in ((int, float), (np.int64, np.float32)):
        problem = mobo.FunctionProblem(toy_function, [[0, 0], [1, 1]], kind(2), [-1, -1])
        path = tmp_path / f"{kind.__name__}.jsonl"
        mobo.optimize(
            problem,
            "sobol",
            n_evals=kind(6),
            max_cost=real(6),
            seed=kind(1),
            batch_size=kind(2),
            max_failures_in_a_row=kind(3),
            n_initial=kind(4),
            journal=path,
            show_progress=False,
        )
        study = mobo.Study.load(path, problem)
        study.tell(X := study.ask(kind(2)), problem.evaluate(X))
        study.close()
        timings = ("ask_seconds", "eval_seconds", "ask_cpu_seconds")
        records = [json.loads(line) for line in path.read_text().splitlines()]
        journals.append([{k: v for k, v in r.items() if k not in timings} for r in records])
    assert journals[1] == journals[0] and len(journals[0]) == 1 + 1 + 4 * 3
    assert journals[0][0]["seed"] == 1 and journals[0][1]["max_cost"] == 6.0
    with pytest.raises(ValueError, match="n_evals must be a positive int, got np.True_"):
        mobo.optimize(problem, "sobol", n_evals=np.bool_(True), show_progress=False)


def test_the_module_example_runs_as_written(tmp_path, monkeypatch):
    # Its third line, Study.load, failed with JournalLockedError: the first study still held
    # the journal's lock. Run with sobol for speed; the lock does not depend on the algorithm.
    import mobo.study

    monkeypatch.chdir(tmp_path)
    lines = [ln[4:] for ln in mobo.study.__doc__.splitlines() if ln.startswith(">>> ")]
    namespace = {"Study": mobo.Study, "problems": mobo.problems}
    with ThreadPoolExecutor(2) as namespace["executor"]:
        for line in lines:
            exec(line.replace('"qlognehvi"', '"sobol"'), namespace)
    namespace["study"].close()
    assert len(mobo.Study.load("bc.jsonl", read_only=True).result().Y) == 40


def test_tell_keeps_costs_given_under_fidelities_and_refuses_them_without(tmp_path, toy_problem):
    """Evaluations made elsewhere (from_ax) are told with what they cost then, not
    re-priced by current_cost now; without fidelities every evaluation costs 1."""
    problem = mobo.FunctionProblem(
        lambda X: toy_function(X[:, :2]),
        [[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]],
        2,
        toy_problem.ref_point.tolist(),
        fidelity_levels=[0.5, 1.0],
        fidelity_costs=[0.2, 1.0],
    )
    study = mobo.Study(problem, "sobol", seed=0, journal=tmp_path / "s.jsonl")
    X = torch.tensor([[0.1, 0.2, 1.0], [0.3, 0.4, 0.5]], dtype=torch.float64)
    study.tell(X, problem.evaluate(X), costs=[0.0, None])
    assert [e.cost for e in study.evaluations] == [0.0, 0.2]
    assert study.cost_spent == pytest.approx(0.2)  # a built design cost nothing
    study.close()
    assert [e.cost for e in mobo.Study.load(tmp_path / "s.jsonl", problem).evaluations] == [
        0.0,
        0.2,
    ]
    with pytest.raises(ValueError, match="one entry per row"):
        mobo.Study(problem, "sobol").tell(X, problem.evaluate(X), costs=[0.5])
    plain = mobo.Study(toy_problem, "sobol")
    with pytest.raises(ValueError, match="under fidelities only"):
        plain.tell(X[:1, :2], toy_problem.evaluate(X[:1, :2]), costs=[0.5])
    assert plain.n_evaluated == 0
    # A cost is journaled and summed into every budget: none that prices nothing sensible.
    fresh = mobo.Study(problem, "sobol")
    for bad in (float("nan"), -0.5, float("inf"), "0.2", True):
        with pytest.raises(ValueError, match="finite non-negative numbers or None"):
            fresh.tell(X, problem.evaluate(X), costs=[bad, None])
    assert fresh.n_evaluated == 0
    fresh.tell(X[:1], problem.evaluate(X[:1]), costs=[np.float32(0.25)])  # NumPy's too
    assert [e.cost for e in fresh.evaluations] == [0.25]
