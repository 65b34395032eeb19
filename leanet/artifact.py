"""The deployable artifact: a LEANet, its Pareto table and its cost table in one file.

:func:`save_artifact` writes them with a checksummed header and, next to the file, the
compiled runtime a device runs (``<path>.runtime/``) and the input normalization it needs;
:func:`load_artifact` verifies and reads them back; :class:`Artifact` picks thresholds
for a requirement (:func:`leanet.policy.choose_thresholds`) and predicts.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from leanet.checkpoints import (
    CheckpointError,
    atomic_path,
    leanet_checkpoint,
    leanet_from_checkpoint,
)
from leanet.costs import LevelCosts, Platform
from leanet.data import standardize
from leanet.evaluator import ThresholdMetrics
from leanet.policy import choose_thresholds
from leanet.runtime import compile_runtime, load_runtime

ARTIFACT_FORMAT = "leanet-artifact"
ARTIFACT_VERSION = 2
# An artifact file: this line (magic, format version, SHA-256 of the rest), then the
# torch-serialized payload. The checksum catches flipped or lost bytes anywhere.
_MAGIC = b"LEANET-ARTIFACT"
#: The file in a runtime folder naming the artifact (its sha256) it was saved with.
_RUNTIME_STAMP = "artifact.sha256"


@dataclass
class Artifact:
    """What a device needs: the LEANet, its Pareto table and the platform's cost table.

    Attributes:
        net: The :class:`leanet.LEANet`.
        front: The Pareto set of threshold vectors with their validation metrics.
        costs: The per-level costs the energies were computed with.
        meta: Free-form metadata (data set, accuracies, ...).
    """

    net: object
    front: ThresholdMetrics
    costs: LevelCosts
    meta: dict
    runtime_path: Path | None = None
    #: The artifact file's sha256; the runtime folder saved with it carries the same.
    checksum: str | None = None
    #: The per-channel ``(mean, std)`` the network's inputs are standardized with, if saved.
    input_normalization: tuple[list[float], list[float]] | None = None

    def standardize(self, images: Tensor) -> Tensor:
        """A device's images (uint8 0..255 or float in [0, 1]) as :meth:`predict` and the
        runtime take them, by the normalization the network was trained with."""
        if self.input_normalization is None:
            raise ValueError(
                "this artifact was saved without its input normalization "
                "(save_artifact(input_normalization=...)): standardize the images as the "
                "training data was"
            )
        return standardize(images, *self.input_normalization)

    def runtime(self):
        """The compiled runtime a device runs (:mod:`leanet.runtime`): the one saved next to
        the artifact (``<artifact>.runtime/``) if it was saved with this artifact, else
        compiled from ``net`` (with a warning when a folder of another artifact is there)."""
        runtime = self._shipped_runtime()
        if runtime is None:
            runtime = compile_runtime(self.net)
        runtime.input_normalization = self.input_normalization
        return runtime

    def _shipped_runtime(self):
        """The runtime saved with this artifact, or None (warning when the folder is
        another artifact's)."""
        folder = self.runtime_path
        if folder is None or not folder.is_dir():
            return None
        stamp = folder / _RUNTIME_STAMP
        if stamp.is_file() and stamp.read_text().strip() == self.checksum:
            return load_runtime(folder)
        warnings.warn(
            f"{folder} was not saved with this artifact (another network, or saved before "
            "runtimes were stamped): compiling the artifact's own network instead; save "
            "the artifact again to ship its runtime",
            stacklevel=3,
        )
        return None

    def thresholds(
        self, *, energy_budget: float | None = None, accuracy_floor: float | None = None
    ) -> Tensor:
        """The Pareto thresholds for an energy budget or an accuracy floor."""
        i = choose_thresholds(
            self.front, energy_budget=energy_budget, accuracy_floor=accuracy_floor
        )
        return self.front.thresholds[i]

    def predict(self, x: Tensor, **requirement: float):
        """Adaptive inference on ``x`` with the thresholds for ``requirement``
        (``energy_budget=`` or ``accuracy_floor=``), by the reference path ``net(x, T)``
        (:meth:`runtime` runs the compiled steps, with the same decisions)."""
        return self.net(x, self.thresholds(**requirement))


def _check_front_and_costs(net, front: ThresholdMetrics, costs: LevelCosts) -> None:
    """Refuse a front or cost table of another network: they saved, and then failed on the
    device at the first choice (an empty front, thresholds of another level count), or
    worse, printed another network's savings (a depth LEANet's costs with a width one)."""
    if len(front) == 0:
        raise ValueError(
            "the front is empty: nothing to deploy (a constraint no evaluated point met?)"
        )
    L = net.num_levels
    if front.thresholds.dim() != 2 or front.thresholds.shape[1] != L - 1:
        raise ValueError(
            f"the front's thresholds are {tuple(front.thresholds.shape)}, not B x {L - 1}: "
            f"a front of another network (this one has {L} levels)"
        )
    if len(costs.exit_energy) != L:
        raise ValueError(
            f"the cost table prices {len(costs.exit_energy)} levels, this network has {L}"
        )
    if costs.level_work is not None:  # counted: it must be this network's work
        counted = [int(work.macs) for work in costs.level_work]
        if counted != net.level_macs():
            raise ValueError(
                f"the cost table counts {counted} MACs per level, this network does "
                f"{net.level_macs()}: costs of another network (measure_costs(net))"
            )


def save_artifact(
    path: str | os.PathLike,
    net,
    front: ThresholdMetrics,
    costs: LevelCosts,
    *,
    meta: dict | None = None,
    runtime: bool = True,
    depthwise: str = "conv",
    input_normalization: tuple | None = None,
) -> Path:
    """Save the LEANet, its Pareto table and the cost table as one file, and (``runtime``)
    its compiled per-level steps in the folder ``<path>.runtime/`` (:meth:`Runtime.save`),
    so a device runs exactly the steps that were measured. ``depthwise="dense"`` ships the
    runtime that is faster at batch 1 on a CPU (:mod:`leanet.runtime`); the table's
    energies stay the cost model's, which charges the convolutions.
    ``input_normalization`` is the per-channel ``(mean, std)`` the network was trained
    with (``data.train.normalization`` for :func:`leanet.data.load_dataset`'s splits),
    saved with the artifact and its runtime so a device can prepare its images
    (:meth:`Artifact.standardize`)."""
    path = Path(path)
    _check_front_and_costs(net, front, costs)
    normalization = _checked_normalization(input_normalization, net)
    # Compiled first, so a bad option or a network that does not trace fails before any
    # file is replaced.
    compiled = compile_runtime(net, depthwise=depthwise) if runtime else None
    path.parent.mkdir(parents=True, exist_ok=True)
    platform = None if costs.platform is None else dataclasses.asdict(costs.platform)
    payload = {
        "format": ARTIFACT_FORMAT,
        "leanet": leanet_checkpoint(net, meta=meta),
        "pareto": {name: getattr(front, name) for name in _METRIC_FIELDS},
        "costs": {
            "exit_energy": costs.exit_energy,
            "full_energy": costs.full_energy,
            "platform": platform,
            "exit_macs": costs.exit_macs if costs.level_work is not None else None,
            "standalone": costs.standalone,
            "head_energy": costs.head_energy,
        },
        "input_normalization": normalization,
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    body = buffer.getvalue()
    checksum = hashlib.sha256(body).hexdigest()
    head = b"%s %d sha256=%s\n" % (_MAGIC, ARTIFACT_VERSION, checksum.encode())
    folder = runtime_folder(path)
    shutil.rmtree(folder, ignore_errors=True)  # never next to another artifact's file
    with atomic_path(path) as partial, open(partial, "wb") as f:
        f.write(head + body)
        f.flush()
        os.fsync(f.fileno())
    if compiled is not None:
        compiled.input_normalization = normalization
        compiled.save(folder)
        (folder / _RUNTIME_STAMP).write_text(checksum + "\n")
    return path


def runtime_folder(path: str | os.PathLike) -> Path:
    """Where :func:`save_artifact` puts the compiled runtime of the artifact at ``path``."""
    path = Path(path)
    return path.with_name(path.name + ".runtime")


def load_artifact(path: str | os.PathLike) -> Artifact:
    """Load what :func:`save_artifact` wrote.

    Raises:
        FileNotFoundError: No file at ``path``.
        CheckpointError: Not an artifact, another format version, a checksum that does
            not match (a damaged file), or a network that does not rebuild.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no LEANet artifact at {str(path)!r}")
    body, checksum = _verified_body(path)
    try:
        payload = torch.load(io.BytesIO(body), weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file gets the same clear error
        raise CheckpointError(f"{path}: not a readable LEANet artifact: {err}") from err
    if not isinstance(payload, dict) or payload.get("format") != ARTIFACT_FORMAT:
        raise CheckpointError(f"{path}: not a LEANet artifact (format {ARTIFACT_FORMAT})")
    net, meta = leanet_from_checkpoint(payload["leanet"], source=str(path))
    front = ThresholdMetrics(**payload["pareto"])
    saved = payload["costs"]
    platform = Platform(**saved["platform"]) if saved["platform"] else None
    costs = LevelCosts(
        saved["exit_energy"],
        saved["full_energy"],
        platform=platform,
        standalone=saved.get("standalone"),
        # absent from artifacts saved before heads were split out: charged in full, as then
        head_energy=saved.get("head_energy"),
    )
    folder = runtime_folder(path).absolute()  # still found after a chdir
    if not folder.is_dir():  # reached through a symbolic link: beside the file it names
        folder = runtime_folder(path.resolve())
    return Artifact(
        net,
        front,
        costs,
        meta,
        runtime_path=folder,
        checksum=checksum,
        input_normalization=_as_pair(payload.get("input_normalization")),
    )


def _as_pair(normalization) -> tuple[list[float], list[float]] | None:
    return None if normalization is None else (list(normalization[0]), list(normalization[1]))


def _checked_normalization(normalization, net) -> tuple[list[float], list[float]] | None:
    """``(mean, std)`` as two lists of one float per input channel of ``net``, or None."""
    if normalization is None:
        return None
    channels = int(net.base.config["in_channels"])
    try:
        mean, std = (torch.as_tensor(v, dtype=torch.float64).flatten() for v in normalization)
    except (TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"input_normalization must be (mean, std), got {normalization!r}") from err
    if len(mean) != channels or len(std) != channels:
        raise ValueError(
            f"input_normalization must give one mean and one std per input channel "
            f"({channels}), got {len(mean)} and {len(std)}"
        )
    if not bool(torch.isfinite(mean).all()) or not bool((std > 0).all()):
        raise ValueError(
            f"input_normalization needs finite means and positive stds, got "
            f"{mean.tolist()} and {std.tolist()}"
        )
    return mean.tolist(), std.tolist()


def _verified_body(path: Path) -> tuple[bytes, str]:
    """The payload bytes of an artifact file and their sha256, after its magic, version and
    checksum are verified."""
    data = path.read_bytes()
    if data.startswith(b"PK\x03\x04"):  # a torch zip file: a checkpoint, or an old artifact
        raise CheckpointError(
            f"{path} is a PyTorch file without the {_MAGIC.decode()} header: a checkpoint from "
            "`leanet train` or `leanet fit-heads` (make an artifact from a LEANet with "
            "`leanet optimize`), or an artifact from an older version (make it again)"
        )
    head, _, body = data.partition(b"\n")
    parts = head.split(b" ")
    if len(parts) != 3 or parts[0] != _MAGIC or not parts[2].startswith(b"sha256="):
        raise CheckpointError(
            f"{path}: not a readable LEANet artifact of format version {ARTIFACT_VERSION} (no "
            f"{_MAGIC.decode()} header; an artifact from an older version must be made again "
            "with `leanet optimize`)"
        )
    if parts[1] != str(ARTIFACT_VERSION).encode():
        raise CheckpointError(
            f"{path}: artifact format version {parts[1].decode(errors='replace')}, this "
            f"library reads version {ARTIFACT_VERSION}"
        )
    checksum = hashlib.sha256(body).hexdigest()
    if checksum.encode() != parts[2][len(b"sha256=") :]:
        raise CheckpointError(
            f"{path}: checksum mismatch: the artifact is damaged (bytes changed or lost "
            "since it was saved)"
        )
    return body, checksum


_METRIC_FIELDS = ("thresholds", "accuracy", "energy", "energy_ratio", "exit_fraction")
