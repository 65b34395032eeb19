"""MESMO: the acquisition against Monte Carlo, its monotonicity in sigma, and the contract."""

from __future__ import annotations

import pytest
import torch
from botorch.utils.multi_objective.pareto import is_non_dominated
from botorch.utils.testing import MockModel, MockPosterior
from torch import Tensor

import mobo
from mobo.algorithms.mesmo import (
    FrontInformation,
    MaxValueEntropyMOAcquisition,
    hypervolume_boxes,
    mesmo_information,
    with_constraints,
)
from mobo.problem import DTYPE
from tests.mobo.algorithms._contract import assert_algorithm_contract
from tests.mobo.algorithms.conftest import FAST, FAST_NSGA2
from tests.mobo.conftest import TINY_BO

#: Absolute tolerance of the Monte Carlo check: 400k draws per (sample, objective) give a
#: standard error below 0.003 per entropy term, so 0.02 on the sum of 6 terms is > 3 sigma.
MC_ATOL = 0.02


def _monte_carlo_information(mean, sigma, max_values, n=400_000, seed=0):
    """(1/S) sum_s sum_j [H(N(mu_j, sigma_j^2)) - H(N(mu_j, sigma_j^2) | f_j <= y*_j^s)],
    each entropy estimated as -E[log density] from samples (truncated ones by rejection)."""
    generator = torch.Generator().manual_seed(seed)
    normal = torch.distributions.Normal(mean, sigma)
    total = torch.zeros((), dtype=DTYPE)
    for y_star in max_values:
        for j in range(mean.shape[0]):
            draws = mean[j] + sigma[j] * torch.randn(n, dtype=DTYPE, generator=generator)
            log_density = torch.distributions.Normal(mean[j], sigma[j]).log_prob(draws)
            entropy = -log_density.mean()
            kept = draws[draws <= y_star[j]]
            log_mass = normal.cdf(y_star)[j].log()
            truncated_entropy = -(normal.log_prob(kept.unsqueeze(-1))[:, j] - log_mass).mean()
            total = total + entropy - truncated_entropy
    return total / max_values.shape[0]


def test_acquisition_matches_monte_carlo():
    mean = torch.tensor([0.3, -1.0], dtype=DTYPE)
    sigma = torch.tensor([0.8, 0.5], dtype=DTYPE)
    max_values = torch.tensor([[1.0, -0.5], [0.6, 0.2], [1.5, -0.9]], dtype=DTYPE)
    model = MockModel(MockPosterior(mean=mean.view(1, 1, 2), variance=sigma.pow(2).view(1, 1, 2)))
    acqf = MaxValueEntropyMOAcquisition(model, max_values)
    value = acqf(torch.zeros(1, 1, 1, dtype=DTYPE)).item()
    expected = _monte_carlo_information(mean, sigma, max_values).item()
    assert value == pytest.approx(expected, abs=MC_ATOL)
    assert value > 0


def test_acquisition_grows_with_sigma_at_equal_mean():
    mean = torch.zeros(5, 2, dtype=DTYPE)
    sigma = torch.linspace(0.1, 2.0, 5, dtype=DTYPE).unsqueeze(-1).expand(5, 2)
    max_values = torch.tensor([[0.5, 1.0], [1.2, 0.3]], dtype=DTYPE)
    values = mesmo_information(mean, sigma, max_values)
    assert (values.diff() > 0).all()


def test_acquisition_is_finite_far_above_the_sampled_maxima():
    mean = torch.tensor([[50.0, 0.0], [0.0, 0.0]], dtype=DTYPE)
    sigma = torch.tensor([[1e-6, 1.0], [1.0, 1.0]], dtype=DTYPE)
    values = mesmo_information(mean, sigma, torch.tensor([[0.0, 0.0]], dtype=DTYPE))
    assert torch.isfinite(values).all()


def test_sampled_maxima_are_at_least_the_observed_maxima(branin_currin, observations):
    X, Y = observations
    algorithm = mobo.make_algorithm(
        "mesmo",
        branin_currin,
        n_initial=4,
        num_samples=3,
        information="maxima",
        **FAST,
        **FAST_NSGA2,
    )
    algorithm.ask(1, X, Y, seed=0)
    assert algorithm.last_max_values.shape == (3, 2)
    assert (algorithm.last_max_values >= Y.max(dim=0).values).all()


