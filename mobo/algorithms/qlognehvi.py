"""qLogNEHVI: noisy expected hypervolume improvement in log space [Ament2023]_.

BoTorch's recommended multi-objective acquisition function: the expected gain in
dominated hypervolume, integrated over the posterior of the noisy incumbent front, with
the log-space smoothing that keeps gradients alive when improvement is rare.

Black-box constraints (the baseline for MESMOC): BoTorch's own machinery. The surrogate
models the ``k`` constraints next to the ``m`` objectives; the acquisition's objective keeps
the ``m`` objective outputs and its ``constraints`` are the constraint outputs
(``c(x) <= 0`` feasible, BoTorch's convention too), so each posterior sample's hypervolume
improvement counts only where that sample is feasible (a sigmoid of ``-c / eta`` weights
it) and the incumbent front is that of the feasible baseline points [Daulton2020]_.

.. [Ament2023] S. Ament, S. Daulton, D. Eriksson, M. Balandat, E. Bakshy.
   Unexpected Improvements to Expected Improvement for Bayesian Optimization. NeurIPS 2023.
.. [Daulton2020] S. Daulton, M. Balandat, E. Bakshy. Differentiable Expected Hypervolume
   Improvement for Parallel Multi-Objective Bayesian Optimization. NeurIPS 2020.
"""

from __future__ import annotations

import torch
from botorch.acquisition.multi_objective.logei import (
    qLogNoisyExpectedHypervolumeImprovement,
)
from botorch.sampling import SobolQMCNormalSampler
from torch import Tensor

from mobo.algorithms.bayesian import BayesianAlgorithm, constrained_mc_options
from mobo.algorithms.registry import register
from mobo.expected_warnings import quiet_torch_extension_log


@register
class QLogNEHVI(BayesianAlgorithm):
    """qLogNEHVI on the GP surrogate; batches are optimized sequentially-greedily."""

    name = "qlognehvi"
    min_objectives = 2
    supports_constraints = True
    failures_pending = True  # see Algorithm.failures_pending

    def propose(
        self, q: int, U: Tensor, Y: Tensor, *, seed: int, U_pending: Tensor | None
    ) -> Tensor:
        model = self.fit_model(U, Y)
        acqf = log_nehvi(
            model,
            self.ref_point,
            U,
            num_constraints=self.problem.num_constraints,
            mc_samples=self.mc_samples,
            seed=seed,
            X_pending=U_pending,
        )
        return self.maximize(acqf, q)


def log_nehvi(
    model,
    ref_point: Tensor,
    U: Tensor,
    *,
    num_constraints: int,
    mc_samples: int,
    seed: int,
    X_pending: Tensor | None = None,
) -> qLogNoisyExpectedHypervolumeImprovement:
    """BoTorch's qLogNEHVI over the evaluated inputs ``U`` (pruned to those that may be on
    the front) with a seeded Sobol sampler; the model's outputs are the objectives, then
    ``num_constraints`` constraints (:func:`constrained_mc_options`). USeMO's noisy scores
    use it too."""
    constrained = constrained_mc_options(len(ref_point), num_constraints)
    with quiet_torch_extension_log():
        return qLogNoisyExpectedHypervolumeImprovement(
            model=model,
            ref_point=ref_point.tolist(),
            X_baseline=U,
            prune_baseline=True,
            sampler=SobolQMCNormalSampler(sample_shape=torch.Size([mc_samples]), seed=seed),
            X_pending=X_pending,
            **constrained,
        )
