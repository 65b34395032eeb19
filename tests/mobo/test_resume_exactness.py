"""Resuming, in a new process or in the same one, continues the study an uninterrupted run
would have made; a journal of another study is refused before a byte of it changes."""

from __future__ import annotations

import json
import pickle
import warnings
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest
import torch

import mobo
from tests.mobo.conftest import FAST_BO, FAST_BO_NSGA2, toy_function


class InterruptAt:
    """The toy objectives, raising KeyboardInterrupt on the ``at``-th call (once)."""

    def __init__(self, at: int) -> None:
        self.calls, self.at = 0, at

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls == self.at:
            raise KeyboardInterrupt
        return toy_function(X)


def toy(f=toy_function) -> mobo.Problem:
    """The toy problem, of an explicit fingerprint: its journals are made with InterruptAt,
    which computes toy_function's objectives, and resumed with toy_function itself."""
    bounds, ref = [[0.0, 0.0], [1.0, 1.0]], [-1.0, -1.0]
    return mobo.FunctionProblem(f, bounds, 2, ref, name="toy", fingerprint="toy")


@pytest.mark.parametrize("algorithm", ["sobol", "random", "nsga2"])
def test_the_same_study_continued_after_an_interrupt_matches_an_uninterrupted_one(algorithm):
    options = {"n_initial": 4, **({"pop_size": 4} if algorithm == "nsga2" else {})}
    plain = mobo.Study(toy(), algorithm, seed=3, **options)
    plain.optimize(12, batch_size=2, show_progress=False)

    study = mobo.Study(toy(InterruptAt(4)), algorithm, seed=3, **options)
    with pytest.raises(KeyboardInterrupt):
        study.optimize(12, batch_size=2, show_progress=False)
    assert study.n_evaluated == 6 and study.ledger.asked.pending.shape[0] == 0  # to be asked again
    assert study.ledger.asked.replay.shape[0] == 2
    study.optimize(12, batch_size=2, show_progress=False)  # as in a notebook: run it again
    assert torch.equal(study.X, plain.X)


def test_a_gp_study_interrupted_inside_its_ask_proposes_next_as_an_uninterrupted_one(
    monkeypatch,
):
    """Ctrl-C while the acquisition is maximized comes after the fit that left the surrogate
    its new hyperparameters; with warm_start=True the next fit starts from them, so they
    are put back: the ask made again fits and proposes as the uninterrupted study did."""
    options = {"n_initial": 4, **FAST_BO, "surrogate": {"warm_start": True}}
    plain = mobo.Study(toy(), "qlognehvi", seed=2, **options)
    plain.optimize(6, show_progress=False)

    study = mobo.Study(toy(), "qlognehvi", seed=2, **options)
    study.optimize(5, show_progress=False)
    fitted = study.algorithm.maximize

    def interrupted(*args, **kwargs):
        monkeypatch.setattr(study.algorithm, "maximize", fitted)  # once
        raise KeyboardInterrupt

    monkeypatch.setattr(study.algorithm, "maximize", interrupted)
    with pytest.raises(KeyboardInterrupt):
        study.optimize(6, show_progress=False)
    assert study.n_evaluated == 5 and study.ledger.asked.pending.shape[0] == 0
    study.optimize(6, show_progress=False)
    assert torch.equal(study.X, plain.X)


def test_a_journal_resumed_before_its_first_ask_numbers_asks_from_zero(tmp_path):
    """Each evaluation names its ask by step; a study created and resumed before it asked
    anything numbers its asks as one that never stopped."""
    plain = mobo.Study(toy(), "sobol", seed=0)
    plain.optimize(3, show_progress=False)
    path = tmp_path / "run.jsonl"
    mobo.Study(toy(), "sobol", seed=0, journal=path).close()
    with mobo.Study.load(path, toy()) as study:
        study.optimize(3, show_progress=False)
    assert [e.step for e in study.evaluations] == [e.step for e in plain.evaluations] == [0, 1, 2]


