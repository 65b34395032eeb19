"""Degenerate objectives: every GP algorithm completes a short study on each of them.

The cases a user meets in practice (and that broke qLogNEHVI before objectives were
standardized for the models): constant objectives, one constant objective, heavily
duplicated values, scales of 1e9 and 1e-9, step functions, 10% failed (NaN) evaluations,
two identical objectives and a large common offset (1e12, as energies in picojoules).
Few evaluations each, so the whole sweep stays short.
"""

from __future__ import annotations

import warnings

import pytest
import torch

import mobo
from tests.mobo.conftest import FAST_BO, toy_function


def _smooth(X):
    return torch.stack([-((X - 0.2) ** 2).sum(-1), -((X - 0.8) ** 2).sum(-1)], dim=-1)


class _TenPercentNaN:
    """The smooth pair, with every tenth evaluation (the 2nd, 12th, ...) failing."""

    def __init__(self):
        self.calls = 0

    def __call__(self, X):
        Y = _smooth(X)
        for i in range(X.shape[0]):
            if self.calls % 10 == 1:
                Y[i] = float("nan")
            self.calls += 1
        return Y


CASES = {
    "constant": (lambda X: torch.ones(X.shape[0], 2), [0.0, 0.0]),
    "one-constant": (
        lambda X: torch.stack([_smooth(X)[:, 0], torch.zeros(X.shape[0])], -1),
        [-2.0, -1.0],
    ),
    "duplicated": (lambda X: _smooth((X * 2).round() / 2), [-2.0, -2.0]),
    "scale-1e9": (lambda X: _smooth(X) * 1e9, [-2e9, -2e9]),
    "scale-1e-9": (lambda X: _smooth(X) * 1e-9, [-2e-9, -2e-9]),
    "steps": (lambda X: _smooth((X * 4).floor() / 4), [-2.0, -2.0]),
    "nan-10pct": (None, [-2.0, -2.0]),
    "identical": (lambda X: _smooth(X)[:, :1].expand(-1, 2).clone(), [-2.0, -2.0]),
    "offset-1e12": (lambda X: _smooth(X) * 1e3 + 1e12, [1e12 - 2e3, 1e12 - 2e3]),
}
OPTIONS = {
    "usemo": {"pop_size": 12, "n_gen": 4},
    "mesmo": {"num_samples": 2, "pop_size": 12, "n_gen": 4},
    "qlognehvi": {},
    "qparego": {},
}


@pytest.mark.parametrize("algorithm", sorted(OPTIONS))
@pytest.mark.parametrize("case", sorted(CASES))
def test_short_study_completes_on_degenerate_objectives(case, algorithm):
    function, ref_point = CASES[case]
    function = function or _TenPercentNaN()
    problem = mobo.FunctionProblem(function, [[0.0, 0.0], [1.0, 1.0]], 2, ref_point, name=case)
    options = {**FAST_BO, "num_restarts": 1, "raw_samples": 16, "maxiter": 10}
    options.update(OPTIONS[algorithm])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fallbacks may warn; they must not fail the study
        # One model step: the fit and the acquisition on the degenerate data are what broke.
        result = mobo.optimize(
            problem, algorithm, n_evals=5, n_initial=4, seed=0, show_progress=False, **options
        )
    assert result.n_evaluations == 5
    assert torch.isfinite(result.X).all()
    assert ((result.X >= 0) & (result.X <= 1)).all()
    assert int(result.failed.sum()) == (1 if case == "nan-10pct" else 0)


def _costs(X):
    """Two costs to minimize, returned as they are (not negated, as mobo needs)."""
    return torch.stack([(X**2).sum(-1), ((X - 1) ** 2).sum(-1)], dim=-1)


