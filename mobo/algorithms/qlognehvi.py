"""qLogNEHVI: noisy expected hypervolume improvement in log space [Ament2023]_.

BoTorch's recommended multi-objective acquisition function: the expected gain in
dominated hypervolume, integrated over the posterior of the noisy incumbent front, with
the log-space smoothing that keeps gradients alive when improvement is rare.

.. [Ament2023] S. Ament, S. Daulton, D. Eriksson, M. Balandat, E. Bakshy.
   Unexpected Improvements to Expected Improvement for Bayesian Optimization. NeurIPS 2023.
"""

from __future__ import annotations

import torch
from botorch.acquisition.multi_objective.logei import (
    qLogNoisyExpectedHypervolumeImprovement,
)
from botorch.sampling import SobolQMCNormalSampler
from torch import Tensor

from mobo.algorithms.base import register
from mobo.algorithms.bayesian import BayesianAlgorithm


@register
class QLogNEHVI(BayesianAlgorithm):
    """qLogNEHVI on the GP surrogate; batches are optimized sequentially-greedily."""

    name = "qlognehvi"

    def propose(
        self, q: int, U: Tensor, Y: Tensor, *, seed: int, U_pending: Tensor | None
    ) -> Tensor:
        model = self.fit_model(U, Y)
        acqf = qLogNoisyExpectedHypervolumeImprovement(
            model=model,
            ref_point=self.ref_point.tolist(),
            X_baseline=U,
            prune_baseline=True,
            sampler=SobolQMCNormalSampler(sample_shape=torch.Size([self.mc_samples]), seed=seed),
            X_pending=U_pending,
        )
        return self.maximize(acqf, q)
