"""Ax as a mobo algorithm: each ask rebuilds an Ax experiment and lets Ax propose [Ax2024]_.

mobo algorithms hold no state, so every :meth:`propose` makes a fresh Ax ``Client``
(:func:`mobo.ax_client.new_client`: the problem's parameters, objectives in their natural
sense, the reference point as objective thresholds), attaches every observation as a
completed trial and every pending point as a running one, and asks Ax's generation
strategy for ``q`` trials. The initial design is mobo's Sobol design (as for every model-
based algorithm here), so Ax's own initialization is satisfied by the attached trials and
Ax proposes with its modular BoTorch model (a GP per objective and qLogNEHVI by default)
from the first call on. Seeded from the study, so the same history gives the same points.
Black-box constraints become Ax outcome constraints ``c <= 0``, which Ax models; a problem's
fidelity input is left out of Ax's experiment and proposals stay at the target.
Measured on BoTorch's constrained problems (``benchmarks/results/mobo_constrained_ax.md``,
5 seeds, 10 + 40 evaluations): feasible hypervolume 596.7 / 0.3787 / 11.00 against this
library's constrained qLogNEHVI's 603.7 / 0.3761 / 11.08 on the same machine type
(``benchmarks/results/mobo_constrained.md``), at 1.6-2.6x its CPU per ask (2.47 / 3.51 /
5.55 s against 1.19 / 1.37 / 3.58).
Needs ``pip install ax-platform`` (the ``ax`` extra).

.. [Ax2024] M. Olson, E. Santorella, L. C. Tiao, S. Cakmak, D. Eriksson, M. Garrard,
   S. Daulton, M. Balandat, E. Bakshy, E. Kashtelyan, et al. Ax: A Platform for Adaptive
   Experimentation. AutoML Conference 2025 (ABCD track).
"""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
from torch import Tensor

from mobo.algorithms.base import Algorithm, check_failures
from mobo.algorithms.registry import register
from mobo.expected_warnings import quiet_torch_extension_log
from mobo.problem import DTYPE, Problem


@register
class AxAlgorithm(Algorithm):
    """Ax's ``Client`` (``get_next_trials``) on the observations of each ask.

    Args:
        problem: The problem to optimize.
        n_initial: Size of mobo's initial Sobol design (default ``2 * (d + 1)``).
        method: Ax's generation-strategy method, ``"fast"`` or ``"quality"``.
        failures: How failed evaluations reach Ax's model, as for this library's GP-based
            algorithms (:class:`~mobo.algorithms.bayesian.BayesianAlgorithm`): ``"auto"``
            (default) attaches failures that came in a row at the worst outcome observed
            and the isolated ones as running trials (Ax models with qLogNEHVI, which
            measured better so); ``"ignore"``: Ax's own way, which never sees them (with
            an objective failing on half the box, all 10 of its model-based proposals
            failed, against 1 of 10 for qLogNEHVI); ``"learn"``.
    """

    name: ClassVar[str] = "ax"
    min_objectives: ClassVar[int] = 2  # mobo sets up Ax's multi-objective experiment
    # Ax models every parameter of its experiment; a fidelity input constant at the target
    # made its acquisition wander along it (BraninCurrin with a fidelity input, 30
    # evaluations, seeds 0 / 1: 44.2 / 46.5 against 56.6 / 56.7 without it).
    hide_target_fidelity: ClassVar[bool] = True
    supports_constraints: ClassVar[bool] = True  # as Ax's outcome constraints
    failures_pending: ClassVar[bool] = True  # see ``failures``
    model_based: ClassVar[bool] = True

    def __init__(
        self,
        problem: Problem,
        *,
        n_initial: int | None = None,
        method: Literal["fast", "quality"] = "fast",
        failures: str = "auto",
    ) -> None:
        super().__init__(problem, n_initial=n_initial)
        if method not in ("fast", "quality"):
            raise ValueError(f"method must be 'fast' or 'quality', got {method!r}")
        self.method, self.failures = method, check_failures(failures)
        from mobo.ax_client import check_ranges, require_ax

        require_ax("the 'ax' algorithm")
        check_ranges(problem, self.search_dim)

    def propose(
        self, q: int, U: Tensor, Y: Tensor, *, seed: int, U_pending: Tensor | None
    ) -> Tensor:
        from mobo.ax_client import (
            attach_evaluation,
            new_client,
            parameter_names,
            parameters_of,
            quiet_ax,
        )

        problem, d = self.problem, self.search_dim
        client = new_client(problem, seed=seed, num_inputs=d)
        with quiet_ax():
            # The attached observations are the initialization: Ax goes straight to its model.
            client.configure_generation_strategy(
                method=self.method,
                initialization_budget=1,
                initialization_random_seed=seed,
                initialize_with_center=False,
                use_existing_trials_for_initialization=True,
                min_observed_initialization_trials=1,
            )
        for x, y in zip(self._natural(U), Y, strict=True):
            attach_evaluation(client, problem, x, y)
        if U_pending is not None:
            with quiet_ax():
                for x in self._natural(U_pending):
                    client.attach_trial(parameters=parameters_of(problem, x))  # RUNNING
        proposals: dict[int, dict] = {}
        with quiet_ax(), quiet_torch_extension_log():  # Ax's qLogNEHVI, as ours
            for _ in range(q):  # Ax may give fewer than asked; each call sees the last's
                if len(proposals) == q:
                    break
                proposals.update(client.get_next_trials(max_trials=q - len(proposals)))
        if len(proposals) < q:
            raise RuntimeError(f"Ax proposed {len(proposals)} of {q} points")
        names = parameter_names(problem)[:d]
        X = torch.tensor(
            [[float(proposals[t][n]) for n in names] for t in sorted(proposals)], dtype=DTYPE
        )
        return self._unit(X)

    def _natural(self, U: Tensor) -> Tensor:
        """Unit-cube points of the search space (:attr:`search_dim` inputs) in the
        problem's units."""
        if not self.hides_fidelity:
            return self.problem.from_unit(U)
        at_target = torch.cat([U, torch.ones(U.shape[0], 1, dtype=U.dtype)], dim=-1)
        return self.problem.from_unit(at_target)[:, :-1]

    def _unit(self, X: Tensor) -> Tensor:
        """The inverse of :meth:`_natural`."""
        if not self.hides_fidelity:
            return self.problem.to_unit(X)
        target = self.problem.bounds[1, -1].expand(X.shape[0], 1)
        return self.problem.to_unit(torch.cat([X, target], dim=-1))[:, :-1]
