"""A fast adaptive runtime for a LEANet: one pre-built step per level, nothing else.

:meth:`leanet.LEANet.forward` is the reference: it slices the pretrained weights, runs
batch norms and ``torch.cat``-s every cached activation with each new band, about 100 small
operator calls per level, and at batch 1 on a CPU that dispatch overhead, not the
convolutions, dominates. :func:`compile_runtime` turns the same LEANet into L *steps*, step
k doing exactly the work that is new at level k and returning head k's logits and
confidence:

- weights are sliced per band once, stored contiguous, every ``BatchNorm2d`` is folded into
  the convolution before it and a head's ``BatchNorm1d`` into its first ``Linear``; ``ReLU``
  then ``MaxPool2d`` are swapped (they commute exactly) so
  the ReLU runs on 4x fewer values;
- width levels, triangular scheme: each convolution reads a full-width buffer allocated
  once per batch size, which level k writes band ``[w_{k-1}, w_k)`` of in place, so going
  on to level k+1 re-runs no layer and copies no cached activation;
- ``"slice"`` scheme: step k is the whole level-k slice from the input (the scheme
  recomputes by definition, and is charged so);
- ``"hybrid"`` scheme: steps 1..L-1 as triangular, step L the unmodified pretrained
  features (``net.levels.pretrained``, BN folded) then head L;
- depth levels: step k runs blocks ``cuts[k-1]:cuts[k]`` on the previous step's map.

The steps and the plan that builds them are in :mod:`leanet.steps`. A level that cannot
answer (threshold 1.0) is skipped when the next step that runs starts from the input, so a
hybrid with every threshold at 1.0 costs the full network; when the next level reads it (a
band, a depth level's map) it runs its step's ``body`` only: the band or blocks, not the
head, whose answer nobody would read. Both as the cost model charges
(:func:`leanet.evaluator.exit_costs`). A runtime saved before bodies existed
(``leanet-runtime/2``) still loads; it runs such a level's head too, as it always did.

Modes: ``"eager"`` runs the steps as plain modules; ``"trace"`` traces and freezes each
step (``torch.jit.trace``, ``torch.jit.freeze``; :mod:`leanet.tracing`). ``torch.compile``
measured no better at 10-30 s of compilation per step. At batch size > 1 the rows that
exit are dropped with one index copy per level where some exit; at batch 1, the device
case, nothing is copied. The decision loop is plain Python on plain attributes.

At batch 1 a small depthwise convolution costs oneDNN about 50 us of glue whatever its
size, so small ones run as im2col + one ``baddbmm`` or a strided copy of the padded map's
windows (:class:`leanet.folding._Conv`, exactly their MACs); ``depthwise="dense"`` runs
those of maps up to 8 x 8 as one dense ``baddbmm`` each (faster, 6-11% more MACs on
MobileNet than the cost model charges, so an option). Level-1 width exits cost 0.44x /
0.38x / 0.53x of the full ConvNet / VGG-16 / MobileNet on 28 x 28 inputs at batch 1,
traced (``benchmarks/results/runtime_latency.md``). Every timing behind these choices, and the
variants tried and dropped: ``benchmarks/results/runtime_design.md``.

Cost accounting (tested, ``depthwise="conv"``): the runtime's MACs and activation words per
input equal what :func:`leanet.costs.measure_costs` charges, under any T as
:func:`leanet.evaluator.exit_costs` prices it (skipped levels, headless read levels); its
weight words exceed them by the bias of every BN-folded band.

:meth:`Runtime.save` writes every step as a traced, frozen TorchScript file plus a JSON
manifest, and :func:`load_runtime` runs them with the same Python decision loop.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
import math
import os
import struct
import threading
from pathlib import Path

import torch
from torch import Tensor, nn

from leanet.checkpoints import atomic_path
from leanet.confidence import CONFIDENCES
from leanet.data import standardize
from leanet.data_items import as_tensor_or_refuse
from leanet.device import evaluating
from leanet.folding import densify_depthwise, full_ops
from leanet.model import Decision, nan_confidence
from leanet.steps import plan
from leanet.tracing import band_views, jit_quietly, trace, trace_steps
from leanet.zoo import check_float32, image_shape

__all__ = ["DEPTHWISE", "MODES", "Runtime", "compile_full", "compile_runtime", "load_runtime"]

MODES = ("eager", "trace")
#: How depthwise convolutions run: as convolutions, or on maps up to 8 x 8 as dense
#: matrix products (faster at batch 1 on a CPU, more MACs; see the module docstring).
DEPTHWISE = ("conv", "dense")
_MANIFEST = "runtime.json"
_FORMAT = "leanet-runtime/3"
#: Runtimes of this format load; their steps have no ``body``, so they run the head of a
#: level that cannot answer but is read (charged less since format 3).
_BODILESS = "leanet-runtime/2"
_DAMAGED = "the runtime folder is damaged or incomplete: save the artifact (or runtime) again"


def _read_by_next(calls: list[str]) -> list[bool]:
    """Per step, whether the next step reads its output (it does unless it starts from the
    input, a ``"scratch"`` step): the steps that need a ``body``."""
    return [k + 1 < len(calls) and calls[k + 1] != "scratch" for k in range(len(calls))]


# -- the runtime ---------------------------------------------------------------------------
def _float32(value: float) -> float:
    """``value`` rounded to float32, as a Python float."""
    return struct.unpack("f", struct.pack("f", value))[0]


class Runtime(nn.Module):
    """L compiled level steps and the exit rule of :meth:`leanet.LEANet.forward`.

    Build it with :func:`compile_runtime` (or :func:`load_runtime`). ``forward(x, T)``
    returns the same :class:`leanet.model.Decision` as ``net(x, T)``, but for an input whose
    confidence lies within float32 rounding of a threshold: folded batch norm and the batch
    size move a confidence by a few ulps, so such an input may exit one level apart (a
    front from ``ThresholdProblem.deployable_front`` has its thresholds moved between the
    observed confidences, :meth:`leanet.evaluator.ThresholdEvaluator.between_confidences`;
    do the same for thresholds chosen by hand). Threads may share
    one runtime: each gets its own activation buffers. ``x`` is standardized as the
    training data was; a runtime saved with an artifact knows how
    (:attr:`input_normalization`, :meth:`standardize`).
    """

    #: The per-channel ``(mean, std)`` its inputs are standardized with, when it was saved
    #: with them (:func:`leanet.artifact.save_artifact`); ``None`` when unknown.
    input_normalization: tuple[list[float], list[float]] | None = None

    def __init__(
        self,
        steps,
        calls,
        shapes,
        *,
        views,
        confidence_kind: str,
        input_shape,
        mode: str,
        depthwise: str = "conv",
        bodies=None,
    ):
        super().__init__()
        self.steps = nn.ModuleList(steps).requires_grad_(False)
        self.calls = list(calls)
        # Per step, whether it has a ``body`` (the step without its head) that the loop runs
        # when the level cannot answer but the next reads it; None: no step has (format 2).
        self.bodies = [False] * len(self.calls) if bodies is None else [bool(b) for b in bodies]
        if len(self.bodies) != len(self.calls):
            raise ValueError(f"need one body flag per step, got {len(self.bodies)}")
        # The decision loop reads these on every call: plain attributes, not nn.Module
        # lookups (at batch 1 on the 8x8 ConvNet the loop's Python was 15-25% of a step).
        self._plan = tuple(
            (call, step, step.body if body else None)
            for call, step, body in zip(self.calls, self.steps, self.bodies, strict=True)
        )
        self._read = _read_by_next(self.calls)
        self._num_levels = len(self._plan)
        self.shapes = [tuple(int(v) for v in s) for s in shapes]
        # Per step: the (buffer, lo, hi) views a band step takes; None for other steps.
        self.views = [None if v is None else [tuple(int(i) for i in t) for t in v] for v in views]
        if len(self.views) != self._num_levels:
            raise ValueError(f"need one view list per step, got {len(self.views)}")
        self.confidence_kind = confidence_kind
        self.input_shape = tuple(int(v) for v in input_shape)
        self.mode = mode
        self.depthwise = depthwise
        # Band buffers per thread (thread id -> (batch key, buffers, views)): calls from
        # several threads (a server) must not write into each other's buffers.
        self._scratch: dict = {}

    @property
    def num_levels(self) -> int:
        return self._num_levels

    def standardize(self, images: Tensor) -> Tensor:
        """A device's images (uint8 0..255 or float in [0, 1]) as :meth:`forward` takes
        them, by the normalization saved with the runtime."""
        if self.input_normalization is None:
            raise ValueError(
                "this runtime was saved without its input normalization: standardize the "
                "images as the training data was (save the artifact again with this version "
                "to record it)"
            )
        return standardize(images, *self.input_normalization)

    def _thresholds(self, thresholds) -> list[float]:
        """T as Python floats, validated like :meth:`leanet.LEANet.check_thresholds` (in
        Python: a batch-1 exit should not pay a dozen tensor operations for it)."""
        if isinstance(thresholds, Tensor):
            if thresholds.dim() > 1:
                raise ValueError(
                    f"thresholds must be one vector of L-1 = {self.num_levels - 1} values, got "
                    f"shape {tuple(thresholds.shape)}"
                )
            thresholds = thresholds.detach().cpu().double().reshape(-1).tolist()
        try:
            t = [float(v) for v in thresholds]
        except (TypeError, ValueError) as err:
            raise TypeError(
                f"thresholds must be a sequence of L-1 = {self.num_levels - 1} numbers, got "
                f"{thresholds!r}"
            ) from err
        need = self.num_levels - 1
        if len(t) != need:
            raise ValueError(f"thresholds must have length L-1 = {need}, got {len(t)}")
        if any(math.isnan(v) or not 0.0 <= v <= 1.0 for v in t):
            raise ValueError(f"thresholds must lie in [0, 1] without NaN, got {t}")
        return t

    def _runs(self, t: list[float]) -> list[int]:
        """How each step runs under T: 2 whole, 1 its body only, 0 not at all. A level that
        cannot answer (T_k >= 1) is skipped when the next step that runs starts from the
        input (a ``"scratch"`` step: the hybrid's top level, every level of the slice
        scheme); when the next step that runs reads it, its body runs (the whole step when
        it has none: a runtime saved in format 2)."""
        runs = [2] * self._num_levels
        for k in reversed(range(self._num_levels - 1)):
            if t[k] >= 1.0:
                read = runs[k + 1] and self._read[k]
                runs[k] = (1 if self.bodies[k] else 2) if read else 0
        return runs

    def run_through(self, x: Tensor, level: int) -> Decision:
        """Adaptive inference that exits at `level` (1-based) after every earlier level ran
        and declined: what ``exit_latency`` times, decision loop included. Unlike
        ``forward(x, exit_thresholds(level))`` no level is skipped."""
        return self._decide(x, self.exit_thresholds(level), skip=False)

    def exit_thresholds(self, level: int) -> list[float]:
        """T that makes every input exit at `level` (1-based): never before (those levels
        cannot answer, so standalone steps after them are skipped), always there."""
        if not 1 <= level <= self.num_levels:
            raise ValueError(f"level must be in 1..{self.num_levels}, got {level}")
        return [1.0] * (level - 1) + [0.0] * (self.num_levels - level)

    def _start(self, x: Tensor) -> tuple[list[Tensor], list]:
        """The calling thread's band buffers for a batch like `x` and every band step's
        views of them, made once per batch size and reused: every channel a step reads
        was written earlier in the same call, so stale values are never read. One set per
        thread (the last batch size only), so threads may share a runtime."""
        key = (x.shape[0], x.dtype, x.device)
        thread = threading.get_ident()
        held = self._scratch.get(thread)
        if held is None or held[0] != key:
            bufs = [x.new_empty((x.shape[0], *s)) for s in self.shapes]
            held = key, (bufs, self._views_of(bufs))
            alive = {t.ident for t in threading.enumerate()}  # drop finished threads' sets
            self._scratch = {t: v for t, v in self._scratch.items() if t in alive}
            self._scratch[thread] = held
        return held[1]

    def _views_of(self, bufs: list[Tensor]) -> list:
        return [None if v is None else band_views(bufs, v) for v in self.views]

    def _step(self, k: int, x: Tensor, views: list, h: Tensor):
        call, step, _ = self._plan[k]
        if call == "band":
            logits, conf = step(x, *views[k])
            return logits, conf, h
        return step(h if call == "chain" else x)

    def _body(self, k: int, x: Tensor, views: list, h: Tensor) -> Tensor:
        """Step k without its head: writes its bands, returns the map the next step reads."""
        call, _, body = self._plan[k]
        if call == "band":
            body(x, *views[k])
            return h
        return body(h if call == "chain" else x)

    def forward(self, x: Tensor, thresholds) -> Decision:
        """Adaptive inference with the rule of :meth:`leanet.LEANet.forward`."""
        return self._decide(x, thresholds, skip=True)

    def _images(self, x) -> Tensor:
        """``x`` as the float32 `N x C x H x W` batch the steps were built for, checked as
        :meth:`leanet.LEANet.forward` checks it: a batch of another shape would run and
        resize the reused buffers, and every later call would answer wrongly."""
        if (
            isinstance(x, Tensor)
            and x.dtype == torch.float32
            and x.dim() == 4
            and x.shape[1:] == self.input_shape
        ):
            return x  # the common case costs one comparison
        x = as_tensor_or_refuse(x, "x must be an N x C x H x W float tensor")
        built = " x ".join(str(v) for v in self.input_shape)
        if not x.is_floating_point():
            raise TypeError(
                f"x must hold standardized float images, got dtype {x.dtype}; normalize it as "
                "the training data was"
            )
        if x.dim() != 4 or tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(
                f"x must be a batch N x {built} (what the runtime was built for), got shape "
                f"{tuple(x.shape)}" + ("; add the batch dimension" if x.dim() == 3 else "")
            )
        return x.to(torch.float32)

    def _decide(self, x: Tensor, thresholds, *, skip: bool) -> Decision:
        t = self._thresholds(thresholds)
        x = self._images(x)
        if torch.is_grad_enabled() and x.requires_grad:
            with torch.no_grad():  # the steps hold no trainable weights: only x could
                return self._decide_rows(x, t, skip)
        return self._decide_rows(x, t, skip)

    def _decide_rows(self, x: Tensor, t: list[float], skip: bool) -> Decision:
        n, last, images = x.shape[0], self._num_levels - 1, x
        prediction = exit_level = active = None  # active None: every row still undecided
        (bufs, views), h = self._start(x), x
        runs = self._runs(t) if skip else None
        for k in range(self._num_levels):
            if runs is not None and runs[k] != 2:
                if runs[k]:  # cannot answer, read by the next level: no head
                    h = self._body(k, x, views, h)
                continue
            logits, conf, h = self._step(k, x, views, h)
            one = conf.shape[0] == 1
            c = float(conf) if one else 0.0  # one input: Python comparisons, no tensor ops
            # NaN images give NaN confidences: checked here, free at batch 1, rather than
            # on every pixel of every call.
            if c != c or (not one and bool(torch.isnan(conf).any())):
                nan_confidence(images, k + 1)
            if k < last and t[k] >= 1.0:
                continue
            if k == last or t[k] <= 0.0:
                done = None
            elif one:
                # T in float32, as the tensor comparison below and the evaluator make it.
                done = None if c >= _float32(t[k]) else False
            else:
                done = conf >= t[k]
            if done is False:
                continue
            if done is None or bool(done.all()):  # every remaining row exits here
                if active is None:
                    full = torch.full((n,), k + 1, dtype=torch.long, device=x.device)
                    return Decision(logits.argmax(dim=-1), full)
                prediction[active] = logits.argmax(dim=-1)
                exit_level[active] = k + 1
                break
            if not bool(done.any()):
                continue
            if active is None:
                active = torch.arange(n, device=x.device)
                prediction = torch.empty(n, dtype=torch.long, device=x.device)
                exit_level = torch.empty(n, dtype=torch.long, device=x.device)
            prediction[active[done]] = logits[done].argmax(dim=-1)
            exit_level[active[done]] = k + 1
            keep = ~done
            active, x, h = active[keep], x[keep], h[keep]
            bufs = [b[keep] for b in bufs]
            views = self._views_of(bufs)
        return Decision(prediction, exit_level)

    @torch.no_grad()
    def level_logits(self, x: Tensor) -> list[Tensor]:
        """Every level's logits for every input (no exit): L tensors `N x classes`."""
        x = self._images(x)
        (_, views), h, out = self._start(x), x, []
        for k in range(self.num_levels):
            logits, _, h = self._step(k, x, views, h)
            out.append(logits.clone())
        return out

    def save(self, path: str | os.PathLike) -> None:
        """Write a directory: ``step{k}.pt`` (traced, frozen TorchScript; eager steps are
        traced here) and, last, ``runtime.json`` (what the decision loop needs, with each
        step file's digest). Saved over another runtime and stopped part-way, the folder
        held new and old steps under the old manifest and loaded as a mix of two networks
        (levels at chance accuracy); now the old manifest goes first, and
        :func:`load_runtime` checks every step against the new one's digests."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / _MANIFEST).unlink(missing_ok=True)
        steps = self.steps
        if self.mode != "trace":
            steps = trace_steps(self.steps, self.shapes, self.input_shape, self.bodies)
        digests = []
        with jit_quietly():
            for k, step in enumerate(steps):
                buffer = io.BytesIO()
                torch.jit.save(step, buffer)
                (path / f"step{k + 1}.pt").write_bytes(buffer.getvalue())
                digests.append(_digest(buffer.getvalue()))
        manifest = dict(
            format=_FORMAT,
            step_digests=digests,
            num_levels=self.num_levels,
            calls=self.calls,
            bodies=self.bodies,
            buffer_shapes=[list(s) for s in self.shapes],
            band_views=[None if v is None else [list(t) for t in v] for v in self.views],
            confidence=self.confidence_kind,
            input_shape=list(self.input_shape),
            depthwise=self.depthwise,
            input_normalization=self.input_normalization,
            threshold_rule=(
                "exit at level k < L when confidence >= T_k and T_k < 1; level L always answers"
            ),
        )
        with atomic_path(path / _MANIFEST) as partial:
            partial.write_text(json.dumps(manifest, indent=1))


def _digest(step_bytes: bytes) -> str:
    return hashlib.blake2b(step_bytes, digest_size=16).hexdigest()


def load_runtime(path: str | os.PathLike) -> Runtime:
    """A :class:`Runtime` from a directory written by :meth:`Runtime.save`."""
    path, m = Path(path), None
    if path.is_file():
        raise ValueError(f"{path}: a file; a runtime is a folder ({path.name}.runtime)")
    with contextlib.suppress(OSError, ValueError):  # a folder without one: named below
        m = json.loads((path / _MANIFEST).read_text())
    if not isinstance(m, dict):
        raise ValueError(f"{path / _MANIFEST}: missing or unreadable; {_DAMAGED}")
    if m.get("format") == "leanet-runtime/1":
        raise ValueError(
            f"{path / _MANIFEST}: a runtime of format leanet-runtime/1, whose band steps take "
            f"whole buffers; this library's take their views ({_FORMAT}): save it again "
            "(Runtime.save, or leanet.artifact.save_artifact for an artifact)"
        )
    if m.get("format") not in (_FORMAT, _BODILESS):
        raise ValueError(f"{path / _MANIFEST}: not a leanet runtime manifest")
    steps = []
    digests = m.get("step_digests")  # absent from runtimes saved before: not checked
    for k in range(m["num_levels"]):
        step_file = path / f"step{k + 1}.pt"
        try:
            data = step_file.read_bytes()  # once: loaded, then digested
            with jit_quietly():
                steps.append(torch.jit.load(io.BytesIO(data)))
        except (RuntimeError, ValueError, OSError) as err:
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise ValueError(
                f"{step_file}: not a readable runtime step ({first[:160]}); {_DAMAGED}"
            ) from err
        if digests is not None and _digest(data) != digests[k]:
            raise ValueError(f"{step_file}: not the step its manifest saved; {_DAMAGED}")
    runtime = Runtime(
        steps,
        m["calls"],
        m["buffer_shapes"],
        views=m["band_views"],
        confidence_kind=m["confidence"],
        input_shape=m["input_shape"],
        mode="trace",
        depthwise=m.get("depthwise", "conv"),
        bodies=m.get("bodies"),  # absent from format 2: no step has one
    )
    normalization = m.get("input_normalization")  # absent from runtimes saved before
    if normalization is not None:
        runtime.input_normalization = tuple(normalization)
    return runtime


def _check_options(mode: str, depthwise: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if depthwise not in DEPTHWISE:
        raise ValueError(f"depthwise must be one of {DEPTHWISE}, got {depthwise!r}")


def compile_runtime(net, *, mode: str = "trace", depthwise: str = "conv") -> Runtime:
    """Build the runtime of a LEANet (the net is not changed; weights are copied, folded).

    Args:
        net: A :class:`leanet.LEANet` (width levels: triangular, slice or hybrid scheme;
            or depth levels). Its batch norms' running statistics are folded in: rebuild
            the runtime after changing the net.
        mode: ``"trace"`` (TorchScript trace + freeze per step) or ``"eager"``.
        depthwise: ``"conv"`` (default: exactly the work the cost model charges) or
            ``"dense"`` (batch-1 CPU latency; see the module docstring).
    """
    _check_options(mode, depthwise)
    check_float32(net, "compile_runtime: the network")
    if net.confidence not in CONFIDENCES:
        raise ValueError(f"unknown confidence {net.confidence!r}")
    with evaluating(net):
        steps, shapes = plan(net)
    input_shape = image_shape(net.base.config)
    calls = [step.call for step in steps]
    views = [step.view_specs() if step.call == "band" else None for step in steps]
    bodies = _read_by_next(calls)
    options = dict(
        confidence_kind=net.confidence, input_shape=input_shape, views=views, bodies=bodies
    )
    if depthwise == "dense":
        probe = Runtime(steps, calls, shapes, mode="eager", **options)
        densify_depthwise(probe.steps, lambda: probe.level_logits(torch.zeros(2, *input_shape)))
    if mode == "trace":
        steps = trace_steps(steps, shapes, input_shape, bodies)
    return Runtime(steps, calls, shapes, mode=mode, depthwise=depthwise, **options)


class _Full(nn.Module):
    def __init__(self, base):
        super().__init__()
        self.features = nn.Sequential(*full_ops(base.features))
        self.pool = copy.deepcopy(base.pool)
        self.classifier = copy.deepcopy(base.classifier)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


def compile_full(
    base, *, mode: str = "trace", depthwise: str = "conv", batch: int = 2
) -> nn.Module:
    """The full pretrained network (a :class:`leanet.zoo.BaseNet`) prepared the same way
    as the runtime's steps (BN folded, depthwise convolutions as ``depthwise`` says; traced
    and frozen in ``"trace"`` mode): the fair denominator of a runtime's latency."""
    _check_options(mode, depthwise)
    full = _Full(base).eval().requires_grad_(False)
    example = torch.zeros(batch, *image_shape(base.config))
    if depthwise == "dense":
        densify_depthwise(full, lambda: full(example))
    return full if mode == "eager" else trace(full, (example,))
