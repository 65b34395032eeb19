"""Expected library warnings are counted (result and journal) and logged, not printed;
every other warning passes through."""

from __future__ import annotations

import json
import logging
import warnings

import pytest
import torch
from linear_operator.utils.warnings import NumericalWarning

import mobo
from mobo.algorithms.base import Algorithm
from mobo.expected_warnings import counting_expected_warnings, quiet_torch_extension_log
from tests.mobo.conftest import FAST_BO

JITTER = "A not p.d., added jitter of 1.0e-08 to the diagonal"
RETRY = (
    "Optimization failed in `gen_candidates_scipy` with the following warning(s):\n[...]\n"
    "Trying again with a new set of initial conditions."
)


def test_expected_warnings_are_counted_and_logged_and_others_pass(caplog):
    with caplog.at_level(logging.DEBUG, logger="mobo"), pytest.warns(UserWarning, match="act"):
        with counting_expected_warnings() as counts:
            warnings.warn(JITTER, NumericalWarning, stacklevel=1)
            warnings.warn(JITTER, NumericalWarning, stacklevel=1)
            warnings.warn(RETRY, RuntimeWarning, stacklevel=1)
            # BoTorch's, as the README's qParEGO example and notebook 02 printed them
            warnings.warn(
                "Optimization failed on the second try, after generating a new set of "
                "initial conditions.",
                RuntimeWarning,
                stacklevel=1,
            )
            warnings.warn(
                "Unable to find non-zero acquisition function values - initial conditions "
                "are being selected randomly.",
                RuntimeWarning,
                stacklevel=1,
            )
            warnings.warn("act on this", UserWarning, stacklevel=1)
    assert dict(counts) == {
        "jitter": 2,
        "optimization_retry": 1,
        "optimization_retry_failed": 1,
        "flat_acquisition": 1,
    }
    assert "handled jitter warning: A not p.d." in caplog.text


@mobo.register
class _Jittery(Algorithm):
    """Proposes random points and, like a GP posterior on near-duplicates, warns once."""

    name = "test-jittery"
    uses_initial_design = False

    def propose(self, q, U, Y, *, seed, U_pending):
        warnings.warn(JITTER, NumericalWarning, stacklevel=1)
        return torch.rand(q, self.problem.dim, dtype=torch.float64)


def test_a_study_counts_handled_warnings_in_its_result_and_journal(tmp_path, toy_problem):
    path = tmp_path / "w.jsonl"
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        result = mobo.optimize(
            toy_problem, "test-jittery", n_evals=6, batch_size=2, journal=path, show_progress=False
        )
    assert not [w for w in shown if "jitter" in str(w.message)]
    asks = 3  # batches of 2, each ask warned once
    assert result.warnings == {"jitter": asks}
    assert "library warnings handled: jitter 3" in result.summary()
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert sum(r.get("ask_warnings", {}).get("jitter", 0) for r in records) == 2 * asks
    reloaded = mobo.Study.load(path, toy_problem, read_only=True).result()
    assert reloaded.warnings == result.warnings


def test_progress_is_a_bar_on_a_terminal_and_one_summary_line_otherwise(toy_problem, capsys):
    mobo.optimize(toy_problem, "random", n_evals=5, show_progress=True)
    err = capsys.readouterr().err  # pytest's capture is not a terminal
    assert err.count("\n") == 1 and err.startswith("random on toy: 5 evaluations")
    mobo.optimize(toy_problem, "random", n_evals=5, show_progress=False)
    assert capsys.readouterr().err == ""


def test_a_cpu_run_of_qlognehvi_and_usemo_logs_no_cuda_noise():
    """BoTorch's optional fused kernel imports torch's cpp_extension, which logs "No CUDA
    runtime is found" once per process on a CPU machine: shown at the top of `make run`."""
    import subprocess
    import sys

    script = (
        "import mobo\n"
        "p = mobo.problems.make('BraninCurrin')\n"
        "for a in ('usemo', 'qlognehvi'):\n"
        "    mobo.optimize(p, a, n_evals=7, n_initial=6, show_progress=False, num_restarts=1,"
        " raw_samples=8)\n"
    )
    command = [sys.executable, "-c", script]
    run = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "No CUDA runtime" not in run.stderr


