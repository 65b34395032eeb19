"""Search the LEANet design together with its thresholds, as one :class:`mobo.Problem`.

The paper fixes the design by hand (5 levels, F = 0.5 ... 1.0) and searches only the
thresholds, which the cached evaluator scans densely in seconds. What a user cannot scan is
the design: how many levels, which widths, the heads, the confidence measure, how long to
fine-tune; each candidate costs minutes of training. :class:`DesignProblem` makes that the
black box (``../shared/DESIGN.md``: "search designs and thresholds together"):

- an input is a :class:`Design` (number of levels, the first level's width fraction with
  the others evenly spaced up to 1.0, head hidden size, confidence measure) followed by one
  threshold per level but the last, for the largest number of levels (a design with fewer
  levels ignores the rest), and, when the fine-tune epochs are a fidelity, the epochs last;
- an evaluation builds the design from the same pretrained network (hybrid width levels:
  the last level is the unmodified pretrained network; batch norm recalibrated, heads
  fitted, fine-tuned: 10 epochs by default), caches its level records on the validation
  split, and measures (accuracy, energy ratio) at the thresholds with the cached
  evaluator. A design is built once per problem (and once per ``cache`` folder): later
  points of the same design cost milliseconds, so the front mixes designs and thresholds
  at the price of the designs (:class:`leanet.dense_fronts.DenseFronts` tells a study each
  built design's best ones);
- objectives are those of :class:`leanet.problem.ThresholdProblem` (validation accuracy,
  energy over the *pretrained* network's, so every design is priced against the same
  network); the reference point is ``(full validation accuracy - accuracy_margin, -1)``:
  nothing may cost more than the network it replaces;
- constraints a user states are callables of ``(design, metrics)`` (``<= 0`` feasible), e.g.
  an accuracy floor, a weight budget (:meth:`DesignProblem.weights_mb`);
- fine-tune epochs may be a fidelity (``fine_tune_epochs=(0, 2, 10)``; the last is the
  target), so MF-OSEMO (:mod:`mobo.algorithms.mfosemo`; with constraints too, MOMF) can
  spend cheap epochs first; with
  ``continue_fidelities`` a cheap fidelity is the start of the target's run, which a target
  evaluation continues instead of training again (freeze-thaw continuation).

The threshold coordinates are searched in the log space of
:class:`~leanet.problem.ThresholdProblem` (the same warp, in :meth:`to_unit`), the design
coordinates linearly; integers and categories round to the nearest value
(:mod:`leanet.design_coding`).

Measured (``benchmarks/results/design_search_mnist.md``, ``design_search_extras/``; MNIST
digits, equal charged CPU time): told a few dense-front points per design, the searched
front beats the hand-fixed design and random designs in median on the ConvNet, VGG-16 and
MobileNet, by margins inside the spread; MF-OSEMO over fine-tune epochs reached
single-fidelity qLogNEHVI's hypervolume sooner on the ConvNet only (``design_fidelity.md``
says why). A point chosen from the front on the validation split the search read is
optimistic on test (``design_choice.md``): ``save_artifacts(selection=...)`` measures the
tables on held-out images instead.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from leanet.costs import get_platform, measure_costs
from leanet.design_cache import (
    DesignBuilder,
    DesignCache,
    check_cacheable,
    source_digest,
)
from leanet.design_checks import check_search_space, check_settings
from leanet.design_coding import DesignCoding
from leanet.design_recipe import Design
from leanet.evaluator import (
    ThresholdEvaluator,
    ThresholdMetrics,
    accuracy_resolution,
    format_threshold,
)
from leanet.machine import machine
from leanet.measured import MeasuredCost, Meter, cpu_meter
from leanet.model import LEANet
from leanet.problem import LOG_DECADES
from leanet.train import check_fine_tune_options, evaluate
from mobo.digest import callable_digest
from mobo.problem import Problem

__all__ = ["Design", "DesignProblem"]

#: A user's constraint: ``(design, metrics of B threshold vectors) -> B values``, or one
#: value for the design (e.g. its size), ``<= 0`` feasible.
DesignConstraint = Callable[[Design, ThresholdMetrics], Tensor]


#: A new design's cost besides fine-tuning (building, head fitting, level records), in
#: fine-tune epochs: fidelities cost ``BUILD_EPOCHS + epochs`` by default. Measured (MNIST
#: design caches, median CPU s of 2- vs 10-epoch designs): ConvNet 14 vs 50, VGG-16 20 vs 71
#: (1.1 epochs besides fine-tuning), MobileNet 29 vs 151. The former default, ``head_epochs
#: + epochs``, priced a 2-epoch design at 0.73 of a 10-epoch one (measured: 0.19-0.28).
BUILD_EPOCHS = 1.0


class DesignProblem(DesignCoding, Problem):
    """The LEANet design and its thresholds as one black box (see the module docstring).

    Args:
        base: The pretrained :class:`leanet.zoo.BaseNet` every design is built from.
        data: A :class:`leanet.data.DataSplits`: designs train on ``train``, are measured on
            ``val``; ``test`` is left for the chosen front.
        levels: ``(min, max)`` number of levels, 2 <= min <= max.
        first_fraction: ``(min, max)`` width fraction of level 1, inside (0, 1).
        fraction_step: Level 1's fraction rounds to this grid, so that nearby proposals
            share one built design instead of each training its own.
        head_hidden: Head hidden sizes to choose from.
        confidences: Confidence measures to choose from.
        fine_tune_epochs: Joint fine-tuning epochs of every design (default 10, the study's;
            0 fits heads only, and narrow levels then save little: ``design_fidelity.md``);
            or ascending epochs to choose from as the fidelity (the last is the target).
        fidelity_costs: Cost of an evaluation at each fidelity; default ``1 + epochs``, in
            fine-tune epochs (:data:`BUILD_EPOCHS` covers building, head fitting and
            caching the level records).
        head_epochs: Epochs of head fitting.
        platform: The energy table of :func:`leanet.costs.measure_costs`.
        accuracy_margin: The reference point's accuracy is the full network's validation
            accuracy minus this.
        constraints: Named user constraints (see :data:`DesignConstraint`).
        cache: A folder for built designs and their level records, so a resumed study (or
            another problem on the same base, data and seed) builds nothing twice.
        seed: Seed of every design's training.
        fine_tune_options: Keyword arguments of :func:`leanet.train.fine_tune` (``lr``,
            ``distill``, ...).
        log_decades: Decades of the thresholds' log search space.
        cost: The second objective: ``"energy"`` (default: the 45nm energy model, exact and
            noise-free), ``"latency"`` (measured: CPU time of the compiled runtime at the
            thresholds over ``measure_inputs`` validation images, batch 1, over the full
            network's, :class:`leanet.measured.MeasuredCost`), or a meter callback (e.g.
            joules from a device power monitor, see :data:`leanet.measured.Meter`). Measured
            costs are noisy.
        measure_inputs: Validation images a measured cost runs over.
        measure_repeats: Interleaved repeats of a measured cost (their median ratio).
        continue_fidelities: With fidelities: a cheaper one trains the first epochs of the
            target's fine-tuning run (its learning rate not yet decayed, design key
            ``ft4of10``), and a design continues its cheaper run when one was trained,
            charged the remaining epochs only (freeze-thaw continuation); the weights are
            those of training it from the start, bit for bit.

    After evaluations, :attr:`built` lists the designs trained by this problem (keys),
    :attr:`train_seconds` the training CPU seconds of every design it used (measured when
    trained, kept with the cached network and read back when loaded, so a budget can charge
    a design what it cost even when the cache spares it; designs that differ only in the
    confidence measure share one network, trained and charged once), and :meth:`network`
    returns a design's trained LEANet for deployment.
    """

    def __init__(
        self,
        base,
        data,
        *,
        levels: tuple[int, int] = (2, 6),
        first_fraction: tuple[float, float] = (0.25, 0.75),
        fraction_step: float = 0.05,
        head_hidden: Sequence[int] = (0, 32),
        confidences: Sequence[str] = ("max_softmax", "margin", "entropy"),
        fine_tune_epochs: int | Sequence[int] = 10,
        fidelity_costs: Sequence[float] | None = None,
        head_epochs: int = 5,
        platform: str = "45nm-fp32",
        accuracy_margin: float = 0.05,
        constraints: Mapping[str, DesignConstraint] | None = None,
        cache: str | Path | None = None,
        seed: int = 0,
        fine_tune_options: Mapping[str, Any] | None = None,
        log_decades: float = LOG_DECADES,
        cost: str | Meter = "energy",
        measure_inputs: int = 100,
        measure_repeats: int = 3,
        continue_fidelities: bool = False,
    ) -> None:
        space = check_search_space(
            levels=levels,
            first_fraction=first_fraction,
            fraction_step=fraction_step,
            head_hidden=head_hidden,
            confidences=confidences,
            fine_tune_epochs=fine_tune_epochs,
            fidelity_costs=fidelity_costs,
            continue_fidelities=continue_fidelities,
        )
        (lo, hi), (f_lo, f_hi) = space.levels, space.first_fraction
        self.fraction_step, self.head_hidden = space.fraction_step, space.head_hidden
        self.confidences, self.epochs = space.confidences, space.epochs
        fidelity = len(self.epochs) > 1
        self.continue_fidelities = bool(continue_fidelities)
        self.levels, self.fraction_range = (lo, hi), (f_lo, f_hi)
        # A copy in eval mode: every design is built from it, and the caller's network is
        # left as it was (its mode included).
        self.base, self.data, self.seed = copy.deepcopy(base).eval(), data, seed
        self.head_epochs, self.platform, self.log_decades = head_epochs, platform, log_decades
        if not (callable(cost) or cost in ("energy", "latency")):
            raise ValueError(f"cost must be 'energy', 'latency' or a meter callable, got {cost!r}")
        check_settings(
            head_epochs=head_epochs,
            seed=seed,
            measure_inputs=measure_inputs,
            measure_repeats=measure_repeats,
            accuracy_margin=accuracy_margin,
            log_decades=log_decades,
            constraints=constraints or {},
            cache=cache,
        )
        get_platform(platform)  # an unknown name fails here, not at the first evaluation
        check_fine_tune_options(fine_tune_options or {}, "fine_tune_options")
        self.cost_objective = cost
        self.measure_inputs, self.measure_repeats = measure_inputs, measure_repeats
        self._measured: dict[str, MeasuredCost] = {}
        self.fine_tune_options = dict(fine_tune_options or {})
        self.constraints = dict(constraints or {})
        self.cache = None if cache is None else Path(cache)
        self._evaluators: dict[str, ThresholdEvaluator] = {}
        self.full_accuracy = float(evaluate(self.base, data.val))
        self._source = source_digest(
            self.base.state_dict(),
            data.train.tensors(),
            (head_epochs, sorted(self.fine_tune_options.items()), seed),
        )
        try:  # the cache and save_artifacts both keep a design as a LEANet file
            check_cacheable(self.base)
        except ValueError as err:
            if self.cache is not None:
                raise
            warnings.warn(  # now: else the search trains every design, then cannot save one
                f"DesignProblem: save_artifacts will refuse this base's designs: {err.__cause__}"
                "; the search runs, and problem.network(design) is a chosen design's LEANet "
                "to compile",
                stacklevel=2,
            )
        self._store = None if self.cache is None else DesignCache(self.cache, seed, self._source)
        self._builder = DesignBuilder(
            self.base,
            data.train,
            head_epochs=head_epochs,
            seed=seed,
            fine_tune_options=self.fine_tune_options,
            store=self._store,
            prefixes=self.prefixes,
        )
        self.built, self.train_seconds = self._builder.built, self._builder.train_seconds
        # Inputs: levels, first fraction, head index, confidence index, T_1..T_{max-1},
        # then (with fidelities) the epochs. Integers and categories round to the nearest.
        lower = [lo - 0.5, f_lo, -0.5, -0.5] + [0.0] * (hi - 1)
        upper = [hi + 0.5, f_hi, len(self.head_hidden) - 0.5, len(self.confidences) - 0.5]
        upper += [1.0] * (hi - 1)
        if f_lo == f_hi:  # a fixed fraction: keep the box non-degenerate
            upper[1] = f_lo + 1e-9
        if fidelity:
            lower.append(float(self.epochs[0]))
            upper.append(float(self.epochs[-1]))
        costs = None
        if fidelity:
            costs = fidelity_costs or [BUILD_EPOCHS + e for e in self.epochs]
        # Any callable is a meter, an unhashable one too (a dataclass power monitor).
        cost_name = _COST_NAMES[cost] if isinstance(cost, str) else "metered ratio"
        # Digested once, as made: a meter that logs its readings changed its digest as it
        # measured, and the same study was refused in the same process.
        self._callable_digests = (
            cost if isinstance(cost, str) else callable_digest(cost),
            tuple((n, callable_digest(c)) for n, c in self.constraints.items()),
        )
        super().__init__(
            torch.tensor([lower, upper], dtype=torch.float64),
            2,
            [self.full_accuracy - accuracy_margin, -1.0],
            objective_names=["accuracy", cost_name],
            senses=["max", "min"],
            name=f"LEANetDesign({base.config.get('arch', 'base')}, L={lo}-{hi})",
            num_constraints=len(self.constraints),
            constraint_names=list(self.constraints),
            fidelity_levels=[float(e) for e in self.epochs] if fidelity else None,
            fidelity_costs=costs,
        )

    def front_table(self, X: Tensor, Y: Tensor | None = None) -> str:
        """The points ``X`` as a table: validation accuracy, energy ratio (the cost model's),
        design, thresholds; with a measured cost (``cost="latency"`` or a meter) also the
        measured ratio the search saw, from the points' objectives ``Y`` (e.g. a result's
        ``pareto_Y``; not measured again, since a measurement is noisy)."""
        measured = self.cost_objective != "energy" and Y is not None
        lines = [
            f"{'accuracy':>9} {'energy':>7}{'  measured' if measured else ''}  design, thresholds"
        ]
        accuracies = []
        for i, (design, thresholds) in enumerate(self.decode(X)):
            m = self.evaluator(design).evaluate(thresholds[None])
            # as the demo's tables: 0.99996 printed as 1 read as a level turned off
            shown = ", ".join(format_threshold(float(t)) for t in thresholds)
            extra = f" {-float(Y[i, 1]):9.3f}" if measured else ""
            lines.append(
                f"{float(m.accuracy[0]):9.4f} {float(m.energy_ratio[0]):7.3f}{extra}  "
                f"{design.key}, T = ({shown})"
            )
            accuracies.append(float(m.accuracy[0]))
        if accuracies:  # the validation split's resolution: a few inputs apart is noise
            typical = float(torch.tensor(accuracies).median())  # lower median, as pareto_table
            lines.append(f"validation: {accuracy_resolution(typical, len(self.data.val))}")
        return "\n".join(lines)

    # -- evaluation ------------------------------------------------------------------------
    def _evaluate(self, X: Tensor) -> Tensor:
        out = torch.full((X.shape[0], self.num_outcomes), float("nan"), dtype=torch.float64)
        groups: dict[Design, list[int]] = {}
        decoded = self.decode(X)
        for i, (design, _) in enumerate(decoded):
            groups.setdefault(design, []).append(i)
        for design, rows in groups.items():
            evaluator = self.evaluator(design)
            T = torch.stack([decoded[i][1] for i in rows])
            metrics = evaluator.evaluate(T)
            columns = [metrics.objectives()]
            if self.cost_objective != "energy":
                columns[0][:, 1] = -self.measured(design).ratios(T)
            for name, constraint in self.constraints.items():
                value = torch.as_tensor(constraint(design, metrics), dtype=torch.float64)
                if value.numel() not in (1, len(rows)):
                    raise ValueError(
                        f"constraint {name!r} returned {value.numel()} values for "
                        f"{len(rows)} threshold vectors (one, or one per vector)"
                    )
                columns.append(value.reshape(-1, 1).expand(len(rows), 1))
            out[rows] = torch.cat(columns, dim=-1)
        return out

    def evaluator(self, design: Design) -> ThresholdEvaluator:
        """The design's cached validation evaluator, building the design if needed."""
        if design.key not in self._evaluators:
            net = self.network(design)
            costs = measure_costs(net, self.platform, latency=False)
            records = None if self._store is None else self._store.path(design.key, "val")
            self._evaluators[design.key] = ThresholdEvaluator.from_model(
                net, self.data.val, costs, cache=records, progress=False
            )
        return self._evaluators[design.key]

    def test_evaluator(self, design: Design) -> ThresholdEvaluator:
        """The design's evaluator on the data's test split, for reporting a front chosen on
        validation (not kept: the search itself never reads test), building it if needed."""
        return self.evaluator_on(design, self.data.test)

    def evaluator_on(self, design: Design, dataset) -> ThresholdEvaluator:
        """The design's evaluator on a split the search does not read (the test split, or
        validation images held out for choosing among the front, :func:`leanet.data.hold_out`),
        priced as the search prices the design; not kept. ``None``: the search's own
        validation split (:meth:`evaluator`)."""
        if dataset is None:
            return self.evaluator(design)
        net = self.network(design)
        costs = measure_costs(net, self.platform, latency=False)
        return ThresholdEvaluator.from_model(net, dataset, costs, progress=False)

    def measured(self, design: Design) -> MeasuredCost:
        """The design's metered cost (``cost`` other than ``"energy"``; kept as ``cost_objective``,
        since ``Problem.cost`` prices evaluations at each fidelity)."""
        if design.key not in self._measured:
            meter = cpu_meter if self.cost_objective == "latency" else self.cost_objective
            n = min(self.measure_inputs, len(self.data.val))
            inputs = torch.stack([self.data.val[i][0] for i in range(n)])
            self._measured[design.key] = MeasuredCost(
                self.network(design), inputs, meter=meter, repeats=self.measure_repeats
            )
        return self._measured[design.key]

    def __getstate__(self) -> dict:
        """Without the measured costs, which :meth:`measured` compiles again: their compiled
        TorchScript cannot be pickled, and a process pool or Dask pickles the problem."""
        return {**self.__dict__, "_measured": {}}

    def network(self, design: Design) -> LEANet:
        """The design's trained LEANet (built now, continued from a cheaper fidelity's run,
        or read from memory or the cache folder)."""
        return self._builder.network(design)

    def trained_with(self, design: Design) -> dict:
        """Where and how the design was trained (:mod:`leanet.machine`), for its artifact."""
        return self._builder.trained_with[design.key]

    def is_trained(self, design: Design) -> bool:
        """Is the design trained already (in memory or the cache folder, or a design that
        differs only in its confidence measure, which trains the same weights), so that
        :meth:`network` reads it instead of training it?"""
        return self._builder.has(design)

    def current_cost(self, X: Tensor) -> Tensor:
        """:meth:`mobo.Problem.cost`, but 0 for a design already trained (only thresholds
        change) and, with ``continue_fidelities``, a target evaluation that continues a
        trained cheaper run costs the difference of the two fidelities' costs."""
        cost = self.cost(X).clone()
        for i, (design, _) in enumerate(self.decode(X)):
            if self.is_trained(design):
                cost[i] = 0.0
            elif (prefix := self._builder.trained_prefix(design)) is not None:
                level = self.epochs.index(prefix.fine_tune_epochs)
                cost[i] -= self.fidelity_costs[level]
        return cost

    def prefixes(self, design: Design) -> list[Design]:
        """With ``continue_fidelities``: the cheaper designs whose run ``design``'s
        fine-tuning continues, longest first."""
        if not self.continue_fidelities:
            return []
        shorter = sorted((e for e in self.epochs if e < design.fine_tune_epochs), reverse=True)
        return [
            replace(design, fine_tune_epochs=e, schedule_epochs=self._schedule(e)) for e in shorter
        ]

    def save_artifacts(
        self, X: Tensor, folder: str | Path, *, meta: dict | None = None, selection=None
    ) -> list[Path]:
        """One deployable artifact per design among ``X``: see
        :func:`leanet.design_artifacts.save_artifacts`."""
        from leanet.design_artifacts import save_artifacts  # imports the runtime: only here

        return save_artifacts(self, X, folder, meta=meta, selection=selection)

    def deployed(self, design: Design, T: Tensor, chosen_on=None) -> Tensor:
        """``design``'s thresholds ``T`` as its artifact deploys them: off the observed
        confidences (for the runtime, see ``between_confidences``) of the search's
        validation images and of ``chosen_on`` (the held-out images' evaluator), so every
        decision on both stays what the search and the closing table measured."""
        search = self.evaluator(design)
        return search.between_confidences(T, *[e for e in [chosen_on] if e not in (None, search)])

    def weights_mb(self, design: Design) -> float:
        """Megabytes of the design's parameters (float32), e.g. for a size constraint."""
        return sum(p.numel() for p in self.network(design).parameters()) * 4 / 2**20

    #: Bump whenever fingerprint() computes differently (see mobo.Problem). 2: energy
    #: charges an off level read by the next without its head (journals before: with it).
    fingerprint_version = 2

    def fingerprint(self) -> str:
        """What the objectives are computed from: the base network, training and validation
        data, design settings, the search space, the cost (a meter, as the constraints, by
        its code and values, :func:`~mobo.digest.callable_digest`; a latency with the
        machine measuring it; digested when the problem was made), the reference point and the
        constraints. A journal of another design problem is refused
        (:meth:`mobo.Problem.fingerprint`)."""
        cost = self.cost_objective
        settings = (
            self.levels,
            self.fraction_range,
            self.fraction_step,
            self.head_hidden,
            self.confidences,
            self.epochs,
            self.platform,
            self.log_decades,
            # Another meter's values were resumed when meters counted by name (two lambdas).
            self._callable_digests[0],
            self.measure_inputs,
            self.measure_repeats,
        )
        if cost == "latency":  # a latency measured on another CPU is another objective
            settings += (machine(),)
        if cost == "energy":  # priced with heads apart (version 2): earlier journals differ
            settings += ("heads apart",)
        if self.continue_fidelities:  # other cheap designs; earlier journals' digests kept
            settings += ("continue_fidelities",)
        if self.constraints:  # another floor was resumed with the old floor's values
            settings += self._callable_digests[1]
        # The validation images too: a journal of another split resumed and mixed both.
        val = source_digest({}, self.data.val.tensors(), ())
        return source_digest({}, (), (self._source, val, repr(settings)))


_COST_NAMES = {"energy": "energy ratio", "latency": "latency ratio"}