def test_hypervolume_information_is_the_default(branin_currin):
    assert mobo.make_algorithm("mesmo", branin_currin).information == "hypervolume"


@pytest.mark.parametrize("information", ["hypervolume", "maxima"])
def test_contract(branin_currin, observations, information):
    X, Y = observations
    assert_algorithm_contract(
        "mesmo",
        branin_currin,
        X,
        Y,
        num_samples=2,
        information=information,
        **TINY_BO,
        **FAST_NSGA2,
    )


def test_front_boxes_hold_the_observed_front(branin_currin, observations):
    """``information="front"``: every sampled front's dominated region, as boxes, contains
    the observed Pareto front (a sample that interpolates the data is not dominated by it)."""
    X, Y = observations
    algorithm = mobo.make_algorithm(
        "mesmo", branin_currin, n_initial=4, num_samples=3, information="front", **FAST_NSGA2
    )
    U = branin_currin.to_unit(X)
    initial, observed = algorithm.observed_front(U, Y)
    fronts = algorithm.sampled_fronts(algorithm.fit_model(U, Y), 0, initial=initial)
    boxes = algorithm.front_boxes(fronts, observed)
    assert boxes.shape[:2] == (3, 2) and boxes.shape[-1] == 2
    lower, upper = boxes[:, 0], boxes[:, 1]  # S x J x m
    assert (lower <= upper).all()
    front = Y[is_non_dominated(Y)]  # p x m
    inside = (lower[:, :, None] <= front) & (front <= upper[:, :, None] + 1e-9)  # S x J x p x m
    assert inside.all(dim=-1).any(dim=1).all()  # in some box of every sample
    # ... and the boxes reach beyond it: some sampled front dominates more than the data.
    assert (upper.amax(dim=1) > Y.max(dim=0).values).any()


def test_front_information_contract(branin_currin, observations):
    X, Y = observations
    assert_algorithm_contract(
        "mesmo", branin_currin, X, Y, num_samples=2, information="front", **TINY_BO, **FAST_NSGA2
    )


def test_unknown_information_is_refused(branin_currin):
    with pytest.raises(ValueError, match="information must be one of"):
        mobo.make_algorithm("mesmo", branin_currin, information="boxes")


#: A sampled front of three points and a reference point that cuts off its two ends.
FRONT = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [0.6, 0.6]]], dtype=DTYPE)
REF = torch.tensor([0.2, 0.2], dtype=DTYPE)


def _boxes_holding(boxes: Tensor, n_outputs: int) -> tuple[Tensor, Tensor]:
    """50k uniform outcomes in [-1, 2]^n and, per outcome, how many of sample 0's boxes
    hold it."""
    y = torch.rand(50_000, n_outputs, generator=torch.Generator().manual_seed(0), dtype=DTYPE)
    y = y * 3 - 1
    lower, upper = boxes[0, 0], boxes[0, 1]
    return y, ((y[:, None] >= lower) & (y[:, None] < upper)).all(-1).sum(-1)


def _improves(objectives: Tensor) -> Tensor:
    """Whether each row dominates REF and is not dominated by FRONT."""
    dominated = (FRONT[0][None] >= objectives[:, None]).all(-1).any(-1)
    return (objectives >= REF).all(-1) & ~dominated


def test_hypervolume_boxes_cover_exactly_what_does_not_improve_the_hypervolume():
    y, inside = _boxes_holding(hypervolume_boxes(FRONT, REF), 2)
    assert inside.max() == 1  # the boxes are disjoint
    assert torch.equal(inside == 0, _improves(y))


def test_constrained_boxes_cover_exactly_what_is_infeasible_or_does_not_improve():
    """Two constraints: a point violating only one of them is in a box too (BoTorch's
    single infeasible box, every constraint violated, would leave it out)."""
    boxes = with_constraints(hypervolume_boxes(FRONT, REF), 2)
    assert boxes.shape == (1, 2, hypervolume_boxes(FRONT, REF).shape[2] + 2, 4)
    y, inside = _boxes_holding(boxes, 4)
    assert inside.max() == 1
    objectives, constraints = y[:, :2], y[:, 2:]
    assert torch.equal(inside == 0, _improves(objectives) & (constraints < 0).all(-1))


def test_hypervolume_information_contract(branin_currin, observations):
    X, Y = observations
    assert_algorithm_contract(
        "mesmo", branin_currin, X, Y, information="hypervolume", **TINY_BO, **FAST_NSGA2
    )


