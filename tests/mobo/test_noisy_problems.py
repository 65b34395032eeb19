"""Noisy and biased test problems: regret of the noiseless values, journals that refuse
another noise or bias, and noise given as arrays."""

from __future__ import annotations

import json
import warnings

import matplotlib
import numpy as np
import pytest
import torch

import mobo
from mobo.problems import make
from mobo.problems.multi_fidelity import BiasedFidelityProblem
from mobo.result import Evaluation, Result


def _told(problem: mobo.Problem, X: torch.Tensor) -> Result:
    Y = problem.evaluate(X)
    evaluations = [
        Evaluation(index=i, x=x, y=y)
        for i, (x, y) in enumerate(zip(X.tolist(), Y.tolist(), strict=True))
    ]
    return Result.from_evaluations(problem, "sobol", 0, evaluations)


def _zdt1_front(n: int) -> torch.Tensor:
    X = torch.zeros(n, 4, dtype=torch.float64)
    X[:, 0] = torch.linspace(0, 1, n, dtype=torch.float64)
    return X


def test_the_regret_of_a_noisy_problem_measures_the_noiseless_values_of_its_points():
    # 20 points of ZDT1's Pareto set observed with noise 0.1: the observed front keeps the
    # lucky draws, its hypervolume 121.39 passed max_hv 120.67, and the log10 difference
    # read -12 ("solved"); the noiseless hypervolume of the same points is 120.638.
    noisy, clean = make("ZDT1", noise_std=0.1), make("ZDT1")
    X = _zdt1_front(20)
    result = _told(noisy, X)
    true_hv = mobo.hypervolume(clean.evaluate(X), clean.ref_point)
    assert float(result.hypervolume[-1]) > noisy.max_hv  # observed: noisy, as documented
    assert float(result.true_hypervolume[-1]) == pytest.approx(true_hv, rel=1e-12)
    assert float(result.hv_difference[-1]) == pytest.approx(noisy.max_hv - true_hv, rel=1e-9)
    assert -1.7 < float(result.log_hv_difference[-1]) < -1.4
    torch.testing.assert_close(noisy.evaluate_true(X), clean.evaluate(X), rtol=0, atol=0)
    assert "noiseless hypervolume 120.638" in result.summary()
    matplotlib.use("Agg")
    from mobo.plotting import plot_hypervolume_trace

    ax = plot_hypervolume_trace(result, log_difference=False)
    assert ax.get_ylabel() == "noiseless hypervolume"
    assert ax.lines[0].get_ydata()[-1] == pytest.approx(true_hv, rel=1e-12)
    log_line = plot_hypervolume_trace(result).lines[0].get_ydata()
    assert log_line[-1] == pytest.approx(float(result.log_hv_difference[-1]))
    # Without noise the trace is the observed one; a plain problem knows no noiseless values.
    plain = _told(clean, X)
    assert clean.evaluate_true(X) is None and plain.true_hypervolume is plain.hypervolume


def test_a_noisy_multi_fidelity_problem_has_noiseless_values_with_the_same_bias():
    noisy = BiasedFidelityProblem("BraninCurrin", noise_std=1.0)
    X = torch.tensor([[0.3, 0.7, 0.25], [0.1, 0.2, 1.0]], dtype=torch.float64)
    bias = noisy.evaluate(X) - noisy.base.evaluate(X[:, :-1])  # the base's noise cancels
    true = noisy.evaluate_true(X)
    torch.testing.assert_close(true - make("BraninCurrin").evaluate(X[:, :-1]), bias)
    assert bias[0].abs().min() > 0.1 and bias[1].abs().max() == 0  # none at the target
    assert BiasedFidelityProblem("BraninCurrin").evaluate_true(X) is None


