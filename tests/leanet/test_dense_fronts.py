"""DenseFronts on stand-in studies and problems: which designs get dense points, which
points of a front, and when (the searches themselves are in test_design.py)."""

from __future__ import annotations

from types import SimpleNamespace

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
