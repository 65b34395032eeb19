"""MOMF, BoTorch's multi-fidelity baseline: the trust outcome, the cost it divides by, and
its studies on discrete and continuous fidelities."""

from __future__ import annotations

import pytest
import torch

import mobo
from mobo.algorithms.momf import with_trust
from tests.mobo.conftest import FAST_BO, resumed_and_straight, toy_function


def _shifted(X: torch.Tensor) -> torch.Tensor:
    return toy_function(X[:, :2]) + 0.3 * (1 - X[:, 2:3])


def toy(**kwargs) -> mobo.Problem:
    options = {"fidelity_levels": [0.0, 1.0], "fidelity_costs": [0.1, 1.0], **kwargs}
    return mobo.FunctionProblem(_shifted, [[0, 0, 0], [1, 1, 1]], 2, [-1.0, -1.0], **options)


def test_momf_refuses_a_problem_without_fidelities():
    plain = mobo.FunctionProblem(toy_function, [[0, 0], [1, 1]], 2, [-1.0, -1.0], name="plain")
    with pytest.raises(ValueError, match="needs a problem with fidelities.*use 'qlognehvi'"):
        mobo.make_algorithm("momf", plain)


def test_the_trust_outcome_is_the_fidelity_over_the_target_for_every_sample():
    samples = torch.randn(7, 3, 2, 2, dtype=torch.float64)  # samples x batch x q x m
    X = torch.rand(3, 2, 3, dtype=torch.float64)
    out = with_trust(samples, X, low=4.0, high=10.0, target=10.0)  # e.g. fine-tune epochs
    assert out.shape == (7, 3, 2, 3)
    torch.testing.assert_close(out[..., :2], samples)
    torch.testing.assert_close(out[..., 2], (0.4 + 0.6 * X[..., -1]).expand(7, 3, 2))
    epochs = mobo.FunctionProblem(
        _shifted, [[0, 0, 4], [1, 1, 10]], 2, [-1.0, -1.0], fidelity_levels=[4, 10],
        fidelity_costs=[0.5, 1.0],
    )  # fmt: skip
    assert mobo.make_algorithm("momf", epochs).trust == {"low": 4.0, "high": 10.0, "target": 10.0}
    # Bounds past the target: no more trust than the target's, which is all it costs.
    beyond = with_trust(samples, torch.ones(3, 2, 3), low=4.0, high=12.0, target=10.0)
    torch.testing.assert_close(beyond[..., 2], torch.ones(7, 3, 2, dtype=torch.float64))
    negative = mobo.FunctionProblem(
        _shifted, [[0, 0, -1], [1, 1, 1]], 2, [-1.0, -1.0], fidelity_levels=[-1, 1],
        fidelity_costs=[0.5, 1.0],
    )  # fmt: skip
    with pytest.raises(ValueError, match="needs fidelity values >= 0"):
        mobo.make_algorithm("momf", negative)


def test_momf_cost_follows_the_problem_and_moves_a_continuous_fidelity():
    algorithm = mobo.make_algorithm("momf", toy(fidelity_continuous=True))
    U = torch.tensor([[[0.5, 0.5, 0.0]], [[0.5, 0.5, 0.5]]], dtype=torch.float64)
    U.requires_grad_(True)
    cost = algorithm.unit_cost(U)
    torch.testing.assert_close(
        cost.detach(), torch.tensor([[[0.1]], [[0.55]]], dtype=torch.float64)
    )
    cost.sum().backward()  # L-BFGS-B can trade the fidelity against its price
    assert U.grad[..., -1].abs().min() > 0


@pytest.mark.parametrize("continuous", [False, True])
def test_momf_study_mixes_fidelities_and_resumes(tmp_path, continuous):
    options = {**FAST_BO, "n_initial": 5}

    def problem():
        return toy(fidelity_continuous=continuous)

    path = tmp_path / "momf.jsonl"
    result, straight = resumed_and_straight(problem, "momf", path, seed=1, stop=7, n=9, **options)
    torch.testing.assert_close(result.X, straight.X)
    s = result.X[:, -1]
    assert ((s > 0) & (s < 1)).any() == continuous  # discrete: snapped to the two levels
    target = toy().at_target(result.X) if not continuous else s == 1.0
    assert result.pareto_mask[~target].sum() == 0