def test_points_not_told_are_asked_again_in_the_order_first_asked():
    """Points restored from a journal keep their asks' steps and prices; a replayed point
    interrupted again goes back before the rest (it was asked before them); every untold
    point is listed in ask order; a told point is the nearest pending one."""
    from mobo.asked import AskedPoints

    asked = AskedPoints(2)
    asked.restore([(0, [0.1, 0.1], None), (0, [0.2, 0.2], None), (1, [0.3, 0.3], 0.5)], 1)
    assert asked.next_step == 2
    first = asked.take_replay(1)
    asked.forget(first)  # interrupted again before it was told
    assert asked.replay.tolist() == [[0.1, 0.1], [0.2, 0.2], [0.3, 0.3]]
    taken = asked.take_replay(2)
    asked.add(torch.tensor([[0.9, 0.9]], dtype=torch.float64), asked.new_step())
    assert [asked.step_of(x) for x in taken] == [0, 0]
    assert asked.untold() == [([0.1, 0.1], None), ([0.2, 0.2], None), ([0.3, 0.3], 0.5),
                              ([0.9, 0.9], None)]  # fmt: skip

    close = AskedPoints(2)
    close.add(torch.tensor([[0.5, 0.5], [0.5 + 8e-7, 0.5]], dtype=torch.float64), 0)
    close.add(torch.tensor([[0.5 + 9e-7, 0.5]], dtype=torch.float64), 1)
    assert close.step_of(torch.tensor([0.5 + 8.9e-7, 0.5], dtype=torch.float64)) == 1
    assert close.row_of([0.5 + 9.1e-7, 0.5], 1) == 0  # told rounded: its row in the ask
    # Two rows of one ask within tolerance of a told point: the nearer one, as step_of.
    assert close.row_of([0.5 + 7e-7, 0.5], 0) == 1
    assert close.row_of([0.5 + 1e-7, 0.5], 0) == 0


def test_load_resumes_with_the_journaled_batch_size(tmp_path):
    plain = mobo.Study(toy(), "nsga2", seed=1, n_initial=4, pop_size=4)
    plain.optimize(16, batch_size=4, show_progress=False)

    path = tmp_path / "run.jsonl"
    study = mobo.Study(toy(InterruptAt(3)), "nsga2", seed=1, journal=path, n_initial=4, pop_size=4)
    with pytest.raises(KeyboardInterrupt):
        study.optimize(16, batch_size=4, show_progress=False)
    study.close()
    resumed = mobo.Study.load(path, toy())
    assert (resumed.n_evaluated, resumed.n_evals, resumed.batch_size) == (8, 16, 4)
    resumed.optimize(show_progress=False)  # no batch size given: the journaled one
    assert [e.step for e in resumed.evaluations] == [e.step for e in plain.evaluations]
    assert torch.equal(resumed.X, plain.X)
    resumed.close()


def test_optimize_refuses_other_options_or_algorithm_and_leaves_the_journal_untouched(tmp_path):
    path = tmp_path / "run.jsonl"
    mobo.optimize(toy(), "sobol", n_evals=6, seed=0, journal=path, show_progress=False)
    with open(path, "ab") as f:
        f.write(b'{"type": "ev')  # a torn last line, which a writer would cut off
    before = path.read_bytes()
    with pytest.raises(mobo.JournalError, match="algorithm 'sobol' with seed 0, not 'nsga2'"):
        mobo.optimize(toy(), "nsga2", n_evals=8, journal=path, show_progress=False, pop_size=4)
    with pytest.raises(mobo.JournalError, match="with options {}, not {'n_initial': 3}"):
        mobo.optimize(toy(), "sobol", n_evals=8, journal=path, show_progress=False, n_initial=3)
    assert path.read_bytes() == before
    with pytest.warns(mobo.JournalRecoveryWarning):  # the same study resumes
        result = mobo.optimize(toy(), "sobol", n_evals=8, journal=path, show_progress=False)
    assert result.n_evaluations == 8


