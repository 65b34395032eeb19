from __future__ import annotations

import numpy as np
import pytest
import torch
from pymoo.indicators.hv import HV
from pymoo.indicators.igd import IGD

import mobo


def test_pareto_mask_marks_exactly_the_non_dominated_rows():
    Y = torch.tensor([[1.0, 5.0], [2.0, 4.0], [1.5, 3.0], [3.0, 1.0], [float("nan"), 9.0]])
    assert mobo.pareto_mask(Y).tolist() == [True, True, False, True, False]


@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_pareto_mask_keeps_botorchs_rule_on_ties_and_duplicates(m):
    # moocore replaced BoTorch's filter (a Python loop over large sets): the same mask,
    # ties and -0.0 included, on both of BoTorch's paths (n <= 1000 pairwise, else a loop).
    from botorch.utils.multi_objective.pareto import is_non_dominated

    rng = np.random.default_rng(m)
    for n in (1, 2, 7, 60, 1500):
        for levels in (2, 4, 30, None):  # few levels: many ties and duplicates
            if levels is None:
                Y = rng.normal(size=(n, m))
            else:
                Y = rng.integers(-levels // 2, levels, size=(n, m)).astype(float)
            Y[rng.integers(0, n, size=n // 3)] = Y[rng.integers(0, n, size=n // 3)]
            Y[Y == 0] = rng.choice([0.0, -0.0], size=int((Y == 0).sum()))
            Y = torch.as_tensor(Y)
            expected = is_non_dominated(Y, deduplicate=True)
            assert torch.equal(mobo.pareto_mask(Y), expected), (n, levels)
            Y[0, 0] = float("nan")  # a failed row is never Pareto; the others are as before
            expected = is_non_dominated(Y[1:], deduplicate=True)
            assert torch.equal(mobo.pareto_mask(Y), torch.cat([torch.tensor([False]), expected]))


def test_hypervolume_matches_a_hand_computed_case():
    # Staircase from ref (0, 0): (1,3), (2,2), (3,1) -> 3*1 + 2*1 + 1*1 = 6.
    Y = torch.tensor([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0], [0.5, 0.5]])
    assert mobo.hypervolume(Y, torch.zeros(2)) == pytest.approx(6.0)
    # A 3-D box [0,2]x[0,1]x[0,3] plus (1,2,1): 6 + 1*1*1 = 7.
    Y3 = torch.tensor([[2.0, 1.0, 3.0], [1.0, 2.0, 1.0]])
    assert mobo.hypervolume(Y3, torch.zeros(3)) == pytest.approx(7.0)
    # Points that do not dominate the reference point add nothing.
    assert mobo.hypervolume(torch.tensor([[-1.0, 5.0]]), torch.zeros(2)) == 0.0


@pytest.mark.parametrize("m", [2, 3])
def test_hypervolume_agrees_with_pymoo(m):
    generator = torch.Generator().manual_seed(m)
    Y = torch.rand(40, m, generator=generator, dtype=torch.float64)
    ref = torch.full((m,), 0.1, dtype=torch.float64)
    ours = mobo.hypervolume(Y, ref)
    # pymoo minimizes: negate both points and reference.
    theirs = HV(ref_point=-ref.numpy())(-Y.numpy())
    assert ours == pytest.approx(theirs, rel=1e-10)
    assert ours > 0


def test_hypervolume_trace_is_the_prefix_hypervolume():
    generator = torch.Generator().manual_seed(0)
    Y = torch.rand(25, 2, generator=generator, dtype=torch.float64)
    # Failed evaluations are never Pareto: a row with +inf, better than the reference in
    # every objective, once dropped the trace to 0 for the rest of the run.
    Y[7] = float("nan")
    Y[12] = torch.tensor([float("inf"), 1.0])
    ref = torch.zeros(2, dtype=torch.float64)
    trace = mobo.hypervolume_trace(Y, ref)
    expected = [mobo.hypervolume(Y[: i + 1], ref) for i in range(25)]
    torch.testing.assert_close(trace, torch.tensor(expected, dtype=torch.float64))
    assert torch.all(trace[1:] >= trace[:-1])


def test_a_constraint_value_of_exactly_zero_is_feasible():
    """Feasible means ``c_i <= 0``: an accuracy floor ``floor - accuracy`` is often exactly
    0 on a few hundred validation inputs, and ``< 0`` dropped such points from the feasible
    front, its hypervolume and the choice of thresholds."""
    C = torch.tensor([[0.0], [-0.1], [0.1]], dtype=torch.float64)
    Y = torch.tensor([[0.9, -0.5], [0.8, -0.3], [0.95, -0.2]], dtype=torch.float64)
    assert mobo.feasible_mask(C).tolist() == [True, True, False]
    assert mobo.feasible_mask(torch.tensor([[0.0, -0.0]])).tolist() == [True]
    feasible = mobo.metrics.feasible_objectives(Y, C)
    torch.testing.assert_close(feasible[:2], Y[:2], rtol=0, atol=0)
    assert feasible[2].isnan().all()


def test_hypervolume_difference_and_log():
    assert float(mobo.hypervolume_difference(8.0, 10.0)) == pytest.approx(2.0)
    assert float(mobo.log_hypervolume_difference(9.9, 10.0)) == pytest.approx(-1.0)
    assert float(mobo.hypervolume_difference(10.5, 10.0)) == 0.0  # clipped
    assert float(mobo.log_hypervolume_difference(10.0, 10.0)) == pytest.approx(-12.0)


def test_igd_agrees_with_pymoo():
    generator = torch.Generator().manual_seed(1)
    front = torch.rand(30, 2, generator=generator, dtype=torch.float64)
    Y = torch.rand(12, 2, generator=generator, dtype=torch.float64)
    assert mobo.igd(Y, front) == pytest.approx(IGD(front.numpy())(Y.numpy()), rel=1e-10)
    assert mobo.igd(front, front) == 0.0
    assert mobo.igd(torch.full((2, 2), np.nan), front) == float("inf")


@pytest.mark.parametrize(
    "front", [[[0.0, 1.0], [np.nan, 0.0]], [[0.0, 1.0], [np.inf, 0.0]], np.zeros((0, 2))]
)
def test_igd_refuses_a_reference_front_without_finite_rows_to_average(front):
    # t11_igd.py (sweep39): a NaN row or no rows gave IGD nan, silently: a seed's NaN made
    # the median over seeds NaN, or nanmedian dropped the seed.
    Y = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    with pytest.raises(ValueError, match="reference_front must be r >= 1 rows of finite values"):
        mobo.igd(Y, torch.tensor(front))


def test_reference_point_of_the_wrong_length_is_an_error():
    with pytest.raises(ValueError, match="ref_point must have length m=2"):
        mobo.hypervolume(torch.ones(3, 2), torch.zeros(3))


def test_a_reference_point_of_the_wrong_length_or_not_finite_is_an_error_everywhere():
    for metric in (mobo.hypervolume, mobo.hypervolume_trace):
        with pytest.raises(ValueError, match="ref_point must have length m=2"):
            metric(torch.ones(3, 2), torch.zeros(3))
        with pytest.raises(ValueError, match="ref_point must be finite"):
            metric(torch.ones(3, 2), torch.tensor([0.0, float("nan")]))


def test_hypervolume_within_a_cost_is_the_value_after_the_last_evaluation_within_it():
    # One reading for the trace plot and benchmarks/mobo_fidelity.py, which had its own.
    spent = torch.tensor([0.1, 0.2, 1.2, 2.2], dtype=torch.float64)
    hv = torch.tensor([0.0, 3.0, 5.0, 9.0], dtype=torch.float64)
    at = torch.tensor([0.05, 0.1, 1.0, 2.2, 7.0], dtype=torch.float64)
    within = mobo.metrics.hypervolume_within(spent, hv, at)
    assert within.tolist() == [0.0, 0.0, 3.0, 9.0, 9.0]
    assert float(mobo.metrics.hypervolume_within(spent, hv, 1.5)) == 5.0


def test_a_cost_summed_an_ulp_over_a_checkpoint_is_within_it():
    # mobo_fidelity_constrained.json's MOMF seed 2 spent 20.000000000000004 by its last
    # evaluation; its cell at cost 20 was read from before that evaluation.
    spent = torch.tensor([10.0, 20.000000000000004, 21.0], dtype=torch.float64)
    hv = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    assert float(mobo.metrics.hypervolume_within(spent, hv, 20.0)) == 2.0
    assert float(mobo.metrics.hypervolume_within(spent, hv, 19.99)) == 1.0


def test_a_point_that_violates_one_of_several_constraints_is_infeasible():
    # Every constraint must hold: one satisfied constraint of two does not make a point
    # feasible (mutation sweep s76: ``.any`` for ``.all`` passed every metrics test).
    C = torch.tensor([[-1.0, 0.5], [0.5, -1.0], [-1.0, -0.5], [0.5, 0.5]], dtype=torch.float64)
    assert mobo.feasible_mask(C).tolist() == [False, False, True, False]


def test_hypervolume_within_reads_0_before_the_first_evaluation_and_counts_a_free_one():
    # The first value is not 0 here: before the first evaluation nothing is evaluated
    # (reading trace[0] there passed), and an evaluation whose total is exactly the cost
    # asked is within it, at a cost of 0 too, where cost rounding adds nothing (mutation
    # sweep s76: searchsorted right=False passed).
    spent = torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64)
    hv = torch.tensor([4.0, 5.0, 6.0], dtype=torch.float64)
    assert mobo.metrics.hypervolume_within(spent, hv, torch.tensor([0.0, 1.0])).tolist() == [
        4.0,
        5.0,
    ]
    later = torch.tensor([1.0, 2.0], dtype=torch.float64)
    assert float(mobo.metrics.hypervolume_within(later, hv[1:], 0.5)) == 0.0


def test_constraint_values_of_the_wrong_shape_are_an_error_not_a_broadcast():
    """One row of constraint values for two rows of objectives, or a 1-D ``C``, would
    broadcast to a feasibility for every row: the shapes are refused (mutation sweep R:
    dropping either check passed every metrics test)."""
    Y = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64)
    with pytest.raises(ValueError, match=r"C must have one row per row of Y \(2\), got 1"):
        mobo.metrics.feasible_objectives(Y, torch.tensor([[-1.0]], dtype=torch.float64))
    with pytest.raises(ValueError, match=r"C must have shape n x k, got \(2,\)"):
        mobo.feasible_mask(torch.tensor([-1.0, 1.0]))


