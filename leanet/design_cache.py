"""Where a design search gets its designs (built, continued, or read back), and when a
kept one may be reused.

A design takes minutes to build, so :class:`leanet.design.DesignProblem` keeps each in a
folder (``<design key>-s<seed>-<source>.pt``, its validation records beside it) and a
resumed or repeated search reads it back. A kept design is reused only if it was built from
the same base network, training data and settings (its *source*, a digest in the file and,
first 12 digits, in its name): one built from another base had been reused before, so a
search ran another network, and searches of other settings sharing a folder had each
overwritten the other's designs. A damaged file is built again. Files from before sources
were named (``<design key>-s<seed>.pt``) are still read, never written: reused if they
record this source; one from before sources were recorded cannot be checked, so it is
built again (it was reused by any search: one of 3 head epochs read the energies of
designs trained with 1), warned once per folder.
A folder that cannot be written (disk full, read-only) warns once; the designs stay in memory.
A design that is the prefix of a longer fine-tuning run keeps its training state beside it
(``-state.pt``), so the longer design continues it instead of starting again.
"""

from __future__ import annotations

import copy
import hashlib
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from torch import Tensor

from leanet.checkpoints import (
    CheckpointError,
    cache_save,
    leanet_checkpoint,
    load_leanet,
    load_safely,
)
from leanet.confidence import CONFIDENCES
from leanet.design_recipe import Design
from leanet.machine import trained_with
from leanet.model import LEANet, build
from leanet.train_loop import TrainState