def test_a_long_study_with_no_terminal_logs_a_progress_line_per_interval(
    toy_problem, capsys, monkeypatch
):
    import mobo.evaluate

    monkeypatch.setattr(mobo.evaluate, "LOG_INTERVAL", 0.0)  # every tell is "a minute later"
    mobo.optimize(toy_problem, "random", n_evals=3, show_progress=True)
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(",")[0] for line in lines[:3]] == [
        f"random on toy: {n}/3 evaluations" for n in (1, 2, 3)
    ]
    assert "hypervolume" in lines[0] and "0 failed" in lines[0] and lines[0].endswith(" s")
    assert len(lines) == 4 and lines[3].startswith("random on toy: 3 evaluations")  # summary
    mobo.optimize(toy_problem, "random", n_evals=3, show_progress=False)
    assert capsys.readouterr().err == ""  # asked for silence


def test_warnings_raised_while_maximizing_an_acquisition_reach_the_counter(
    toy_problem, monkeypatch
):
    """BoTorch's optimize_acqf records what L-BFGS-B warns and, with retries off, drops it:
    sweep41 counted 28 of 76 jitters in a qLogNEHVI run, and no abnormal line search ever."""
    import botorch.generation.gen as gen
    from botorch.exceptions.warnings import BotorchWarning

    process = gen._process_scipy_result  # called on each restart's L-BFGS-B end

    def warning_process(*args, **kwargs):
        warnings.warn(
            "Optimization failed within `scipy.optimize.minimize` with status 2 and message "
            "ABNORMAL: .",
            gen.OptimizationWarning,
            stacklevel=1,
        )
        warnings.warn("ill-conditioned covariance", BotorchWarning, stacklevel=1)
        return process(*args, **kwargs)

    monkeypatch.setattr(gen, "_process_scipy_result", warning_process)
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        result = mobo.optimize(
            toy_problem, "qlognehvi", n_evals=8, n_initial=6, show_progress=False, **FAST_BO
        )
    restarts = 2 * FAST_BO["num_restarts"]  # 2 asks
    assert result.warnings.get("optimizer_abnormal") == restarts
    passed = [w for w in shown if issubclass(w.category, BotorchWarning)]
    assert [str(w.message) for w in passed] == ["ill-conditioned covariance"] * restarts
    assert all(w.filename == __file__ for w in passed)  # as raised, not from mobo


def test_qlognehvis_cholesky_fallback_is_counted_and_summarized(toy_problem, monkeypatch):
    """When updating its cached Cholesky factor fails, qLogNEHVI warns "Low-rank cholesky
    updates failed due NaNs ..." and samples without it: handled, yet notebook 02's full run
    printed it to the user (sweepR F2). Provoked where BoTorch catches it."""
    import botorch.acquisition.cached_cholesky as cached
    from botorch.exceptions.warnings import BotorchWarning
    from linear_operator.utils.errors import NanError

    def failing_update(*args, **kwargs):
        raise NanError("cholesky_cpu: NaNs in the update")

    monkeypatch.setattr(cached, "sample_cached_cholesky", failing_update)
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        result = mobo.optimize(
            toy_problem, "qlognehvi", n_evals=8, n_initial=6, show_progress=False, **FAST_BO
        )
    assert not [w for w in shown if issubclass(w.category, BotorchWarning)]
    fallbacks = result.warnings.get("cholesky_fallback", 0)
    assert fallbacks >= 2  # at least once per ask
    assert f"cholesky_fallback {fallbacks}" in result.summary()


def _notice() -> None:
    """A helper that warns on every call, as a dependency's deprecation notice does."""
    warnings.warn("helper notice: same text every call", UserWarning, stacklevel=1)


@mobo.register
class _Noticing(Algorithm):
    """Proposes random points, calling :func:`_notice` on each ask."""

    name = "test-noticing"
    uses_initial_design = False

    def propose(self, q, U, Y, *, seed, U_pending):
        _notice()
        return torch.rand(q, self.problem.dim, dtype=torch.float64)