def test_objectives_that_are_not_a_matrix_are_an_error():
    """A 1-D ``Y`` (one point, or one objective, without its other dimension) is refused
    rather than read as something else (mutation sweep R)."""
    for metric in (mobo.pareto_mask, lambda Y: mobo.hypervolume(Y, torch.zeros(2))):
        with pytest.raises(ValueError, match=r"Y must have shape n x m, got \(2,\)"):
            metric(torch.tensor([1.0, 2.0]))


def test_igd_refuses_a_reference_front_with_another_number_of_objectives():
    # Named as a shape error (it was a RuntimeError from deep inside torch.cdist).
    with pytest.raises(ValueError, match=r"reference_front must have shape r x 2, got \(4, 3\)"):
        mobo.igd(torch.ones(2, 2), torch.ones(4, 3))


def test_with_every_evaluation_failed_nothing_is_pareto_and_the_hypervolume_is_0():
    """A run whose evaluations all failed (or lie below the reference point) has an empty
    Pareto set and hypervolume 0 everywhere, not an error from the empty set."""
    Y = torch.full((3, 2), float("nan"), dtype=torch.float64)
    assert mobo.pareto_mask(Y).tolist() == [False, False, False]
    assert mobo.hypervolume(Y, torch.zeros(2)) == 0.0
    assert mobo.hypervolume_trace(Y, torch.zeros(2)).tolist() == [0.0, 0.0, 0.0]
    below = torch.tensor([[-1.0, 2.0], [2.0, -1.0]], dtype=torch.float64)
    assert mobo.hypervolume_trace(below, torch.zeros(2)).tolist() == [0.0, 0.0]


