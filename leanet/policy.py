"""Pick the thresholds a device runs with, from a Pareto set, and say what they save.

A device with an energy budget takes the most accurate Pareto point within the budget;
one with an accuracy floor takes the cheapest point that meets it. Shipping the choice is
:mod:`leanet.artifact`'s.

[Jayakodi2020] Jayakodi, Belakaria, Deshwal, Doppa. ACM TECS 19(1), 2020.
"""

from __future__ import annotations

import math
import numbers
import warnings
from dataclasses import dataclass

import torch
from torch import Tensor

from leanet.evaluator import ThresholdMetrics

#: The allowed accuracy losses of [Jayakodi2020]'s energy-savings table (0, 1 and 2 %),
#: the default of every table of savings (:func:`energy_savings`, ``leanet report``).
PAPER_LOSSES = (0.0, 0.01, 0.02)
#: Slack of an energy budget for float rounding of the energy ratios (see choose_thresholds).
BUDGET_ROUNDING = 1e-9
#: Slack of an accuracy floor for float rounding: an accuracy computed in float32 (the usual
#: ``(pred == y).float().mean()``: 294/300 is 0.98000002) is up to 3e-8 off below 1, and must
#: not refuse the point exactly at it; 1e-7 stays below one input (1/N) for N under 10^7.
ACCURACY_ROUNDING = 1e-7


def choose_thresholds(
    front: ThresholdMetrics,
    *,
    energy_budget: float | None = None,
    accuracy_floor: float | None = None,
) -> int:
    """Index into ``front`` of the chosen point.

    Args:
        front: Pareto set of threshold vectors with their metrics.
        energy_budget: Largest acceptable energy ratio (to the full network); choose
            the most accurate point within it.
        accuracy_floor: Smallest acceptable accuracy; choose the cheapest point that
            reaches it (up to :data:`ACCURACY_ROUNDING`, so a float32 floor works).

    Raises:
        ValueError: Neither or both given, or no point satisfies the requirement (the
            message says the closest one).
    """
    if (energy_budget is None) == (accuracy_floor is None):
        raise ValueError("give exactly one of energy_budget and accuracy_floor")
    for name, value in (("energy_budget", energy_budget), ("accuracy_floor", accuracy_floor)):
        _check_number(name, value)
    if len(front) == 0:
        raise ValueError("the front is empty")
    if energy_budget is not None:
        # Energies are sums of per-level costs over inputs: the pretrained network alone
        # can come out an ulp over 1.0 (1.0000000000000002 on a VGG-16), and a budget of
        # 1.0 must not refuse it.
        ok = front.energy_ratio <= energy_budget + BUDGET_ROUNDING
        if not ok.any():
            raise ValueError(
                f"no Pareto point has energy ratio <= {energy_budget}; the cheapest has "
                f"{float(front.energy_ratio.min()):.6g}"
            )
        score = torch.where(ok, front.accuracy, torch.full_like(front.accuracy, -1.0))
        best = score.max()
        # Among equally accurate points, the cheaper one.
        tied = (score == best).nonzero().flatten()
        return int(tied[front.energy_ratio[tied].argmin()])
    cheapest = _cheapest(front.energy_ratio, front.accuracy >= accuracy_floor - ACCURACY_ROUNDING)
    if cheapest is None:
        raise ValueError(
            f"no Pareto point has accuracy >= {accuracy_floor}; the most accurate has "
            f"{float(front.accuracy.max()):.4f}"
        )
    return cheapest


def _cheapest(energy_ratio: Tensor, ok: Tensor) -> int | None:
    """Index of the lowest-energy point among those ``ok``, or None."""
    if not ok.any():
        return None
    cost = torch.where(ok, energy_ratio, torch.full_like(energy_ratio, float("inf")))
    return int(cost.argmin())


def _check_number(name: str, value: object) -> None:
    """A requirement must be one finite real number (a string or list would fail deep
    inside the comparison with a message that names neither)."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")


@dataclass(frozen=True)
class Saving:
    """Energy saved at an allowed accuracy loss, chosen on validation, reported on test.

    Attributes:
        allowed_loss: Accuracy the full network may lose (absolute, e.g. 0.01 = 1 point).
        thresholds: The chosen threshold vector (cheapest with validation accuracy at
            least the full network's minus ``allowed_loss``, or with its paired lower bound
            on the change at least ``-allowed_loss``), or None if none qualifies.
        test_accuracy: Its accuracy on the test split.
        test_energy_ratio: Its energy over the full network's, on the test split.
        kept_because: Without thresholds, why the full network is kept, if not that no
            threshold qualifies (thresholds that qualify but cost no less).
    """

    allowed_loss: float
    thresholds: Tensor | None
    test_accuracy: float | None
    test_energy_ratio: float | None
    kept_because: str | None = None

    @property
    def energy_saved(self) -> float | None:
        """``1 - test_energy_ratio``: the fraction of the full network's energy saved."""
        return None if self.test_energy_ratio is None else 1.0 - self.test_energy_ratio


