"""MESMOC's formulas value by value: the probability of feasibility, the sampled maxima and
the acquisition, each against the paper's formula written out here (mutation sweep s74)."""

from __future__ import annotations

import pytest
import torch

import mobo
from mobo.algorithms._improvement import log_probability_feasible
from mobo.algorithms.mesmoc import PENALTY, ConstrainedMaxValueEntropyAcquisition, behind_front
from tests.mobo.test_constraints import observed_toy

D = torch.float64
normal = torch.distributions.Normal(torch.tensor(0.0, dtype=D), torch.tensor(1.0, dtype=D))


def test_log_probability_feasible_sums_every_constraints_log_probability():
    # k = 2 constraints: log P(c_1 <= 0) + log P(c_2 <= 0), each Phi(-mu / sigma).
    mean = torch.tensor([[-1.0, 0.5], [2.0, -0.3], [0.0, 0.0]], dtype=D)
    sigma = torch.tensor([[0.5, 2.0], [1.0, 0.1], [1.0, 3.0]], dtype=D)
    expected = normal.cdf(-mean / sigma).log().sum(dim=-1)
    torch.testing.assert_close(log_probability_feasible(mean, sigma), expected)
    # A probability, falling as either constraint's mean rises.
    means = torch.linspace(-3.0, 3.0, 13, dtype=D)
    grid = torch.stack([means, torch.full_like(means, 0.2)], dim=-1)
    p = log_probability_feasible(grid, torch.ones_like(grid)).exp()
    assert ((p > 0) & (p < 1)).all() and (p.diff() < 0).all()


def test_a_mean_tied_with_a_front_point_counts_as_behind_it():
    # "plus 1e-6, so a tie still counts": a mean equal to a front point, or equal in one
    # objective and worse in the other, is weakly dominated; one better anywhere is not.
    front = torch.tensor([[1.0, 2.0], [3.0, 0.0]], dtype=D)
    means = torch.tensor([[1.0, 2.0], [0.5, 2.0], [1.0, 2.5], [2.0, 1.0]], dtype=D)
    torch.testing.assert_close(
        behind_front(front, means), torch.tensor([1e-6, 1e-6, 0.0, 0.0], dtype=D)
    )
    assert behind_front(front[:0], means).eq(0).all()


#: Two samples of (y1*, y2*, s*): each objective's maximum and the constraint's largest slack.
TWO_MAXIMA = torch.tensor([[0.05, 0.02, 0.1], [0.2, 0.1, 0.3]], dtype=D)


def _toy_and_its_model():
    """The constrained toy problem (2 objectives, 1 constraint) and a GP fitted to 16
    of its evaluations."""
    problem, X, outcomes = observed_toy(16, 2)
    return problem, mobo.Surrogate().fit(problem.to_unit(X), outcomes)


def _h(g):
    """MESMO's summand written out: g phi(g) / (2 Phi(g)) - log Phi(g)."""
    return g * normal.log_prob(g).exp() / (2 * normal.cdf(g)) - normal.cdf(g).log()


def test_maxima_acquisition_is_the_papers_sum_over_objectives_and_slacks():
    # [Belakaria2020c]: g = (y* - mu) / sigma per objective and (s* + mu_c) / sigma_c per
    # constraint (slack s = -c), averaged over samples; a point whose mean is infeasible
    # scores -PENALTY - mu_c / scale; "probability" adds log Phi(-mu_c / sigma_c) instead.
    problem, model = _toy_and_its_model()
    points = torch.rand(256, 1, 2, dtype=D, generator=torch.Generator().manual_seed(0))
    max_values = TWO_MAXIMA
    with torch.no_grad():
        posterior = model.posterior(points)
        mean, sigma = posterior.mean[:, 0], posterior.variance[:, 0].sqrt()
        g = (max_values[:, :2] - mean[:, None, :2]) / sigma[:, None, :2]
        slack = (max_values[:, 2:] + mean[:, None, 2:]) / sigma[:, None, 2:]
        objectives = _h(g).sum(-1).mean(-1)
        both = objectives + _h(slack).sum(-1).mean(-1)
        c = mean[:, 2]
        feasible = c <= 0
        assert 20 < feasible.sum() < 236  # both kinds of points are checked

        def acquisition(**options):
            return ConstrainedMaxValueEntropyAcquisition(model, 1, max_values, **options)(points)

        value = acquisition(constraint_scale=2.0)
        torch.testing.assert_close(value[feasible], both[feasible])
        torch.testing.assert_close(value[~feasible], -PENALTY - c[~feasible] / 2.0)
        alone = acquisition(constraint_information=False)
        torch.testing.assert_close(alone[feasible], objectives[feasible])
        weighted = acquisition(feasibility="probability")
        z = -c / sigma[:, 2]
        kept = z > -6  # (1 + erf, as Normal.cdf computes Phi, cancels below that)
        torch.testing.assert_close(weighted[kept], both[kept] + normal.cdf(z[kept]).log())


