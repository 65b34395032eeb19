"""Does the Bayesian optimizer actually beat space filling? (slow: minutes)."""

from __future__ import annotations

import pytest
import torch

import mobo


@pytest.mark.slow
def test_qlognehvi_beats_sobol_on_branin_currin_at_30_evaluations():
    problem = mobo.problems.make("BraninCurrin")
    final = {"qlognehvi": [], "sobol": []}
    for seed in range(3):
        for name in final:
            result = mobo.optimize(problem, name, n_evals=30, seed=seed, show_progress=False)
            final[name].append(float(result.hypervolume[-1]))
    bo, sobol = torch.tensor(final["qlognehvi"]), torch.tensor(final["sobol"])
    assert bo.median() > sobol.median() and (bo > sobol).sum() >= 2, final
