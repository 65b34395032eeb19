"""The reference front's polish: the same front as sweeping every vector, for far fewer
evaluations."""

from __future__ import annotations

import pytest
import torch

import leanet.reference_front
from leanet.evaluator import ThresholdEvaluator
from leanet.reference_front import reference_front


def _exhaustive(evaluator, points, grids, front):
    """Every sweep vector, in the polish's order: what the polish evaluated before."""
    vectors = []
    for t in points:
        for i, grid in enumerate(grids):
            sweep = t.repeat(len(grid), 1)
            sweep[:, i] = grid
            vectors.append(sweep)
    return torch.cat(vectors)


def _cascade(L, n, seed, *, standalone=False, decimals=None):
    """Synthetic records shaped like a LEANet's: later levels right more often and surer;
    ``decimals`` rounds the confidences, so many inputs tie."""
    g = torch.Generator().manual_seed(seed)
    hard = torch.randn(n, generator=g)
    skill = torch.linspace(0.3, 2.0, L).unsqueeze(1)
    correct = torch.rand(L, n, generator=g) < torch.sigmoid(skill - hard)
    confidence = torch.sigmoid(3 * (skill - hard) + 1.5 * correct + torch.randn(L, n, generator=g))
    if decimals is not None:
        confidence = confidence.round(decimals=decimals)
    confidence[0, :5] = 1.0  # saturated softmax: exits only below 1 (T = 1 is off)
    cost = torch.cumsum(torch.linspace(0.2, 1.0, L), 0).double()
    flags = (False,) * (L - 1) + (standalone,)
    return ThresholdEvaluator(confidence, correct, cost, float(cost[-1]) * 0.8, flags)


FIELDS = ("thresholds", "accuracy", "energy", "energy_ratio", "exit_fraction")


@pytest.mark.parametrize(
    ("L", "n", "options", "polish_points"),
    [
        (4, 300, {}, 1024),  # every confidence swept
        (5, 400, {"standalone": True}, 64),  # quantiles of them
        (6, 200, {"standalone": True, "decimals": 2}, 1024),  # many ties
        (2, 150, {"decimals": 1}, 1024),
    ],
)
def test_polish_gives_the_front_of_every_sweep_vector_bit_for_bit(
    monkeypatch, L, n, options, polish_points
):
    """Threshold-search figures are ratios to this front: the faster polish must not move it."""
    evaluator = _cascade(L, n, seed=L, **options)
    fast = reference_front(evaluator, n_samples=1000, polish_points=polish_points)
    monkeypatch.setattr(leanet.reference_front, "_sweep_survivors", _exhaustive)
    slow = reference_front(evaluator, n_samples=1000, polish_points=polish_points)
    assert fast[1] == slow[1]
    for field in FIELDS:
        assert torch.equal(getattr(fast[0], field), getattr(slow[0], field)), field


def test_polish_evaluates_only_vectors_that_may_reach_the_front(monkeypatch):
    """Sweeping every front point over every confidence of every level evaluated 5.2 million
    vectors for 1024 inputs and 5 levels (60 s); the polish now computes each sweep in one
    pass over the inputs and evaluates only vectors no other point beats."""
    evaluator = _cascade(5, 400, seed=0)
    rows = []
    evaluate = ThresholdEvaluator.evaluate

    def counting(self, thresholds):
        rows.append(len(thresholds))
        return evaluate(self, thresholds)

    monkeypatch.setattr(ThresholdEvaluator, "evaluate", counting)
    front, _ = reference_front(evaluator, n_samples=1000)
    sampled = 2 * (500 + 2)  # each search: half its samples Sobol, half breakpoints, 2 corners
    polished = sum(rows) - sampled
    assert len(front) > 10
    # sweeping each front point once over its ~400 confidences on 4 levels: 1600 per point
    assert polished < 20 * len(front)


class _Bar:
    """Records what a tqdm bar was asked to show."""

    made: list[_Bar] = []

    def __init__(self, *, total, disable, **_):
        self.total, self.disable, self.done = total, disable, 0
        _Bar.made.append(self)

    def update(self, n=1):
        self.done += n

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize("progress", [True, False])
def test_reference_front_shows_its_stages_on_a_progress_bar(monkeypatch, progress):
    """Tens of seconds at thousands of inputs (minutes before the polish was counted) with
    nothing printed: the bar runs over both searches' sampling and polish rounds, to its end
    when a search settles early."""
    monkeypatch.setattr(leanet.reference_front, "tqdm", _Bar)
    _Bar.made.clear()
    reference_front(_cascade(3, 100, seed=0), n_samples=200, polish_rounds=5, progress=progress)
    (bar,) = _Bar.made
    assert bar.total == 2 * (1 + 5) and bar.done == bar.total
    assert bar.disable == (None if progress else True)  # None: shown on a terminal only