def test_box_information_restarts_from_the_sampled_pareto_sets(branin_currin, observations):
    """With one Sobol raw sample and one restart, the restart starts at the best point of
    the pool, which holds the sampled Pareto sets: the proposal's information is at least
    that of every sampled Pareto-optimal point, and a second batch point goes elsewhere."""
    X, Y = observations
    algorithm = mobo.make_algorithm(
        "mesmo", branin_currin, num_samples=2, num_restarts=1, raw_samples=1, **FAST_NSGA2
    )
    U = branin_currin.to_unit(X)
    model = algorithm.fit_model(U, Y)
    initial, observed = algorithm.observed_front(U, Y)
    fronts = algorithm.sampled_fronts(model, 0, initial=initial)
    sets = torch.cat([X for X, _ in fronts])
    acqf = FrontInformation(model, algorithm.front_boxes(fronts, observed))
    with torch.no_grad():
        best_of_sets = acqf(sets.unsqueeze(1)).max()
    batch = algorithm.maximize_from(acqf, 2, sets, seed=0, U_pending=None)
    acqf.set_X_pending(None)
    with torch.no_grad():
        assert acqf(batch[:1].unsqueeze(1)) >= best_of_sets - 1e-9
    assert batch.shape == (2, 2) and torch.dist(batch[0], batch[1]) > 1e-6


def test_front_information_falls_back_to_the_diagonal_estimate_where_lb_is_nan(
    branin_currin, observations, monkeypatch
):
    X, Y = observations
    algorithm = mobo.make_algorithm("mesmo", branin_currin, information="front", **FAST_NSGA2)
    U = branin_currin.to_unit(X)
    model = algorithm.fit_model(U, Y)
    initial, observed = algorithm.observed_front(U, Y)
    fronts = algorithm.sampled_fronts(model, 0, initial=initial)
    acqf = FrontInformation(model, algorithm.front_boxes(fronts, observed))
    points = torch.rand(6, 1, 2, generator=torch.Generator().manual_seed(1), dtype=DTYPE)
    with torch.no_grad():
        acqf.estimation_type = "LB2"
        diagonal = acqf(points)
        acqf.estimation_type = "LB"
        full = acqf(points)
    assert torch.isfinite(full).all() and not torch.allclose(full, diagonal)
    parent = mobo.algorithms.mesmo.qLowerBoundMultiObjectiveMaxValueEntropySearch
    estimate = parent._compute_lower_bound_information_gain

    def nan_at_first_point_under_lb(self, X):
        value = estimate(self, X)
        return (
            value.index_fill(0, torch.tensor([0]), float("nan"))
            if self.estimation_type == "LB"
            else value
        )

    monkeypatch.setattr(
        parent, "_compute_lower_bound_information_gain", nan_at_first_point_under_lb
    )
    with torch.no_grad():
        patched = acqf(points)
    assert patched[0] == diagonal[0]
    torch.testing.assert_close(patched[1:], full[1:])
    assert acqf.estimation_type == "LB"


def test_mesmo_summand_holds_far_in_the_lower_tail():
    # h(g) = g phi / (2 Phi) - log Phi, against mpmath at 60 digits; below g = -1e4 the two
    # terms cancelled every digit (h(-1e9) was +5e17 and won any acquisition maximization).
    from mobo.algorithms.mesmo import mesmo_summand

    g = torch.tensor([0.0, -5.0, -30.0, -100.0, -1e4, -1e5, -1e9], dtype=torch.float64)
    expected = torch.tensor(
        [
            0.6931471805599453,
            2.0987384761741206,
            3.8223489448380414,
            5.024308644242053,
            9.629278925180854,
            11.9318639983749,
            21.142204370151084,
        ],
        dtype=torch.float64,
    )
    torch.testing.assert_close(mesmo_summand(g), expected, rtol=1e-9, atol=0)
    g = g.clone().requires_grad_(True)
    mesmo_summand(g).sum().backward()
    assert torch.isfinite(g.grad).all()


