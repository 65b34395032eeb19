"""Where a design search keeps the designs it built, and when a kept one may be reused.

A design takes minutes to build, so :class:`leanet.design.DesignProblem` keeps each in a
folder (``<design key>-s<seed>.pt``, its validation records beside it) and a resumed or
repeated search reads it back. A kept design is reused only if it was built from the same
base network, training data and settings (its *source*, a digest kept in the file): one
built from another base had been reused before, so a search ran another network. A
damaged file is built again. Files from before sources were kept are reused as they are.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from torch import Tensor

from leanet.checkpoints import CheckpointError, load_leanet, save_leanet
from leanet.model import LEANet


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


class DesignCache:
    """The designs of one search kept in ``folder`` (built at ``seed`` from ``source``)."""

    def __init__(self, folder: Path, seed: int, source: str) -> None:
        self.folder, self.seed, self.source = Path(folder), seed, source

    def path(self, key: str, what: str = "net") -> Path:
        """The file of design ``key``: its network (``"net"``) or e.g. its ``"val"`` records."""
        suffix = ".pt" if what == "net" else f"-{what}.pt"
        return self.folder / f"{key}-s{self.seed}{suffix}"

    def load(self, key: str) -> tuple[LEANet, dict] | None:
        """The kept design ``key`` if it may be reused, else None (with a warning when a
        file is there: built from another source, or damaged)."""
        path = self.path(key)
        if not path.exists():
            return None
        try:
            net, meta = load_leanet(path)
        except CheckpointError as err:
            warnings.warn(
                f"cached design {path} is damaged ({err}); building it again", stacklevel=3
            )
            return None
        if meta.get("source", self.source) != self.source:
            warnings.warn(
                f"cached design {path} was built from another base network, training data or "
                "settings (head epochs, fine-tune options, seed); building it again",
                stacklevel=3,
            )
            return None
        return net.eval(), meta

    def save(self, key: str, net: LEANet, meta: dict) -> None:
        save_leanet(self.path(key), net, meta={**meta, "source": self.source})