def source_digest(state: Mapping[str, Tensor], tensors: Sequence[Tensor], extra: Any) -> str:
    """A short digest of weights (a state dict), data tensors and settings."""
    digest = hashlib.blake2b(digest_size=16)
    for name, value in sorted(state.items()):
        digest.update(name.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    for tensor in tensors:
        digest.update(tensor.contiguous().numpy().tobytes())
    digest.update(repr(extra).encode())
    return digest.hexdigest()


def check_cacheable(base) -> None:
    """Refuse, before any design is trained, a base network whose LEANets a cache file
    cannot hold (a file keeps only the config and the weights: a torchvision network with a
    classifier replaced by hand failed to save after each design's training)."""
    try:
        leanet_checkpoint(build(base, fractions=(0.5, 1.0), head_hidden=0))
    except ValueError as err:
        raise ValueError(f"{err}; search without a design cache (cache=None)") from err


_IN_MEMORY = "the designs are kept in memory only, and a later search trains them again"
#: Layout of a kept fine-tuning state's optimizer. 2: a hybrid's top head shares the base's
#: classifier tensors, frozen, so the optimizer no longer holds the base's own copy (which
#: never had a gradient); an optimizer state of layout 1 does not load into it.
STATE_LAYOUT = 2


class DesignCache:
    """The designs of one search kept in ``folder`` (built at ``seed`` from ``source``)."""

    def __init__(self, folder: Path, seed: int, source: str) -> None:
        self.folder, self.seed, self.source = Path(folder), seed, source
        self._warned_unchecked = False  # one warning per folder, not one per design

    def path(self, key: str, what: str = "net", *, named: bool = True) -> Path:
        """The file of design ``key`` of this source: its network (``"net"``) or e.g. its
        ``"val"`` records; with ``named=False``, its name from before sources were named."""
        suffix = ".pt" if what == "net" else f"-{what}.pt"
        source = f"-{self.source[:12]}" if named else ""
        return self.folder / f"{key}-s{self.seed}{source}{suffix}"

    def find(self, key: str, what: str = "net") -> Path | None:
        """The file of ``key`` there is to read: this source's, else one from before sources
        were named, else None."""
        return next(
            (p for p in (self.path(key, what), self.path(key, what, named=False)) if p.exists()),
            None,
        )

    def load(self, key: str) -> tuple[LEANet, dict] | None:
        """The kept design ``key`` if it may be reused, else None (with a warning when a
        file is there: built from another source, or damaged)."""
        path = self.find(key)
        if path is None:
            return None
        try:
            net, meta = load_leanet(path)
        except CheckpointError as err:
            warnings.warn(
                f"cached design {path} is damaged ({err}); building it again", stacklevel=3
            )
            return None
        if "source" not in meta:
            if not self._warned_unchecked:
                self._warned_unchecked = True
                warnings.warn(
                    f"cached designs in {self.folder} recorded no source (written by an older "
                    "leanet version), so they cannot be checked against this base network, "
                    "training data and settings; building them again beside the old files "
                    "(delete those to stop this warning)",
                    stacklevel=3,
                )
            return None
        if meta["source"] != self.source:
            warnings.warn(
                f"cached design {path} was built from another base network, training data or "
                "settings (head epochs, fine-tune options, seed); building it again",
                stacklevel=3,
            )
            return None
        return net.eval(), meta

    def save(self, key: str, net: LEANet, meta: dict) -> None:
        """Keep design ``key``; a folder that cannot be written warns once (the caller
        keeps the network in memory)."""
        checkpoint = leanet_checkpoint(net, meta={**meta, "source": self.source})
        cache_save(checkpoint, self.path(key), what="design cache", instead=_IN_MEMORY)

    def save_state(self, key: str, state: TrainState) -> None:
        """Keep the fine-tuning state that continues design ``key`` (a prefix design)."""
        payload = {**state.to_dict(), "source": self.source, "layout": STATE_LAYOUT}
        cache_save(payload, self.path(key, "state"), what="design cache", instead=_IN_MEMORY)

    def load_state(self, key: str) -> TrainState | None:
        """The kept state of design ``key``, or None (none kept, damaged, other source, or
        kept by an earlier leanet for another optimizer layout)."""
        path = self.find(key, "state")
        if path is None:
            return None
        try:
            state = load_safely(path)
            if state.get("source") != self.source:
                return None
            kept = TrainState.from_dict(state)
        except (CheckpointError, AttributeError, KeyError, TypeError) as err:
            warnings.warn(
                f"fine-tuning state {path} is unreadable ({err}); the design that continues "
                "it trains from the start",
                stacklevel=3,
            )
            return None
        if state.get("layout", 1) != STATE_LAYOUT:
            warnings.warn(
                f"fine-tuning state {path} was kept by an earlier leanet, whose optimizer held "
                "other parameters; the design that continues it trains from the start",
                stacklevel=3,
            )
            return None
        return kept


def same_weights(design: Design) -> list[Design]:
    """``design`` and the designs that differ from it only in the confidence measure, its
    own first. Training never reads the confidence (it decides exits only), so all of them
    train the same weights, bit for bit: one network serves them all (the share of the
    recorded searches' designs that were such twins: ``benchmarks/results/design_twins.md``)."""
    return [design] + [replace(design, confidence=c) for c in CONFIDENCES if c != design.confidence]


class DesignBuilder:
    """Gives each design's trained network once: from memory, from the cache folder, from a
    design that differs only in its confidence measure (:func:`same_weights`: a copy with
    the other exit rule, nothing trained), by continuing the run of a cheaper design
    (``prefixes``), or trained from the start.

    :attr:`built` lists the designs trained here; :attr:`train_seconds` charges every design
    used its training CPU seconds (read back for a cached one; for a continued one only the
    remaining epochs when its prefix is charged too, else what it cost from the start; 0
    when a design of the same weights is charged already); :attr:`trained_with` says where
    each was trained (:mod:`leanet.machine`; None for a design cached before that was
    recorded)."""

    def __init__(
        self,
        base,
        train,
        *,
        head_epochs: int,
        seed: int,
        fine_tune_options: Mapping[str, Any],
        store: DesignCache | None,
        prefixes: Callable[[Design], list[Design]],
    ) -> None:
        self.base, self.train, self.seed, self.store = base, train, seed, store
        self.options = {"head_epochs": head_epochs, "fine_tune_options": fine_tune_options}
        self.prefixes = prefixes
        self.built: list[str] = []
        self.train_seconds: dict[str, float] = {}
        self.trained_with: dict[str, dict | None] = {}
        self._networks: dict[str, LEANet] = {}
        self._states: dict[str, TrainState | None] = {}
        self._full_seconds: dict[str, float] = {}  # each design's cost from the start
        self._meta: dict[str, dict] = {}  # of the networks in memory
        # Cached designs read to price them (has): network() takes them from here.
        self._peeked: dict[str, tuple[LEANet, dict] | None] = {}

    def network(self, design: Design) -> LEANet:
        key = design.key
        if key in self._networks:
            return self._networks[key]
        state = None
        cached = self._kept(key)
        self._peeked.pop(key, None)
        if cached is None and (twin := self._trained_twin(design)) is not None:
            net, meta = self._kept(twin.key)
            net = copy.deepcopy(net)
            net.confidence = design.confidence
            cached = net, {**meta, "design": asdict(design), "shared_with": twin.key}
        if cached is not None:
            net, meta = cached
            seconds = float(meta.get("train_cpu_seconds", float("nan")))
            if meta.get("continued_from") in self.train_seconds:  # its prefix is paid for
                seconds = float(meta["continuation_cpu_seconds"])
        else:
            prefix_key, prefix = self._prefix(design)
            start = time.process_time()
            net, state = design.build_with_state(
                self.base, self.train, seed=self.seed, prefix=prefix, **self.options
            )
            seconds = time.process_time() - start
            self.built.append(key)
            meta = {
                "design": asdict(design),
                "seed": self.seed,
                "train_cpu_seconds": seconds,
                "trained_with": trained_with(),
            }
            if prefix_key is not None:  # what training it from the start would have cost
                meta["continued_from"], meta["continuation_cpu_seconds"] = prefix_key, seconds
                meta["train_cpu_seconds"] = seconds + self._full_seconds[prefix_key]
            self._states[key] = state
        if any(d.key in self.train_seconds for d in same_weights(design)[1:]):
            seconds = 0.0  # its weights are charged already, under another confidence
        self.train_seconds[key] = seconds
        self.trained_with[key] = meta.get("trained_with")
        self._full_seconds[key] = float(meta.get("train_cpu_seconds", float("nan")))
        self._networks[key], self._meta[key] = net, meta
        if cached is None and self.store is not None:  # kept in memory first: see save
            self.store.save(key, net, meta)
            if state is not None:
                self.store.save_state(key, state)
        return net

    def has(self, design: Design) -> bool:
        """Is ``design`` trained (in memory, or in the cache folder as :meth:`network` would
        reuse it: of this source and readable, read once), or a design of the same weights
        (:func:`same_weights`)? A file that merely existed, of another search's settings or
        damaged, priced a design at 0, which was then trained again."""
        return self._kept(design.key) is not None or self._trained_twin(design) is not None

    def _kept(self, key: str) -> tuple[LEANet, dict] | None:
        """Design ``key``'s network and meta if trained: in memory, else in the cache folder
        as :meth:`network` would reuse it (read once; warns if it will be rebuilt)."""
        if key in self._networks:
            return self._networks[key], self._meta[key]
        if key not in self._peeked:
            found = self.store is not None and self.store.find(key) is not None
            self._peeked[key] = self.store.load(key) if found else None
        return self._peeked[key]

    def _trained_twin(self, design: Design) -> Design | None:
        """A trained design of ``design``'s weights under another confidence, if any."""
        return next((d for d in same_weights(design)[1:] if self._kept(d.key) is not None), None)

    def _state(self, design: Design) -> TrainState | None:
        """The fine-tuning state that continues ``design`` (a prefix), or that of a design
        of the same weights: in memory, else read from the cache folder once."""
        for d in same_weights(design):
            if d.key not in self._states and self.store is not None:
                # read now: a damaged or foreign state does not count
                self._states[d.key] = self.store.load_state(d.key)
            if self._states.get(d.key) is not None:
                return self._states[d.key]
        return None

    def trained_prefix(self, design: Design) -> Design | None:
        """The longest prefix of ``design`` that :meth:`network` would continue, if any
        (without loading it): trained, and with its fine-tuning state unless it had no
        fine-tuning (a state that failed to load does not count)."""
        for shorter in self.prefixes(design):
            if not self.has(shorter):
                continue
            if shorter.fine_tune_epochs == 0 or self._state(shorter) is not None:
                return shorter
        return None

    def _prefix(self, design: Design) -> tuple[str | None, tuple[LEANet, TrainState] | None]:
        """The longest trained prefix of ``design`` (its key, network and state), if any."""
        shorter = self.trained_prefix(design)
        if shorter is None:
            return None, None
        return shorter.key, (self.network(shorter), self._state(shorter))
