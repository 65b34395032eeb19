"""What one validation image at the top of a threshold front is worth
(``benchmarks/front_top.py``): checked on a two-level problem small enough to know by hand."""

from __future__ import annotations

import torch

from leanet.evaluator import ThresholdEvaluator
from tests.benchmark_scripts import load_benchmark


def _two_levels() -> ThresholdEvaluator:
    """20 inputs. Level 1 (cost 0.2) is right on the 16 most confident, level 2 (the full
    network, cost 1.2 when reached) on every input but one. So raising the threshold lifts
    accuracy one image at a time, from 16/20 (T = 0) to 19/20 (all four passed on)."""
    confidence = torch.stack([torch.linspace(0.05, 0.99, 20), torch.ones(20)])
    correct = torch.ones(2, 20, dtype=torch.bool)
    correct[0, :4] = False  # the four least confident inputs are wrong at level 1
    correct[1, 0] = False  # and the least confident one stays wrong at level 2
    return ThresholdEvaluator(confidence, correct, torch.tensor([0.2, 1.2]), 1.0)


def test_front_top_measures_the_hypervolume_and_cube_share_of_the_top_images():
    module = load_benchmark("front_top")
    evaluator = _two_levels()
    problem = module.ThresholdProblem(evaluator, reference_samples=2000)
    got = module.measure(problem, cube_samples=4096)
    assert got["validation_images"] == 20 and got["top_accuracy"] == 0.95
    # reference point: level-1 accuracy 0.80 minus 0.01, so the box spans 3.2 images below 0.95
    assert got["box_images"] == 3
    lost_1, lost_2 = got["hv_lost_below_top"]
    assert 0.0 < lost_1 < lost_2 < 1.0
    # The top (19/20) needs inputs 1-3 passed on: T above their confidences, the cube share
    # where T > confidence of input 3 (the 4th value of the linspace) in the log space.
    u = torch.linspace(0, 1, 100_001, dtype=torch.float64).unsqueeze(-1)
    accuracy = evaluator.evaluate(problem.from_unit(u)).accuracy
    exact = [float((accuracy >= 0.95 - k / 20 - 1e-12).double().mean()) for k in range(3)]
    for share, want in zip(got["cube_share_within"], exact, strict=True):
        assert abs(share - want) < 0.01
    assert got["hit_in_15_draws"][0] == 1.0 - (1.0 - got["cube_share_within"][0]) ** 15


def test_the_climb_reaches_a_top_that_is_uphill_and_stops_where_nothing_rises():
    module = load_benchmark("front_top")
    evaluator = _two_levels()  # accuracy only rises with T: the top is uphill from T = 0
    problem = module.ThresholdProblem(evaluator, reference_samples=2000)
    start = torch.zeros(1, dtype=torch.float64)  # T = 0: 16 of 20 right
    assert module.climb_from(problem, start, 0.95, budget=200) == (0.95, 6)
    # Asked for more than the front holds, it stops after a sweep that gains nothing.
    reached, spent = module.climb_from(problem, start, 1.0, budget=200)
    assert reached == 0.95 and spent == 12
    # Whole searches: the climb starts where the search ended and never loses accuracy.
    got = module.climb(problem, "sobol", 0, evals=10)
    assert got["images_below_top_after_climb"] <= got["images_below_top"]