def test_the_noise_does_not_move_the_bias():
    """The bias was sized on noisy values: BraninCurrin's objective 1 scale read 2.66
    without noise and 10.3 / 11.1 with noise 10 (seeds 0 / 1), and so did every
    low-fidelity noiseless value. A noisy journal from then is refused."""
    clean = BiasedFidelityProblem("BraninCurrin")
    X = torch.tensor([[0.3, 0.7, 0.25], [0.1, 0.2, 0.5]], dtype=torch.float64)
    for noise_std, noise_seed in [(1.0, 0), (10.0, 0), (10.0, 1)]:
        noisy = BiasedFidelityProblem("BraninCurrin", noise_std=noise_std, noise_seed=noise_seed)
        torch.testing.assert_close(noisy._scale, clean._scale, rtol=0, atol=0)
        torch.testing.assert_close(noisy.evaluate_true(X), clean.evaluate(X), rtol=0, atol=0)
        old = f"{noisy.base.fingerprint()} bias=0.5 seeds=1234,0"
        assert noisy.fingerprint() != old
    assert clean.fingerprint() == f"{clean.base.fingerprint()} bias=0.5 seeds=1234,0"


@pytest.mark.parametrize(
    ("journaled", "given"),
    [
        (lambda: make("BraninCurrin", noise_std=1.0), lambda: make("BraninCurrin")),
        (lambda: make("BraninCurrin"), lambda: make("BraninCurrin", noise_std=1.0)),
        (
            lambda: make("BraninCurrin", noise_std=1.0),
            lambda: make("BraninCurrin", noise_std=1.0, noise_seed=7),
        ),
        (lambda: BiasedFidelityProblem(), lambda: BiasedFidelityProblem(bias=3.0)),
        (
            lambda: BiasedFidelityProblem(noise_std=1.0),
            lambda: BiasedFidelityProblem(noise_std=2.0),
        ),
    ],
)
def test_a_journal_refuses_a_problem_with_other_noise_or_bias(tmp_path, journaled, given):
    # Each of these resumed without complaint and mixed two black boxes: BraninCurrin with
    # noise 1.0 journaled Y[0] = (-37.02, -8.81), the noiseless problem gives (-37.29, -6.78).
    path = tmp_path / "run.jsonl"
    mobo.optimize(journaled(), "sobol", n_evals=4, journal=path, show_progress=False)
    with pytest.raises(mobo.JournalMismatchError, match="fingerprint"):
        mobo.Study.load(path, problem=given())
    assert len(mobo.Study.load(path, problem=journaled(), read_only=True).evaluations) == 4


def test_a_journal_without_a_fingerprint_still_resumes_a_test_problem(tmp_path):
    path = tmp_path / "old.jsonl"
    mobo.optimize(make("BraninCurrin", noise_std=1.0), "sobol", n_evals=3, journal=path)
    lines = path.read_text().splitlines()
    header = json.loads(lines[0])
    del header["problem"]["fingerprint"]
    path.write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")
    given = make("BraninCurrin", noise_std=1.0)
    with pytest.warns(mobo.JournalUncheckedWarning, match="no fingerprint.*read or resumed as is"):
        study = mobo.Study.load(path, given, read_only=True)
    assert len(study.evaluations) == 3 and study.problem is given
    # Rebuilt from the journal's own spec, the problem has nothing to be checked against:
    # this warned "cannot be checked ... resumed as is" on a read-only load (r2).
    with warnings.catch_warnings():
        warnings.simplefilter("error", mobo.JournalUncheckedWarning)
        study = mobo.Study.load(path, read_only=True)
    assert len(study.evaluations) == 3 and float(study.problem.noise_std) == 1.0


def test_a_journal_without_a_fingerprint_version_names_the_setting_that_differs(tmp_path):
    # r3_unversioned_mismatch.py: every journal written before fingerprint versions, resumed
    # with a mistyped noise_std, was said to be from an older version whose fingerprint "may
    # be computed differently", where it had said "belongs to another problem".
    path = tmp_path / "yesterday.jsonl"
    mobo.optimize(make("BraninCurrin", noise_std=1.0), "sobol", n_evals=3, journal=path)
    header, *lines = path.read_text().splitlines()
    unversioned = json.loads(header)
    del unversioned["problem"]["fingerprint_version"]
    path.write_text("\n".join([json.dumps(unversioned), *lines]) + "\n")
    with pytest.raises(mobo.JournalMismatchError) as refused:
        mobo.Study.load(path, make("BraninCurrin", noise_std=2.0), read_only=True)
    message = str(refused.value)
    assert (
        "belongs to another problem or other settings (noise_std: 1.0 in the journal, " in message
    )
    assert "2.0 given), or was written by an older version" in message
    assert "may be computed differently" in message and "start a new journal" in message
    with pytest.raises(mobo.JournalMismatchError, match=r"noise_seed: 0 in the journal, 1 given"):
        mobo.Study.load(path, make("BraninCurrin", noise_std=1.0, noise_seed=1), read_only=True)


