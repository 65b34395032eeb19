"""Cache once, evaluate many: accuracy and energy of threshold vectors as tensor work.

Each level runs once over the validation data; its confidence and correctness per input
are cached (``L x N``, :mod:`leanet.records`). A threshold vector ``T`` (length ``L-1``)
then costs ``O(N L)``:

    exit(n)  = first level i with conf[i, n] >= T_i and T_i < 1, else L
    accuracy = mean_n correct[exit(n), n]
    energy   = mean_n exit_cost[exit(n)]  (less the levels that do not run, see exit_costs)

the same rule as the adaptive runtime (:meth:`leanet.LEANet.forward`): a threshold of 1.0
means "never exit here", and such a level is not run at all when no later level reads it
(:func:`exit_costs`: the hybrid's top level and the slice scheme's levels read the input
alone); when a later level reads it (a width band, a depth level's map), it runs without
its head, and is charged so when the costs split the heads out (``head_cost``). Many
vectors are evaluated at once, in chunks that bound memory. Also here: the oracle bound
(each input exits at the first level that is right); the reference front by dense search
is :mod:`leanet.reference_front`'s.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass

import torch
from torch import Tensor

from leanet.model import counted
from leanet.records import RECORDS_BATCH, cached_level_records, level_records
from mobo.metrics import pareto_mask

#: Threshold vectors evaluated per chunk; bounds memory at about CHUNK x N x L bytes.
CHUNK = 256


def exit_levels(confidence: Tensor, thresholds: Tensor) -> Tensor:
    """0-based exit level of every input under every threshold vector.

    Args:
        confidence: An ``L x N`` tensor of per-level confidences in [0, 1].
        thresholds: A ``B x (L-1)`` tensor of threshold vectors.

    Returns:
        A ``B x N`` long tensor: the first level ``i`` whose confidence reaches ``T_i``
        (a threshold of 1.0 never exits), or ``L-1`` (the last level always answers).
    """
    num_levels = confidence.shape[0]
    level = torch.full((thresholds.shape[0], confidence.shape[1]), num_levels - 1, dtype=torch.long)
    # From the last level back, so the first level that exits is the one that remains.
    for i in reversed(range(num_levels - 1)):
        t = thresholds[:, i : i + 1]
        exits = (confidence[i] >= t.to(confidence.dtype)) & (t < 1.0)
        level.masked_fill_(exits, i)
    return level


def exit_costs(thresholds: Tensor, exit_cost: Tensor, standalone=None, head_cost=None) -> Tensor:
    """``B x L``: cost of an input that exits at level ``j`` under each threshold vector.

    ``exit_cost[j]`` is the cost with every level ``1..j`` run, heads included. A level
    ``i < j`` that cannot answer (``T_i >= 1``) is skipped when the next level that runs
    does not read it (that level is ``standalone``: it reads the input alone), and runs
    without its head (charged ``head_cost[i]`` less) when it does, as the compiled runtime
    does. So a hybrid LEANet with every threshold at 1.0 costs exactly its top level (the
    pretrained network), never more than the network it replaces.

    Args:
        thresholds: ``B x (L-1)``.
        exit_cost: ``L`` cumulative costs.
        standalone: ``L`` booleans (:attr:`leanet.levels.Levels.standalone`); None: none.
        head_cost: ``L`` costs of each level's head alone (part of ``exit_cost``); None:
            heads are not split out (a joules table), so a read level is charged in full.
    """
    L, B = exit_cost.shape[0], thresholds.shape[0]
    skips = standalone is not None and any(standalone)
    if not skips and head_cost is None:
        return exit_cost.expand(B, L).clone()
    standalone = standalone if skips else (False,) * L
    step = torch.diff(exit_cost, prepend=exit_cost.new_zeros(1))  # level i's own cost
    head = exit_cost.new_zeros(L) if head_cost is None else head_cost.to(exit_cost.dtype)
    off = thresholds >= 1.0
    out = torch.empty(B, L, dtype=exit_cost.dtype)
    for j in range(L):
        runs = torch.ones(B, dtype=torch.bool)  # level j itself runs, head included
        total = step[j].expand(B).clone()
        for i in reversed(range(j)):
            # level i runs if it may answer, or if level i+1 runs and reads it (then headless)
            runs = ~off[:, i] | (runs & (not standalone[i + 1]))
            total += (
                runs.to(exit_cost.dtype) * step[i] - (runs & off[:, i]).to(head.dtype) * head[i]
            )
        out[:, j] = total
    return out


#: How far from 1 an energy ratio may lie and still be the full network's own cost.
FULL_COST_ROUNDING = 1e-12


def energy_ratio(energy: Tensor, full_cost: float) -> Tensor:
    """``energy / full_cost``, exactly 1 where it is the full network's cost to rounding.

    :func:`exit_costs` differences cumulative costs back into each level's own, which
    leaves a few ulps: a hybrid with every threshold at 1 (its top level alone, the
    pretrained network) came out 1 - 1.1e-16 or 1 + 2.2e-16 of the full network, a sliver
    of hypervolume for a point that saves nothing (``leanet design`` printed a feasible
    hypervolume of 5.55e-18), or a hair over a budget of 1."""
    ratio = energy / full_cost
    return torch.where((ratio - 1).abs() <= FULL_COST_ROUNDING, torch.ones_like(ratio), ratio)


@dataclass(frozen=True)
class ThresholdMetrics:
    """Outcome of a batch of ``B`` threshold vectors.

    Attributes:
        thresholds: ``B x (L-1)``.
        accuracy: ``B``, fraction of inputs answered correctly.
        energy: ``B``, mean energy per input (the unit of the exit costs, e.g. joules).
        energy_ratio: ``B``, ``energy`` divided by the full network's energy per input.
        exit_fraction: ``B x L``, fraction of inputs that exit at each level.
    """

    thresholds: Tensor
    accuracy: Tensor
    energy: Tensor
    energy_ratio: Tensor
    exit_fraction: Tensor

    def __len__(self) -> int:
        return self.thresholds.shape[0]

    def select(self, index: Tensor) -> ThresholdMetrics:
        """The rows ``index`` (a mask or indices)."""
        return ThresholdMetrics(
            self.thresholds[index],
            self.accuracy[index],
            self.energy[index],
            self.energy_ratio[index],
            self.exit_fraction[index],
        )

    @staticmethod
    def concat(parts: list[ThresholdMetrics]) -> ThresholdMetrics:
        return ThresholdMetrics(
            *(
                torch.cat(tensors)
                for tensors in zip(
                    *(
                        (p.thresholds, p.accuracy, p.energy, p.energy_ratio, p.exit_fraction)
                        for p in parts
                    ),
                    strict=True,
                )
            )
        )

    def objectives(self) -> Tensor:
        """``B x 2``: (accuracy, -energy_ratio), both maximized (mobo's convention)."""
        return torch.stack([self.accuracy, -self.energy_ratio], dim=-1)

    def pareto(self) -> ThresholdMetrics:
        """The non-dominated rows, sorted by energy."""
        front = self.select(pareto_mask(self.objectives()))
        return front.select(torch.argsort(front.energy_ratio))


def accuracy_resolution(accuracy: float, n: int) -> str:
    """How finely ``n`` inputs measure an accuracy near ``accuracy``: one input's share and the
    binomial standard error, in points. Pareto points a few inputs apart are within the noise
    (``benchmarks/results/design_space.md``: choosing among many of them on 299 validation
    images picks lucky ones), so tables say it next to the figures."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    a = min(max(float(accuracy), 0.0), 1.0)
    se = 100 * math.sqrt(a * (1 - a) / n)
    return (
        f"{n} inputs: one input is {100 / n:.2f} points of accuracy; the standard error "
        f"of an accuracy near {a:.3f} is {se:.2f} points"
    )


def format_threshold(t: float) -> str:
    """A threshold for a table: ``off`` at 1.0 (the level never answers), else with the
    decimals that show ``1 - t`` to two significant digits, since confidences pile up just
    below 1 (0.9996 and 0.99999 differ where it matters; three decimals printed both 1.000)."""
    if t >= 1.0:
        return "off"
    decimals = 3 if t <= 0.99 else min(16, math.ceil(-math.log10(1.0 - t) - 1e-9) + 1)
    return f"{t:.{decimals}f}"


class ThresholdEvaluator:
    """Evaluates threshold vectors on cached per-level confidence and correctness.

    Args:
        confidence: An ``L x N`` tensor of each level's confidence on each input, in
            ``[0, 1]`` (a :mod:`leanet.confidence` measure; logits or percentages are
            refused: every threshold would read them wrongly).
        correct: An ``L x N`` boolean tensor: is level ``i``'s prediction right.
        exit_cost: An ``L`` tensor: energy per input that exits at level ``i``, all the
            work executed for it included (levels ``1..i`` and their heads).
        full_cost: Energy per input of the full pretrained network (the ratio's base):
            positive and finite, as every ``exit_cost`` is finite and non-negative.
        standalone: ``L`` booleans, levels that read the input alone (skipped when they
            cannot answer, see :func:`exit_costs`); default none.
        head_cost: ``L``: the part of each level's cost that is its head, not charged when
            the level cannot answer and runs only because a later level reads it
            (:func:`exit_costs`); default None: heads not split out, every level that runs
            is charged in full (a joules table; latencies).
    """

    def __init__(
        self,
        confidence: Tensor,
        correct: Tensor,
        exit_cost: Tensor,
        full_cost: float,
        standalone=None,
        head_cost=None,
    ):
        # float32, the runtime's precision: thresholds are compared in it, as there.
        confidence = torch.as_tensor(confidence, dtype=torch.float32)
        correct = torch.as_tensor(correct, dtype=torch.bool)
        exit_cost = torch.as_tensor(exit_cost, dtype=torch.float64)
        if confidence.dim() != 2 or confidence.shape[0] < 2 or confidence.shape[1] < 1:
            raise ValueError(
                f"confidence must be L x N with L >= 2 levels and N >= 1 inputs (with none, "
                f"every accuracy and energy is NaN), got {tuple(confidence.shape)}"
            )
        if correct.shape != confidence.shape:
            raise ValueError(
                f"correct must have the shape of confidence {tuple(confidence.shape)}, "
                f"got {tuple(correct.shape)}"
            )
        if exit_cost.shape != (confidence.shape[0],):
            raise ValueError(
                f"exit_cost must have one entry per level ({confidence.shape[0]}), "
                f"got shape {tuple(exit_cost.shape)}"
            )
        nan = torch.isnan(confidence).any(dim=0)
        if nan.any():
            raise ValueError(
                f"confidence is NaN for {counted(nan, 'input', 'columns')}: "
                "images with NaN or infinite values, or a network that overflows on them; "
                "no threshold can decide on them"
            )
        outside = ((confidence < 0) | (confidence > 1)).any(dim=1)
        if outside.any():
            levels = [k + 1 for k in outside.nonzero().flatten().tolist()]
            raise ValueError(
                f"confidence must lie in [0, 1] (a threshold is compared with it), got values "
                f"from {float(confidence.min()):.4g} to {float(confidence.max()):.4g} at "
                f"level(s) {levels}: give a confidence measure of leanet.confidence, not "
                "logits, log-probabilities or percentages"
            )
        if not (torch.isfinite(exit_cost).all() and (exit_cost >= 0).all()):
            raise ValueError(f"exit_cost must be finite and non-negative, got {exit_cost.tolist()}")
        if not (math.isfinite(full_cost) and full_cost > 0):
            raise ValueError(f"full_cost must be positive and finite, got {full_cost!r}")
        if standalone is not None:
            standalone = tuple(bool(v) for v in standalone)
            if len(standalone) != confidence.shape[0]:
                raise ValueError(
                    f"standalone must have one entry per level ({confidence.shape[0]}), "
                    f"got {len(standalone)}"
                )
        if head_cost is not None:
            head_cost = torch.as_tensor(head_cost, dtype=torch.float64)
            step = torch.diff(exit_cost, prepend=exit_cost.new_zeros(1))
            if (
                head_cost.shape != exit_cost.shape
                or not torch.isfinite(head_cost).all()
                or (head_cost < 0).any()
                or (head_cost > step).any()
            ):
                raise ValueError(
                    f"head_cost must give each of the {len(exit_cost)} levels a head cost "
                    f"between 0 and the level's own cost {step.tolist()}, got {head_cost.tolist()}"
                )
        self.confidence = confidence
        self.correct = correct
        self.exit_cost = exit_cost
        self.standalone = standalone
        self.head_cost = head_cost
        self.full_cost = float(full_cost)
        self._correct_float = correct.to(torch.float32)  # for the contraction below

    @classmethod
    def from_model(
        cls,
        net,
        dataset,
        costs,
        *,
        cache: str | os.PathLike | None = None,
        batch_size: int = RECORDS_BATCH,
        progress: bool = True,
    ):
        """Run ``net``'s levels over ``dataset`` once, ``batch_size`` inputs at a time (or
        load them from ``cache``), and price exits with ``costs`` (a
        :class:`leanet.costs.LevelCosts`). Costs that do not say which levels the runtime
        skips (a device's joules table) skip ``net``'s; costs without ``head_energy`` (the
        same table) charge a level that only runs to be read its head too.
        ``progress``: a bar over the batches, as :func:`leanet.records.level_records`."""
        options = {"batch_size": batch_size, "progress": progress}
        if cache is None:
            confidence, correct = level_records(net, dataset, **options)
        else:
            confidence, correct = cached_level_records(net, dataset, cache, **options)
        standalone = costs.standalone
        if standalone is None:
            standalone = tuple(net.levels.standalone)
        head = getattr(costs, "head_energy", None)
        return cls(confidence, correct, costs.exit_energy, costs.full_energy, standalone, head)

    def on_records(self, confidence: Tensor, correct: Tensor) -> ThresholdEvaluator:
        """The same levels, priced alike, on other inputs' records (a subset, two splits
        joined): every cost field carried over, so none is dropped when one is added."""
        return ThresholdEvaluator(
            confidence, correct, self.exit_cost, self.full_cost, self.standalone, self.head_cost
        )

    @property
    def num_levels(self) -> int:
        return self.confidence.shape[0]

    @property
    def num_inputs(self) -> int:
        return self.confidence.shape[1]

    def evaluate(self, thresholds: Tensor) -> ThresholdMetrics:
        """Evaluate a ``B x (L-1)`` batch (or one ``L-1`` vector) of thresholds."""
        T = self._thresholds(thresholds)
        # An empty batch (e.g. the Pareto set of a search with no feasible point) gives
        # empty metrics, through one empty chunk.
        starts = range(0, T.shape[0], CHUNK) if T.shape[0] else [0]
        return ThresholdMetrics.concat([self._evaluate_chunk(T[i : i + CHUNK]) for i in starts])

    def between_confidences(self, thresholds: Tensor, *others: ThresholdEvaluator) -> Tensor:
        """``thresholds`` (``B x (L-1)``) with each one inside (0, 1) moved to the middle of
        the gap between its level's observed confidences around it: the same exits on these
        inputs (and on those of ``others``, e.g. held-out images the choice was made on).
        A threshold exactly at an observed confidence (a dense front's breakpoints, the
        quantile space) decides that input on its last bit, which the compiled runtime
        (batch norm folded into the convolutions) rounds differently: 45 of a dense front's
        71 points exited differently there. Kept where no float32 lies inside the gap."""
        T = self._thresholds(thresholds).clone()
        for i in range(self.num_levels - 1):
            seen = [self.confidence[i], *(other.confidence[i] for other in others)]
            values = torch.cat([c.double() for c in seen]).unique()  # sorted
            t = T[:, i].contiguous()
            # Exits compare in the confidences' float32: find the gap of the threshold as
            # compared (a float64 just above a confidence rounds onto it, and that input exits).
            compared_t = torch.where(t < 1, t.to(self.confidence.dtype).double(), t)
            above = torch.searchsorted(values, compared_t)  # the first observed value >= t
            upper = torch.where(above < len(values), values[above.clamp(max=len(values) - 1)], 1.0)
            lower = torch.where(above > 0, values[(above - 1).clamp(min=0)], 0.0)
            middle = (lower + upper) / 2
            compared = middle.to(self.confidence.dtype).double()  # as the exits compare it
            usable = (t > 0) & (t < 1) & (compared > lower) & (compared <= upper)
            T[:, i] = torch.where(usable, middle, t)
        return T

    def _thresholds(self, thresholds: Tensor) -> Tensor:
        """``thresholds`` as a checked ``B x (L-1)`` float64 tensor. Kept in float64: a
        threshold just below 1 rounds to 1.0 ("never exits") in float32, so every method
        tests ``T < 1`` before comparing in the confidences' float32, as the runtime does."""
        try:
            T = torch.as_tensor(thresholds, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(
                f"thresholds must be numbers (B x {self.num_levels - 1} or one vector), "
                f"got {type(thresholds).__name__} {str(thresholds)[:60]}"
            ) from err
        if T.dim() == 1:
            T = T.unsqueeze(0)
        if T.dim() != 2 or T.shape[1] != self.num_levels - 1:
            raise ValueError(
                f"thresholds must have shape B x {self.num_levels - 1} (L-1), got {tuple(T.shape)}"
            )
        if torch.isnan(T).any() or (T < 0).any() or (T > 1).any():
            raise ValueError(f"thresholds must lie in [0, 1] without NaN, got {T.tolist()}")
        return T

    def correct_at(self, thresholds: Tensor) -> Tensor:
        """``B x N`` booleans: is the answer right for each input under each threshold vector
        (``B x (L-1)``), i.e. the per-input outcomes behind :meth:`evaluate`'s accuracy."""
        level = exit_levels(self.confidence, self._thresholds(thresholds))
        return self.correct[level, torch.arange(self.num_inputs)]

    def energy_at(self, thresholds: Tensor) -> Tensor:
        """``B x N``: each input's energy, as a ratio to the full network's, under each
        threshold vector (``B x (L-1)``): the per-input costs behind :meth:`evaluate`'s
        energy ratio (for resampling inputs, as :meth:`correct_at` for accuracy)."""
        T = self._thresholds(thresholds)
        level = exit_levels(self.confidence, T)
        cost = exit_costs(T, self.exit_cost, self.standalone, self.head_cost)  # B x L
        return energy_ratio(cost.gather(1, level), self.full_cost)

    def _evaluate_chunk(self, T: Tensor) -> ThresholdMetrics:
        # The rule of :func:`exit_levels`, arranged for speed: per level, a 0/1 float mask
        # of the inputs that exit there (B x N), its row sums (how many exit) and its
        # product with the level's correctness (how many of those are right). Float masks
        # and matrix-vector products measured 3.5x faster than boolean masks here.
        B, L = T.shape[0], self.num_levels
        # A threshold of 1.0 never exits: compare against +inf there.
        never_at_one = torch.where(T < 1.0, T, torch.inf).to(torch.float32)
        remaining = torch.ones(B, self.num_inputs, dtype=torch.float32)
        counts = torch.empty(B, L, dtype=torch.float64)
        right = torch.empty(B, L, dtype=torch.float64)
        for i in range(L):
            if i < L - 1:
                passes = self.confidence[i] >= never_at_one[:, i : i + 1]
                exits = remaining * passes.to(torch.float32)
                remaining = remaining - exits
            else:
                exits = remaining
            counts[:, i] = exits.sum(dim=-1)
            right[:, i] = exits @ self._correct_float[i]
        cost = exit_costs(T, self.exit_cost, self.standalone, self.head_cost)
        energy = (counts * cost).sum(dim=-1) / self.num_inputs
        return ThresholdMetrics(
            T,
            right.sum(dim=-1) / self.num_inputs,
            energy,
            energy_ratio(energy, self.full_cost),
            counts / self.num_inputs,
        )

    def oracle(self) -> tuple[float, float]:
        """The oracle bound: (accuracy, energy ratio) when every input exits at the first
        level that is right (inputs no level gets right exit at level 1)."""
        any_right = self.correct.any(dim=0)
        first_right = self.correct.to(torch.uint8).argmax(dim=0)  # 0 where none is right
        energy = self.exit_cost[first_right].mean()
        return float(any_right.double().mean()), float(energy_ratio(energy, self.full_cost))


#: Names that moved to their own modules; old imports keep working, with a warning.
_MOVED = {
    "reference_front": "leanet.reference_front",
    "fingerprint": "leanet.records",
    "RECORDS_VERSION": "leanet.records",
}


def __getattr__(name: str):
    if name in _MOVED:
        import importlib

        module = _MOVED[name]
        warnings.warn(
            f"leanet.evaluator.{name} moved to {module}.{name}", DeprecationWarning, stacklevel=2
        )
        return getattr(importlib.import_module(module), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