def test_optimize_resumes_a_study_it_started_with_numpy_options(tmp_path):
    # The options were journaled as plain numbers but compared as given: extending the
    # same call to n_evals=6 refused its own journal ("with options {'n_initial': 4}, not
    # {'n_initial': 'np.int64(4)'}").
    import numpy as np

    path = tmp_path / "run.jsonl"
    for n_evals in (5, 6):
        result = mobo.optimize(
            toy(),
            "sobol",
            n_evals=n_evals,
            journal=path,
            show_progress=False,
            n_initial=np.int64(4),
        )
        assert result.n_evaluations == n_evals
    with pytest.raises(
        mobo.JournalError, match="with options {'n_initial': 4}, not {'n_initial': 3}"
    ):
        mobo.optimize(
            toy(), "sobol", n_evals=7, journal=path, show_progress=False, n_initial=np.int64(3)
        )


def test_tell_refuses_points_outside_the_problem(toy_problem):
    study = mobo.Study(toy_problem, "sobol")
    for x in ([float("nan"), 0.5], [1.5, 0.5], [0.5, -0.1]):
        with pytest.raises(ValueError, match="not a point of the problem"):
            study.tell(torch.tensor([x]), torch.tensor([[0.0, 0.0]]))
    assert study.n_evaluated == 0
    study.tell(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 0.0]]))  # the bounds are in
    assert study.n_evaluated == 1


@pytest.mark.parametrize("rounding", ["float32", "six digits"])
def test_points_told_back_rounded_are_the_asked_ones_here_and_after_a_resume(tmp_path, rounding):
    """A user's pipeline rounds what it was asked (float32, a CSV); told back, such a point
    stayed pending for ever (the initial design skipped Sobol points for it) and a resumed
    study evaluated it a second time."""
    empty = torch.empty(0, 2, dtype=torch.float64)
    sobol = mobo.make_algorithm("sobol", toy()).ask(4, empty, empty, seed=0)
    path = tmp_path / "asked.jsonl"
    study = mobo.Study(toy(), "sobol", seed=0, journal=path)
    X = study.ask(2)
    torch.testing.assert_close(X, sobol[:2], rtol=0, atol=0)
    told = X.float().double() if rounding == "float32" else (X * 1e6).round() / 1e6
    assert not torch.equal(told, X)
    study.tell(told, toy_function(told))
    assert study.ledger.asked.pending.shape[0] == 0
    torch.testing.assert_close(study.ask(1), sobol[2:3], rtol=0, atol=0)
    study.close()
    resumed = mobo.Study.load(path, toy())  # only the third point is asked again
    torch.testing.assert_close(resumed.ask(2), sobol[2:3], rtol=0, atol=0)


def test_an_unpicklable_problem_is_refused_by_a_process_pool_before_any_evaluation(tmp_path):
    problem = toy(lambda X: toy_function(X))  # a lambda: pickle cannot send it
    with pytest.raises((pickle.PicklingError, AttributeError)):
        pickle.dumps(problem)
    path = tmp_path / "run.jsonl"
    with ProcessPoolExecutor(1) as pool, pytest.raises(TypeError, match="cannot be pickled"):
        mobo.optimize(problem, "sobol", n_evals=4, journal=path, executor=pool, show_progress=False)
    assert mobo.Study.load(path, problem, read_only=True).n_evaluated == 0


@pytest.mark.parametrize("algorithm", ["usemo", "mesmo", "qlognehvi", "ax"])
def test_front_based_algorithms_refuse_a_single_objective_problem_when_built(algorithm):
    sphere = mobo.FunctionProblem(
        lambda X: -(X**2).sum(-1, keepdim=True), [[-1.0], [1.0]], 1, [-5.0]
    )
    with pytest.raises(ValueError, match=f"'{algorithm}' needs at least 2 objectives.*'sobol'"):
        mobo.make_algorithm(algorithm, sphere)
    assert "usemo" not in mobo.single_objective_algorithms()
    assert {"sobol", "nsga2", "qparego"} <= set(mobo.single_objective_algorithms())


class Fingerprinted(mobo.FunctionProblem):
    def __init__(self, data: str) -> None:
        super().__init__(toy_function, [[0.0, 0.0], [1.0, 1.0]], 2, [-1.0, -1.0], name="toy")
        self.data = data

    def fingerprint(self) -> str:
        return self.data