def test_a_warning_passed_on_keeps_its_module_for_the_callers_filters(toy_problem):
    """Passed on without its module, a warning matched by module (``filterwarnings(...,
    module=...)``, ``-W``, pytest's ``filterwarnings``) was printed once per ask although
    ignored, and an error filter raised nothing (sweep41 #2)."""
    this = __name__.replace(".", r"\.")
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=UserWarning, module=this)
        mobo.optimize(toy_problem, "test-noticing", n_evals=3, show_progress=False)
    assert [str(w.message) for w in shown] == []
    with warnings.catch_warnings(), pytest.raises(UserWarning, match="helper notice"):
        warnings.filterwarnings("error", category=UserWarning, module=this)
        mobo.optimize(toy_problem, "test-noticing", n_evals=3, show_progress=False)


def test_a_default_filter_shows_a_warning_passed_on_at_every_ask_once(toy_problem, monkeypatch):
    """Each ask's catch_warnings cleared the registry mobo passed warnings on with, so under
    Python's default filter a warning raised on every ask was printed 8 times in 8 asks,
    where the same code outside mobo prints it once (sweep41 #3)."""
    import mobo.expected_warnings

    monkeypatch.setattr(mobo.expected_warnings, "_PASSED", set())  # none passed on before
    shown = []
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = lambda message, *args, **kwargs: shown.append(str(message))
        mobo.optimize(toy_problem, "test-noticing", n_evals=8, show_progress=False)
        assert shown == ["helper notice: same text every call"]
        warnings.simplefilter("always")  # and a filter that shows each, each
        mobo.optimize(toy_problem, "test-noticing", n_evals=2, show_progress=False)
    assert len(shown) == 1 + 2


def _notice_elsewhere() -> None:
    """:func:`_notice`'s warning, raised on another line."""
    warnings.warn("helper notice: same text every call", UserWarning, stacklevel=1)


def _shown_when_passed_on(monkeypatch, raise_all, set_filters) -> list[int]:
    """The lines of the warnings the caller sees when mobo passes on, twice over, what
    ``raise_all`` warned, under the filters ``set_filters`` installs."""
    import mobo.expected_warnings

    monkeypatch.setattr(mobo.expected_warnings, "_PASSED", set())  # none passed on before
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        raise_all()
    shown = []
    with warnings.catch_warnings():
        set_filters()
        warnings.showwarning = lambda *args, **kwargs: shown.append(args[3])  # its line
        mobo.expected_warnings.warn_again(caught)
        mobo.expected_warnings.warn_again(caught)
    return shown


def test_a_warning_passed_on_is_shown_as_the_first_matching_filter_says(monkeypatch):
    """Python shows a warning as the first filter that matches it says (by message from its
    start, category and subclasses, module and line); "default" once per code line."""
    line = _notice.__code__.co_firstlineno + 2
    other = _notice_elsewhere.__code__.co_firstlineno + 2

    def both():
        _notice()
        _notice_elsewhere()

    def default_only():
        warnings.simplefilter("default")

    def shown(action, **match):
        def filters():
            warnings.simplefilter("default")
            warnings.filterwarnings(action, **match)  # before the "default" one

        return _shown_when_passed_on(monkeypatch, _notice, filters)

    assert _shown_when_passed_on(monkeypatch, both, default_only) == [line, other]
    # an earlier "always" filter wins over the "default" one behind it
    assert shown("always", category=UserWarning) == [line, line]
    assert shown("always", category=Warning, lineno=line) == [line, line]  # a subclass
    assert shown("always", category=Warning, lineno=other) == [line]
    # a message filter matches from the message's start, as Python's
    assert shown("always", message="notice") == [line]
    assert shown("always", message="helper") == [line, line]


def test_quieting_the_torch_extension_log_restores_its_level():
    log = logging.getLogger("torch.utils.cpp_extension")
    before = log.level
    try:
        log.setLevel(logging.INFO)
        with quiet_torch_extension_log():
            assert log.level == logging.ERROR
        assert log.level == logging.INFO
    finally:
        log.setLevel(before)


def test_every_expected_warning_is_counted_whatever_the_callers_filters():
    # counted as raised, each time, though the caller ignores them (or shows them once)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with counting_expected_warnings() as counts:
            for _ in range(3):
                warnings.warn(JITTER, NumericalWarning, stacklevel=1)
    assert counts["jitter"] == 3
