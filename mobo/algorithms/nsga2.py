"""NSGA-II [Deb2002]_ with pymoo's operators, as an ask/tell algorithm over the archive.

Each call ranks every evaluated point with pymoo's rank-and-crowding survival, keeps the
best ``pop_size`` as parents, and breeds ``q`` offspring with pymoo's NSGA-II mating
(binary tournament, SBX, polynomial mutation). Working from the archive instead of a
hidden population keeps the algorithm stateless, so a resumed study proposes what the
uninterrupted one would; with ``batch_size == pop_size`` this is generational NSGA-II.

Black-box constraints: feasibility first, pymoo's own constraint handling (Deb's rules):
the constraint values are the archive's ``G`` (``<= 0`` feasible, as in pymoo), so survival
ranks feasible points by rank and crowding and infeasible ones after them by total
violation, and the binary tournament prefers the smaller violation.

.. [Deb2002] K. Deb, A. Pratap, S. Agarwal, T. Meyarivan. A fast and elitist
   multiobjective genetic algorithm: NSGA-II. IEEE TEVC 6(2), 2002.
"""

from __future__ import annotations

import numpy as np
import torch
from pymoo.algorithms.moo.nsga2 import NSGA2 as PymooNSGA2
from pymoo.core.evaluator import Evaluator
from pymoo.core.population import Population
from pymoo.core.problem import Problem as PymooProblem
from pymoo.problems.static import StaticProblem
from torch import Tensor

from mobo.algorithms.base import Algorithm
from mobo.algorithms.registry import register
from mobo.problem import DTYPE, Problem


@register
class NSGA2(Algorithm):
    """NSGA-II; the initial Sobol design is the first population.

    Args:
        problem: The problem to optimize.
        pop_size: Parents kept each generation; default ``n_initial``.
        n_initial: Size of the initial Sobol design (default ``2 * (d + 1)``).
    """

    name = "nsga2"
    supports_constraints = True

    def __init__(
        self, problem: Problem, *, pop_size: int | None = None, n_initial: int | None = None
    ) -> None:
        super().__init__(problem, n_initial=n_initial)
        if pop_size is not None and (not isinstance(pop_size, int) or pop_size < 2):
            raise ValueError(f"pop_size must be an int >= 2, got {pop_size!r}")
        self.pop_size = pop_size or max(self.n_initial, 4)
        self._pymoo = PymooNSGA2(pop_size=self.pop_size)
        self._unit_problem = PymooProblem(
            n_var=problem.dim,
            n_obj=problem.num_objectives,
            n_ieq_constr=problem.num_constraints,
            xl=0.0,
            xu=1.0,
        )

    def propose(
        self, q: int, U: Tensor, Y: Tensor, *, seed: int, U_pending: Tensor | None
    ) -> Tensor:
        random_state = np.random.default_rng(seed)
        # pymoo's binary tournament breaks ties with ``algorithm.random_state``, not the
        # ``random_state`` argument; without this its ties would be unseeded.
        self._pymoo.random_state = random_state
        objectives, constraints = self.problem.split_outcomes(Y)
        archive = Population.new(X=U.numpy())
        # pymoo minimizes; the evaluator also sets each point's violation (CV) and feasibility
        values = {"F": -objectives.numpy()}
        if self.problem.num_constraints:
            values["G"] = constraints.numpy()
        Evaluator().eval(StaticProblem(self._unit_problem, **values), archive)
        parents = self._pymoo.survival.do(
            self._unit_problem,
            archive,
            n_survive=min(self.pop_size, len(archive)),
            random_state=random_state,
        )
        offspring = self._pymoo.mating.do(
            self._unit_problem, parents, q, algorithm=self._pymoo, random_state=random_state
        )
        X = offspring.get("X")
        if len(X) < q:  # mating gave up on producing enough distinct children
            extra = torch.rand(q - len(X), self.problem.dim, dtype=DTYPE).numpy()
            X = np.concatenate([X, extra]) if len(X) else extra
        return torch.as_tensor(X[:q], dtype=DTYPE)
