"""One LEANet design of the design search: its fields and how it is built.

A :class:`Design` names hybrid width levels over a pretrained network (number of levels,
level 1's width fraction with the others evenly spaced up to 1.0, head size, confidence
measure, fine-tune epochs) and :meth:`Design.build` trains it from the pretrained network
with the library's recipe (build, batch-norm recalibration, head fitting, fine-tuning).
:class:`leanet.design.DesignProblem` searches over designs; :mod:`leanet.design_cache`
keeps the built ones.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from leanet.confidence import CONFIDENCES
from leanet.levels import WidthLevels
from leanet.model import LEANet, build
from leanet.train import fine_tune, fit_heads, recalibrate_batch_norm
from leanet.train_loop import TrainState

__all__ = ["Design"]


@dataclass(frozen=True)
class Design:
    """One LEANet design (hybrid width levels over a pretrained network).

    Args:
        num_levels: Levels, at least 2 (the last is the pretrained network).
        first_fraction: Width fraction of level 1, in (0, 1); levels 2..L are evenly
            spaced from it up to 1.0.
        head_hidden: Hidden width of each head's MLP (0: linear heads).
        confidence: A key of :data:`leanet.confidence.CONFIDENCES`.
        fine_tune_epochs: Joint fine-tuning epochs after the heads are fitted (0: none).
        schedule_epochs: The fine-tuning schedule's length when it is longer than
            ``fine_tune_epochs`` (0: as long): the design is then the first
            ``fine_tune_epochs`` of a ``schedule_epochs`` run (its learning rate not yet
            decayed), which :meth:`build_with_state` can continue to that run's end.
    """

    num_levels: int
    first_fraction: float
    head_hidden: int = 0
    confidence: str = "max_softmax"
    fine_tune_epochs: int = 0
    schedule_epochs: int = 0

    def __post_init__(self) -> None:
        for name in ("num_levels", "head_hidden", "fine_tune_epochs", "schedule_epochs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"Design.{name} must be an int, got {value!r}")
        if self.num_levels < 2:
            raise ValueError(f"Design.num_levels must be >= 2, got {self.num_levels}")
        if not 0.0 < float(self.first_fraction) < 1.0:
            raise ValueError(f"Design.first_fraction must be in (0, 1), got {self.first_fraction}")
        if self.head_hidden < 0 or self.fine_tune_epochs < 0:
            raise ValueError(
                f"Design.head_hidden and fine_tune_epochs must be >= 0, got "
                f"{self.head_hidden} and {self.fine_tune_epochs}"
            )
        if self.schedule_epochs and not 0 < self.fine_tune_epochs < self.schedule_epochs:
            raise ValueError(
                f"Design.schedule_epochs must be 0 or above fine_tune_epochs > 0, got "
                f"{self.schedule_epochs} with fine_tune_epochs {self.fine_tune_epochs}"
            )
        if self.confidence not in CONFIDENCES:
            raise ValueError(
                f"Design.confidence must be one of {list(CONFIDENCES)}, got {self.confidence!r}"
            )

    @property
    def fractions(self) -> tuple[float, ...]:
        """``F_1 .. F_L``: evenly spaced from ``first_fraction`` to exactly 1.0."""
        f, n = float(self.first_fraction), self.num_levels - 1
        return tuple(round(f + (1.0 - f) * k / n, 6) for k in range(n)) + (1.0,)

    @property
    def key(self) -> str:
        """A file-name-safe identifier: equal keys, equal networks (for one base and seed)."""
        of = f"of{self.schedule_epochs}" if self.schedule_epochs else ""
        return (
            f"L{self.num_levels}-f{self.first_fraction:g}-h{self.head_hidden}-"
            f"{self.confidence}-ft{self.fine_tune_epochs}{of}"
        )

    def fitted_to(self, base) -> Design:
        """This design with levels dropped until no narrow level has the same channel
        counts as the next one on ``base`` (too many levels for its width)."""
        design = self
        while True:
            try:
                WidthLevels(
                    base.features,
                    in_channels=int(base.config["in_channels"]),
                    fractions=design.fractions,
                    scheme="hybrid",
                )
            except ValueError:
                if design.num_levels == 2:
                    raise
                design = replace(design, num_levels=design.num_levels - 1)
            else:
                return design

    def prefix(self, epochs: int) -> Design:
        """This design after the first ``epochs`` of its fine-tuning run (a cheap fidelity
        that :meth:`build_with_state` continues to this design)."""
        if self.schedule_epochs or not 0 < epochs < self.fine_tune_epochs:
            raise ValueError(
                f"a prefix takes 0 < epochs < fine_tune_epochs of a whole run, got {epochs} "
                f"of {self.key}"
            )
        return replace(self, schedule_epochs=self.fine_tune_epochs, fine_tune_epochs=epochs)

    def build(
        self,
        base,
        train,
        *,
        head_epochs: int = 5,
        seed: int = 0,
        fine_tune_options: Mapping[str, Any] | None = None,
    ) -> LEANet:
        """The trained LEANet of this design over ``base`` (copied, never changed):
        built, batch norm recalibrated on ``train``, heads fitted, then fine-tuned."""
        return self.build_with_state(
            base,
            train,
            head_epochs=head_epochs,
            seed=seed,
            fine_tune_options=fine_tune_options,
        )[0]

    def build_with_state(
        self,
        base,
        train,
        *,
        head_epochs: int = 5,
        seed: int = 0,
        fine_tune_options: Mapping[str, Any] | None = None,
        prefix: tuple[LEANet, TrainState] | None = None,
    ) -> tuple[LEANet, TrainState | None]:
        """As :meth:`build`, also returning the fine-tuning state a prefix design
        (``schedule_epochs``) continues from. Given ``prefix``, a prefix design's network
        (copied, never changed) and state, only the remaining epochs run: the same weights
        as building this design from scratch, bit for bit."""
        options = {"patience": None, **(fine_tune_options or {})}
        until = self.fine_tune_epochs if self.schedule_epochs else None
        epochs = self.schedule_epochs or self.fine_tune_epochs
        state = None
        if prefix is not None:  # a 0-epoch prefix has no state: fine-tuning starts afresh
            net, state = copy.deepcopy(prefix[0]), prefix[1]
        else:
            net = build(
                base,
                fractions=self.fractions,
                scheme="hybrid",
                head_hidden=self.head_hidden,
                confidence=self.confidence,
                seed=seed,
            )
            recalibrate_batch_norm(net, train, progress=False)
            fit_heads(net, train, epochs=head_epochs, seed=seed, progress=False)
        if self.fine_tune_epochs:
            state = fine_tune(
                net,
                train,
                epochs=epochs,
                until=until,
                resume=state,
                seed=seed,
                progress=False,
                **options,
            ).state
        return net.eval(), state