def accuracy_change_bound(
    correct: Tensor, reference_correct: Tensor, confidence: float = 0.95
) -> Tensor:
    """One-sided lower confidence bound on ``accuracy - reference accuracy`` from paired
    per-input outcomes on the same inputs.

    The per-input differences ``d_n = correct_n - reference_n`` (in {-1, 0, 1}) have mean
    ``d``; the Wald bound is ``W = d - z * s / sqrt(N)`` (normal approximation, ``s`` their
    standard deviation, ``z`` the ``confidence`` quantile). Paired, because a cascade and the
    network it replaces err mostly on the same inputs: only the inputs where they disagree
    carry noise, so the bound is far tighter than one from two separate accuracies.

    ``W`` depends only on the wins ``b`` (inputs right where the reference is wrong), the
    losses ``c`` and ``N``, and is not monotone in ``b``: no disagreement gives ``W = 0``,
    one win ``W = (1 - z) / N``, below 0 over 84% confidence (the variance it adds outweighs
    it): a point right on one more input than the full network, and never worse, was refused
    at 0% loss where an identical one passed. A win is never evidence of a loss, so the
    bound is the envelope ``max over b' = 0..b of W(b', c)``: never below a point's with the
    same losses and fewer wins, and ``W`` itself wherever ``W`` already grows with wins.
    ``W`` is convex in ``b`` (linear minus the root of a concave quadratic), so the maximum
    is at an end, ``max(W(0, c), W(b, c))``. An identical point keeps bound 0, acceptable
    at 0% loss.

    Args:
        correct: ``B x N`` (or ``N``) booleans, e.g. :meth:`ThresholdEvaluator.correct_at`.
        reference_correct: ``N`` booleans of the reference (the full network).
        confidence: In (0, 1).

    Returns:
        ``B`` (or 0-d) float64 bounds, as fractions of the ``N`` inputs.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    correct = torch.as_tensor(correct).to(torch.float64)
    reference = torch.as_tensor(reference_correct).to(torch.float64)
    if correct.shape[-1] != reference.shape[-1] or reference.dim() != 1:
        raise ValueError(
            f"reference_correct must be one entry per input ({correct.shape[-1]}), "
            f"got shape {tuple(reference.shape)}"
        )
    d = correct - reference
    n = d.shape[-1]
    wins = (d > 0).sum(dim=-1).to(torch.float64)
    losses = (d < 0).sum(dim=-1).to(torch.float64)
    z = float(torch.distributions.Normal(0.0, 1.0).icdf(torch.tensor(confidence)))

    def wald(b: Tensor) -> Tensor:
        # The sample variance (correction 1) of b ones, c minus ones and N - b - c zeros.
        spread = ((b + losses - (b - losses) ** 2 / n) / max(n - 1, 1)).clamp(min=0.0).sqrt()
        return (b - losses) / n - (z * spread / math.sqrt(n) if n > 1 else 0.0)

    return torch.maximum(wald(wins), wald(torch.zeros_like(wins)))


def cheapest_allowed(
    accuracy: Tensor,
    energy_ratio: Tensor,
    full_val_accuracy: float,
    losses=PAPER_LOSSES,
    *,
    bound: Tensor | None = None,
) -> list[int | None]:
    """For each allowed loss, the index of the cheapest point allowed by the rule, or None.

    The plain rule (the paper's) allows a point whose validation ``accuracy`` is at least
    ``full_val_accuracy - loss``. With ``bound`` (one paired lower bound per point on its
    accuracy change against the full network, :func:`accuracy_change_bound`) it allows a
    point whose bound is at least ``-loss`` instead. One rule for a front of one design
    (:func:`energy_savings`) and for a front mixing designs (``leanet design``). The floor
    allows :data:`ACCURACY_ROUNDING`, so a float32 ``full_val_accuracy`` (a float or a 0-d
    tensor) allows the points exactly at it.
    """
    if bound is None:
        full = float(full_val_accuracy)
        return [
            _cheapest(energy_ratio, accuracy >= full - loss - ACCURACY_ROUNDING) for loss in losses
        ]
    return [_cheapest(energy_ratio, bound >= -loss - 1e-12) for loss in losses]


def cheapest_across(
    points,
    full_accuracy: float,
    losses=PAPER_LOSSES,
    *,
    confidence: float | None = None,
    full_correct: Tensor | None = None,
) -> list[int | None]:
    """:func:`cheapest_allowed` over ``(evaluator, thresholds)`` points that each bring their
    own evaluator (a front mixing designs; every evaluator on the same inputs): for each
    loss the index of the cheapest point the rule allows, or None to keep the full network.
    With ``confidence``, the paired bound against ``full_correct``, the full network's
    outcomes on those inputs.

    The full network (energy ratio 1, ``full_accuracy``, bound 0) is a candidate too, ahead
    of the points, as the all-ones thresholds are on one design's front
    (:meth:`~leanet.problem.ThresholdProblem.deployable_front`): no point at least as
    costly is chosen (a design at ratio 1.244 was, "saved -24.4%", at every loss)."""
    return choices_across(
        points, full_accuracy, losses, confidence=confidence, full_correct=full_correct
    )[0]


def choices_across(
    points,
    full_accuracy: float,
    losses=PAPER_LOSSES,
    *,
    confidence: float | None = None,
    full_correct: Tensor | None = None,
) -> tuple[list[int | None], list[int | None]]:
    """:func:`cheapest_across`'s choices, and beside them the same rule without the full
    network as a candidate (None: no point is allowed at all), from one evaluation of the
    points: a table that keeps the full network says which of the two cases it is."""
    metrics = [evaluator.evaluate(t[None]) for evaluator, t in points]
    # The full network first, so it wins a tie; float64, so floors are exact.
    full = torch.tensor([float(full_accuracy)], dtype=torch.float64)
    accuracy = torch.cat([full, *(m.accuracy.double() for m in metrics)])
    energy = torch.cat([torch.ones_like(full), *(m.energy_ratio.double() for m in metrics)])
    bound = None
    if confidence is not None:
        if full_correct is None:
            raise ValueError("confidence needs full_correct")
        correct = torch.stack([evaluator.correct_at(t[None])[0] for evaluator, t in points])
        bound = accuracy_change_bound(
            torch.cat([full_correct[None], correct]), full_correct, confidence
        )
    chosen = cheapest_allowed(accuracy, energy, full_accuracy, losses, bound=bound)
    allowed = cheapest_allowed(
        accuracy[1:], energy[1:], full_accuracy, losses, bound=None if bound is None else bound[1:]
    )
    return [None if i in (None, 0) else i - 1 for i in chosen], allowed


def energy_savings(
    front: ThresholdMetrics,
    full_val_accuracy: float,
    test_evaluator,
    losses=PAPER_LOSSES,
    *,
    confidence: float | None = None,
    val_evaluator=None,
    full_val_correct: Tensor | None = None,
) -> list[Saving]:
    """The paper's table: for each allowed accuracy loss, the cheapest Pareto thresholds
    (on validation) that keep accuracy within it of the full network, measured on test.

    With ``confidence`` the choice guards against the validation set's noise: the cheapest
    point whose paired lower bound (:func:`accuracy_change_bound`) on its accuracy change
    against the full network is at least ``-loss``. The plain rule picks the cheapest point
    that *happens* to reach the floor on a few hundred validation inputs, and that selection
    itself favours lucky points (measured in ``benchmarks/results/threshold_choice.md``).

    Args:
        front: Pareto set on the validation split.
        full_val_accuracy: The full pretrained network's validation accuracy.
        test_evaluator: A :class:`~leanet.evaluator.ThresholdEvaluator` on the test split.
        losses: Allowed absolute accuracy losses.
        confidence: None (the plain rule), or the bound's confidence in (0, 1).
        val_evaluator: With ``confidence``: the evaluator on the validation split.
        full_val_correct: With ``confidence``: the full network's per-input correctness on
            the validation split (``N`` booleans, the inputs of ``val_evaluator``).
    """
    bound = None
    if confidence is not None:
        if val_evaluator is None or full_val_correct is None:
            raise ValueError("confidence needs val_evaluator and full_val_correct")
        bound = accuracy_change_bound(
            val_evaluator.correct_at(front.thresholds), full_val_correct, confidence
        )
    chosen = cheapest_allowed(
        front.accuracy, front.energy_ratio, full_val_accuracy, losses, bound=bound
    )
    savings = []
    for loss, i in zip(losses, chosen, strict=True):
        if i is None:
            savings.append(Saving(loss, None, None, None))
            continue
        test = test_evaluator.evaluate(front.thresholds[i])
        savings.append(
            Saving(loss, front.thresholds[i], float(test.accuracy[0]), float(test.energy_ratio[0]))
        )
    return savings


# The artifact moved to its own module; old imports keep working, with a warning.
_MOVED_TO_ARTIFACT = frozenset(
    (
        "ARTIFACT_FORMAT",
        "ARTIFACT_VERSION",
        "Artifact",
        "load_artifact",
        "runtime_folder",
        "save_artifact",
    )
)


def __getattr__(name: str):
    if name in _MOVED_TO_ARTIFACT:
        warnings.warn(
            f"leanet.policy.{name} moved to leanet.artifact.{name}",
            DeprecationWarning,
            stacklevel=2,
        )
        from leanet import artifact

        return getattr(artifact, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
