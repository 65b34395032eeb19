"""Shared tiny fixtures for the mobo tests."""

from __future__ import annotations

import pytest
import torch

import mobo

#: Acquisition-optimizer settings small enough for unit tests (seconds, not minutes).
FAST_BO = {"num_restarts": 2, "raw_samples": 32, "maxiter": 30, "mc_samples": 32}
#: Smaller still, for contracts (seeds, bounds, shapes, distinct points) that no optimizer
#: quality shows.
TINY_BO = {"num_restarts": 1, "raw_samples": 16, "maxiter": 10, "mc_samples": 16}
#: FAST_BO with a small inner NSGA-II, for USeMO, MESMO and their kin.
FAST_BO_NSGA2 = {**FAST_BO, "pop_size": 16, "n_gen": 8}


def toy_function(X: torch.Tensor) -> torch.Tensor:
    """Two conflicting smooth objectives on [0, 1]^2 (maximized): distance to two corners."""
    return torch.stack(
        [-((X - 0.2) ** 2).sum(-1), -((X - torch.tensor([0.8, 0.6])) ** 2).sum(-1)], dim=-1
    )


@pytest.fixture
def toy_problem() -> mobo.Problem:
    return mobo.FunctionProblem(toy_function, [[0.0, 0.0], [1.0, 1.0]], 2, [-1.0, -1.0], name="toy")


@pytest.fixture
def branin_currin() -> mobo.Problem:
    return mobo.problems.make("BraninCurrin")


def resumed_and_straight(
    make_problem, algorithm: str, path, *, seed: int, stop: int, n: int, **options
):
    """A study journaled to ``path`` and stopped after ``stop`` evaluations, resumed to
    ``n``, and the same study run straight to ``n``: the two results, which a resumable
    algorithm makes equal."""
    with mobo.Study(make_problem(), algorithm, seed=seed, journal=path, **options) as study:
        study.optimize(stop, show_progress=False)
    resumed = mobo.Study.load(path, make_problem())
    result = resumed.optimize(n, show_progress=False)
    resumed.close()
    straight = mobo.optimize(
        make_problem(), algorithm, n_evals=n, seed=seed, show_progress=False, **options
    )
    return result, straight