def test_sampled_maxima_are_each_fronts_maxima_raised_to_the_best_observation(branin_currin):
    # y*_j^s: front s's maximum of objective j, or the best observation of j where the
    # front falls below it (a sample need not interpolate the data); mutation sweep s75.
    U = torch.rand(3, 2, dtype=DTYPE, generator=torch.Generator().manual_seed(0))
    Y = torch.tensor([[0.5, 0.1], [0.2, 0.4], [0.0, 0.0]], dtype=DTYPE)
    fronts = [
        (U[:2], torch.tensor([[0.3, 0.9], [0.1, 1.0]], dtype=DTYPE)),
        (U[:1], torch.tensor([[0.8, 0.2]], dtype=DTYPE)),
    ]
    algorithm = mobo.make_algorithm("mesmo", branin_currin, information="maxima")
    algorithm.sampled_fronts = lambda *args, **kwargs: fronts
    expected = torch.tensor([[0.5, 1.0], [0.8, 0.4]], dtype=DTYPE)
    torch.testing.assert_close(algorithm.sample_max_values(None, U, Y, seed=0), expected)


def test_kriging_believer_believes_each_output_at_its_own_mean(branin_currin, observations):
    # The believed observation of output j is output j's posterior mean (mutation sweep
    # s75: output 0's mean for every output passed every test): the means stay, the
    # variances shrink there.
    from mobo.algorithms.mesmo import kriging_believer

    X, Y = observations  # BraninCurrin's two outputs differ in scale (about -300 and -13)
    model = mobo.Surrogate().fit(branin_currin.to_unit(X), Y)
    U_new = torch.tensor([[0.3, 0.6], [0.8, 0.1]], dtype=DTYPE)
    with torch.no_grad():
        before = model.posterior(U_new)
        after = kriging_believer(model, U_new).posterior(U_new)
    torch.testing.assert_close(after.mean, before.mean, rtol=1e-6, atol=1e-6)
    assert (after.variance < before.variance).all()


def test_acquisition_floors_sigma_where_the_posterior_is_certain():
    # At an observed point the posterior variance can be 0: sigma is floored, not 0 (the
    # standardized gap would be infinite and the information NaN).
    mean = torch.tensor([0.2, -0.3], dtype=DTYPE)
    model = MockModel(MockPosterior(mean=mean.view(1, 1, 2), variance=torch.zeros(1, 1, 2)))
    max_values = torch.tensor([[1.0, 0.5]], dtype=DTYPE)
    acqf = MaxValueEntropyMOAcquisition(model, max_values, sigma_floor=1e-3)
    value = acqf(torch.zeros(1, 1, 1, dtype=DTYPE))
    expected = mesmo_information(mean[None], torch.full((1, 2), 1e-3, dtype=DTYPE), max_values)
    torch.testing.assert_close(value, expected)


def test_options_are_validated_and_min_distance_defaults_to_the_cube_diagonal(branin_currin):
    for options, match in [
        ({"num_samples": 0}, "got 0, 50, 40"),
        ({"pop_size": 3}, "got 1, 3, 40"),
        ({"n_gen": 0}, "got 1, 50, 0"),
    ]:
        with pytest.raises(ValueError, match=f"need num_samples >= 1, pop_size >= 4, .*{match}"):
            mobo.make_algorithm("mesmo", branin_currin, **options)
    mesmo = mobo.make_algorithm("mesmo", branin_currin)
    assert mesmo.min_distance == pytest.approx(0.01 * 2**0.5)
    assert mobo.make_algorithm("mesmo", branin_currin, min_distance=0.2).min_distance == 0.2


@pytest.mark.parametrize("information", ["hypervolume", "front"])
def test_front_boxes_are_those_of_the_merged_front(branin_currin, information):
    """``"hypervolume"``: :func:`hypervolume_boxes` of each sampled front merged with the
    observed one; ``"front"``: BoTorch's decomposition of what it dominates."""
    from botorch.acquisition.multi_objective.utils import compute_sample_box_decomposition

    algorithm = mobo.make_algorithm("mesmo", branin_currin, information=information)
    algorithm.ref_point = REF
    U = torch.rand(2, 2, dtype=DTYPE, generator=torch.Generator().manual_seed(0))
    fronts = [(U, FRONT[0, :2])]
    observed = FRONT[0, 2:]  # the sampled front misses this observed point
    boxes = algorithm.front_boxes(fronts, observed)
    if information == "hypervolume":
        expected = hypervolume_boxes(FRONT, REF)
    else:
        expected = compute_sample_box_decomposition(FRONT)
    torch.testing.assert_close(boxes, expected)