def test_a_row_with_an_infinite_value_is_never_pareto_and_adds_no_volume():
    """Non-finite rows are failed ones, not only NaN: ``+inf`` would dominate every other
    row and make the hypervolume infinite (mutation sweep R: filtering NaN alone passed)."""
    Y = torch.tensor([[float("inf"), 1.0], [1.0, 1.0], [0.5, 2.0]], dtype=torch.float64)
    assert mobo.pareto_mask(Y).tolist() == [False, True, True]
    assert mobo.hypervolume(Y, torch.zeros(2)) == pytest.approx(1.5)
    assert mobo.hypervolume_trace(Y, torch.zeros(2)).tolist() == pytest.approx([0.0, 1.0, 1.5])


def test_cost_rounding_is_relative_to_the_cost_asked():
    """The tolerance is ``1e-9`` of the cost asked: a total of 3e6 seconds summed 1e-8 over
    is within 3e6, and at a cost of 0 nothing is added, so a total of 1e-12 is not within
    it (mutation sweep R: an absolute 1e-9 passed every test, which asked at costs near 1)."""
    spent = torch.tensor([1e-12, 3e6 + 1e-8, 4e6], dtype=torch.float64)
    hv = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    within = mobo.metrics.hypervolume_within(spent, hv, torch.tensor([0.0, 3e6]))
    assert within.tolist() == [0.0, 2.0]
