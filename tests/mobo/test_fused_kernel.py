"""BoTorch's fused log-EHVI kernel: built by ``make setup`` and reported either way."""

from __future__ import annotations

from pathlib import Path

from botorch.acquisition.multi_objective import logei

import mobo
from mobo import fused_kernel


def test_load_reports_the_kernel_log_ehvi_acquisitions_will_use():
    uses = fused_kernel.load()
    assert uses is (logei._C is not None)
    if uses:  # this machine compiled it: a qLogNEHVI's log-areas run through it
        calls = []
        kernel = logei._C

        class Counting:
            def __getattr__(self, name):
                calls.append(name)
                return getattr(kernel, name)

        try:
            logei._C = Counting()
            problem = mobo.problems.make("BraninCurrin")
            mobo.optimize(
                problem,
                "qlognehvi",
                n_evals=5,
                n_initial=4,
                seed=0,
                show_progress=False,
                num_restarts=1,
                raw_samples=8,
                maxiter=2,
            )
        finally:
            logei._C = kernel
        assert "forward" in calls


def test_a_botorch_without_the_kernel_is_reported_not_built(monkeypatch, capsys):
    monkeypatch.delattr(logei, "_try_load_fused_kernel")
    assert fused_kernel.load() is False
    fused_kernel.main()
    assert "not available" in capsys.readouterr().out


def test_a_kernel_that_does_not_compile_is_reported_as_the_pure_pytorch_path(monkeypatch, capsys):
    monkeypatch.setattr(logei, "_C", None)
    monkeypatch.setattr(logei, "_try_load_fused_kernel", lambda: None)  # as after a failed build
    fused_kernel.main()
    assert "pure-PyTorch path" in capsys.readouterr().out


def test_a_kernel_that_loads_is_reported_built(monkeypatch, capsys):
    monkeypatch.setattr(logei, "_try_load_fused_kernel", lambda: setattr(logei, "_C", object()))
    monkeypatch.setattr(logei, "_C", None)
    fused_kernel.main()
    assert "built and loaded" in capsys.readouterr().out


def test_setup_builds_the_kernel_before_it_marks_the_venv_installed():
    rule = Path(__file__).resolve().parents[2].joinpath("Makefile").read_text()
    recipe = rule.split("$(STAMP): ")[1].split("\n\n")[0]
    assert recipe.index("-m mobo.fused_kernel") < recipe.index("touch $(STAMP)")
