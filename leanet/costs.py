"""What each level costs: counted work, an energy model, and measured latency.

Work is counted on the code that actually runs, never typed by hand:

- MACs (multiply-accumulates; FLOPs = 2 x MACs) with ``torch.utils.flop_counter.FlopCounterMode``;
- parameter words and activation words (32-bit values) with a dispatch mode that sees the
  same operations (convolutions and matrix products): the weight and bias operands each
  operation reads, and the input it reads plus the output it writes. FlopCounterMode
  counts no memory traffic, and module hooks cannot see the sliced-weight convolutions of
  the width levels, so the words are counted at the operator level, by hand.

Batch norm, activations, pooling and the confidence score are not counted (no MACs, and
their traffic is small next to the convolutions'). Work is per input: one input runs at a
time, as on a device, so every weight a level uses is read once for it.

Energy = MACs * e_mac + weight_words * e_weight + activation_words * e_activation, from a
named :class:`Platform`. The preset ``45nm-fp32`` is Horowitz (ISSCC 2014) as tabulated by
Han et al. (NIPS 2015): a 32-bit float multiply 3.7 pJ plus add 0.9 pJ (e_mac 4.6 pJ), a
32-bit SRAM access 5 pJ, a 32-bit DRAM access 640 pJ. It assumes weights stream from DRAM
(a network's weights do not fit on-chip) and activations stay in SRAM; ``45nm-fp32-sram``
assumes everything on-chip. A table of joules per level measured on a device replaces the
model through :meth:`LevelCosts.from_joules`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from leanet.device import evaluating
from leanet.zoo import check_float32, image_shape

aten = torch.ops.aten


@dataclass(frozen=True)
class Platform:
    """Energy per operation of a hardware platform, in joules.

    Attributes:
        name: Name of the table.
        e_mac: Joules per multiply-accumulate.
        e_weight: Joules per 32-bit parameter word read.
        e_activation: Joules per 32-bit activation word read or written.
        weight_memory: Where the weights are assumed to live (for reports).
        activation_memory: Where the activations are assumed to live.
    """

    name: str
    e_mac: float
    e_weight: float
    e_activation: float
    weight_memory: str
    activation_memory: str


PLATFORMS: dict[str, Platform] = {
    "45nm-fp32": Platform("45nm-fp32", 4.6e-12, 640e-12, 5e-12, "DRAM", "SRAM"),
    "45nm-fp32-sram": Platform("45nm-fp32-sram", 4.6e-12, 5e-12, 5e-12, "SRAM", "SRAM"),
}


def get_platform(platform: str | Platform) -> Platform:
    """A :class:`Platform` by name (see :data:`PLATFORMS`), or the one given."""
    if isinstance(platform, Platform):
        return platform
    if platform not in PLATFORMS:
        raise ValueError(f"unknown platform {platform!r}; choose one of {sorted(PLATFORMS)}")
    return PLATFORMS[platform]


@dataclass(frozen=True)
class Work:
    """Counted work of some computation, per input."""

    macs: int = 0
    weight_words: int = 0
    activation_words: int = 0

    def __add__(self, other: Work) -> Work:
        return Work(
            self.macs + other.macs,
            self.weight_words + other.weight_words,
            self.activation_words + other.activation_words,
        )

    def energy(self, platform: Platform) -> float:
        """Joules of this work on ``platform``."""
        return (
            self.macs * platform.e_mac
            + self.weight_words * platform.e_weight
            + self.activation_words * platform.e_activation
        )


# (operand indices of the input, weight, bias) of the operators that do the MACs.
_OPERANDS = {
    aten.convolution.default: (0, 1, 2),
    aten.addmm.default: (1, 2, 0),
    aten.mm.default: (0, 1, None),
}


class _WordCounter(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.weight_words = 0
        self.activation_words = 0
        # column buffers not yet read (data pointer -> words of the map they were made of),
        # and zero-padded maps (the same) that columns may still be copied from
        self._columns: dict[int, int] = {}
        self._padded: dict[int, int] = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        operands = _OPERANDS.get(func)
        if operands is not None:
            x, w, b = (args[i] if i is not None else None for i in operands)
            self.weight_words += w.numel() + (b.numel() if isinstance(b, Tensor) else 0)
            self.activation_words += x.numel() + out.numel()
        # The runtime's batch-1 depthwise convolution, columns + baddbmm (leanet.folding._Conv),
        # is counted as the convolution it is: its input map, weights and output map. Its
        # columns (from im2col, or copied from a strided view of the zero-padded map) are the
        # convolution's internal scratch, as PyTorch's own im2col convolution's are (which the
        # dispatcher never shows). Any other baddbmm (the dense depthwise option) reads its
        # whole third operand as the input map. Padding alone is not counted: an operator
        # that reads the padded map counts what it reads.
        elif func is aten.im2col.default:
            self._columns[out.data_ptr()] = args[0].numel()
        elif func is aten.constant_pad_nd.default:
            self._padded[out.untyped_storage().data_ptr()] = args[0].numel()
        elif func is aten.clone.default and args[0].untyped_storage().data_ptr() in self._padded:
            self._columns[out.data_ptr()] = self._padded.pop(args[0].untyped_storage().data_ptr())
        elif func is aten.baddbmm.default:
            x = args[2]
            self.weight_words += args[1].numel() + args[0].numel()
            self.activation_words += out.numel() + self._columns.pop(x.data_ptr(), x.numel())
        return out


def count_work(fn, *args, **kwargs) -> tuple[object, Work]:
    """Run ``fn(*args, **kwargs)`` and count its work; returns (result, :class:`Work`).

    Give it one input (batch size 1) to get work per input.
    """
    with FlopCounterMode(display=False) as flops, _WordCounter() as words:
        out = fn(*args, **kwargs)
    return out, Work(int(flops.get_total_flops()) // 2, words.weight_words, words.activation_words)


@dataclass(frozen=True)
class LevelCosts:
    """Costs of a LEANet's levels, per input.

    Attributes:
        exit_energy: ``L`` joules for an input that exits at level k: everything executed
            for it (levels 1..k, heads 1..k included).
        full_energy: Joules of the full pretrained network on one input.
        level_work: Incremental :class:`Work` of each level (None for a joules table).
        platform: The energy table used (None for a joules table).
        exit_latency: ``L`` measured seconds to exit at level k on this machine (the median
            over repeats), or None.
        full_latency: Measured seconds of the full network (median), or None.
        full_work: Counted :class:`Work` of the full network.
        static_energy: ``L`` joules of level k run alone, from scratch, with its head:
            the static-width baseline (no early exit, no reuse).
        static_work: ``L`` counted :class:`Work` behind ``static_energy``.
        standalone: Per level, whether it reads the input alone
            (:attr:`leanet.levels.Levels.standalone`), so that it is skipped when it cannot
            answer (:func:`leanet.evaluator.exit_costs`); None: no level does.
        latency_quartiles: ``(L + 1) x 2``: the first and third quartiles of the repeats
            behind ``exit_latency`` and, last, ``full_latency`` (their spread), or None.
        head_energy: ``L`` joules of each level's head alone (included in ``exit_energy``):
            a level that cannot answer but that a later level reads runs without its head
            (:func:`leanet.evaluator.exit_costs`). None for a joules table, which cannot
            split a level's joules: such a level is then charged in full, head included.
        head_work: ``L`` counted :class:`Work` behind ``head_energy`` (None with it).
    """

    exit_energy: Tensor
    full_energy: float
    level_work: list[Work] | None = None
    platform: Platform | None = None
    exit_latency: Tensor | None = None
    full_latency: float | None = None
    full_work: Work | None = None
    static_energy: Tensor | None = None
    static_work: list[Work] | None = None
    standalone: tuple[bool, ...] | None = None
    latency_quartiles: Tensor | None = None
    head_energy: Tensor | None = None
    head_work: list[Work] | None = None

    @classmethod
    def from_joules(cls, exit_joules, full_joules: float, standalone=None) -> LevelCosts:
        """Costs from a table measured on a device: joules to exit at each level (every
        level up to it run), and of the full network. ``standalone``: the levels that read
        the input alone (``net.levels.standalone``), skipped when they cannot answer;
        :meth:`leanet.evaluator.ThresholdEvaluator.from_model` fills it from the network
        when None."""
        exit_joules = torch.as_tensor(exit_joules, dtype=torch.float64)
        if exit_joules.dim() != 1 or len(exit_joules) < 2:
            raise ValueError(
                f"exit_joules must list one value per level, got {exit_joules.tolist()}"
            )
        if (exit_joules <= 0).any() or not full_joules > 0:
            raise ValueError("joules must be positive")
        if (exit_joules[1:] < exit_joules[:-1]).any():
            raise ValueError(
                f"exit_joules must not decrease with the level (going on costs more), "
                f"got {exit_joules.tolist()}"
            )
        if standalone is not None:
            standalone = tuple(bool(v) for v in standalone)
            if len(standalone) != len(exit_joules):
                raise ValueError(
                    f"standalone must have one entry per level ({len(exit_joules)}), "
                    f"got {len(standalone)}"
                )
        return cls(exit_energy=exit_joules, full_energy=float(full_joules), standalone=standalone)

    @property
    def exit_macs(self) -> list[int]:
        """MACs per input that exits at level k (cumulative)."""
        if self.level_work is None:
            raise ValueError("these costs come from a joules table: no counted work")
        total, out = 0, []
        for work in self.level_work:
            total += work.macs
            out.append(total)
        return out

    @property
    def exit_energy_ratio(self) -> Tensor:
        """``L``: exit energy over the full network's."""
        return self.exit_energy / self.full_energy

    def table(self) -> str:
        """A text table of the costs per level."""
        header = f"{'level':>5} {'exit MACs':>12} {'exit energy (uJ)':>17} {'ratio':>7}"
        if self.exit_latency is not None:
            header += f" {'latency (ms)':>13}"
            if self.latency_quartiles is not None:
                header += f" {'quartiles (ms)':>17}"
        lines = [header]
        macs = self.exit_macs if self.level_work is not None else [None] * len(self.exit_energy)
        for k, energy in enumerate(self.exit_energy.tolist()):
            line = f"{k + 1:>5} {macs[k] if macs[k] is not None else '-':>12} {energy * 1e6:>17.3f}"
            line += f" {energy / self.full_energy:>7.3f}"
            if self.exit_latency is not None:
                line += f" {float(self.exit_latency[k]) * 1e3:>13.3f}" + self._quartiles(k)
            lines.append(line)
        full = f"{'full':>5} {self.full_work.macs if self.full_work else '-':>12}"
        full += f" {self.full_energy * 1e6:>17.3f} {1.0:>7.3f}"
        if self.full_latency is not None:
            full += f" {self.full_latency * 1e3:>13.3f}" + self._quartiles(-1)
        lines.append(full)
        return "\n".join(lines)

    def _quartiles(self, row: int) -> str:
        if self.latency_quartiles is None:
            return ""
        q1, q3 = (float(v) * 1e3 for v in self.latency_quartiles[row])
        return f" {f'{q1:.3f}-{q3:.3f}':>17}"