def test_box_information_ask_seeds_nsga2_with_the_observed_front_and_restarts_from_its_sets(
    branin_currin, observations, monkeypatch
):
    import mobo.algorithms.mesmo as mesmo_module
    from mobo.algorithms.bayesian import BayesianAlgorithm

    X, Y = observations
    U = branin_currin.to_unit(X)
    seen = {}
    sampled_pareto_sets = mesmo_module.sampled_pareto_sets
    maximize_from = BayesianAlgorithm.maximize_from

    def sampling(model, **kwargs):
        seen["initial"] = kwargs["initial"]
        seen["fronts"] = sampled_pareto_sets(model, **kwargs)
        return seen["fronts"]

    def maximizing(self, acqf, q, candidates, **kwargs):
        seen.update(acqf=acqf, candidates=candidates, X_pending=acqf.X_pending, **kwargs)
        return maximize_from(self, acqf, q, candidates, **kwargs)

    monkeypatch.setattr(mesmo_module, "sampled_pareto_sets", sampling)
    monkeypatch.setattr(BayesianAlgorithm, "maximize_from", maximizing)
    pending = X[:1] * 0.5 + branin_currin.bounds[1] * 0.5
    algorithm = mobo.make_algorithm("mesmo", branin_currin, num_samples=2, **FAST, **FAST_NSGA2)
    algorithm.ask(1, X, Y, seed=0, X_pending=pending)
    torch.testing.assert_close(seen["initial"], U[is_non_dominated(Y)])
    torch.testing.assert_close(seen["candidates"], torch.cat([S for S, _ in seen["fronts"]]))
    assert seen["guard"] is True  # the default
    torch.testing.assert_close(seen["U_pending"], branin_currin.to_unit(pending))
    torch.testing.assert_close(seen["X_pending"], branin_currin.to_unit(pending))
    seen.clear()
    mobo.make_algorithm("mesmo", branin_currin, guard=False, **FAST, **FAST_NSGA2).ask(
        1, X, Y, seed=0
    )
    assert seen["guard"] is False and seen["X_pending"] is None


def test_maxima_seed_nsga2_with_the_observed_pareto_set(branin_currin, observations):
    X, Y = observations
    U = branin_currin.to_unit(X)
    algorithm = mobo.make_algorithm("mesmo", branin_currin, information="maxima")
    seen = []
    algorithm.sampled_fronts = lambda model, seed, *, initial: (
        seen.append(initial) or [(U[:1], Y[:1])]
    )
    algorithm.sample_max_values(None, U, Y, seed=0)
    torch.testing.assert_close(seen[0], U[is_non_dominated(Y)])


def test_maxima_batch_keeps_min_distance_from_pending_points_and_itself(
    branin_currin, observations
):
    """The paper's maxima form, proposed directly (``ask`` would also replace an exact
    repeat): a batch is new points only, each ``min_distance`` from the pending ones and
    from each other."""
    X, Y = observations
    algorithm = mobo.make_algorithm(
        "mesmo", branin_currin, information="maxima", min_distance=0.3, **FAST, **FAST_NSGA2
    )
    U, Y_model = branin_currin.to_unit(X), algorithm.model_objectives(Y)
    pending = algorithm.propose(1, U, Y_model, seed=3, U_pending=None)
    batch = algorithm.propose(2, U, Y_model, seed=3, U_pending=pending)
    assert batch.shape == (2, 2)
    assert (torch.cdist(batch, pending) >= 0.3).all()
    assert torch.dist(batch[0], batch[1]) >= 0.3


def test_maxima_batch_filled_with_uniform_points_keeps_away_from_pending_ones(
    branin_currin, observations, monkeypatch
):
    # Every acquisition optimum refused by the guard: the batch is filled with uniform
    # points, which keep min_distance from the pending points too.
    import mobo.algorithms.mesmo as mesmo_module

    monkeypatch.setattr(
        mesmo_module, "select_distinct", lambda *a, **k: torch.zeros(0, dtype=torch.long)
    )
    X, Y = observations
    algorithm = mobo.make_algorithm(
        "mesmo", branin_currin, information="maxima", min_distance=0.15, **FAST, **FAST_NSGA2
    )
    U, Y_model = branin_currin.to_unit(X), algorithm.model_objectives(Y)
    grid = torch.tensor([0.1, 0.5, 0.9], dtype=DTYPE)
    pending = torch.cartesian_prod(grid, grid)
    torch.manual_seed(0)
    batch = algorithm.propose(3, U, Y_model, seed=3, U_pending=pending)
    assert batch.shape == (3, 2)
    assert (torch.cdist(batch, pending) >= 0.15).all()