class Unchecked(mobo.FunctionProblem):
    """The toy problem without a fingerprint, as every FunctionProblem was before them."""

    def __init__(self) -> None:
        super().__init__(toy_function, [[0.0, 0.0], [1.0, 1.0]], 2, [-1.0, -1.0], name="toy")

    def fingerprint(self) -> None:
        return None


def test_a_journal_made_from_other_data_is_refused_by_its_fingerprint(tmp_path):
    path = tmp_path / "run.jsonl"
    mobo.optimize(Fingerprinted("a"), "sobol", n_evals=4, journal=path, show_progress=False)
    with pytest.raises(mobo.JournalError, match="fingerprint .* is 'a', the given problem's"):
        mobo.optimize(Fingerprinted("b"), "sobol", n_evals=6, journal=path, show_progress=False)
    # A journal from before fingerprints (none recorded) still resumes, but not silently:
    # it resumed under any data, so a design journal mixed two problems' objectives.
    plain = tmp_path / "plain.jsonl"
    mobo.optimize(Unchecked(), "sobol", n_evals=4, journal=plain, show_progress=False)
    with pytest.warns(mobo.JournalUncheckedWarning) as caught:
        result = mobo.optimize(Fingerprinted("b"), "sobol", n_evals=6, journal=plain)
    assert result.n_evaluations == 6
    (warning,) = [w for w in caught if w.category is mobo.JournalUncheckedWarning]
    assert "plain.jsonl" in str(warning.message) and "older version" in str(warning.message)
    with warnings.catch_warnings():
        warnings.simplefilter("error", mobo.JournalUncheckedWarning)  # nothing to check
        mobo.optimize(Unchecked(), "sobol", n_evals=7, journal=plain, show_progress=False)


def test_a_journal_of_an_older_fingerprint_definition_is_refused_as_such(tmp_path):
    """A fingerprint's definition changes (a design's came to cover the validation images):
    the same study's journal was refused as "another problem" with two digests. Its version
    is journaled, so the refusal says the journal cannot be checked and what to do."""
    path = tmp_path / "run.jsonl"
    mobo.optimize(Fingerprinted("a"), "sobol", n_evals=4, journal=path, show_progress=False)
    header, *lines = path.read_text().splitlines()
    assert json.loads(header)["problem"]["fingerprint_version"] == 1

    class Redefined(Fingerprinted):
        fingerprint_version = 2

    with pytest.raises(mobo.JournalMismatchError) as refused:
        mobo.Study.load(path, Redefined("a2"), read_only=True)
    message = str(refused.value)
    assert "older version (fingerprint version 1, this one computes version 2)" in message
    assert "cannot be checked" in message and "start a new journal" in message
    assert "'a', the given problem's is 'a2'" in message
    # One written before versions were journaled (sweep 27: v180's design journal).
    unversioned = json.loads(header)
    del unversioned["problem"]["fingerprint_version"]
    path.write_text("\n".join([json.dumps(unversioned), *lines]) + "\n")
    with pytest.raises(
        mobo.JournalMismatchError,
        match="older version .it recorded no fingerprint version.*may be computed",
    ):
        mobo.Study.load(path, Fingerprinted("b"), read_only=True)
    assert len(mobo.Study.load(path, Fingerprinted("a"), read_only=True).evaluations) == 4
    # The same version: another problem, refused as before.
    same = tmp_path / "same.jsonl"
    mobo.optimize(Fingerprinted("a"), "sobol", n_evals=2, journal=same, show_progress=False)
    with pytest.raises(mobo.JournalMismatchError, match="belongs to another problem"):
        mobo.Study.load(same, Fingerprinted("b"), read_only=True)


