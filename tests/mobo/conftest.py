"""Shared tiny fixtures for the mobo tests."""

from __future__ import annotations

import pytest
import torch

import mobo

#: Acquisition-optimizer settings small enough for unit tests (seconds, not minutes).
FAST_BO = {"num_restarts": 2, "raw_samples": 32, "maxiter": 30, "mc_samples": 32}


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