@pytest.mark.parametrize(
    "noise_std", [np.array([1.0, 0.5]), torch.tensor([1.0, 0.5]), np.float32(0.5)]
)
def test_noise_given_as_an_array_is_journaled_and_rebuilt(tmp_path, noise_std):
    # Each failed with "algorithm options must be JSON-serializable" (there were none).
    path = tmp_path / "run.jsonl"
    problem = make("BraninCurrin", noise_std=noise_std, noise_seed=np.int64(3))
    result = mobo.optimize(problem, "sobol", n_evals=3, journal=path, show_progress=False)
    rebuilt = mobo.Study.load(path, read_only=True)
    torch.testing.assert_close(rebuilt.problem.noise_std, problem.noise_std, rtol=0, atol=0)
    torch.testing.assert_close(rebuilt.problem.evaluate(result.X), result.Y, rtol=0, atol=0)
    with pytest.raises(ValueError, match="noise_seed must be an int, got 1.5"):
        make("BraninCurrin", noise_std=noise_std, noise_seed=1.5)


def test_a_problem_spec_that_cannot_be_journaled_is_named(tmp_path):
    problem = make("BraninCurrin")
    problem.kwargs["note"] = object()  # e.g. a subclass's spec with a non-JSON value
    with pytest.raises(TypeError, match=r"the problem's spec\(\) must be JSON-serializable"):
        mobo.Study(problem, "sobol", journal=tmp_path / "j.jsonl")


def test_a_float64_noise_std_resumes_its_own_journal_with_the_same_noise(tmp_path):
    """np.float64(0.3) was journaled as 0.3 and rebuilt (a Python float) as float32
    0.30000001: the study refused its own journal, and would have drawn other noise."""
    path = tmp_path / "n.jsonl"
    first = make("BraninCurrin", noise_std=np.array([0.3, 0.2]))
    mobo.optimize(first, "sobol", n_evals=3, seed=0, journal=path, show_progress=False)
    study = mobo.Study.load(path, read_only=True)  # the problem rebuilt from the journal
    assert torch.equal(study.problem.noise_std, first.noise_std)
    X = torch.rand(4, 2, dtype=torch.float64)
    assert torch.equal(study.problem.evaluate(X), first.evaluate(X))


def test_a_whole_float_noise_seed_of_an_older_journal_draws_the_noise_it_drew():
    """Journals from before seeds were checked hold e.g. 7.0; the noise is keyed by the
    seed's text, so it stays 7.0 (refused outright, those journals no longer loaded)."""
    problem = make("BraninCurrin", noise_std=1.0, noise_seed=7.0)
    assert problem.kwargs["noise_seed"] == 7.0 and isinstance(problem.noise_seed, float)
    with pytest.raises(ValueError, match="noise_seed must be an int"):
        make("BraninCurrin", noise_std=1.0, noise_seed=7.5)


@pytest.mark.parametrize("noise_std", [float("nan"), float("inf"), [0.1, float("nan")]])
def test_a_noise_std_that_is_not_finite_is_refused_by_name(noise_std):
    # Each was accepted, and a study ended with "all 4 evaluations of 'BraninCurrin' failed;
    # the first with: non-finite objective values [nan, nan]", not naming the setting.
    with pytest.raises(ValueError, match="noise_std must be finite, got"):
        make("BraninCurrin", noise_std=noise_std)


def test_noise_given_per_objective_scales_each_objective_and_must_not_be_negative():
    problem = make("BraninCurrin", noise_std=[0.0, 2.0], noise_seed=3)
    X = torch.rand(32, 2, dtype=torch.float64)
    noise = problem.evaluate(X) - problem.evaluate_true(X)
    assert torch.equal(noise[:, 0], torch.zeros(32))  # a noiseless objective stays so
    assert 1.0 < float(noise[:, 1].std()) < 3.0
    with pytest.raises(ValueError, match="noise_std must be a number >= 0"):
        make("BraninCurrin", noise_std=[0.1, -0.1])
