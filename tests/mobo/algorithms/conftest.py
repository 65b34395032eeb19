"""Tiny problems and fast settings for the tests of USeMO, MESMO, PESMO and JES."""

from __future__ import annotations

import pytest
import torch
from botorch.test_functions.multi_objective import BraninCurrin

from mobo.problem import DTYPE, FunctionProblem

#: Acquisition-optimizer and inner-NSGA-II settings small enough for unit tests.
FAST = {"num_restarts": 2, "raw_samples": 32, "maxiter": 20, "mc_samples": 16}
FAST_NSGA2 = {"pop_size": 16, "n_gen": 8}


@pytest.fixture(autouse=True)
def one_thread():
    # On a shared 2-core machine torch's thread pool makes small tensor ops ~40x slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def branin_currin() -> FunctionProblem:
    function = BraninCurrin(negate=True)
    return FunctionProblem(
        function, function.bounds, 2, function.ref_point, max_hv=function.max_hv, name="bc"
    )


@pytest.fixture
def observations(branin_currin):
    """``X`` (12 x 2, problem bounds) and ``Y`` (12 x 2) on BraninCurrin."""
    generator = torch.Generator().manual_seed(0)
    U = torch.rand(12, 2, dtype=DTYPE, generator=generator)
    X = branin_currin.from_unit(U)
    return X, branin_currin.evaluate(X)