def test_with_discrete_levels_momf_weighs_each_level_as_it_would_be_evaluated():
    """Optimized freely, the fidelity would end between the levels, priced at the lower
    and trusted nearly as the upper one, then be snapped to the lower: the acquisition is
    maximized at the levels themselves instead."""
    problem = toy(fidelity_levels=[0.0, 1.0], fidelity_costs=[0.1, 1.0])
    algorithm = mobo.make_algorithm("momf", problem, **FAST_BO)
    U = torch.rand(8, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    U[:, -1] = torch.tensor([0.0, 1.0] * 4, dtype=torch.float64)
    Y = algorithm.model_objectives(_shifted(U))
    proposed = algorithm.propose(3, U, Y, seed=0, U_pending=None)
    assert set(proposed[:, -1].tolist()) <= {0.0, 1.0}


def _capped(X: torch.Tensor) -> torch.Tensor:
    """Two objectives that both grow with x0, a cheap fidelity shifted by 0.1, and the
    constraint x0 <= 0.5 (the same at every fidelity)."""
    x0, x1, s = X[:, 0], X[:, 1], X[:, 2]
    shift = 0.1 * (1 - s)
    f1 = x0 - (x1 - 0.3) ** 2 + shift
    f2 = x0 - (x1 - 0.7) ** 2 - shift
    return torch.stack([f1, f2, x0 - 0.5], dim=-1)


def capped(**kwargs) -> mobo.Problem:
    return mobo.FunctionProblem(
        _capped, [[0, 0, 0], [1, 1, 1]], 2, [-1.0, -1.0], num_constraints=1,
        fidelity_levels=[0.5, 1.0], fidelity_costs=[0.1, 1.0], name="capped", **kwargs,
    )  # fmt: skip


def test_momf_with_constraints_proposes_where_the_constraint_model_says_feasible():
    """Both objectives grow with x0 up to the cube's face x0 = 1, the constraint stops them
    at 0.5: only a search that models it stays below."""
    algorithm = mobo.make_algorithm("momf", capped(), **FAST_BO)
    U = torch.rand(14, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    U[:, -1] = torch.tensor([0.5, 1.0] * 7, dtype=torch.float64)
    Y = algorithm.model_objectives(_capped(U))
    proposed = algorithm.propose(3, U, Y, seed=0, U_pending=None)
    assert (proposed[:, 0] < 0.6).all(), proposed


def test_a_constrained_momf_study_resumes_and_counts_feasible_target_points(tmp_path):
    path = tmp_path / "capped.jsonl"
    # One model step before the stop, two after it.
    result, straight = resumed_and_straight(
        capped, "momf", path, seed=2, stop=6, n=8, **FAST_BO, n_initial=5
    )
    torch.testing.assert_close(result.X, straight.X)
    counted = result.feasible & capped().at_target(result.X)
    assert result.pareto_mask[~counted].sum() == 0 and counted.any()


def test_with_pending_points_a_candidate_is_scored_by_its_own_gain_per_its_own_cost():
    # BoTorch's MOMF with X_pending scores HVI(P + x) / (cost(P) + cost(x)): a candidate
    # that adds nothing to the pending point P still scored HVI(P) / (cost(P) + cost(x)),
    # above a target candidate that adds a little.
    from botorch.acquisition.multi_objective.multi_fidelity import MOMF as BoTorchMOMF
    from botorch.acquisition.multi_objective.objective import GenericMCMultiOutputObjective
    from botorch.sampling import SobolQMCNormalSampler
    from botorch.utils.multi_objective.box_decompositions.non_dominated import (
        FastNondominatedPartitioning,
    )

    from mobo.algorithms.momf import MarginalGainPerCost

    problem = toy()
    algorithm = mobo.make_algorithm("momf", problem)
    generator = torch.Generator().manual_seed(0)
    U = torch.rand(12, 3, dtype=torch.float64, generator=generator)
    U[:, -1] = (U[:, -1] > 0.5).double()
    Y = algorithm.model_objectives(problem.evaluate(problem.from_unit(U)))
    model = algorithm.fit_model(U, Y)
    ref_point = torch.cat([algorithm.ref_point, torch.zeros(1, dtype=torch.float64)])
    partitioning = FastNondominatedPartitioning(
        ref_point=ref_point, Y=with_trust(Y, U, **algorithm.trust)
    )

    def momf(pending):
        return BoTorchMOMF(
            model=model,
            ref_point=ref_point.tolist(),
            partitioning=partitioning,
            sampler=SobolQMCNormalSampler(sample_shape=torch.Size([512]), seed=0),
            objective=GenericMCMultiOutputObjective(
                lambda samples, X=None: with_trust(samples, X, **algorithm.trust)
            ),
            X_pending=pending,
            cost_call=algorithm.unit_cost,
        )

    grid = torch.quasirandom.SobolEngine(2, scramble=True, seed=1).draw(256).double()
    at_target = torch.cat([grid, torch.ones(256, 1, dtype=torch.float64)], -1).unsqueeze(1)
    with torch.no_grad():
        P = at_target[momf(None)(at_target).argmax()]  # 1 x 3, at the target, cost 1
        gain_P = float(momf(None)(P.unsqueeze(0)))
        marginal = MarginalGainPerCost(momf(P), momf(None), P, algorithm.unit_cost)
        again = float(marginal(P.unsqueeze(0)))  # P twice adds nothing
        joint = float(momf(P)(P.unsqueeze(0)))
        # A cheap pending point (trust 0.5 priced at the cheap level's 0.1): its gain is
        # HVI(P) / cost(P), to be multiplied back by cost(P).
        at_low = at_target.clone()
        at_low[..., -1] = 0.5
        P_low = at_low[momf(None)(at_low).argmax()]
        gain_low = float(momf(None)(P_low.unsqueeze(0)))
        cheap = MarginalGainPerCost(momf(P_low), momf(None), P_low, algorithm.unit_cost)
        again_low = float(cheap(P_low.unsqueeze(0)))
    assert gain_P > 0 and gain_low > 0
    assert abs(again) < 0.05 * gain_P
    assert abs(again_low) < 0.05 * gain_low
    assert joint == pytest.approx(gain_P / 2, rel=0.05)  # what the level choice compared


def test_a_continuous_fidelity_just_below_the_target_is_put_on_the_target():
    # L-BFGS-B stopped at 99.999998898 of a target 100: a target evaluation's price, yet
    # not counted in the result, which counts the target only.
    from mobo.algorithms.base import TARGET_SNAP

    problem = mobo.FunctionProblem(
        lambda X: None, [[0, 0, 0], [1, 1, 100]], 2, [-3.0, -3.0],
        fidelity_levels=[10.0, 100.0], fidelity_costs=[0.1, 1.0], fidelity_continuous=True,
    )  # fmt: skip
    U = torch.rand(6, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    X = problem.from_unit(U)
    X[:, -1] = 100.0
    U = problem.to_unit(X)
    Y = torch.stack([-(U[:, :2] - 0.3).pow(2).sum(-1), -(U[:, :2] - 0.7).pow(2).sum(-1)], -1)
    algorithm = mobo.make_algorithm("momf", problem, n_initial=1)
    assert problem.at_target(algorithm.ask(1, X, Y, seed=2)).all()
    # No proposal lies within TARGET_SNAP of the range below the target; one further away stays.
    gaps = [0.0, 1e-9, 1e-5, 0.9 * TARGET_SNAP, 2 * TARGET_SNAP]
    s = 100.0 - 90.0 * torch.tensor(gaps, dtype=torch.float64)
    U = torch.cat([torch.full((5, 2), 0.5, dtype=torch.float64), (s / 100).unsqueeze(-1)], -1)
    torch.testing.assert_close(
        algorithm._in_problem(U)[:, -1], torch.where(s > 100 - 90 * TARGET_SNAP, 100.0, s)
    )
    assert algorithm._in_problem(U)[-1, -1] < 100.0


def _unbiased(X: torch.Tensor) -> torch.Tensor:
    return toy_function(X[:, :2])  # every fidelity alike


def _unbiased_problem(levels: list[float], costs: list[float]) -> mobo.Problem:
    """The toy objectives on two inputs, alike at every fidelity level of the third."""
    return mobo.FunctionProblem(
        _unbiased, [[0, 0, 0], [1, 1, 1]], 2, [-1.0, -1.0], fidelity_levels=levels,
        fidelity_costs=costs,
    )  # fmt: skip


def _history(levels: list[float], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    X = torch.rand(8, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    X[:, -1] = torch.tensor(levels * 4, dtype=torch.float64)
    return X, _unbiased(X)


@pytest.mark.parametrize(
    "levels, costs, chosen",
    [([0.2, 1.0], [1.0, 1.0], 1.0), ([0.9, 1.0], [0.01, 1.0], 0.9)],
    ids=["dear-low-level", "cheap-trusted-low-level"],
)
def test_with_discrete_levels_the_level_with_the_best_gain_per_cost_is_asked(levels, costs, chosen):
    # A low level as dear as the target and trusted 0.2 of it is never worth it; one at a
    # hundredth of the price and trusted 0.9 is. Mutation sweep s75 (p6): keeping the
    # first level whatever the others scored passed every test, which had cheap levels.
    problem = _unbiased_problem(levels, costs)
    algorithm = mobo.make_algorithm("momf", problem, **FAST_BO, n_initial=1)
    X, Y = _history(levels)
    assert algorithm.ask(1, X, Y, seed=0)[:, -1].tolist() == [chosen]


def test_a_batchs_earlier_points_are_pending_for_its_later_ones():
    # Each point of a batch is chosen with the earlier ones pending, so the second is not
    # the first again. Mutation sweep s75 (p7): without them pending, propose returned the
    # same point twice (1e-8 apart); ask's repeat rule then asks once more with the repeat
    # pending, which hid it from every test that goes through ask.
    problem = _unbiased_problem([0.5, 1.0], [0.1, 1.0])
    algorithm = mobo.make_algorithm("momf", problem, **FAST_BO)
    X, Y = _history([0.5, 1.0])
    U = problem.to_unit(X)
    proposed = algorithm.propose(2, U, algorithm.model_objectives(Y), seed=0, U_pending=None)
    assert float(torch.dist(proposed[0], proposed[1])) > 0.1, proposed


def test_momf_prices_candidates_at_the_fidelity_they_stand_for():
    # Unit-cube candidates are priced in the problem's units: 4 to 10 epochs, costs 0.5 to
    # 1.0, so the cube's 0 and 0.5 are 4 and 7 epochs (0.5 and 0.75), not 0 and 0.5 epochs.
    epochs = mobo.FunctionProblem(
        _shifted, [[0, 0, 4], [1, 1, 10]], 2, [-1.0, -1.0], fidelity_levels=[4.0, 10.0],
        fidelity_costs=[0.5, 1.0], fidelity_continuous=True,
    )  # fmt: skip
    U = torch.tensor([[[0.5, 0.5, 0.0]], [[0.5, 0.5, 0.5]]], dtype=torch.float64)
    cost = mobo.make_algorithm("momf", epochs).unit_cost(U)
    torch.testing.assert_close(cost, torch.tensor([[[0.5]], [[0.75]]], dtype=torch.float64))


def test_the_incumbent_front_holds_the_evaluations_that_satisfy_every_constraint(monkeypatch):
    # Two constraints: rows 0 and 1 each satisfy one and violate the other; only rows 2 and
    # 3 are feasible, and only they (with their trust) may bound the improvement.
    import mobo.algorithms.momf as momf_module

    problem = mobo.FunctionProblem(
        lambda X: None, [[0, 0, 0], [1, 1, 1]], 2, [-1.0, -1.0], num_constraints=2,
        fidelity_levels=[0.5, 1.0], fidelity_costs=[0.1, 1.0], name="two",
    )  # fmt: skip
    U = torch.rand(6, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    U[:, -1] = torch.tensor([1.0, 1.0, 0.5, 1.0, 1.0, 0.5], dtype=torch.float64)
    Y = torch.tensor(
        [
            [0.9, 0.9, -0.2, 0.3],
            [0.8, 0.8, 0.4, -0.1],
            [0.1, 0.2, -0.3, -0.2],
            [0.3, 0.1, -0.1, 0.0],
            [0.5, 0.5, 0.1, 0.2],
            [0.2, 0.2, 0.3, 0.3],
        ],
        dtype=torch.float64,
    )
    seen = []

    class Recording(momf_module.FastNondominatedPartitioning):
        def __init__(self, ref_point, Y):
            seen.append(Y)
            super().__init__(ref_point=ref_point, Y=Y)

    monkeypatch.setattr(momf_module, "FastNondominatedPartitioning", Recording)
    algorithm = mobo.make_algorithm("momf", problem, **FAST_BO)
    algorithm.maximize = lambda acqf, q, fixed_features=None: torch.full((1, 3), 0.5).double()
    algorithm.propose(1, U, Y, seed=0, U_pending=None)
    trust = torch.tensor([[0.5], [1.0]], dtype=torch.float64)
    torch.testing.assert_close(seen[0], torch.cat([Y[2:4, :2], trust], dim=-1))


def test_a_point_in_flight_is_pending_for_the_next_ask():
    # An asynchronous study asks while an evaluation runs: the point in flight is pending,
    # so the next proposal is not that point again.
    problem = _unbiased_problem([0.5, 1.0], [0.1, 1.0])
    algorithm = mobo.make_algorithm("momf", problem, **FAST_BO)
    X, Y = _history([0.5, 1.0])
    U, Y = problem.to_unit(X), algorithm.model_objectives(Y)
    first = algorithm.propose(1, U, Y, seed=0, U_pending=None)
    after = algorithm.propose(1, U, Y, seed=0, U_pending=first)
    assert float(torch.dist(first[0], after[0])) > 0.1, (first, after)


def test_trust_is_over_the_target_where_the_bounds_reach_past_it():
    # Bounds to 12 epochs, target 10: a target evaluation is trusted 1, not 10 / 12.
    wide = mobo.FunctionProblem(
        _shifted, [[0, 0, 4], [1, 1, 12]], 2, [-1.0, -1.0], fidelity_levels=[4, 10],
        fidelity_costs=[0.5, 1.0],
    )  # fmt: skip
    assert mobo.make_algorithm("momf", wide).trust == {"low": 4.0, "high": 12.0, "target": 10.0}


def test_each_asks_seed_draws_its_monte_carlo_samples(monkeypatch):
    # The improvement is estimated from quasi-random samples drawn from the ask's seed: one
    # seed repeats them, two seeds draw different ones.
    import mobo.algorithms.momf as momf_module

    seeds = []

    class Recording(momf_module.SobolQMCNormalSampler):
        def __init__(self, *args, seed=None, **kwargs):
            seeds.append(seed)
            super().__init__(*args, seed=seed, **kwargs)

    monkeypatch.setattr(momf_module, "SobolQMCNormalSampler", Recording)
    problem = _unbiased_problem([0.5, 1.0], [0.1, 1.0])
    algorithm = mobo.make_algorithm("momf", problem, **FAST_BO)
    algorithm.maximize = lambda acqf, q, fixed_features=None: torch.full((1, 3), 0.5).double()
    X, Y = _history([0.5, 1.0])
    U, Y = problem.to_unit(X), algorithm.model_objectives(Y)
    for seed in (3, 7):
        algorithm.propose(1, U, Y, seed=seed, U_pending=None)
    assert seeds and sorted(set(seeds)) == [3, 7]