@pytest.mark.parametrize("algorithm", ["qlognehvi", "nsga2"])
def test_a_journal_cut_in_the_middle_of_a_batch_resumes_as_the_uninterrupted_study(
    tmp_path, algorithm
):
    """Asks are journaled: the rest of a batch a crash interrupted is evaluated first, from
    the algorithm state that ask left, so every later proposal is the uninterrupted one."""
    from tests.mobo.conftest import FAST_BO

    options = {"n_initial": 4, **(FAST_BO if algorithm == "qlognehvi" else {"pop_size": 4})}
    path = tmp_path / "run.jsonl"
    with mobo.Study(toy(), algorithm, seed=2, journal=path, **options) as study:
        study.optimize(12, batch_size=3, show_progress=False)
        uninterrupted = study.X.clone()
    lines = path.read_text().splitlines(keepends=True)
    kinds = [json.loads(line)["type"] for line in lines]
    evals = [i for i, kind in enumerate(kinds) if kind == "eval"]
    last_ask = max(i for i, kind in enumerate(kinds) if kind == "ask")
    for cut in (evals[7], last_ask + 1):  # 1 of a batch of 3 told; a batch asked, none told
        path.write_text("".join(lines[:cut]))
        with mobo.Study.load(path, toy()) as resumed:
            resumed.optimize(show_progress=False)
            assert torch.equal(resumed.X, uninterrupted), cut


def test_check_resumable_tells_before_anything_is_computed_or_written(tmp_path):
    path = tmp_path / "run.jsonl"
    mobo.optimize(Fingerprinted("a"), "sobol", n_evals=4, journal=path, show_progress=False)
    before = path.read_bytes()
    mobo.check_resumable(path, Fingerprinted("a"), "sobol", 0)  # the same study: no error
    for problem, algorithm, options in [
        (Fingerprinted("b"), "sobol", {}),
        (Fingerprinted("a"), "random", {}),
        (Fingerprinted("a"), "sobol", {"n_initial": 2}),
    ]:
        with pytest.raises(mobo.JournalError):
            mobo.check_resumable(path, problem, algorithm, 0, **options)
    assert path.read_bytes() == before


def test_load_refuses_options_other_than_the_journaled_ones(tmp_path):
    """Study.load(path, **options) ran with the given options while the header kept the
    journaled ones, so the journal no longer said how its later evaluations were proposed
    (pop_size 12 under a header of 4, with nothing to tell them apart)."""
    path = tmp_path / "run.jsonl"
    with mobo.Study(toy(), "nsga2", seed=0, journal=path, pop_size=4) as study:
        study.optimize(8, show_progress=False)
    before = path.read_bytes()
    with pytest.raises(mobo.JournalMismatchError, match="with pop_size=4, not 12: resume"):
        mobo.Study.load(path, toy(), pop_size=12)
    with pytest.raises(mobo.JournalMismatchError, match=r"no n_initial \(the algorithm's"):
        mobo.Study.load(path, toy(), read_only=True, n_initial=6)
    assert path.read_bytes() == before  # refused before the lock was taken or a byte written
    # The same values (as given to mobo.optimize, NumPy numbers too) resume as before.
    with mobo.Study.load(path, toy(), pop_size=np.int64(4)) as resumed:
        assert resumed.algorithm.pop_size == 4
        resumed.optimize(12, show_progress=False)
    assert mobo.Study.load(path, toy(), read_only=True).n_evaluated == 12


def _slow_for_large_x0(X: torch.Tensor) -> torch.Tensor:
    import time

    time.sleep(0.01 + 0.05 * float(X[0, 0]))  # a batch completes out of ask order
    return toy_function(X)


