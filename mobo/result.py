"""What a study returns: every observation, the Pareto set, and the traces to judge it by."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from mobo.metrics import (
    hypervolume_difference,
    hypervolume_trace,
    log_hypervolume_difference,
    pareto_mask,
)
from mobo.problem import Problem


@dataclass(frozen=True)
class Evaluation:
    """One told evaluation, as written to the journal.

    Attributes:
        index: Position in the study (0-based, in the order told).
        x: The point, in the problem's bounds (length ``d``).
        y: Objective values (length ``m``, maximized), or None if it failed.
        error: Why it failed, or None.
        step: Index of the ask that proposed it (one ask proposes a batch).
        ask_seconds: Wall time of that ask (the optimizer's work for the batch).
        eval_seconds: Wall time of evaluating the batch it belonged to.
        ask_warnings: Expected library warnings that ask handled, by kind (see
            :mod:`mobo.expected_warnings`); the same for every point of the batch.
    """

    index: int
    x: list[float]
    y: list[float] | None
    error: str | None = None
    step: int = 0
    ask_seconds: float = 0.0
    eval_seconds: float = 0.0
    ask_warnings: dict[str, int] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.y is None

    def to_record(self) -> dict:
        return {"type": "eval", **self.__dict__}

    @classmethod
    def from_record(cls, record: dict) -> Evaluation:
        fields = {k: v for k, v in record.items() if k != "type"}
        return cls(**fields)


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
        hypervolume: An ``n`` tensor: hypervolume from ``problem.ref_point`` after each
            evaluation.
        seconds_per_iteration: A tensor with the optimizer's wall time (seconds) of each
            ask, i.e. per iteration; evaluation time is in ``eval_seconds``.
        eval_seconds: A tensor with the wall time of evaluating each batch.
        warnings: Expected library warnings handled over the study, by kind (jitter
            added to a covariance, acquisition optimizations retried, ...).
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

    @classmethod
    def from_evaluations(
        cls, problem: Problem, algorithm: str, seed: int, evaluations: list[Evaluation]
    ) -> Result:
        d, m = problem.dim, problem.num_objectives
        nan = [float("nan")] * m
        X = torch.tensor([e.x for e in evaluations], dtype=torch.float64).reshape(-1, d)
        Y = torch.tensor(
            [e.y if e.y is not None else nan for e in evaluations], dtype=torch.float64
        ).reshape(-1, m)
        steps: dict[int, tuple[float, float]] = {}
        handled: dict[str, int] = {}
        for e in evaluations:
            if e.step not in steps:  # counted once per ask
                for kind, count in e.ask_warnings.items():
                    handled[kind] = handled.get(kind, 0) + count
            # Evaluated concurrently, a batch's points finish at different times: the batch
            # took as long as its slowest (equal to each of them when evaluated together).
            ask_seconds, eval_seconds = steps.get(e.step, (e.ask_seconds, 0.0))
            steps[e.step] = (ask_seconds, max(eval_seconds, e.eval_seconds))
        return cls(
            problem=problem,
            algorithm=algorithm,
            seed=seed,
            X=X,
            Y=Y,
            failed=torch.tensor([e.failed for e in evaluations], dtype=torch.bool),
            hypervolume=hypervolume_trace(Y, problem.ref_point),
            seconds_per_iteration=torch.tensor([a for a, _ in steps.values()], dtype=torch.float64),
            eval_seconds=torch.tensor([e for _, e in steps.values()], dtype=torch.float64),
            warnings=handled,
        )

    @property
    def n_evaluations(self) -> int:
        return self.X.shape[0]

    @property
    def pareto_mask(self) -> Tensor:
        """An ``n`` boolean mask of the Pareto-optimal evaluations."""
        return pareto_mask(self.Y)

    @property
    def pareto_X(self) -> Tensor:
        """A ``p x d`` tensor: the Pareto set."""
        return self.X[self.pareto_mask]

    @property
    def pareto_Y(self) -> Tensor:
        """A ``p x m`` tensor: the Pareto front (maximized objectives)."""
        return self.Y[self.pareto_mask]

    @property
    def hv_difference(self) -> Tensor:
        """``max_hv - hypervolume`` after each evaluation (needs ``problem.max_hv``)."""
        return hypervolume_difference(self.hypervolume, self._max_hv())

    @property
    def log_hv_difference(self) -> Tensor:
        """``log10(max_hv - hypervolume)`` after each evaluation (needs ``problem.max_hv``)."""
        return log_hypervolume_difference(self.hypervolume, self._max_hv())

    def _max_hv(self) -> float:
        if self.problem.max_hv is None:
            raise ValueError(f"problem {self.problem.name!r} has no max_hv; set Problem.max_hv")
        return self.problem.max_hv

    def pareto_table(self) -> str:
        """The Pareto set as a text table, objectives in their natural sign, sorted by f0."""
        names = [f"x{i}" for i in range(self.problem.dim)] + self.problem.objective_names
        X, Y = self.pareto_X, self.problem.natural(self.pareto_Y)
        order = torch.argsort(Y[:, 0])
        rows = [[f"{v:.4g}" for v in torch.cat([X[i], Y[i]]).tolist()] for i in order]
        widths = [
            max(len(n), *(len(r[k]) for r in rows)) if rows else len(n) for k, n in enumerate(names)
        ]
        line = "  ".join(n.rjust(w) for n, w in zip(names, widths, strict=True))
        body = ["  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
        return "\n".join([line, *body])

    def summary(self) -> str:
        """One line: algorithm, evaluations, failures, final hypervolume, time per iteration."""
        hv = float(self.hypervolume[-1]) if self.n_evaluations else 0.0
        text = (
            f"{self.algorithm} on {self.problem.name}: {self.n_evaluations} evaluations "
            f"({int(self.failed.sum())} failed), hypervolume {hv:.6g}"
        )
        if self.problem.max_hv is not None:
            text += f" ({hv / self.problem.max_hv:.2%} of max {self.problem.max_hv:.6g})"
        if self.seconds_per_iteration.numel():
            text += f", {float(self.seconds_per_iteration.mean()):.3f} s/iteration"
        if self.warnings:
            counts = ", ".join(f"{kind} {n}" for kind, n in sorted(self.warnings.items()))
            text += f"; library warnings handled: {counts}"
        return text
