"""What a study returns: every observation, the Pareto set, and the traces to judge it by.

Under black-box constraints the Pareto set, the front and the hypervolume are those of the
feasible evaluations only; infeasible ones are kept (with their constraint values) and
reported apart. For a problem with fidelities they count only the evaluations made at the
target fidelity, and every evaluation's cost is kept.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

from mobo.metrics import (
    feasible_mask,
    feasible_objectives,
    hypervolume_difference,
    hypervolume_trace,
    log_hypervolume_difference,
    pareto_mask,
)
from mobo.problem import Problem, as_tensor


@dataclass(frozen=True)
class Evaluation:
    """One told evaluation, as written to the journal.

    Attributes:
        index: Position in the study (0-based, in the order told).
        x: The point, in the problem's bounds (length ``d``).
        y: Objective values (length ``m``, maximized), or None if it failed.
        error: Why it failed, or None.
        c: Constraint values (length ``k``, feasible where ``<= 0``) of a constrained
            problem, or None (unconstrained, or failed).
        cost: What the evaluation cost at its fidelity, for a problem with fidelities
            (failed ones included), or None.
        step: Index of the ask that proposed it (one ask proposes a batch).
        ask_seconds: Wall time of that ask (the optimizer's work for the batch).
        eval_seconds: Wall time of evaluating the batch it belonged to.
        ask_cpu_seconds: CPU time of that ask (``time.process_time``: every thread of the
            process, so on a thread pool also evaluations running meanwhile); None in
            journals from before it was recorded. On a shared machine wall time also
            counts other processes' turns (2.3-2.7x the CPU time of the same asks at a
            load average of 4.8 on 2 cores).
        ask_warnings: Expected library warnings that ask handled, by kind (see
            :mod:`mobo.expected_warnings`); the same for every point of the batch.
        extra: Told alongside an asked evaluation (``Study.tell(..., extra=True)``), so
            not counted in the initial design.
    """

    index: int
    x: list[float]
    y: list[float] | None
    error: str | None = None
    step: int = 0
    ask_seconds: float = 0.0
    eval_seconds: float = 0.0
    ask_warnings: dict[str, int] = field(default_factory=dict)
    c: list[float] | None = None
    cost: float | None = None
    extra: bool = False
    ask_cpu_seconds: float | None = None

    @property
    def failed(self) -> bool:
        return self.y is None

    @property
    def feasible(self) -> bool:
        """Evaluated, and every constraint (if any) satisfied."""
        return not self.failed and all(v <= 0 for v in (self.c or []))

    def to_record(self) -> dict:
        record = {"type": "eval", **self.__dict__}
        for optional in ("c", "cost", "extra", "ask_cpu_seconds"):  # absent unless used
            if record[optional] is None or record[optional] is False:  # a cost of 0.0 stays
                del record[optional]
        return record

    @classmethod
    def from_record(cls, record: dict) -> Evaluation:
        # Fields a later version added are ignored: an older reader still resumes.
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in record.items() if k in known})


@dataclass(frozen=True)
class Result:
    """The outcome of a study.

    Attributes:
        problem: The problem optimized.
        algorithm: Name of the algorithm.
        seed: The study's seed.
        X: An ``n x d`` tensor of every evaluated point, failed ones included.
        Y: An ``n x m`` tensor of objective values (maximized); NaN rows failed.
        failed: An ``n`` boolean tensor marking failed evaluations.
        hypervolume: An ``n`` tensor: hypervolume from ``problem.ref_point`` of the
            feasible evaluations after each evaluation, as observed: of a noisy problem's
            noisy values (:attr:`true_hypervolume` is of its noiseless ones).
        seconds_per_iteration: A tensor with the optimizer's wall time (seconds) of each
            ask, i.e. per iteration; evaluation time is in ``eval_seconds``.
        cpu_seconds_per_iteration: The same asks' CPU time (seconds; NaN where a journal
            from before it did not record it): what to compare speeds by on a shared
            machine, where wall time counts other processes too.
        eval_seconds: A tensor with the wall time of evaluating each batch.
        warnings: Expected library warnings handled over the study, by kind (jitter
            added to a covariance, abnormal L-BFGS-B line searches, ...).
        C: An ``n x k`` tensor of constraint values (``k = problem.num_constraints``,
            feasible where ``<= 0``); NaN rows failed.
        costs: An ``n`` tensor of the costs the study recorded (NaN: none recorded, no
            fidelities); :attr:`cost` reads them.

    Under fidelities, ``hypervolume`` and the Pareto set count only the evaluations at the
    target fidelity (:attr:`counted`); :attr:`cost` holds what each evaluation cost.
    """

    problem: Problem
    algorithm: str
    seed: int
    X: Tensor
    Y: Tensor
    failed: Tensor
    hypervolume: Tensor
    seconds_per_iteration: Tensor
    eval_seconds: Tensor
    warnings: dict[str, int] = field(default_factory=dict)
    C: Tensor | None = None
    costs: Tensor | None = None
    cpu_seconds_per_iteration: Tensor | None = None

    def __post_init__(self) -> None:
        if self.C is None:  # built without constraint values: an unconstrained result
            empty = torch.zeros(self.X.shape[0], 0, dtype=torch.float64)
            object.__setattr__(self, "C", empty)

    @classmethod
    def from_evaluations(
        cls, problem: Problem, algorithm: str, seed: int, evaluations: list[Evaluation]
    ) -> Result:
        d, m, k = problem.dim, problem.num_objectives, problem.num_constraints
        X = torch.tensor([e.x for e in evaluations], dtype=torch.float64).reshape(-1, d)
        Y = torch.tensor(
            [e.y if e.y is not None else [math.nan] * m for e in evaluations],
            dtype=torch.float64,
        ).reshape(-1, m)
        C = torch.tensor(
            [e.c if e.c is not None and not e.failed else [math.nan] * k for e in evaluations],
            dtype=torch.float64,
        ).reshape(len(evaluations), k)
        steps: dict[int, tuple[float, float, float]] = {}
        handled: dict[str, int] = {}
        for e in evaluations:
            if e.step not in steps:  # counted once per ask
                for kind, count in e.ask_warnings.items():
                    handled[kind] = handled.get(kind, 0) + count
            # Evaluated concurrently, a batch's points finish at different times: the batch
            # took as long as its slowest (equal to each of them when evaluated together).
            cpu = math.nan if e.ask_cpu_seconds is None else e.ask_cpu_seconds
            ask_seconds, ask_cpu, eval_seconds = steps.get(e.step, (e.ask_seconds, cpu, 0.0))
            steps[e.step] = (ask_seconds, ask_cpu, max(eval_seconds, e.eval_seconds))
        return cls(
            problem=problem,
            algorithm=algorithm,
            seed=seed,
            X=X,
            Y=Y,
            failed=torch.tensor([e.failed for e in evaluations], dtype=torch.bool),
            hypervolume=hypervolume_trace(counted_objectives(problem, X, Y, C), problem.ref_point),
            seconds_per_iteration=torch.tensor([s[0] for s in steps.values()], dtype=torch.float64),
            cpu_seconds_per_iteration=torch.tensor(
                [s[1] for s in steps.values()], dtype=torch.float64
            ),
            eval_seconds=torch.tensor([s[2] for s in steps.values()], dtype=torch.float64),
            warnings=handled,
            C=C,
            costs=torch.tensor(
                [e.cost if e.cost is not None else math.nan for e in evaluations],
                dtype=torch.float64,
            ),
        )

    @property
    def n_evaluations(self) -> int:
        return self.X.shape[0]

    @property
    def feasible(self) -> Tensor:
        """An ``n`` boolean mask of the evaluations that succeeded and satisfy every
        constraint (all successful ones for an unconstrained problem)."""
        return ~self.failed & feasible_mask(self.C)

    @property
    def counted(self) -> Tensor:
        """An ``n`` boolean mask of the evaluations the Pareto set and the hypervolume
        count: feasible, and at the target fidelity if the problem has fidelities."""
        return self.feasible & self.problem.at_target(self.X)

    @property
    def cost(self) -> Tensor:
        """An ``n`` tensor: what each evaluation cost (1 each without fidelities): as
        recorded when asked (:meth:`mobo.Problem.current_cost`), else at its fidelity."""
        at_fidelity = self.problem.cost(self.X)
        if self.costs is None:
            return at_fidelity
        return torch.where(self.costs.isnan(), at_fidelity, self.costs)

    @property
    def cumulative_cost(self) -> Tensor:
        """An ``n`` tensor: the total cost spent after each evaluation."""
        return self.cost.cumsum(dim=0)

    @property
    def pareto_mask(self) -> Tensor:
        """An ``n`` boolean mask of the Pareto-optimal feasible (target-fidelity)
        evaluations."""
        return pareto_mask(counted_objectives(self.problem, self.X, self.Y, self.C))

    @property
    def pareto_X(self) -> Tensor:
        """A ``p x d`` tensor: the Pareto set."""
        return self.X[self.pareto_mask]

    @property
    def pareto_Y(self) -> Tensor:
        """A ``p x m`` tensor: the Pareto front (maximized objectives)."""
        return self.Y[self.pareto_mask]

    @functools.cached_property  # evaluates the problem: once (a frozen dataclass allows it)
    def true_hypervolume(self) -> Tensor:
        """An ``n`` tensor: :attr:`hypervolume` of the same points' noiseless values
        (:meth:`mobo.Problem.evaluate_true`) for a problem that knows them, as a noisy test
        problem; else :attr:`hypervolume` itself. The observed front keeps the draws that
        came out high, so its hypervolume is biased up and can pass ``max_hv``: ZDT1's
        front, 20 points observed with noise 0.1, 121.39 against max_hv 120.67."""
        outcomes = self.problem.evaluate_true(self.X) if self.n_evaluations else None
        if outcomes is None:
            return self.hypervolume
        Y, C = self.problem.split_outcomes(as_tensor(outcomes, "evaluate_true output"))
        Y = torch.where(self.failed.unsqueeze(-1), math.nan, Y)  # no observation, no credit
        counted = counted_objectives(self.problem, self.X, Y, C)
        return hypervolume_trace(counted, self.problem.ref_point)

    @property
    def hv_difference(self) -> Tensor:
        """``max_hv - true_hypervolume`` after each evaluation (needs ``problem.max_hv``):
        the regret, of the noiseless values where the problem knows them."""
        return hypervolume_difference(self.true_hypervolume, self._max_hv())

    @property
    def log_hv_difference(self) -> Tensor:
        """``log10(max_hv - true_hypervolume)`` after each evaluation (needs
        ``problem.max_hv``)."""
        return log_hypervolume_difference(self.true_hypervolume, self._max_hv())

    def _max_hv(self) -> float:
        if self.problem.max_hv is None:
            raise ValueError(f"problem {self.problem.name!r} has no max_hv; set Problem.max_hv")
        return self.problem.max_hv

    def pareto_table(self) -> str:
        """The Pareto set as a text table, objectives in their natural sign, sorted by f0
        (with each constraint's value, ``<= 0`` feasible, for a constrained problem)."""
        problem = self.problem
        names = [f"x{i}" for i in range(problem.dim)]
        names += problem.objective_names + problem.constraint_names
        mask = self.pareto_mask
        X, Y, C = self.X[mask], problem.natural(self.Y[mask]), self.C[mask]
        order = torch.argsort(Y[:, 0])
        rows = [[f"{v:.4g}" for v in torch.cat([X[i], Y[i], C[i]]).tolist()] for i in order]
        widths = [
            max(len(n), *(len(r[k]) for r in rows)) if rows else len(n) for k, n in enumerate(names)
        ]
        line = "  ".join(n.rjust(w) for n, w in zip(names, widths, strict=True))
        body = ["  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
        if not rows:  # a header alone read as a table cut off: say why it is empty
            body = [f"(no Pareto set: {self._why_empty()})"]
        return "\n".join([line, *body])

    def _why_empty(self) -> str:
        """Why no evaluation counts towards the Pareto set (:attr:`counted` is all False)."""
        n = self.n_evaluations
        if not n:
            return "no evaluation yet"
        if bool(self.failed.all()):
            return f"all {n} evaluations failed"
        succeeded = ~self.failed
        if self.problem.has_fidelities and not bool(
            self.problem.at_target(self.X)[succeeded].any()
        ):
            return "no successful evaluation at the target fidelity"
        return (
            f"none of the {int(succeeded.sum())} successful evaluations satisfies every "
            "constraint" + (" at the target fidelity" if self.problem.has_fidelities else "")
        )

    def summary(self) -> str:
        """One line: algorithm, evaluations, failures (and infeasible ones, those at the
        target fidelity apart from cheaper ones), final (feasible) hypervolume (and the
        noiseless one, which the share of ``max_hv`` is of), time per iteration."""
        hv = float(self.hypervolume[-1]) if self.n_evaluations else 0.0
        true_hv = float(self.true_hypervolume[-1]) if self.n_evaluations else 0.0
        outcome = f"{int(self.failed.sum())} failed"
        if self.problem.num_constraints:
            infeasible = ~self.failed & ~self.feasible
            if self.problem.has_fidelities:  # a cheap evaluation can misjudge feasibility
                at_target = self.problem.at_target(self.X)
                outcome += (
                    f", {int((infeasible & at_target).sum())} infeasible at the target "
                    f"fidelity and {int((infeasible & ~at_target).sum())} at cheaper ones"
                )
            else:
                outcome += f", {int(infeasible.sum())} infeasible"
        text = (
            f"{self.algorithm} on {self.problem.name}: {self.n_evaluations} evaluations "
            f"({outcome}), {'feasible ' if self.problem.num_constraints else ''}"
            f"hypervolume {hv:.6g}"
        )
        if self.true_hypervolume is not self.hypervolume:
            text += f", noiseless hypervolume {true_hv:.6g}"
        if self.problem.max_hv is not None:
            text += f" ({true_hv / self.problem.max_hv:.2%} of max {self.problem.max_hv:.6g})"
        if self.problem.has_fidelities:
            at_target = int(self.problem.at_target(self.X).sum())
            text += f", {at_target} at the target fidelity, total cost {float(self.cost.sum()):.4g}"
        if self.seconds_per_iteration.numel():
            text += f", {float(self.seconds_per_iteration.mean()):.3f} wall s/iteration"
            cpu = self.cpu_seconds_per_iteration
            if cpu is not None and not cpu.isnan().any():
                text += f" ({float(cpu.mean()):.3f} CPU s)"
        if self.warnings:
            counts = ", ".join(f"{kind} {n}" for kind, n in sorted(self.warnings.items()))
            text += f"; library warnings handled: {counts}"
        return text


def counted_objectives(problem: Problem, X: Tensor, Y: Tensor, C: Tensor) -> Tensor:
    """``Y`` with the rows that do not count (infeasible, or below the target fidelity) NaN."""
    Y = feasible_objectives(Y, C)
    return torch.where(problem.at_target(X).unsqueeze(-1), Y, torch.full_like(Y, math.nan))