@pytest.mark.parametrize("asynchronous", [False, True])
def test_an_executor_study_interrupted_with_points_in_flight_skips_and_repeats_nothing(
    tmp_path, asynchronous
):
    """In-flight points at an interrupt are asked first next time, in this process or from
    the journal, with their ask's step: the initial design and Sobol pick points by count,
    so dropping them had repeated one point and skipped another."""
    from concurrent.futures import ThreadPoolExecutor

    def stop_after(n):
        told = []

        def callback(study, evaluations):
            told.extend(evaluations)
            if len(told) == n:
                raise KeyboardInterrupt

        return callback

    problem = toy(_slow_for_large_x0)
    run = dict(batch_size=4, asynchronous=asynchronous, show_progress=False)
    with ThreadPoolExecutor(4) as pool:
        plain = mobo.Study(problem, "sobol", seed=0)
        plain.optimize(12, executor=pool, **run)
        for reload in (False, True):
            path = tmp_path / f"run-{reload}.jsonl"
            study = mobo.Study(problem, "sobol", seed=0, journal=path)
            with pytest.raises(KeyboardInterrupt):
                study.optimize(12, executor=pool, callbacks=[stop_after(6)], **run)
            if reload:
                study.close()
                study = mobo.Study.load(path, problem)
            study.optimize(12, executor=pool, **run)
            study.close()
            got = {tuple(e.x): e.step for e in study.evaluations}
            assert len(got) == 12  # no point evaluated twice
            want = {tuple(e.x): e.step for e in plain.evaluations}
            assert set(got) == set(want)  # none skipped
            if not asynchronous:  # asynchronous asks depend on completion times
                assert got == want  # each point under the step of the ask that proposed it


def _held_more(caught) -> list[str]:
    return [str(w.message) for w in caught if "more than the n_evals" in str(w.message)]


def _rerun_smaller(problem, path, run, longer: dict, smaller: dict, said):
    """Run ``longer`` into the journal ``path``, then ``smaller`` on it: the result equals a
    fresh run of ``smaller``, the journal is untouched, and ``said`` finds one warning,
    returned with the result."""
    mobo.optimize(problem(), "nsga2", journal=path, **longer, **run)
    before = path.read_bytes()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = mobo.optimize(problem(), "nsga2", journal=path, **smaller, **run)
    [message] = said(caught)  # said once
    fresh = mobo.optimize(problem(), "nsga2", **smaller, **run)
    assert torch.equal(result.X, fresh.X) and torch.equal(result.Y, fresh.Y)
    assert path.read_bytes() == before  # every evaluation kept, the longer budget too
    return result, message


def test_a_smaller_budget_on_a_longer_journal_returns_its_first_evaluations(tmp_path):
    """mobo.optimize(n_evals=5) on a journal of 8 returned all 8 without a word and
    journaled a budget of 5; a fresh run of 5 returns 5."""
    path = tmp_path / "run.jsonl"
    run = dict(seed=0, batch_size=2, show_progress=False, n_initial=4)
    result, message = _rerun_smaller(toy, path, run, {"n_evals": 8}, {"n_evals": 5}, _held_more)
    assert f"journal {str(path)!r} holds 8 evaluations, more than the n_evals=5" in message
    assert result.n_evaluations == 5
    with mobo.Study.load(path, toy()) as study:
        assert study.n_evals == 8
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert study.optimize(show_progress=False).n_evaluations == 8  # the recorded 8
            assert study.optimize(8, show_progress=False).n_evaluations == 8
        assert not _held_more(caught)
    # A larger budget (or a crash's resume: fewer held than asked) runs on, as before.
    assert mobo.optimize(toy(), "nsga2", n_evals=10, journal=path, **run).n_evaluations == 10
    straight = mobo.optimize(toy(), "nsga2", n_evals=10, **run)
    assert torch.equal(mobo.Study.load(path, toy(), read_only=True).X, straight.X)


def test_study_optimize_with_fewer_than_held_runs_nothing_and_keeps_the_budget():
    """The same rule in memory, and with an executor: the first n_evals in ask order."""
    from concurrent.futures import ThreadPoolExecutor

    study = mobo.Study(toy(_slow_for_large_x0), "sobol", seed=0)
    with ThreadPoolExecutor(3) as pool:
        study.optimize(6, batch_size=3, executor=pool, show_progress=False)
    with pytest.warns(UserWarning, match="the study holds 6 evaluations, more than the n_evals=4"):
        result = study.optimize(4, show_progress=False)
    assert study.n_evaluated == 6 and study.n_evals == 6 and study.result().n_evaluations == 6
    first = {tuple(x) for x in study.X[:4].tolist()}  # study.X is in ask order
    assert {tuple(x) for x in result.X.tolist()} == first
    told = [e.index for e in study.evaluations if tuple(e.x) in first]
    assert result.X.tolist() == [study.evaluations[i].x for i in sorted(told)]  # in told order