@torch.no_grad()
def measure_costs(
    net,
    platform: str | Platform = "45nm-fp32",
    *,
    latency: bool = True,
    repeats: int = 20,
) -> LevelCosts:
    """Count every level's work on one input, price it, and time it on this machine.

    Args:
        net: A :class:`leanet.LEANet`.
        platform: An energy table (name in :data:`PLATFORMS`, or a :class:`Platform`).
        latency: Also measure CPU seconds to exit at each level through the compiled
            runtime (:mod:`leanet.runtime`, traced), and of the full network traced the
            same way: median of ``repeats``, interleaved, one thread.
        repeats: Timing repeats.
    """
    platform = get_platform(platform)
    check_float32(net, "measure_costs: the network")
    with evaluating(net):
        x = torch.zeros(1, *image_shape(net.base.config))
        level_work, head_work = [], []
        state = net.levels.init_state(x)
        for k in range(net.num_levels):
            state, work = count_work(net.levels.advance, state)
            _, head = count_work(net.heads[k], net.levels.feature_map(state))
            level_work.append(work + head)
            head_work.append(head)
        _, full_work = count_work(net.base, x)
        static_work = []
        for k in range(net.num_levels):
            features, work = count_work(net.levels.run_level, x, k + 1)
            _, head = count_work(net.heads[k], features)
            static_work.append(work + head)
        cumulative, total = [], Work()
        for work in level_work:
            total = total + work
            cumulative.append(total.energy(platform))
        exit_latency = full_latency = quartiles = None
        if latency:
            # Exits run through the compiled runtime and the full network is prepared the same
            # way (BN folded, traced and frozen): both in one execution mode, timed interleaved.
            from leanet.runtime import compile_full, compile_runtime
            from leanet.timing import cpu_times  # CPU time, interleaved, warmed up

            runtime = compile_runtime(net, mode="trace")
            full = compile_full(net.base, mode="trace")
            fns = {k: (lambda k=k: runtime.run_through(x, k + 1)) for k in range(net.num_levels)}
            fns["full"] = lambda: full(x)
            timings = cpu_times(fns, repeats=repeats)
            order = [*range(net.num_levels), "full"]
            exit_latency = torch.tensor(
                [timings[k].median for k in range(net.num_levels)], dtype=torch.float64
            )
            full_latency = timings["full"].median
            quartiles = torch.tensor([[timings[k].q1, timings[k].q3] for k in order]).double()
    return LevelCosts(
        exit_energy=torch.tensor(cumulative, dtype=torch.float64),
        full_energy=full_work.energy(platform),
        level_work=level_work,
        platform=platform,
        exit_latency=exit_latency,
        full_latency=full_latency,
        full_work=full_work,
        static_energy=torch.tensor([w.energy(platform) for w in static_work], dtype=torch.float64),
        static_work=static_work,
        standalone=tuple(net.levels.standalone),
        latency_quartiles=quartiles,
        head_energy=torch.tensor([w.energy(platform) for w in head_work], dtype=torch.float64),
        head_work=head_work,
    )
