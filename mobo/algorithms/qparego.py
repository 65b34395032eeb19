"""qParEGO: random augmented-Chebyshev scalarizations with noisy EI [Knowles2006]_.

Each proposed point maximizes qLogNEI of a Chebyshev scalarization of the objectives
with weights drawn uniformly from the simplex; a batch of ``q`` uses ``q`` weight vectors,
optimized one after another with the earlier points pending (BoTorch's qParEGO recipe,
[Daulton2020]_).

.. [Knowles2006] J. Knowles. ParEGO: a hybrid algorithm with on-line landscape
   approximation for expensive multiobjective optimization problems. IEEE TEVC 10(1), 2006.
.. [Daulton2020] S. Daulton, M. Balandat, E. Bakshy. Differentiable Expected Hypervolume
   Improvement for Parallel Multi-Objective Bayesian Optimization. NeurIPS 2020.
"""

from __future__ import annotations

import torch
from botorch.acquisition.logei import qLogNoisyExpectedImprovement
from botorch.acquisition.objective import GenericMCObjective
from botorch.optim.optimize import optimize_acqf_list
from botorch.sampling import SobolQMCNormalSampler
from botorch.utils.multi_objective.scalarization import get_chebyshev_scalarization
from botorch.utils.sampling import sample_simplex
from torch import Tensor

from mobo.algorithms.base import register
from mobo.algorithms.bayesian import BayesianAlgorithm
from mobo.problem import DTYPE


@register
class QParEGO(BayesianAlgorithm):
    """qParEGO on the GP surrogate."""

    name = "qparego"

    def propose(
        self, q: int, U: Tensor, Y: Tensor, *, seed: int, U_pending: Tensor | None
    ) -> Tensor:
        model = self.fit_model(U, Y)
        with torch.no_grad():
            posterior_mean = model.posterior(U).mean
        acqfs = []
        for i in range(q):
            weights = sample_simplex(Y.shape[1], dtype=DTYPE, seed=seed + i).squeeze(0)
            objective = GenericMCObjective(get_chebyshev_scalarization(weights, posterior_mean))
            acqfs.append(
                qLogNoisyExpectedImprovement(
                    model=model,
                    X_baseline=U,
                    objective=objective,
                    prune_baseline=True,
                    sampler=SobolQMCNormalSampler(
                        sample_shape=torch.Size([self.mc_samples]), seed=seed + i
                    ),
                    X_pending=U_pending,
                )
            )
        if q == 1:
            return self.maximize(acqfs[0], 1)
        candidates, _ = optimize_acqf_list(
            acq_function_list=acqfs,
            bounds=self.unit_bounds,
            num_restarts=self.num_restarts,
            raw_samples=self.raw_samples,
            options={"maxiter": self.maxiter, "batch_limit": 16},
        )
        return candidates.detach()
