"""A continuous fidelity: declaration, interpolated cost, journal, resume and iMOCA."""

from __future__ import annotations

import json

import pytest
import torch

import mobo
from tests.mobo.conftest import FAST_BO_NSGA2, resumed_and_straight, toy_function

FAST_MF = {**FAST_BO_NSGA2, "n_initial": 5}


def _continuous(X: torch.Tensor) -> torch.Tensor:
    """The toy objectives on x[:, :2], shifted by 0.3 (1 - s) at fidelity s = x[:, 2]."""
    return toy_function(X[:, :2]) + 0.3 * (1 - X[:, 2:3])


def toy(**kwargs) -> mobo.Problem:
    options = {
        "fidelity_levels": [0.0, 0.5, 1.0],
        "fidelity_costs": [0.1, 0.2, 1.0],
        "fidelity_continuous": True,
        **kwargs,
    }
    return mobo.FunctionProblem(
        _continuous, [[0, 0, 0], [1, 1, 1]], 2, [-1.0, -1.0], name="cftoy", **options
    )


def test_malformed_continuous_declarations_are_named():
    with pytest.raises(ValueError, match="fidelity_continuous needs fidelity_levels"):
        toy(fidelity_levels=None, fidelity_costs=None)
    with pytest.raises(TypeError, match="fidelity_continuous must be a bool"):
        toy(fidelity_continuous="yes")


def test_cost_is_interpolated_and_only_the_target_counts():
    problem = toy()
    s = torch.tensor([0.0, 0.25, 0.5, 0.75, 0.999, 1.0], dtype=torch.float64)
    X = torch.cat([torch.full((6, 2), 0.3, dtype=torch.float64), s[:, None]], dim=1)
    expected = torch.tensor([0.1, 0.15, 0.2, 0.6, 0.9984, 1.0], dtype=torch.float64)
    torch.testing.assert_close(problem.cost(X), expected)
    # Discrete levels snap 0.999 to the target; a continuous fidelity does not.
    assert problem.at_target(X).tolist() == [False] * 5 + [True]
    assert toy(fidelity_continuous=False).at_target(X).tolist() == [False] * 4 + [True] * 2
    assert problem.spec()["fidelity_continuous"] is True
    assert "fidelity_continuous" not in toy(fidelity_continuous=False).spec()


def test_imoca_needs_a_continuous_fidelity_and_a_real_grid():
    discrete = toy(fidelity_continuous=False)
    with pytest.raises(ValueError, match="discrete fidelity levels: use 'mfosemo'"):
        mobo.make_algorithm("imoca", discrete)
    plain = mobo.FunctionProblem(toy_function, [[0, 0], [1, 1]], 2, [-1.0, -1.0], name="plain")
    with pytest.raises(ValueError, match="needs a problem with a continuous fidelity"):
        mobo.make_algorithm("imoca", plain)
    with pytest.raises(ValueError, match="fidelity_grid_size must be an int >= 2"):
        mobo.make_algorithm("imoca", toy(), fidelity_grid_size=1)


def test_each_algorithm_keeps_to_its_fidelities():
    problem = toy()
    empty = torch.empty(0, 3, dtype=torch.float64)
    imoca = mobo.make_algorithm("imoca", problem, fidelity_grid_size=3, **FAST_MF)
    X = imoca.ask(8, empty, empty[:, :2], seed=0)
    assert set(X[:, -1].tolist()) <= {0.0, 0.5, 1.0} and len(set(X[:, -1].tolist())) > 1
    assert imoca.costs == [0.1, 0.2, 1.0]  # the grid's costs, interpolated
    mfosemo = mobo.make_algorithm("mfosemo", problem, **FAST_MF)
    assert set(mfosemo.ask(8, empty, empty[:, :2], seed=0)[:, -1].tolist()) <= {0.0, 0.5, 1.0}
    assert (
        mobo.make_algorithm("sobol", problem).ask(4, empty, empty[:, :2], seed=0)[:, -1] == 1
    ).all()


