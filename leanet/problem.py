"""The threshold search as a :class:`mobo.Problem`.

Inputs: a threshold vector ``T`` in ``[0, 1]^(L-1)``. Objectives (both maximized, mobo's
convention): accuracy on the cached validation split, and minus the energy ratio (mean
energy per input over the full pretrained network's). Reports show the energy ratio.

Reference point (documented, and overridable): ``(acc_0 - 0.01, -(r_max + 0.01))`` where
``acc_0`` is the accuracy when every input exits at level 1 (``T = 0``, the cheapest end
of the front) and ``r_max`` the energy ratio of an input that runs every level (the most
expensive end). Every useful threshold vector dominates it, so the hypervolume measures
the whole tradeoff and nothing outside it.

Constraints are mobo black-box constraints ``c(metrics) <= 0`` (feasible), e.g. an accuracy
floor ``0.97 - accuracy``: they are evaluated with the objectives and journaled, so the
optimizer models them (``mesmoc``, ``qlognehvi``, ``nsga2``) and an infeasible vector counts
as an observation, not a failure; only feasible vectors enter the Pareto set.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from torch import Tensor

from leanet.evaluator import ThresholdEvaluator, ThresholdMetrics, reference_front
from mobo import Problem, hypervolume

#: A constraint: the metrics of ``B`` vectors -> ``B`` constraint values (``<= 0`` feasible).
Constraint = Callable[[ThresholdMetrics], Tensor]

#: Margins of the reference point below the cheapest accuracy and above the largest ratio.
REF_MARGIN = 0.01


class ThresholdProblem(Problem):
    """Choose LEANet thresholds: maximize accuracy, minimize energy.

    Args:
        evaluator: The cached :class:`~leanet.evaluator.ThresholdEvaluator`.
        ref_point: Override the documented reference point (accuracy, -energy ratio).
        reference: Compute the reference front by dense search and set ``max_hv`` to its
            hypervolume (``reference_samples`` samples per search), so studies report
            how close they come to the best reachable front.
        reference_samples: Samples per dense search for the reference front.
        constraints: Black-box constraints: callables ``metrics -> B`` float tensor of
            constraint values, feasible where ``<= 0`` (e.g. ``lambda m: 0.97 - m.accuracy``
            for an accuracy floor), as a mapping from a name to the callable or a list
            (named ``c0, c1, ...``). With constraints, ``max_hv`` is not set: the dense
            reference front is of the unconstrained problem.
    """

    def __init__(
        self,
        evaluator: ThresholdEvaluator,
        *,
        ref_point: Tensor | None = None,
        reference: bool = True,
        reference_samples: int = 50_000,
        constraints: Mapping[str, Constraint] | Sequence[Constraint] | None = None,
    ) -> None:
        if constraints is None:
            constraints = {}
        elif not isinstance(constraints, Mapping):
            constraints = {f"c{i}": c for i, c in enumerate(constraints)}
        for name, constraint in constraints.items():
            if not callable(constraint):
                raise TypeError(
                    f"constraints[{name!r}] must be a callable metrics -> constraint values, "
                    f"got {type(constraint).__name__}"
                )
        d = evaluator.num_levels - 1
        if ref_point is None:
            cheapest = evaluator.evaluate(torch.zeros(d, dtype=torch.float64))
            r_max = float(evaluator.exit_cost.max() / evaluator.full_cost)
            ref_point = torch.tensor(
                [float(cheapest.accuracy[0]) - REF_MARGIN, -(r_max + REF_MARGIN)],
                dtype=torch.float64,
            )
        self.evaluator = evaluator
        self.constraints = dict(constraints)
        self.reference: ThresholdMetrics | None = None
        self.reference_check: dict[str, float] | None = None
        max_hv = None
        if reference:
            self.reference, self.reference_check = reference_front(
                evaluator, n_samples=reference_samples
            )
            if not self.constraints:
                max_hv = hypervolume(self.reference.objectives(), torch.as_tensor(ref_point))
        super().__init__(
            torch.stack([torch.zeros(d), torch.ones(d)]).double(),
            2,
            ref_point,
            max_hv=max_hv,
            objective_names=["accuracy", "energy ratio"],
            senses=["max", "min"],
            name=f"LEANetThresholds(L={evaluator.num_levels})",
            num_constraints=len(self.constraints),
            constraint_names=list(self.constraints),
        )

    def _evaluate(self, X: Tensor) -> Tensor:
        metrics = self.evaluator.evaluate(X.clamp(0.0, 1.0))
        columns = [metrics.objectives()]
        for name, constraint in self.constraints.items():
            values = torch.as_tensor(constraint(metrics))
            if values.dtype == torch.bool or values.shape != (X.shape[0],):
                raise TypeError(
                    f"constraint {name!r} must return a float tensor of {X.shape[0]} "
                    f"constraint values (<= 0 feasible, e.g. 0.97 - m.accuracy), got "
                    f"{values.dtype} of shape {tuple(values.shape)}"
                )
            columns.append(values.to(torch.float64).unsqueeze(-1))
        return torch.cat(columns, dim=-1)

    def metrics(self, X: Tensor) -> ThresholdMetrics:
        """Full metrics (with the exit histogram) of threshold vectors ``X`` (``B x (L-1)``)."""
        return self.evaluator.evaluate(X)

    def deployable_front(self, X: Tensor) -> ThresholdMetrics:
        """The Pareto front of ``X`` together with every threshold at 1.0 (only the top
        level answers; for the hybrid scheme, the pretrained network alone at its own cost),
        so a device can always fall back to the network the LEANet replaces. That vector
        costs one cached evaluation, not an optimizer's; optimizers' hypervolumes are
        measured without it."""
        top_only = torch.ones(1, self.dim, dtype=torch.float64)
        X = torch.as_tensor(X, dtype=torch.float64).reshape(-1, self.dim)
        return self.metrics(torch.cat([X, top_only])).pareto()