def test_a_constrained_problem_computes_its_reference_front_only_when_read(monkeypatch):
    """Constraints leave max_hv unset, so nothing in the search reads the front: it was
    computed anyway (a minute at 1024 inputs before the polish was counted)."""
    import leanet.problem

    calls = []

    def counting(evaluator, **options):
        calls.append(options)
        return reference_front(evaluator, **options)

    monkeypatch.setattr(leanet.problem, "reference_front", counting)
    evaluator = _cascade(3, 100, seed=0)
    floor = {"floor": lambda m: 0.5 - m.accuracy}
    problem = leanet.problem.ThresholdProblem(evaluator, reference_samples=200, constraints=floor)
    assert problem.max_hv is None and calls == []
    front, check = problem.reference, problem.reference_check
    assert len(calls) == 1  # once, then kept
    same = reference_front(evaluator, n_samples=200, ref_point=problem.ref_point)
    assert torch.equal(front.thresholds, same[0].thresholds) and check == same[1]
    # unconstrained: max_hv needs it at once; reference=False: never
    leanet.problem.ThresholdProblem(evaluator, reference_samples=200)
    assert len(calls) == 2
    skipped = leanet.problem.ThresholdProblem(evaluator, reference=False, constraints=floor)
    assert skipped.reference is None and skipped.reference_check is None and len(calls) == 2


@pytest.mark.parametrize(
    "ref",
    [
        [0.5, 1.0],  # energy ratio in its natural sign: every point is "worse" than -1
        [1.0, -1.0],  # an accuracy floor the LEANet never reaches
        "best",  # on the best point: it ties the reference, so it adds no volume
    ],
)
def test_a_reference_point_nothing_beats_is_refused_by_name(ref):
    # t7_ref_unreachable.py (sweep39): ThresholdProblem(ev, ref_point=[0.5, 1.0]) raised a
    # bare ZeroDivisionError from the check's ratio to a front of hypervolume 0.
    from leanet.problem import ThresholdProblem

    evaluator = _cascade(3, 100, seed=0)
    if ref == "best":
        front, _ = reference_front(evaluator, n_samples=500, progress=False)
        ref = [float(front.accuracy.max()), -float(front.energy_ratio.max())]
    expected = rf"no point of the reference front beats ref_point \[{ref[0]}, {ref[1]}\]"
    with pytest.raises(ValueError, match=expected) as raised:
        ThresholdProblem(evaluator, ref_point=torch.tensor(ref, dtype=torch.float64),
                         reference_samples=500, progress=False)  # fmt: skip
    assert "negated" in str(raised.value)
    with pytest.raises(ValueError, match=expected):
        reference_front(evaluator, n_samples=500, ref_point=ref, progress=False)


def test_a_front_of_no_correct_input_is_refused_without_blaming_a_ref_point_not_given():
    # With ref_point=None, a LEANet right on no input (another data set's labels) was told
    # "no point of the reference front beats ref_point [0.0, -1.0] ... give the energy
    # ratio negated": advice about an argument the caller never passed.
    g = torch.Generator().manual_seed(0)
    confidence = torch.rand(3, 200, generator=g)
    wrong = ThresholdEvaluator(
        confidence, torch.zeros(3, 200, dtype=torch.bool), torch.tensor([1.0, 2.0, 3.0]), 3.0
    )
    with pytest.raises(ValueError, match="default reference point") as raised:
        reference_front(wrong, n_samples=200, progress=False)
    assert "right on no input" in str(raised.value) and "ref_point" not in str(raised.value)
    assert "negated" not in str(raised.value)


def test_a_front_right_only_at_the_costliest_exit_says_so_by_default():
    # sweepG (stop 74): one image, wrong at level 1 (ratio 0.5), right at level 2 (1.0): the
    # default point gives hypervolume 0 and the error read "no exit costs less than the
    # costliest (energy ratios down to 0.5)", a cheaper exit cited in the same sentence.
    evaluator = ThresholdEvaluator(
        torch.tensor([[0.6], [0.9]]), torch.tensor([[False], [True]]), torch.tensor([1.0, 2.0]), 2.0
    )
    with pytest.raises(ValueError, match="default reference point") as raised:
        reference_front(evaluator, n_samples=200, progress=False)
    text = str(raised.value)
    assert (
        "cheaper than the costliest exit (energy ratios down to 0.5) is right on no input" in text
    )
    assert "no exit costs less" not in text
    # Every exit as costly as the last: that cause, as before.
    flat = ThresholdEvaluator(
        torch.tensor([[0.6], [0.9]]), torch.tensor([[True], [True]]), torch.tensor([2.0, 2.0]), 2.0
    )
    with pytest.raises(
        ValueError, match=r"no exit costs less than the costliest \(energy ratio 1\)"
    ):
        reference_front(flat, n_samples=200, progress=False)
