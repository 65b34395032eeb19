"""The points a study asked and has not told yet, each with the step of the ask that
proposed it (and, under fidelities, what evaluating it cost when asked): pending ones
(being evaluated), and ones to ask again first (those an interrupted run never told, in
this process or, from the journal, a crashed one).

Kept apart from :mod:`mobo.study` because this bookkeeping alone makes an interrupted
study continue as an uninterrupted one: the initial design and Sobol pick points by count
(told plus pending), so a point dropped at an interrupt would shift every later choice,
repeating one point and skipping another.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mobo.problem import DTYPE

#: A told point is the asked one if every input is within this share of its range (or of
#: its value, if larger) of it: a user's pipeline may round what it was asked (float32, a
#: CSV of six digits), and an exact match left such a point pending for ever, to be
#: evaluated again after a resume.
MATCH_RTOL = 1e-6


class AskedPoints:
    """Pending and to-be-replayed points of one study (``dim`` inputs each, of ranges
    ``widths``, which say how close a told point must be to the asked one)."""

    def __init__(self, dim: int, widths: Tensor | None = None) -> None:
        self.widths = torch.ones(dim, dtype=DTYPE) if widths is None else widths.to(DTYPE)
        self.pending = torch.empty(0, dim, dtype=DTYPE)
        self._pending_steps: list[int] = []
        self._pending_costs: list[float | None] = []
        self.replay = torch.empty(0, dim, dtype=DTYPE)
        self._replay_steps: list[int] = []
        # What each replayed point cost when first asked (None: not priced then): a design
        # trained before a crash costs nothing if priced again, though it was paid for.
        self._replay_costs: list[float | None] = []
        #: The step the next new ask gets.
        self.next_step = 0
        self._rows: dict[int, dict[tuple[float, ...], int]] = {}  # step -> x -> row asked

    def new_step(self) -> int:
        step, self.next_step = self.next_step, self.next_step + 1
        return step

    def add(self, X: Tensor, step: int) -> None:
        """``X``, proposed by ask ``step``, is now pending."""
        self.remember_ask(step, X.tolist())
        self.pending = torch.cat([self.pending, X])
        self._pending_steps += [step] * X.shape[0]
        self._pending_costs += [None] * X.shape[0]

    @property
    def pending_steps(self) -> set[int]:
        """The steps of the asks with points pending."""
        return set(self._pending_steps)

    def remember_ask(self, step: int, X: list[list[float]]) -> None:
        """Ask ``step`` proposed ``X`` in this order (:meth:`row_of`)."""
        self._rows.setdefault(step, {tuple(x): i for i, x in enumerate(X)})

    def row_of(self, x: list[float], step: int) -> int:
        """The row of ``x`` in the ask ``step`` that proposed it (0 if that ask is unknown,
        e.g. a point told directly; the number of rows if ``x`` is not among them): the row
        equal to it, else the nearest within tolerance, as :meth:`step_of` matches."""
        rows = self._rows.get(step, {})
        if tuple(x) in rows:
            return rows[tuple(x)]
        close = [(self._gap(row, x), i) for row, i in rows.items() if self.same(row, x)]
        return min(close)[1] if close else len(rows)

    def take_replay(self, q: int) -> Tensor | None:
        """Up to ``q`` points to ask again, now pending under their steps (None if none)."""
        if not self.replay.shape[0]:
            return None
        X, self.replay = self.replay[:q], self.replay[q:]
        steps, self._replay_steps = self._replay_steps[:q], self._replay_steps[q:]
        costs, self._replay_costs = self._replay_costs[:q], self._replay_costs[q:]
        self.pending = torch.cat([self.pending, X])
        self._pending_steps += steps
        self._pending_costs += costs
        return X

    def price(self, X: Tensor, costs: list[float]) -> None:
        """Pending ``X`` costs ``costs`` to evaluate, as priced when asked (a design
        search's point costs less once a cheaper fidelity of it is trained, and nothing
        once it is, so its cost is not known from ``x`` alone when it is told)."""
        for x, cost in zip(X, costs, strict=True):
            i = self._index(x)
            if i is not None:
                self._pending_costs[i] = cost

    def cost_of(self, x: Tensor) -> float | None:
        """The price of pending ``x`` (None if it is not pending or was not priced)."""
        i = self._index(x)
        return self._pending_costs[i] if i is not None else None

    @property
    def pending_cost(self) -> float:
        """The total price of the pending points (being evaluated)."""
        return sum(c for c in self._pending_costs if c is not None)

    def untold(self) -> list[tuple[list[float], float | None]]:
        """Every point asked and not told, pending or to ask again, in the order asked:
        ``(x, cost)``, its price when asked or None (what :func:`mobo.ax_bridge.to_ax`
        exports as running trials)."""
        rows = [
            *zip(self._pending_steps, self.pending.tolist(), self._pending_costs, strict=True),
            *zip(self._replay_steps, self.replay.tolist(), self._replay_costs, strict=True),
        ]
        return [(x, cost) for _, x, cost in sorted(rows, key=lambda row: row[0])]

    def same(self, a, b) -> bool:
        """Whether two points (lists or tensors) are one, as a told point is its asked one
        (the journal's replay matches so)."""
        a, b = torch.as_tensor(a, dtype=DTYPE), torch.as_tensor(b, dtype=DTYPE)
        if a.shape != b.shape:
            return False
        return bool(((a - b).abs() <= self._tolerance(a)).all())

    @staticmethod
    def _gap(a, b) -> float:
        """The largest per-input distance between two points."""
        a, b = torch.as_tensor(a, dtype=DTYPE), torch.as_tensor(b, dtype=DTYPE)
        return float((a - b).abs().max())

    def _tolerance(self, x: Tensor) -> Tensor:
        """How far, per input, a told point may lie from ``x`` and still be it."""
        return MATCH_RTOL * torch.maximum(self.widths, x.abs())

    def _index(self, x: Tensor) -> int | None:
        """The pending point ``x`` is: equal to it, else the nearest within tolerance."""
        if not self.pending.shape[0]:
            return None
        match = (self.pending == x).all(dim=-1).nonzero()
        if match.numel():
            return int(match[0, 0])
        gap = (self.pending - x).abs()
        close = (gap <= self._tolerance(x)).all(dim=-1)
        if not close.any():
            return None
        return int(torch.where(close, gap.max(dim=-1).values, torch.inf).argmin())

    def step_of(self, x: Tensor) -> int:
        """The step of the ask that proposed ``x`` if it is pending, else a new step (a
        point no ask proposed, told directly, e.g. a dense-front point)."""
        i = self._index(x)
        return self._pending_steps[i] if i is not None else self.new_step()

    def steps_of(self, X: Tensor) -> list[int]:
        """:meth:`step_of` each row of ``X``, the rows no ask proposed sharing one new step
        (told together, as one batch)."""
        indices = [self._index(x) for x in X]
        new = self.new_step() if None in indices else None
        return [new if i is None else self._pending_steps[i] for i in indices]

    def remove(self, x: Tensor) -> None:
        """``x`` was told: no longer pending."""
        i = self._index(x)
        if i is not None:
            keep = torch.ones(self.pending.shape[0], dtype=torch.bool)
            keep[i] = False
            self.pending = self.pending[keep]
            del self._pending_steps[i]
            del self._pending_costs[i]

    def forget(self, X: Tensor) -> None:
        """Rows of ``X`` still pending will not be told now (an interrupted batch, points
        in flight): they are asked again first, before anything already to replay (they
        were asked before it)."""
        rows, steps, costs = [], [], []
        for x in X:
            i = self._index(x)
            if i is not None:
                rows.append(x)
                steps.append(self._pending_steps[i])
                costs.append(self._pending_costs[i])
                self.remove(x)
        if rows:
            self.replay = torch.cat([torch.stack(rows), self.replay])
            self._replay_steps = steps + self._replay_steps
            self._replay_costs = costs + self._replay_costs

    def restore(self, unanswered: list, last_step: int) -> None:
        """From a journal: ``(step, x, cost)`` of every point asked and not told (cost:
        its price when asked, or None), and the largest step journaled (an ask journaled
        without its step gets a new one)."""
        self.next_step = last_step + 1
        for step, x, cost in unanswered:
            self.replay = torch.cat([self.replay, torch.tensor([x], dtype=DTYPE)])
            self._replay_steps.append(self.new_step() if step is None else step)
            self._replay_costs.append(cost)
