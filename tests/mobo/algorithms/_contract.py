"""Checks every new algorithm must pass: determinism, bounds, batch shape, no duplicates."""

from __future__ import annotations

import torch

import mobo


def assert_algorithm_contract(name: str, problem, X, Y, *, q: int = 3, **options) -> None:
    """``ask`` on ``n x d`` observations ``X``, ``Y`` (past the initial design)."""
    algorithm = mobo.make_algorithm(name, problem, n_initial=4, **options)
    first = algorithm.ask(q, X, Y, seed=7)
    again = mobo.make_algorithm(name, problem, n_initial=4, **options).ask(q, X, Y, seed=7)
    torch.testing.assert_close(first, again, rtol=0, atol=0)  # determinism with a seed

    assert first.shape == (q, problem.dim)
    assert first.dtype == torch.float64
    assert torch.isfinite(first).all()
    assert (first >= problem.bounds[0]).all() and (first <= problem.bounds[1]).all()
    # No duplicates in the batch, nor repeats of a pending point.
    distances = torch.cdist(problem.to_unit(first), problem.to_unit(first))
    assert distances[~torch.eye(q, dtype=torch.bool)].min() > 1e-6
    pending = first[:1]
    with_pending = algorithm.ask(q, X, Y, seed=8, X_pending=pending)
    assert with_pending.shape == (q, problem.dim)
    assert torch.cdist(problem.to_unit(with_pending), problem.to_unit(pending)).min() > 1e-6
