"""DenseFronts on stand-in studies and problems: which designs get dense points, which
points of a front, and when (the searches themselves are in test_design.py)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

import leanet.dense_fronts
from leanet.dense_fronts import DenseFronts


def test_dense_fronts_skip_a_failed_evaluation_and_serve_its_design_later():
    """A failed evaluation's design is not built: no dense points for it, and a later
    successful evaluation of the same design still gets them (mutation sweep s76: asking
    for a failed point's front passed every dense-front test)."""
    problem = SimpleNamespace(design_of=lambda x: SimpleNamespace(key="d"))
    study = SimpleNamespace(problem=problem, evaluations=[], n_evals=None)
    dense, asked = DenseFronts(2), []
    dense.inputs = lambda problem, design, x: asked.append(x.tolist()) or torch.empty(0, 2)
    dense.start(study)
    dense(study, [SimpleNamespace(x=[0.0, 1.0], failed=True)])
    assert asked == [] and dense.seen == set()
    dense(study, [SimpleNamespace(x=[0.0, 0.5], failed=False)])
    assert asked == [[0.0, 0.5]] and dense.seen == {"d"}


def test_dense_fronts_spread_along_the_front_and_complete_a_resumed_design_first(monkeypatch):
    """``inputs`` takes the front's two ends and points evenly between, written into the
    threshold columns; ``start`` tells a resumed study's missing points before any new ask
    (mutation sweep s76: the front's first k points, and a ``start`` that told nothing,
    each passed every dense-front test: the resumed run only counted points at its end)."""
    T = torch.arange(20.0).reshape(10, 2) / 20  # a front of 10 two-threshold points
    front = SimpleNamespace(thresholds=T)
    monkeypatch.setattr(leanet.dense_fronts, "reference_front", lambda ev, n_samples: (front, 0))
    problem = SimpleNamespace(
        threshold_columns=slice(1, 3),
        evaluator=lambda design: None,
        design_of=lambda x: SimpleNamespace(key="d"),
        evaluate=lambda X: X[:, :1],
    )
    X = DenseFronts(3).inputs(problem, None, torch.tensor([7.0, 0.0, 0.0, 9.0]))
    assert X.tolist() == [[7.0, *T[i].tolist(), 9.0] for i in (0, 4, 9)]  # round(4.5) = 4

    told = []
    study = SimpleNamespace(
        problem=problem,
        evaluations=[SimpleNamespace(x=[7.0, 0.3, 0.3, 9.0], failed=False)],
        n_evals=None,
        tell=lambda X, Y, extra: told.append(X),
    )
    DenseFronts(3).start(study)
    assert len(told) == 1 and told[0].shape == (3, 4)


def _stand_in(monkeypatch, evaluations, n_evals=None, n_evaluated=0, levels=2):
    """A stand-in study of one design ``d`` whose dense front has 10 points of ``levels - 1``
    thresholds (the problem has room for 2), and the calls it sees."""
    calls = SimpleNamespace(told=[], extra=[], n_samples=[])
    T = torch.arange(10.0 * (levels - 1), dtype=torch.float64).reshape(10, levels - 1) / 16

    def front(evaluator, n_samples):
        calls.n_samples.append(n_samples)
        return SimpleNamespace(thresholds=T), 0

    monkeypatch.setattr(leanet.dense_fronts, "reference_front", front)
    problem = SimpleNamespace(
        threshold_columns=slice(1, 3),
        evaluator=lambda design: None,
        design_of=lambda x: SimpleNamespace(key="d"),
        evaluate=lambda X: X[:, :1],
    )

    def tell(X, Y, extra):
        calls.told.append(X.tolist())
        calls.extra.append(extra)

    study = SimpleNamespace(
        problem=problem, evaluations=evaluations, n_evals=n_evals, tell=tell,
        n_evaluated=n_evaluated,
    )  # fmt: skip
    return study, calls


def test_spread_indices_round_to_the_nearest_point_and_never_repeat_one():
    """Evenly spread: 0, 2.25, 4.5, 6.75, 9 round to 0, 2, 4, 7, 9 (truncating gave 6); more
    points asked than the front has: each point once (mutation sweep R)."""
    assert leanet.dense_fronts.spread_indices(10, 5).tolist() == [0, 2, 4, 7, 9]
    assert leanet.dense_fronts.spread_indices(3, 5).tolist() == [0, 1, 2]
    assert leanet.dense_fronts.spread_indices(1, 5).tolist() == [0]


def test_a_design_with_fewer_levels_keeps_the_other_threshold_columns(monkeypatch):
    """A 2-level design's front has one threshold: it goes in the first threshold column,
    and the columns of levels it lacks keep the evaluated row's values (mutation sweep R:
    writing it into the last column passed)."""
    study, _ = _stand_in(monkeypatch, [], levels=2)
    x = torch.tensor([7.0, 0.1, 0.2, 9.0], dtype=torch.float64)
    X = DenseFronts(2).inputs(study.problem, None, x)
    assert X.tolist() == [[7.0, 0.0, 0.2, 9.0], [7.0, 0.5625, 0.2, 9.0]]


def test_dense_points_are_told_with_the_options_given(monkeypatch):
    """``n_samples`` reaches the dense search and ``extra`` the study's ``tell`` (mutation
    sweep R: the default n_samples, and extra=False, each passed every dense-front test)."""
    study, calls = _stand_in(monkeypatch, [])
    dense = DenseFronts(2, n_samples=300, extra=True)
    dense.start(study)
    dense(study, [SimpleNamespace(x=[7.0, 0.3, 0.3, 9.0], failed=False)])
    assert calls.n_samples == [300] and calls.extra == [True]
    assert calls.told == [[[7.0, 0.0, 0.3, 9.0], [7.0, 0.5625, 0.3, 9.0]]]


def test_dense_points_never_pass_the_budget(monkeypatch):
    """The told points stop at the study's budget, and a study already past it (resumed
    with a smaller ``n_evals``) is told nothing, not an empty batch nor the front's last
    points (mutation sweep R: a budget of n_evals, and a negative slice, each passed)."""
    x = [7.0, 0.3, 0.3, 9.0]
    study, calls = _stand_in(monkeypatch, [], n_evals=5, n_evaluated=3)
    DenseFronts(3).start(study)
    DenseFronts(3)(study, [SimpleNamespace(x=x, failed=False)])
    assert [len(X) for X in calls.told] == [2]
    for n_evaluated in (5, 6):
        study, calls = _stand_in(monkeypatch, [], n_evals=5, n_evaluated=n_evaluated)
        dense = DenseFronts(3)
        dense.start(study)
        dense(study, [SimpleNamespace(x=x, failed=False)])
        assert calls.told == [] and dense.seen == {"d"}


def test_a_resumed_design_is_told_only_its_missing_points(monkeypatch):
    """Interrupted after telling one of a design's dense points, the resumed study is told
    the others, not that one again (mutation sweep R: dropping the filter passed)."""
    x = [7.0, 0.3, 0.3, 9.0]
    told_before = SimpleNamespace(x=[7.0, 0.0, 0.3, 9.0], failed=False)
    study, calls = _stand_in(monkeypatch, [SimpleNamespace(x=x, failed=False), told_before])
    DenseFronts(3).start(study)
    assert calls.told == [[[7.0, 0.25, 0.3, 9.0], [7.0, 0.5625, 0.3, 9.0]]]


def test_a_callback_called_without_start_serves_the_studys_earlier_designs(monkeypatch):
    """Called before ``start`` (as a user's own loop may), it first serves the designs the
    study evaluated before, as ``start`` would (mutation sweep R: starting from no designs
    passed)."""
    earlier = SimpleNamespace(x=[7.0, 0.3, 0.3, 9.0], failed=False)
    study, calls = _stand_in(monkeypatch, [earlier])
    dense = DenseFronts(2)
    dense(study, [])
    assert len(calls.told) == 1 and dense.seen == {"d"}


def test_dense_fronts_need_a_positive_number_of_points_and_samples():
    for bad in ({"k": 0}, {"k": True}, {"n_samples": 0}, {"n_samples": 2.0}):
        with pytest.raises(ValueError, match="must be a positive int"):
            DenseFronts(**bad)