def test_imoca_study_records_costs_counts_the_target_and_resumes(tmp_path):
    options = {**FAST_MF, "fidelity_grid_size": 4}
    path = tmp_path / "imoca.jsonl"
    # One model step before the stop (n_initial 5), two after it.
    result, straight = resumed_and_straight(toy, "imoca", path, seed=2, stop=6, n=8, **options)
    torch.testing.assert_close(result.X, straight.X)  # resume and determinism for a seed
    problem = toy()
    grid = {0.0, 1 / 3, 2 / 3, 1.0}
    assert all(min(abs(s - g) for g in grid) < 1e-12 for s in result.X[:, -1].tolist())
    target = problem.at_target(result.X)
    assert target.any() and (~target).any()
    assert result.pareto_mask[~target].sum() == 0
    costs = [
        r["cost"] for r in map(json.loads, path.read_text().splitlines()) if r["type"] == "eval"
    ]
    assert costs == pytest.approx(problem.cost(result.X).tolist())
    with pytest.raises(mobo.JournalError, match="its fidelity_continuous is"):
        mobo.Study.load(path, toy(fidelity_continuous=False), read_only=True)


def test_imoca_prefers_a_cheap_fidelity_that_tells_the_target():
    """Where the fidelity changes nothing and its lowest value costs a tenth, most of the
    first model-based steps are cheap (what makes a multi-fidelity search pay)."""
    problem = mobo.FunctionProblem(
        lambda X: toy_function(X[:, :2]),
        [[0, 0, 0], [1, 1, 1]],
        2,
        [-1.0, -1.0],
        fidelity_levels=[0.0, 1.0],
        fidelity_costs=[0.1, 1.0],
        fidelity_continuous=True,
    )
    options = {**FAST_MF, "n_initial": 6, "fidelity_grid_size": 3}
    result = mobo.optimize(problem, "imoca", n_evals=10, seed=0, show_progress=False, **options)
    assert (result.X[6:, -1] < 1.0).sum() >= 2


def test_near_the_target_is_not_at_it_and_cost_is_flat_outside_the_levels():
    # Mutation sweep s76: a 1e-3 target tolerance counted a cheaper run 5e-4 below the
    # target as a target result, and a cost without clamping extrapolated below the first
    # level (to 0.05 here) and above the last, where the bounds run wider than the levels.
    assert toy().at_target(torch.tensor([[0.3, 0.3, 0.9995]], dtype=torch.float64)).tolist() == [
        False
    ]
    wide = mobo.FunctionProblem(
        _continuous, [[0, 0, 0], [1, 1, 2]], 2, [-1.0, -1.0], name="wide",
        fidelity_levels=[0.5, 1.0], fidelity_costs=[0.1, 1.0], fidelity_continuous=True,
    )  # fmt: skip
    s = torch.tensor([0.25, 0.75, 1.5], dtype=torch.float64)
    X = torch.cat([torch.full((3, 2), 0.3, dtype=torch.float64), s[:, None]], dim=1)
    torch.testing.assert_close(wide.cost(X), torch.tensor([0.1, 0.55, 1.0], dtype=torch.float64))


def test_imoca_grid_follows_a_fidelity_range_that_is_not_the_unit_interval():
    # Fine-tune epochs from 2 to 10, the fidelity changing nothing and 2 epochs a tenth of
    # the price: the grid is 2, 6, 10 epochs (unit-cube 0, 0.5, 1), and cheap ones are asked.
    problem = mobo.FunctionProblem(
        lambda X: toy_function(X[:, :2]),
        [[0, 0, 2], [1, 1, 10]],
        2,
        [-1.0, -1.0],
        fidelity_levels=[2.0, 10.0],
        fidelity_costs=[0.1, 1.0],
        fidelity_continuous=True,
        name="epochs",
    )
    imoca = mobo.make_algorithm("imoca", problem, fidelity_grid_size=3, **FAST_MF)
    assert imoca.levels == [0.0, 0.5, 1.0]
    assert imoca.costs == pytest.approx([0.1, 0.55, 1.0])
    X = torch.rand(6, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    X[:, -1] = torch.tensor([2.0, 6.0, 10.0] * 2, dtype=torch.float64)
    with pytest.warns(UserWarning, match="batch_size=1"):  # a batch, to see two choices
        asked = imoca.ask(2, X, problem.evaluate(X), seed=0)[:, -1]
    assert set(asked.tolist()) <= {2.0, 6.0, 10.0} and (asked < 10.0).any(), asked