@pytest.mark.parametrize("rule", ["floored", "front"])
def test_sampled_maxima_are_each_fronts_maxima_raised_to_the_feasible_observations(rule):
    # Per sampled front: each objective's maximum, raised to the best *feasible* observation
    # (the infeasible first row, best in both, must not count), and the largest slack -c,
    # floored ("floored") at the largest observed slack.
    problem, _, _ = observed_toy(4, 0)
    U = torch.rand(4, 2, dtype=D, generator=torch.Generator().manual_seed(0))
    Y = torch.tensor(
        [[0.9, 0.9, 0.5], [0.2, 0.1, -0.3], [0.1, 0.3, -0.1], [0.0, 0.0, -0.05]], dtype=D
    )
    fronts = [
        (U[:2], torch.tensor([[0.15, 0.2, -0.2], [0.1, 0.6, -0.05]], dtype=D)),
        (U[:1], torch.tensor([[0.05, 0.05, -0.4]], dtype=D)),
    ]
    algorithm = mobo.make_algorithm(
        "mesmoc", problem, information="maxima", constraint_information=rule
    )
    algorithm.sampled_fronts = lambda *args, **kwargs: fronts
    floor = 0.3 if rule == "floored" else 0.2
    expected = torch.tensor([[0.2, 0.6, floor], [0.2, 0.3, 0.4]], dtype=D)
    torch.testing.assert_close(algorithm.sample_max_values(None, U, Y, seed=0), expected)


@pytest.mark.parametrize("require_improvement", [None, True, False])
def test_maxima_penalize_a_dominated_mean_only_where_improvement_is_required(
    require_improvement,
):
    # The maxima's default is True; False leaves a mean the observed front dominates its
    # information.
    problem, model = _toy_and_its_model()
    inside = torch.tensor([[[0.5, 0.5]]], dtype=D)
    algorithm = mobo.make_algorithm(
        "mesmoc", problem, information="maxima", require_improvement=require_improvement
    )
    with torch.no_grad():
        algorithm._front = model.posterior(inside).mean[0, :, :2] + 1.0  # 1 ahead of it
        acqf = algorithm.acquisition(model, torch.zeros(1, 3, dtype=D), torch.tensor(1e-12))
        value = float(acqf(inside))
    if require_improvement is False:
        assert value > -PENALTY
    else:
        assert value == pytest.approx(-PENALTY - 1.0 - 1e-6)


def test_sampled_maxima_are_raised_only_by_points_that_satisfy_every_constraint():
    # Two constraints: the first row satisfies one and violates the other, so it is
    # infeasible and must not raise y*, best in both objectives as it is.
    problem = mobo.FunctionProblem(
        lambda X: None, [[0, 0], [1, 1]], 2, [-1.0, -1.0], num_constraints=2, name="two"
    )
    U = torch.rand(3, 2, dtype=D, generator=torch.Generator().manual_seed(0))
    Y = torch.tensor(
        [[0.9, 0.9, -0.5, 0.2], [0.2, 0.1, -0.3, -0.1], [0.1, 0.3, -0.1, -0.2]], dtype=D
    )
    fronts = [(U[:1], torch.tensor([[0.15, 0.2, -0.2, -0.1]], dtype=D))]
    algorithm = mobo.make_algorithm(
        "mesmoc", problem, information="maxima", constraint_information="front"
    )
    algorithm.sampled_fronts = lambda *args, **kwargs: fronts
    expected = torch.tensor([[0.2, 0.3, 0.2, 0.1]], dtype=D)
    torch.testing.assert_close(algorithm.sample_max_values(None, U, Y, seed=0), expected)