def _two_fidelities() -> mobo.Problem:
    """The toy problem with a cheap fidelity x[2] = 0 (cost 0.2) below the target 1 (1.0)."""
    return mobo.FunctionProblem(
        lambda X: toy_function(X[:, :2]) + 0.3 * (1 - X[:, 2:3]),
        [[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]],
        2,
        [-1.0, -1.0],
        name="toy2f",
        fingerprint="toy2f",
        fidelity_levels=[0.0, 1.0],
        fidelity_costs=[0.2, 1.0],
    )


def _held_more_cost(caught) -> list[str]:
    return [str(w.message) for w in caught if "a run of max_cost" in str(w.message)]


@pytest.mark.parametrize("fidelities", [False, True])
def test_a_smaller_cost_budget_on_a_longer_journal_returns_what_that_budget_asks(
    tmp_path, fidelities
):
    """mobo.optimize(max_cost=4.5) on a journal that spent 8 returned all 8 without a word
    and journaled a budget of 4.5; a fresh run of 4.5 asks 5 points (4 spent leave 0.5)."""
    problem = _two_fidelities if fidelities else toy
    path = tmp_path / "run.jsonl"
    run = dict(seed=0, show_progress=False, n_initial=4)
    longer, smaller = {"max_cost": 8.0}, {"max_cost": 4.5}
    result, message = _rerun_smaller(problem, path, run, longer, smaller, _held_more_cost)
    assert "holds 8 evaluations, more than the 5 a run of max_cost=4.5 holds" in message
    assert "Pass max_cost=8 for them all" in message
    assert result.n_evaluations == 5
    with mobo.Study.load(path, problem()) as study:
        assert study.max_cost == 8.0
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert study.optimize(max_cost=8.0, show_progress=False).n_evaluations == 8
            assert study.optimize(max_cost=7.5, show_progress=False).n_evaluations == 8
        assert not _held_more_cost(caught)  # 7 spent leave 0.5: a run of 7.5 asks 8 too
    # With n_evals too, the smaller of the two budgets counts.
    with pytest.warns(UserWarning, match="more than the 3 a run of n_evals=3, max_cost=4.5"):
        both = mobo.optimize(problem(), "nsga2", n_evals=3, max_cost=4.5, journal=path, **run)
    assert torch.equal(both.X, result.X[:3])


def test_a_smaller_cost_budget_counts_the_prices_in_the_order_asked():
    """Points told out of order (an executor) at their own prices: a run of max_cost=1
    asks the first two (0.5 each), not the first told (1.0)."""
    study = mobo.Study(_two_fidelities(), "sobol", seed=0)
    X = study.ask(4)
    costs = [0.5, 0.5, 1.0, 1.0]  # by ask row
    for row in (3, 2, 1, 0):
        study.tell(X[row], _two_fidelities().evaluate(X[row : row + 1])[0], costs=[costs[row]])
    with pytest.warns(UserWarning, match="more than the 2 a run of max_cost=1 holds"):
        result = study.optimize(max_cost=1.0, show_progress=False)
    assert result.X.tolist() == [X[1].tolist(), X[0].tolist()]  # in the order told


def test_optimize_resumes_to_the_recorded_cost_budget_and_after_a_stop(tmp_path):
    path = tmp_path / "run.jsonl"

    def interrupt_at(n):
        def callback(study, told):
            if study.n_evaluated == n:
                raise KeyboardInterrupt
            assert study.n_evaluated < 6, "ran past the budget"

        return callback

    with mobo.Study(toy(), "sobol", seed=0, journal=path) as study:
        with pytest.raises(KeyboardInterrupt):
            study.optimize(max_cost=3.0, callbacks=[interrupt_at(1)], show_progress=False)
    with mobo.Study.load(path, toy()) as study:
        assert study.optimize(callbacks=[interrupt_at(0)], show_progress=False).n_evaluations == 3
        study.stop()  # a callback's stop ends that run, not the next one
        assert study.optimize(max_cost=5.0, show_progress=False).n_evaluations == 5