def test_a_study_whose_initial_design_dominates_no_reference_point_says_so():
    """Costs returned un-negated under senses='min', with the reference point written as
    costs too, were maximized to the end: hypervolume 0 and the worst points as the
    'Pareto set', without a word."""
    forgot = mobo.FunctionProblem(
        _costs, [[0, 0], [1, 1]], 2, [3.0, 3.0], senses=["min", "min"], name="forgot"
    )
    with pytest.warns(mobo.ReferencePointWarning, match="all of the first 6 evaluations"):
        mobo.optimize(forgot, "sobol", n_evals=10, show_progress=False)
    negated = mobo.FunctionProblem(
        lambda X: -_costs(X), [[0, 0], [1, 1]], 2, [-3.0, -3.0], senses=["min", "min"]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", mobo.ReferencePointWarning)
        result = mobo.optimize(negated, "sobol", n_evals=10, show_progress=False)
        # A tight reference that the first points do not reach is no mistake: none of
        # BraninCurrin's first 8 random points (seed 1) dominates its reference point.
        tight = mobo.optimize(
            mobo.problems.make("BraninCurrin"), "random", n_evals=8, seed=1, show_progress=False
        )
    assert float(result.hypervolume[-1]) > 0 and float(tight.hypervolume[-1]) == 0


@mobo.register
class _CheapFirst(mobo.Algorithm):
    """Proposes its first 8 points at the cheap fidelity (0), then at the target (1)."""

    name = "test-cheap-first"
    uses_initial_design = False
    supports_fidelities = True

    def propose(self, q, U, Y, *, seed, U_pending):
        n = U.shape[0] + (0 if U_pending is None else U_pending.shape[0])
        rows = torch.arange(n, n + q, dtype=torch.float64)
        return torch.stack([(0.37 * rows) % 1, (0.61 * rows) % 1, (rows >= 8).double()], -1)


def test_cheap_fidelity_results_worse_than_the_reference_do_not_set_off_its_warning():
    """The check is of target results: a cheap fidelity biased far below the reference
    point says nothing of the reference (those results do not count in the hypervolume)."""

    def biased(X):
        return toy_function(X[:, :2]) - 10.0 * (1 - X[:, 2:3])

    problem = mobo.FunctionProblem(
        biased, [[0, 0, 0], [1, 1, 1]], 2, [-1.0, -1.0], fidelity_levels=[0.0, 1.0],
        fidelity_costs=[0.1, 1.0],
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error", mobo.ReferencePointWarning)
        result = mobo.optimize(problem, "test-cheap-first", n_evals=16, show_progress=False)
    assert (result.X[:8, 2] == 0).all() and float(result.hypervolume[-1]) > 0


def test_a_reference_point_no_point_beats_in_one_objective_says_which():
    """A cost (minimized, negated) and a gain, with the reference point's cost written in
    natural units (+1.18e6, not -1.18e6): no point can dominate it, and qLogNEHVI ended a
    30-evaluation study at hypervolume 0 (Sobol's points were worth 18.3 from the right
    reference) without a word, the other objective being fine."""

    def cost_and_gain(X):
        return torch.stack([-(1e6 + 1e5 * X[:, 0]), 1e-5 * X[:, 1]], dim=-1)

    problem = mobo.FunctionProblem(
        cost_and_gain,
        [[0, 0], [1, 1]],
        2,
        [1.18e6, 2e-6],
        senses=["min", "max"],
        objective_names=["cost", "gain"],
        name="mixed",
    )
    with pytest.warns(mobo.ReferencePointWarning) as caught:
        mobo.optimize(problem, "sobol", n_evals=8, show_progress=False)
    (message,) = [str(w.message) for w in caught]
    # In the user's senses: the reference cost is -1.18e6, the best cost seen above 1e6.
    assert "'cost' (min)" in message and "-1.18e+06" in message and "1.0" in message
    assert "gain" not in message


def test_points_on_the_reference_point_warn_as_points_below_it_do():
    """A point that only ties the reference in an objective adds no hypervolume (mobo counts
    points strictly better), so every initial point at a capped cost whose cap is the
    reference left the study at hypervolume 0 without a warning (t9_refwarning_boundary.py,
    sweep39), where a cost 1e-6 above the cap warned."""

    def capped(cost):
        def f(X):
            return torch.stack([10 * X[:, 0], torch.full_like(X[:, 1], -cost)], -1)

        names = ["quality", "cost"]
        return mobo.FunctionProblem(
            f, [[0, 0], [1, 1]], 2, [0.0, -10.0], senses=["max", "min"], objective_names=names
        )

    with pytest.warns(mobo.ReferencePointWarning) as caught:
        result = mobo.optimize(capped(10.0), "sobol", n_evals=6, show_progress=False)
    (message,) = [str(w.message) for w in caught]
    assert "no better than the reference point in 'cost' (min)" in message
    assert "quality" not in message and float(result.hypervolume[-1]) == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", mobo.ReferencePointWarning)
        result = mobo.optimize(capped(9.5), "sobol", n_evals=6, show_progress=False)
    assert float(result.hypervolume[-1]) > 0
