"""USeMO: max-box choice, the GP-UCB schedule, the distance guard, and the contract."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from botorch.acquisition.multi_objective import ExpectedHypervolumeImprovement
from botorch.test_functions.multi_objective import BraninCurrin
from botorch.utils.multi_objective.box_decompositions.non_dominated import (
    FastNondominatedPartitioning,
)
from botorch.utils.multi_objective.pareto import is_non_dominated

import mobo
from mobo.algorithms._improvement import ImprovementRegion
from mobo.algorithms.base import step_seed_for
from mobo.algorithms.usemo import (
    USeMO,
    gp_ucb_beta,
    improves_front,
    rank_by_box,
    select_distinct,
)
from mobo.problem import DTYPE, FunctionProblem
from tests.mobo.algorithms._contract import assert_algorithm_contract
from tests.mobo.algorithms.conftest import FAST, FAST_NSGA2


def test_returns_largest_uncertainty_box_of_its_nsga2_set(branin_currin, observations):
    # The paper's rule: no candidate filter.
    X, Y = observations
    algorithm = mobo.make_algorithm(
        "usemo",
        branin_currin,
        n_initial=4,
        candidate_filter=None,
        selection="box",
        **FAST,
        **FAST_NSGA2,
    )
    x = algorithm.ask(1, X, Y, seed=3)
    proposal = algorithm.last_proposal
    candidates = proposal["candidates"]
    assert candidates.shape[0] > 1
    # Recompute the boxes prod_j 2 beta^{1/2} sigma_j independently from the model.
    beta = gp_ucb_beta(X.shape[0], branin_currin.dim)
    with torch.no_grad():
        sigma = proposal["model"].posterior(candidates).variance.sqrt()
    boxes = (2 * math.sqrt(beta) * sigma).prod(dim=-1)
    constant = branin_currin.num_objectives * math.log(2 * math.sqrt(beta))
    torch.testing.assert_close(proposal["log_box"], boxes.log() - constant)
    # Compared by value, not by argmax index: the two computations round differently, and
    # NSGA-II's population (duplicates not eliminated) can hold equal or near-equal boxes.
    # A smaller box than the largest by more than rounding is an error; here the two
    # largest boxes differ by 3.6%.
    chosen = proposal["chosen"][0]
    torch.testing.assert_close(branin_currin.to_unit(x)[0], candidates[chosen])
    assert boxes[chosen] >= boxes.max() * (1 - 1e-9)


def test_batch_takes_largest_boxes_in_order(branin_currin, observations):
    X, Y = observations
    algorithm = mobo.make_algorithm(
        "usemo",
        branin_currin,
        n_initial=4,
        candidate_filter=None,
        selection="box",
        **FAST,
        **FAST_NSGA2,
    )
    x = algorithm.ask(3, X, Y, seed=3)
    proposal = algorithm.last_proposal
    chosen = proposal["chosen"]
    assert len(chosen) == 3
    torch.testing.assert_close(branin_currin.to_unit(x), proposal["candidates"][chosen])
    log_box = proposal["log_box"][chosen]
    assert (log_box[:-1] >= log_box[1:]).all()


def test_distance_guard_skips_near_duplicates():
    candidates = torch.tensor([[0.5, 0.5], [0.505, 0.5], [0.9, 0.9], [0.1, 0.1]])
    scores = torch.tensor([4.0, 3.0, 2.0, 1.0])
    assert select_distinct(candidates, scores, 2, min_distance=0.05).tolist() == [0, 2]
    pending = torch.tensor([[0.5, 0.52]])
    chosen = select_distinct(candidates, scores, 2, min_distance=0.05, avoid=pending)
    assert chosen.tolist() == [2, 3]


def test_gp_ucb_schedule_grows_like_log_t():
    assert gp_ucb_beta(1, 2) == pytest.approx(2 * math.log(math.pi**2 / 0.3))
    assert gp_ucb_beta(100, 2) > gp_ucb_beta(10, 2) > gp_ucb_beta(1, 2)
    assert gp_ucb_beta(10, 2) - gp_ucb_beta(1, 2) == pytest.approx(2 * 3 * math.log(10))


@pytest.mark.parametrize(
    "acquisitions", [("ei", "ucb", "pihv"), ("ei", "ucb"), ("ts", "pi", "lcb")]
)
def test_contract(branin_currin, observations, acquisitions):
    X, Y = observations
    assert_algorithm_contract(
        "usemo", branin_currin, X, Y, acquisitions=acquisitions, **FAST, **FAST_NSGA2
    )


def test_contract_with_ehvi_selection(branin_currin, observations):
    X, Y = observations
    assert_algorithm_contract("usemo", branin_currin, X, Y, selection="ehvi", **FAST, **FAST_NSGA2)


def test_pihv_is_one_cheap_objective_the_log_probability_of_adding_hypervolume(
    branin_currin, observations
):
    X, Y = observations
    algorithm = USeMO(branin_currin, n_initial=4, **FAST, **FAST_NSGA2)
    assert algorithm.acquisitions == ("ei", "ucb", "pihv")  # the default
    assert algorithm.num_cheap_objectives == 2 * 2 + 1
    algorithm.ask(1, X, Y, seed=0)
    model = algorithm.last_proposal["model"]
    Y_model = algorithm.model_objectives(Y)
    U = torch.rand(1, 7, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    values = algorithm.cheap_objectives(model, Y_model, t=X.shape[0])(U.numpy())
    assert values.shape == (1, 7, 5)
    with torch.no_grad():
        posterior = model.posterior(U)
        expected = ImprovementRegion(Y_model, algorithm.ref_point).log_probability(
            posterior.mean, posterior.variance.sqrt()
        )
    torch.testing.assert_close(torch.as_tensor(values[..., -1]), expected)
    assert (values[..., -1] <= 0).all()


def test_rejects_unknown_acquisition(branin_currin):
    with pytest.raises(ValueError, match="acquisitions"):
        USeMO(branin_currin, acquisitions=("ei", "kg"))


def test_improves_front_needs_the_reference_box_and_no_dominating_observation():
    Y = torch.tensor([[2.0, 1.0], [1.0, 2.0]], dtype=torch.float64)
    ref = torch.tensor([0.0, 0.0], dtype=torch.float64)
    values = torch.tensor(
        [
            [3.0, 0.5],  # beyond the front, in the box: improves
            [1.5, 1.5],  # in the front's notch: improves
            [0.5, 0.5],  # dominated by an observation
            [2.0, 1.0],  # equal to an observation (weakly dominated)
            [5.0, -0.1],  # not better than the reference point in objective 2
        ],
        dtype=torch.float64,
    )
    assert improves_front(values, Y, ref).tolist() == [True, True, False, False, False]
    assert improves_front(values, Y[:0], ref).tolist() == [True, True, True, True, False]


@pytest.mark.parametrize("candidate_filter", ["mean_improves", "ucb_improves"])
def test_filter_takes_largest_box_among_candidates_that_improve(observations, candidate_filter):
    function = BraninCurrin(negate=True)
    # A reference point some observations and predictions beat (BraninCurrin's own is
    # beaten by none of these 12 observations, and the filter would fall back).
    problem = FunctionProblem(function, function.bounds, 2, [-20.0, -8.0], name="bc")
    X, _ = observations
    Y = problem.evaluate(X)
    algorithm = mobo.make_algorithm(
        "usemo",
        problem,
        n_initial=4,
        candidate_filter=candidate_filter,
        selection="box",
        **FAST,
        **FAST_NSGA2,
    )
    x = algorithm.ask(1, X, Y, seed=0)
    proposal = algorithm.last_proposal
    candidates, log_box = proposal["candidates"], proposal["log_box"]
    # Recompute which candidates improve the observed front, independently.
    with torch.no_grad():
        posterior = proposal["model"].posterior(candidates)
    values = posterior.mean
    if candidate_filter == "ucb_improves":
        beta = gp_ucb_beta(X.shape[0], problem.dim)
        values = values + math.sqrt(beta) * posterior.variance.sqrt()
    # The model sees standardized objectives; the reference point follows the same map.
    improving = improves_front(values, algorithm.model_objectives(Y), algorithm.ref_point)
    assert improving.any()
    torch.testing.assert_close(proposal["eligible"], improving)
    best = torch.where(improving, log_box, torch.full_like(log_box, -math.inf)).argmax()
    torch.testing.assert_close(problem.to_unit(x)[0], candidates[best])


def test_rank_by_box_prefers_any_eligible_candidate_to_a_larger_ineligible_box():
    # Built so the filter matters: the largest box (index 0) does not improve the front.
    log_box = torch.tensor([5.0, 1.0, 3.0, -2.0, 4.0], dtype=torch.float64)
    eligible = torch.tensor([False, True, True, True, False])
    order = rank_by_box(log_box, eligible).argsort(descending=True).tolist()
    assert order == [2, 1, 3, 0, 4]
    # With every candidate eligible, the order is the paper's: largest box first.
    everyone = rank_by_box(log_box, torch.ones(5, dtype=torch.bool))
    assert everyone.argsort(descending=True).tolist() == [0, 4, 2, 1, 3]


def test_default_filter_is_mean_improves(branin_currin):
    assert USeMO(branin_currin).candidate_filter == "mean_improves"


def test_filter_falls_back_to_all_candidates_when_none_improves(observations):
    X, Y = observations
    function = BraninCurrin(negate=True)
    # A reference point no prediction can beat: the filter keeps nothing.
    unreachable = FunctionProblem(function, function.bounds, 2, [1e9, 1e9], name="bc")
    picks = []
    for candidate_filter in ("mean_improves", None):
        algorithm = mobo.make_algorithm(
            "usemo",
            unreachable,
            n_initial=4,
            candidate_filter=candidate_filter,
            selection="box",
            **FAST,
            **FAST_NSGA2,
        )
        picks.append(algorithm.ask(1, X, Y, seed=3))
        proposal = algorithm.last_proposal
        assert proposal["eligible"].all()
        best = proposal["candidates"][proposal["log_box"].argmax()]
        torch.testing.assert_close(unreachable.to_unit(picks[-1])[0], best)
    torch.testing.assert_close(picks[0], picks[1])


def test_rejects_unknown_candidate_filter(branin_currin):
    with pytest.raises(ValueError, match="candidate_filter"):
        USeMO(branin_currin, candidate_filter="hvi")


def test_ehvi_selection_takes_the_candidate_of_largest_expected_improvement(
    branin_currin, observations
):
    X, Y = observations
    options = {**FAST, "mc_samples": 512}  # MC qLogEHVI close to the analytic value
    algorithm = mobo.make_algorithm("usemo", branin_currin, n_initial=4, **options, **FAST_NSGA2)
    assert algorithm.selection == "ehvi"  # the default
    x = algorithm.ask(1, X, Y, seed=3)
    proposal = algorithm.last_proposal
    assert torch.allclose(branin_currin.to_unit(x), proposal["candidates"][proposal["chosen"]])
    # Analytic EHVI from the same model, the standardized observations and reference point.
    Y_model = algorithm.model_objectives(Y)
    partitioning = FastNondominatedPartitioning(ref_point=algorithm.ref_point, Y=Y_model)
    ehvi = ExpectedHypervolumeImprovement(
        proposal["model"], ref_point=algorithm.ref_point.tolist(), partitioning=partitioning
    )
    with torch.no_grad():
        values = ehvi(proposal["candidates"].unsqueeze(-2))
    assert values.max() > 0
    assert values[proposal["chosen"][0]] >= 0.97 * values.max()
    assert values[proposal["log_box"].argmax()] < 0.97 * values.max()  # not the box rule


def test_ehvi_selection_batch_points_are_distinct(branin_currin, observations):
    X, Y = observations
    algorithm = mobo.make_algorithm(
        "usemo", branin_currin, n_initial=4, selection="ehvi", **FAST, **FAST_NSGA2
    )
    U = branin_currin.to_unit(algorithm.ask(3, X, Y, seed=3))
    assert U.shape == (3, 2)
    assert torch.pdist(U).min() >= algorithm.min_distance


def test_rejects_unknown_selection(branin_currin):
    with pytest.raises(ValueError, match="selection must be one of"):
        USeMO(branin_currin, selection="volume")


def test_polish_keeps_only_ascents_that_end_no_more_uncertain(branin_currin, observations):
    X, Y = observations
    algorithm = USeMO(branin_currin, n_initial=4, **FAST, **FAST_NSGA2)
    assert algorithm.polish  # the default
    algorithm.ask(1, X, Y, seed=0)
    model = algorithm.last_proposal["model"]
    U = branin_currin.to_unit(X)
    near = U[:2] + 1e-3  # next to observations: small sigma
    far = torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=U.dtype)  # cube corners: large sigma
    assert (algorithm.log_box(model, far) > algorithm.log_box(model, near)).all()
    # The ascent is replaced by a fixed outcome: starts near the data; one end stays there,
    # the other moved to a corner.
    algorithm.maximize = lambda *args, **kwargs: torch.stack([near[0], far[0]]).unsqueeze(1)
    acqf = SimpleNamespace(model=model)  # the ascent is fixed; only its model is read
    kept = algorithm.polished(acqf, near)
    torch.testing.assert_close(kept, near[:1])


def test_polished_points_join_the_candidates_and_the_best_is_chosen(branin_currin):
    # 30 observations: with fewer, every ascent here ended more uncertain and was dropped.
    U = torch.rand(30, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    X = branin_currin.from_unit(U)
    Y = branin_currin.evaluate(X)
    kept = []
    for seed in range(4):
        # The NSGA-II set alone (the Sobol candidates are tested below).
        only = {"sobol_candidates": False, **FAST, **FAST_NSGA2}
        plain = USeMO(branin_currin, n_initial=4, polish=False, **only)
        polished = USeMO(branin_currin, n_initial=4, **only)
        plain.ask(1, X, Y, seed=seed)
        polished.ask(1, X, Y, seed=seed)
        before, after = plain.last_proposal, polished.last_proposal
        extra = after["candidates"].shape[0] - before["candidates"].shape[0]
        assert 0 <= extra <= FAST["num_restarts"]
        kept.append(extra)
        # The same NSGA-II set after the polished points, scored alike; the best is chosen.
        torch.testing.assert_close(after["candidates"][extra:], before["candidates"])
        torch.testing.assert_close(after["score"][extra:], before["score"])
        assert after["score"][after["chosen"][0]] == after["score"].max()
        assert after["score"].max() >= before["score"].max()
    assert sum(kept) > 0  # some ascent was kept (2 of these 4 seeds keep one when written)


def test_contract_with_noisy_scores(branin_currin, observations):
    X, Y = observations
    assert_algorithm_contract("usemo", branin_currin, X, Y, noisy=True, **FAST, **FAST_NSGA2)


def test_noisy_scores_give_an_evaluated_point_no_improvement(observations):
    """Re-evaluating an observed Pareto-optimal input improves nothing: qLogNEHVI, which
    samples the evaluated points jointly with the candidate, says so (log value far below
    the plain score), while qLogEHVI over the observed values credits the GP's noise there.
    (A reference point below every observation, so that the whole front counts.)"""
    X, Y = observations
    function = BraninCurrin(negate=True)
    problem = FunctionProblem(function, function.bounds, 2, torch.tensor([-310.0, -15.0]))
    assert mobo.make_algorithm("usemo", problem).noisy  # the default
    algorithm = mobo.make_algorithm("usemo", problem, noisy=False, **FAST, **FAST_NSGA2)
    U, Y_model = problem.to_unit(X), algorithm.model_objectives(Y)
    model = algorithm.fit_model(U, Y_model)
    pareto = U[is_non_dominated(Y_model)].unsqueeze(-2)
    plain = algorithm.ehvi_acquisition(model, U, Y_model, seed=0)
    algorithm.noisy = True
    noisy = algorithm.ehvi_acquisition(model, U, Y_model, seed=0)
    elsewhere = torch.rand(64, 1, 2, dtype=DTYPE, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert (noisy(pareto) < plain(pareto) - 2.0).all()
        assert noisy(pareto).max() < noisy(elsewhere).max() - 2.0


def _paper_acquisitions(model, U, best, t, d, delta=0.1):
    """EI, PI, UCB and LCB of every objective at ``U`` (``n x d``), written out from their
    definitions: ``z = (mu - best) / sigma``, EI ``= sigma (z Phi(z) + phi(z))``, PI
    ``= Phi(z)``, UCB/LCB ``= mu +/- beta_t^{1/2} sigma`` with the GP-UCB schedule
    ``beta_t = 2 log(t^(d/2+2) pi^2 / (3 delta))``; ``n x 4m``, in that order."""
    with torch.no_grad():
        posterior = model.posterior(U)
    m = best.shape[-1]
    mean, sigma = posterior.mean[..., :m], posterior.variance[..., :m].sqrt()
    z = (mean - best) / sigma
    cdf = 0.5 * torch.erfc(-z / math.sqrt(2.0))
    pdf = torch.exp(-0.5 * z**2) / math.sqrt(2.0 * math.pi)
    beta = 2.0 * math.log(t ** (d / 2.0 + 2.0) * math.pi**2 / (3.0 * delta))
    ucb, lcb = mean + math.sqrt(beta) * sigma, mean - math.sqrt(beta) * sigma
    return torch.cat([sigma * (z * cdf + pdf), cdf, ucb, lcb], dim=-1)


def test_cheap_objectives_are_the_papers_ei_pi_ucb_and_lcb(branin_currin, observations):
    """NSGA-II solves the cheap problem these values define, so a wrong sign in ``z``, EI
    without its ``phi(z)`` term or a UCB/LCB without ``beta_t^{1/2}`` changes every USeMO
    proposal without an error (each one was off by 10 to 140 on these observations)."""
    X, Y = observations
    U = branin_currin.to_unit(X)
    algorithm = USeMO(branin_currin, acquisitions=("ei", "pi", "ucb", "lcb"), **FAST)
    model = algorithm.fit_model(U, Y)
    points = torch.rand(50, 2, dtype=DTYPE, generator=torch.Generator().manual_seed(1))
    got = torch.as_tensor(algorithm.cheap_objectives(model, Y, t=12)(points[None].numpy()))[0]
    expected = _paper_acquisitions(model, points, Y.max(dim=0).values, t=12, d=2)
    assert got.shape == (50, 8)
    torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-12)


def test_ask_takes_t_of_the_gp_ucb_schedule_as_the_number_of_observations(
    branin_currin, observations, monkeypatch
):
    """``beta_t`` follows the GP-UCB schedule with ``t`` the number of observations: with
    ``t = 1`` at every ask, UCB and LCB would never widen as the data grow."""
    X, Y = observations
    algorithm = USeMO(branin_currin, n_initial=4, **FAST, **FAST_NSGA2)
    seen = []
    cheap_objectives = algorithm.cheap_objectives

    def recording(model, Y_model, t):
        seen.append(t)
        return cheap_objectives(model, Y_model, t)

    monkeypatch.setattr(algorithm, "cheap_objectives", recording)
    algorithm.ask(1, X, Y, seed=0)
    assert seen == [12]


def test_sobol_candidates_add_qlognehvis_starts_and_never_lower_the_pick(branin_currin):
    # VehicleSafety (usemo_vehicle_safety.md): late in a run BoTorch's optimizer, from its
    # Sobol starts, found up to 20x the expected improvement of USeMO's pick. With
    # sobol_candidates that Sobol pool joins the candidates and its starts are polished
    # too, apart from the NSGA-II set's, so the pick scores at least the old pick.
    U = torch.rand(30, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    X = branin_currin.from_unit(U)
    Y = branin_currin.evaluate(X)
    n = FAST["raw_samples"]
    for seed in range(3):
        old = USeMO(branin_currin, n_initial=4, sobol_candidates=False, **FAST, **FAST_NSGA2)
        new = USeMO(branin_currin, n_initial=4, **FAST, **FAST_NSGA2)
        assert new.sobol_candidates  # the default
        old.ask(1, X, Y, seed=seed)
        new.ask(1, X, Y, seed=seed)
        before, after = old.last_proposal, new.last_proposal
        pool = new.sobol_pool(step_seed_for(seed, 30))
        assert pool.shape == (n, 2)
        torch.testing.assert_close(after["candidates"][-n:], pool)
        # Every old candidate (NSGA-II set and kept ascents) is still there, scored alike.
        for x, value in zip(before["candidates"], before["score"], strict=True):
            same = (after["candidates"] == x).all(dim=-1)
            assert same.any()
            torch.testing.assert_close(after["score"][same][0], value)
        assert after["score"][after["chosen"][0]] == after["score"].max()
        # At least the old pick and the best Sobol point, to rounding: the old pick scored
        # in the larger batch came out 9e-16 lower on an AMD EPYC with AVX2 kernels.
        best = max(before["score"].max(), after["score"][-n:].max())
        assert after["score"].max() >= best - 1e-12 * max(1.0, abs(float(best)))


def test_gp_ucb_schedule_clamps_t_to_one_and_follows_delta():
    # Before any observation t = 0 would be log(0); the schedule starts at t = 1.
    assert gp_ucb_beta(0, 3) == gp_ucb_beta(1, 3)
    # beta_t = 2 log(t^(d/2+2) pi^2 / (3 delta)): a tenth of delta adds 2 log 10.
    assert gp_ucb_beta(5, 3, delta=0.01) - gp_ucb_beta(5, 3, delta=0.1) == pytest.approx(
        2 * math.log(10)
    )


def test_improves_front_needs_strictly_better_than_the_reference_point():
    ref = torch.tensor([0.0, 0.0], dtype=torch.float64)
    values = torch.tensor([[1.0, 0.0], [1.0, 1e-9], [0.0, 0.0]], dtype=torch.float64)
    no_data = torch.zeros(0, 2, dtype=torch.float64)
    assert improves_front(values, no_data, ref).tolist() == [False, True, False]


def test_options_are_validated_with_clear_errors(branin_currin):
    for options, match in [
        ({"delta": 1.0}, r"delta must be in \(0, 1\), got 1.0"),
        ({"delta": 0.0}, r"delta must be in \(0, 1\), got 0.0"),
        ({"pop_size": 3}, "need pop_size >= 4 and n_gen >= 1, got 3, 50"),
        ({"n_gen": 0}, "need pop_size >= 4 and n_gen >= 1, got 100, 0"),
        ({"acquisitions": ()}, "acquisitions must be a non-empty subset"),
    ]:
        with pytest.raises(ValueError, match=match):
            USeMO(branin_currin, **options)
    # Names are case-insensitive.
    assert USeMO(branin_currin, acquisitions=("EI", "Ucb")).acquisitions == ("ei", "ucb")


def test_min_distance_defaults_to_a_hundredth_of_the_cube_diagonal(branin_currin):
    assert USeMO(branin_currin).min_distance == pytest.approx(0.01 * math.sqrt(2))
    assert USeMO(branin_currin, min_distance=0.2).min_distance == 0.2


def test_a_pending_point_is_not_proposed_again(branin_currin, observations):
    # The same seed gives the same candidates: without the pending point the pick would
    # be the same point again (proposed directly: ask would also replace an exact repeat).
    X, Y = observations
    algorithm = USeMO(branin_currin, n_initial=4, **FAST, **FAST_NSGA2)
    U, Y_model = branin_currin.to_unit(X), algorithm.model_objectives(Y)
    first = algorithm.propose(1, U, Y_model, seed=3, U_pending=None)
    torch.manual_seed(0)
    again = algorithm.propose(1, U, Y_model, seed=3, U_pending=first)
    assert torch.dist(again, first) >= algorithm.min_distance
    proposal = algorithm.last_proposal
    far = torch.cdist(proposal["candidates"], first)[:, 0] >= algorithm.min_distance
    assert proposal["score"][proposal["chosen"][0]] == proposal["score"][far].max()


def test_a_batch_filled_past_its_candidates_keeps_away_from_pending_points(
    branin_currin, observations
):
    # A distance guard so wide that the candidates run out and uniform points fill the
    # batch: they too keep min_distance from each other, the candidates and the pending.
    X, Y = observations
    algorithm = USeMO(
        branin_currin,
        n_initial=4,
        min_distance=0.3,
        polish=False,
        sobol_candidates=False,
        **FAST,
        **FAST_NSGA2,
    )
    pending = torch.tensor([[0.5, 0.5], [0.1, 0.9], [0.9, 0.1]], dtype=DTYPE)
    U = branin_currin.to_unit(
        algorithm.ask(4, X, Y, seed=1, X_pending=branin_currin.from_unit(pending))
    )
    assert len(algorithm.last_proposal["chosen"]) < 4  # the fill was needed
    assert torch.pdist(U).min() >= 0.3
    assert torch.cdist(U, pending).min() >= 0.3