def test_a_recorded_budget_a_callback_told_past_is_not_a_smaller_one():
    study = mobo.Study(toy(), "sobol", seed=0)

    def tell_one_more(study, told):
        if study.n_evaluated == 2:
            study.tell([0.5, 0.5], toy_function(torch.tensor([[0.5, 0.5]]))[0], extra=True)

    study.optimize(2, callbacks=[tell_one_more], show_progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert study.optimize(show_progress=False).n_evaluations == 3


def test_mfosemo_refuses_a_smaller_cost_budget_than_its_journal_spent(tmp_path):
    """MF-OSEMO's proposals depend on the cost budget (it keeps the end for the target):
    no part of a longer run is what a smaller budget asks, so nothing is returned as one."""
    path = tmp_path / "mf.jsonl"
    options = {**FAST_BO_NSGA2, "n_initial": 4}
    run = dict(seed=0, show_progress=False, **options)
    mobo.optimize(_two_fidelities(), "mfosemo", max_cost=4.0, journal=path, **run)
    before = path.read_bytes()
    with pytest.raises(ValueError, match=r"mfosemo's proposals depend on the cost budget"):
        mobo.optimize(_two_fidelities(), "mfosemo", max_cost=2.0, journal=path, **run)
    assert path.read_bytes() == before
    # A smaller n_evals under the same cost budget is cut by the count, as without MF-OSEMO.
    held = mobo.Study.load(path, _two_fidelities(), read_only=True).n_evaluated
    with pytest.warns(UserWarning, match=r"more than the 3 a run of n_evals=3, max_cost=4"):
        first = mobo.optimize(
            _two_fidelities(), "mfosemo", n_evals=3, max_cost=4.0, journal=path, **run
        )
    assert first.n_evaluations == 3 < held and path.read_bytes() == before


def test_a_budget_in_a_warning_reads_back_as_the_budget():
    """The advice "pass max_cost=..." is typed back: ``:g`` gave 1.23456e+06 for 1234564."""
    from mobo.loop import budget_text, cost_text

    assert cost_text(1234564.0) == "1234564" and cost_text(8.0) == "8"
    assert budget_text(1_000_000, 4.5) == "n_evals=1000000, max_cost=4.5"
    assert budget_text(None, None) == ""


def test_optimize_needs_a_budget_an_int_seed_and_the_journals_seed(tmp_path):
    never = tmp_path / "never.jsonl"
    with pytest.raises(ValueError, match="n_evals or max_cost is required"):
        mobo.optimize(Fingerprinted("a"), "sobol", journal=never, show_progress=False)
    with pytest.raises(TypeError, match="seed must be an int, got True"):
        mobo.optimize(Fingerprinted("a"), "sobol", n_evals=2, seed=True, journal=never)
    assert not never.exists()  # refused before any file is written
    path = tmp_path / "study.jsonl"
    path.touch()  # an empty file (e.g. made by the user's tooling): a new study
    told = []
    result = mobo.optimize(
        Fingerprinted("a"),
        "sobol",
        n_evals=2,
        journal=path,
        show_progress=False,
        callbacks=[lambda study, evaluations: told.append(len(evaluations))],
    )
    assert len(result.X) == 2 and told == [1, 1]
    with pytest.raises(mobo.JournalMismatchError, match="with seed 0, not 'sobol' with seed 1"):
        mobo.optimize(
            Fingerprinted("a"), "sobol", n_evals=3, seed=1, journal=path, show_progress=False
        )


def test_optimize_defaults_to_qlognehvi():
    """The documented default (README, ``leanet optimize --help``: the best-measured
    threshold search), a model-based algorithm: two evaluations stay in its Sobol design."""
    with pytest.warns(UserWarning, match="'qlognehvi' proposes none of its points"):
        result = mobo.optimize(Fingerprinted("a"), n_evals=2, show_progress=False)
    assert result.algorithm == "qlognehvi" and len(result.X) == 2
