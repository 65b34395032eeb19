"""qParEGO: random augmented-Chebyshev scalarizations with noisy EI [Knowles2006]_.

Each proposed point maximizes qLogNEI of a Chebyshev scalarization of the objectives
with weights drawn uniformly from the simplex; a batch of ``q`` uses ``q`` weight vectors,
optimized one after another with the earlier points pending (BoTorch's qParEGO recipe,
[Daulton2020]_).

Scaling (``scale_to_reference``, a departure from the recipe, on by default). The recipe
normalizes each objective to [0, 1] over the range of the posterior mean at the
observations, worst to best. Outcomes far outside the reference box stretch that range
(on DTLZ2 the faces of the cube give objectives down to twice the reference point's), so a
weight vector then trades off mostly a region the hypervolume never counts. Here the
worst end is the reference point instead (observations below it clamped to it), so [0, 1]
is the part of each objective that counts. Measured with ``benchmarks/mobo_algorithms.py
--algorithms qparego --problems DTLZ2 BraninCurrin --seeds 3 --evals 50`` (final log10
hypervolume difference, seeds 0 / 1 / 2, lower is better): DTLZ2 -0.379 / -0.413 / -0.385
-> -0.556 / -0.728 / -0.385, BraninCurrin 0.546 / 0.531 / 0.855 -> 0.310 / 0.408 / 0.833;
on the whole suite, 5 seeds (``benchmarks/results/mobo_algorithms_50.md``), BraninCurrin /
ZDT1 / DTLZ2 / VehicleSafety go from 0.546 / 0.840 / -0.413 / 1.344 to 0.445 / -1.422 /
-0.556 / 1.128, ahead of Sobol on all four (1.613 / 1.194 / -0.504 / 1.918); with the cold
GP fit, the default since 2026-12-04, 0.435 / -1.304 / -0.711 / 1.135
(``benchmarks/results/surrogate_warm_start.md``). BraninCurrin's figures here are from its
earlier ``max_hv`` (59.3601); from today's (59.40501) the cold fit's reads 0.442 and
Sobol's 1.614, and re-run after the repeat rule (ae92b66) ZDT1 -1.288 and VehicleSafety
1.049 (``mobo_algorithms_50.md``).

.. [Knowles2006] J. Knowles. ParEGO: a hybrid algorithm with on-line landscape
   approximation for expensive multiobjective optimization problems. IEEE TEVC 10(1), 2006.
.. [Daulton2020] S. Daulton, M. Balandat, E. Bakshy. Differentiable Expected Hypervolume
   Improvement for Parallel Multi-Objective Bayesian Optimization. NeurIPS 2020.
"""

from __future__ import annotations

from typing import Any

import torch
from botorch.acquisition.logei import qLogNoisyExpectedImprovement
from botorch.acquisition.objective import GenericMCObjective
from botorch.optim.optimize import optimize_acqf_list
from botorch.sampling import SobolQMCNormalSampler
from botorch.utils.multi_objective.scalarization import get_chebyshev_scalarization
from botorch.utils.sampling import sample_simplex
from torch import Tensor

from mobo.algorithms.bayesian import BayesianAlgorithm
from mobo.algorithms.registry import register
from mobo.problem import DTYPE, Problem


@register
class QParEGO(BayesianAlgorithm):
    """qParEGO on the GP surrogate.

    Args:
        problem: The problem to optimize.
        scale_to_reference: Normalize each objective between the reference point and the
            best posterior mean (default), not over the whole observed range (the recipe);
            see the module docstring.
        **options: :class:`BayesianAlgorithm` options (``n_initial``, ``num_restarts``, ...).
    """

    name = "qparego"

    def __init__(self, problem: Problem, *, scale_to_reference: bool = True, **options: Any):
        super().__init__(problem, **options)
        self.scale_to_reference = scale_to_reference

    def scaling_outcomes(self, posterior_mean: Tensor) -> Tensor:
        """The outcomes whose per-objective range the Chebyshev scalarization normalizes to
        [0, 1]: the posterior means, clamped below at the reference point with the reference
        point added when ``scale_to_reference``."""
        if not self.scale_to_reference:
            return posterior_mean
        ref = self.ref_point.to(posterior_mean)
        return torch.cat([torch.maximum(posterior_mean, ref), ref.unsqueeze(0)])

    def propose(
        self, q: int, U: Tensor, Y: Tensor, *, seed: int, U_pending: Tensor | None
    ) -> Tensor:
        model = self.fit_model(U, Y)
        with torch.no_grad():
            posterior_mean = model.posterior(U).mean
        acqfs = []
        for i in range(q):
            weights = sample_simplex(Y.shape[1], dtype=DTYPE, seed=seed + i).squeeze(0)
            scalarization = get_chebyshev_scalarization(
                weights, self.scaling_outcomes(posterior_mean)
            )
            objective = GenericMCObjective(scalarization)
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