def test_constraint_information_none_leaves_the_objectives_summands_alone():
    problem, model = _toy_and_its_model()
    points = torch.rand(64, 1, 2, dtype=D, generator=torch.Generator().manual_seed(0))
    max_values = TWO_MAXIMA
    with torch.no_grad():
        values = {}
        for rule in ("floored", "none"):
            algorithm = mobo.make_algorithm(
                "mesmoc",
                problem,
                information="maxima",
                constraint_information=rule,
                require_improvement=False,
            )
            acqf = algorithm.acquisition(model, max_values, torch.tensor(1e-12))
            values[rule] = acqf(points)
        objectives_only = ConstrainedMaxValueEntropyAcquisition(
            model, 1, max_values, constraint_information=False
        )(points)
    torch.testing.assert_close(values["none"], objectives_only)
    feasible = values["floored"] > -PENALTY
    assert feasible.any() and (values["floored"] - values["none"])[feasible].abs().max() > 1e-3


def test_an_unknown_constraint_information_rule_is_named():
    problem, _, _ = observed_toy(4, 0)
    with pytest.raises(ValueError, match=r"constraint_information must be one of \['floored'"):
        mobo.make_algorithm("mesmoc", problem, information="maxima", constraint_information="x")


def test_an_infeasible_mean_is_penalized_in_units_of_the_observed_constraint_spread(
    monkeypatch,
):
    # "-PENALTY - sum_i max(0, mu_ci / sd_i)", sd_i the observed spread of constraint i:
    # propose measures it before the acquisition is built (the search itself is skipped).
    from mobo.algorithms.mesmo import MESMO

    problem, X, outcomes = observed_toy(16, 2)
    U = problem.to_unit(X)
    model = mobo.Surrogate().fit(U, outcomes)
    monkeypatch.setattr(MESMO, "propose", lambda self, q, U, Y, **kwargs: U[:q])
    algorithm = mobo.make_algorithm(
        "mesmoc", problem, information="maxima", require_improvement=False
    )
    algorithm.propose(1, U, outcomes, seed=0, U_pending=None)
    spread = outcomes[:, 2].std(correction=0)
    assert abs(float(spread) - 1.0) > 0.1  # a scale that shows
    points = torch.rand(256, 1, 2, dtype=D, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        c = model.posterior(points).mean[:, 0, 2]
        acqf = algorithm.acquisition(model, torch.zeros(1, 3, dtype=D), torch.tensor(1e-12))
        value = acqf(points)
    infeasible = c > 0
    assert infeasible.any()
    torch.testing.assert_close(value[infeasible], -PENALTY - c[infeasible] / spread)


def test_feasibility_probability_on_an_unconstrained_problem_is_the_plain_box_information():
    # Nothing to be feasible with: P(feasible) = 1, so both rules propose alike.
    from tests.mobo.test_constraints import FAST_MESMOC

    problem = mobo.FunctionProblem(
        lambda X: torch.stack([-(X - 0.3).pow(2).sum(-1), -(X - 0.7).pow(2).sum(-1)], -1),
        [[0, 0], [1, 1]],
        2,
        [-1.0, -1.0],
        name="plain",
    )
    X = torch.rand(6, 2, dtype=D, generator=torch.Generator().manual_seed(1))
    Y = problem.evaluate(X)
    proposals = [
        mobo.make_algorithm("mesmoc", problem, feasibility=rule, **FAST_MESMOC).ask(1, X, Y, seed=3)
        for rule in ("boxes", "probability")
    ]
    torch.testing.assert_close(proposals[0], proposals[1])


def test_without_a_feasible_observation_the_sampled_maxima_are_the_fronts_own():
    # Early in a search every evaluation may violate a constraint: nothing raises y*.
    problem, _, _ = observed_toy(4, 0)
    U = torch.rand(2, 2, dtype=D, generator=torch.Generator().manual_seed(0))
    Y = torch.tensor([[0.9, 0.9, 0.5], [0.2, 0.1, 0.3]], dtype=D)
    fronts = [(U[:1], torch.tensor([[0.15, 0.2, -0.2]], dtype=D))]
    algorithm = mobo.make_algorithm(
        "mesmoc", problem, information="maxima", constraint_information="front"
    )
    algorithm.sampled_fronts = lambda *args, **kwargs: fronts
    expected = torch.tensor([[0.15, 0.2, 0.2]], dtype=D)
    torch.testing.assert_close(algorithm.sample_max_values(None, U, Y, seed=0), expected)
