"""The acquisition optimizer shared by the GP-based algorithms: the uncertainty guard."""

from __future__ import annotations

import torch
from botorch.acquisition import AcquisitionFunction
from botorch.utils.transforms import t_batch_mode_transform

import mobo
from mobo.algorithms.bayesian import log_uncertainty_box
from mobo.problem import DTYPE
from tests.mobo.algorithms.conftest import FAST


class LogBox(AcquisitionFunction):
    """``sign * sum_j log sigma_j(x)``: every ascent makes the point more uncertain
    (``sign = 1``) or less (``sign = -1``)."""

    def __init__(self, model, sign: float) -> None:
        super().__init__(model=model)
        self.sign = sign

    @t_batch_mode_transform(expected_q=1)
    def forward(self, X):
        variance = self.model.posterior(X).variance.squeeze(-2)
        return self.sign * 0.5 * variance.log().sum(dim=-1)


def _setup(problem, observations):
    X, Y = observations
    algorithm = mobo.make_algorithm("mesmo", problem, **FAST)
    model = algorithm.fit_model(problem.to_unit(X), Y)
    starts = torch.tensor([[0.3, 0.4], [0.6, 0.55], [0.45, 0.7]], dtype=DTYPE).unsqueeze(1)
    return algorithm, model, starts


def test_guard_keeps_the_start_when_every_ascent_buys_uncertainty(branin_currin, observations):
    algorithm, model, starts = _setup(branin_currin, observations)
    acqf = LogBox(model, sign=1.0)
    plain = algorithm.maximize_once(acqf, starts)
    guarded = algorithm.guarded_ascent(acqf, starts)
    box = log_uncertainty_box(model, starts.squeeze(1), 2)
    # Unguarded, the ascent ends more uncertain than any start; guarded, it stays at the
    # most uncertain start, the best the guard allows.
    assert log_uncertainty_box(model, plain, 2) > box.max() + 1e-3
    torch.testing.assert_close(guarded, starts[box.argmax()])


def test_guard_keeps_ascents_that_end_less_uncertain(branin_currin, observations):
    algorithm, model, starts = _setup(branin_currin, observations)
    acqf = LogBox(model, sign=-1.0)
    guarded = algorithm.guarded_ascent(acqf, starts)
    torch.testing.assert_close(guarded, algorithm.maximize_once(acqf, starts))
    assert (
        log_uncertainty_box(model, guarded, 2)
        < log_uncertainty_box(model, starts.squeeze(1), 2).min() - 1e-3
    )


def test_guard_defaults(branin_currin):
    assert mobo.make_algorithm("mesmo", branin_currin).guard
    assert not mobo.make_algorithm("mesmo", branin_currin, guard=False).guard
    assert not mobo.make_algorithm("mesmoc", branin_currin).guard


def test_each_objective_and_the_reference_point_are_standardized_alike():
    # Per objective (column), and the reference point with them (mutation sweep s76: one
    # scale for every objective, or a reference point left unscaled, passed every test).
    problem = mobo.FunctionProblem(lambda X: X, [[0, 0], [1, 1]], 2, [-1.0, 100.0])
    Y = torch.tensor([[0.0, 200.0], [1.0, 600.0], [2.0, 400.0]], dtype=DTYPE)
    algorithm = mobo.make_algorithm("qlognehvi", problem)
    Z = algorithm.model_objectives(Y)
    torch.testing.assert_close(Z.mean(0), torch.zeros(2, dtype=DTYPE))
    torch.testing.assert_close(Z.std(0, correction=0), torch.ones(2, dtype=DTYPE))
    center, scale = Y.mean(0), Y.std(0, correction=0)
    torch.testing.assert_close(algorithm.ref_point, (problem.ref_point - center) / scale)
