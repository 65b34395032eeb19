"""Checkpoint files: base networks and whole LEANets, with their metadata.

- :func:`save_checkpoint` / :func:`load_checkpoint` store a base network with its metadata
  (architecture, data set, classes, input size, accuracy) and refuse mismatches clearly.
- :func:`save_leanet` / :func:`load_leanet` store a whole LEANet (the config that rebuilds
  it, every weight, free-form metadata).

Kept apart from :mod:`leanet.train`: reading and writing files is not training.
"""

from __future__ import annotations

import errno
import glob
import io
import os
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from leanet.model import LEANet
from leanet.zoo import ARCHITECTURES, BaseNet, build_base

__all__ = [
    "CheckpointError",
    "leanet_checkpoint",
    "leanet_from_checkpoint",
    "load_checkpoint",
    "load_leanet",
    "save_checkpoint",
    "save_leanet",
]

BASE_FORMAT = "leanet.base/1"
LEANET_FORMAT = "leanet.leanet/1"


class CheckpointError(ValueError):
    """A checkpoint file is unreadable or does not match what the caller asked for."""


def layers(module: torch.nn.Module) -> list[str]:
    """Every submodule as ``"name: Type(settings)"``: what a checkpoint's config must
    rebuild, since a file holds only the config and the weights."""
    return [f"{name}: {type(m).__name__}({m.extra_repr()})" for name, m in module.named_modules()]


def _rebuild_problem(saved: list[str], rebuilt_layers) -> str | None:
    """Why ``rebuilt_layers()`` (of the network a file's config makes) are not ``saved``,
    or None when they are."""
    try:
        rebuilt = rebuilt_layers()
    except (KeyError, ValueError, TypeError, RuntimeError) as err:
        return f"its config does not rebuild it ({err})"
    for mine, theirs in zip(saved, rebuilt, strict=False):
        if mine != theirs:
            return f"rebuilt from its config it has {theirs!r} where it has {mine!r}"
    if len(saved) != len(rebuilt):
        return f"rebuilt from its config it has {len(rebuilt)} modules, not {len(saved)}"
    return None


def _check_rebuilds(network: torch.nn.Module, rebuild, what: str) -> list[str]:
    """The network's :func:`layers`, once its config is known to rebuild them: a network
    changed after it was built (ReLU6 for ReLU) or of the user's own architecture saved,
    and loaded as another network (a modified ConvNet's accuracy 0.79 -> 0.19) or not at
    all."""
    saved = layers(network)
    problem = _rebuild_problem(saved, lambda: layers(rebuild()))
    if problem is not None:
        raise ValueError(
            f"cannot save this {what} as a file, which holds only its config and weights: "
            f"{problem}; the compiled runtime (leanet.compile_runtime(net).save(folder)) "
            "ships any network"
        )
    return saved


# -- base checkpoints ---------------------------------------------------------------------
def save_checkpoint(
    path: str | os.PathLike,
    model: BaseNet,
    *,
    dataset: str,
    classes: Sequence[str],
    accuracy: float | None = None,
    split_seed: int | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Save a base network with its metadata; returns the path.

    Stored: format tag, the config that rebuilds the network (architecture, num_classes,
    in_channels, input_size, width_multiplier), data set name, class names, test accuracy
    (fraction), `split_seed`, `extra`, and the state dict. Numpy numbers in `accuracy` and
    `extra` are stored as Python ones; a value leanet could not load back is refused
    (TypeError) before the file is replaced.

    Args:
        split_seed: The seed of the data split the network was trained on (``data.seed``
            of :func:`leanet.load_dataset`'s splits). The CLI measures the network on that
            split; for a file without it, it assumes seed 0 and warns (``--split-seed``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if len(classes) != model.config["num_classes"]:
        raise ValueError(
            f"{len(classes)} class names for a {model.config['num_classes']}-class network"
        )
    config = dict(model.config)
    if config.get("arch") not in ARCHITECTURES:
        raise ValueError(
            f"cannot save a base network of architecture {config.get('arch')!r} as a file: "
            f"it holds the config that rebuilds the network, for {list(ARCHITECTURES)}"
        )
    arch = config.pop("arch")
    # seed=0: weights only compared by layer, drawn without the caller's global generator
    saved = _check_rebuilds(model, lambda: build_base(arch, **config, seed=0), "base network")
    payload = {
        "format": BASE_FORMAT,
        "config": dict(model.config),
        "layers": saved,
        "dataset": _saveable(dataset, "dataset"),
        "classes": _saveable(list(classes), "classes"),
        "accuracy": _saveable(accuracy, "accuracy"),
        "extra": _saveable(dict(extra or {}), "extra"),
    }
    seed = _split_seed(split_seed, payload["extra"], "extra")
    if seed is not None:
        payload["split_seed"] = seed
    atomic_save({**payload, "state_dict": model.state_dict()}, path)
    return path


def _split_seed(split_seed: int | None, recorded: dict[str, Any], name: str) -> int | None:
    """The split seed to store: ``split_seed``, or the one ``recorded`` (``extra`` or
    ``meta``) holds; two that differ are refused, as the file could not say which split."""
    other = recorded.get("split_seed")
    if split_seed is not None and other is not None and int(other) != int(split_seed):
        raise ValueError(
            f"split_seed={split_seed} but {name}['split_seed'] is {other}: give the seed once"
        )
    seed = split_seed if split_seed is not None else other
    return None if seed is None else int(seed)


def _saveable(value: Any, name: str) -> Any:
    """``value`` (metadata ``name``) as a file leanet reads back can hold it: numpy scalars
    and arrays as Python numbers and lists, in dicts, lists and tuples too. Anything that
    ``torch.load(weights_only=True)``, leanet's loader, still cannot read is refused with a
    TypeError naming its entry, before any file is replaced: an ``np.mean`` accuracy
    (np.float64, a float) once wrote a checkpoint no loader could open over a good one."""
    value = _plain(value)
    if _reads_back(value):
        return value
    entries = value.items() if isinstance(value, dict) else ()
    where, bad = next(
        ((f"{name}[{k!r}]", v) for k, v in entries if not _reads_back(v)), (name, value)
    )
    raise TypeError(
        f"{where} is of type {type(bad).__name__}, which leanet could not load back from a file "
        "(it reads files with torch.load(weights_only=True): Python numbers, strings, lists, "
        "dicts and tensors); give it as those"
    )


def _plain(value: Any) -> Any:
    """``value`` with numpy scalars and arrays as Python values, also inside dicts, lists
    and tuples."""
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    if type(value) is dict:
        return {_plain(k): _plain(v) for k, v in value.items()}
    if type(value) in (list, tuple):
        return type(value)(_plain(v) for v in value)
    return value


def _reads_back(value: Any) -> bool:
    """Whether ``torch.load(weights_only=True)`` reads ``value`` back after ``torch.save``."""
    buffer = io.BytesIO()
    try:
        torch.save(value, buffer)
        buffer.seek(0)
        torch.load(buffer, weights_only=True)
    except Exception:  # noqa: BLE001 - pickling and the weights-only unpickler raise many types
        return False
    return True


def load_safely(path: str | os.PathLike) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU; a file it cannot read raises a
    :class:`CheckpointError` that says so in torch's first sentence."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for a damaged file
        # Only torch's first sentence: the rest suggests unsafe loading, which is not the fix.
        first = str(err).strip().splitlines()[0].split(". ")[0] if str(err).strip() else ""
        with open(path, "rb") as f:
            zipped = f.read(2) == b"PK"
        kind = "a damaged checkpoint" if zipped else "not a PyTorch checkpoint"
        if zipped and "weights only load failed" in str(err).lower():
            # Readable, but it pickles Python objects: most often a whole model saved with
            # torch.save(model), which torch.load runs code to rebuild.
            kind = (
                "it holds pickled Python objects, e.g. a whole model saved with "
                "torch.save(model), which leanet does not unpickle; save a network for leanet "
                "with `leanet train` or leanet.save_checkpoint"
            )
        raise CheckpointError(
            f"{path}: not a readable checkpoint ({kind}; {type(err).__name__}: {first[:200]})"
        ) from err


#: What every checkpoint format must hold besides its tag.
_REQUIRED = ("config", "state_dict")
#: Which command writes each format, for the errors.
_WRITER = {BASE_FORMAT: "`leanet train`", LEANET_FORMAT: "`leanet fit-heads`"}


def _read(path: str | os.PathLike, fmt: str) -> dict[str, Any]:
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder, not a checkpoint file")
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path.resolve()}")
    with open(path, "rb") as f:
        start = f.read(16)
    if start.startswith(b"LEANET-ARTIFACT"):
        raise CheckpointError(
            f"{path} is a LEANet artifact (from `leanet optimize` or `leanet design`), not a "
            f"{fmt!r} checkpoint; `leanet report` reads artifacts"
        )
    ckpt = load_safely(path)
    if isinstance(ckpt, dict) and "format" not in ckpt:
        raise CheckpointError(
            f"{path}: a dict without leanet's format tag (a bare state dict?), not a {fmt!r} "
            f"checkpoint; {_WRITER[fmt]} writes those"
        )
    if not isinstance(ckpt, dict) or ckpt.get("format") != fmt:
        found = ckpt.get("format") if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CheckpointError(f"{path}: expected a {fmt!r} checkpoint, found {found!r}")
    missing = [key for key in _REQUIRED if key not in ckpt]
    if missing:
        raise CheckpointError(f"{path}: a {fmt!r} checkpoint without {missing} (damaged?)")
    return ckpt


def load_checkpoint(
    path: str | os.PathLike,
    *,
    arch: str | None = None,
    num_classes: int | None = None,
) -> tuple[BaseNet, dict[str, Any]]:
    """Load a base network saved by :func:`save_checkpoint`.

    Args:
        path: The checkpoint file.
        arch: If given, the architecture the caller expects.
        num_classes: If given, the class count the caller expects.

    Returns:
        The network (eval mode) and the metadata dict (everything but the state dict).

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: unreadable/corrupt file, wrong format, or an architecture / class
            count / weight shape that does not match.
    """
    ckpt = _read(path, BASE_FORMAT)
    config = dict(ckpt["config"])
    if config.get("arch") not in ARCHITECTURES:
        raise CheckpointError(f"{path}: unknown architecture {config.get('arch')!r}")
    if arch is not None and config["arch"] != arch:
        raise CheckpointError(f"{path}: holds a {config['arch']!r} network, expected {arch!r}")
    if num_classes is not None and config["num_classes"] != num_classes:
        raise CheckpointError(
            f"{path}: network has {config['num_classes']} classes, expected {num_classes}"
        )
    model = build_base(config.pop("arch"), **config, seed=0)  # the file's weights replace them
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as err:
        raise CheckpointError(f"{path}: weights do not fit {model.arch}: {err}") from err
    _check_loaded(ckpt, model, str(path))
    meta = {k: v for k, v in ckpt.items() if k != "state_dict"}
    return model.eval(), meta


# -- LEANet checkpoints -------------------------------------------------------------------
def leanet_checkpoint(net: LEANet, *, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """The dict that :func:`save_leanet` writes: format tag, the config that rebuilds
    `net`, `meta`, and the weights (``levels.features`` is ``base.features``, stored once).
    Other artifacts embed it to save a LEANet together with more data. `meta` is stored as
    :func:`_saveable` makes it (numpy numbers as Python ones; refused if unloadable)."""
    state = {k: v for k, v in net.state_dict().items() if not k.startswith("levels.features.")}
    config = net.config()
    saved = _check_rebuilds(net, lambda: LEANet.from_config(config), "LEANet")
    return {
        "format": LEANET_FORMAT,
        "config": config,
        "layers": saved,
        "meta": _saveable(dict(meta or {}), "meta"),
        "state_dict": state,
    }


def leanet_from_checkpoint(
    payload: dict[str, Any], *, source: str = "<checkpoint>"
) -> tuple[LEANet, dict[str, Any]]:
    """Rebuild a LEANet (eval mode) and its meta from :func:`leanet_checkpoint`'s dict.

    Raises:
        CheckpointError: wrong format, or a config / weights that do not rebuild; the
            message starts with `source`.
    """
    if not isinstance(payload, dict) or payload.get("format") != LEANET_FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"{source}: expected a {LEANET_FORMAT!r} checkpoint, found {found!r}")
    try:
        net = LEANet.from_config(payload["config"])
        missing, unexpected = net.load_state_dict(payload["state_dict"], strict=False)
    except (RuntimeError, KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"{source}: does not rebuild a LEANet: {err}") from err
    _check_loaded(payload, net, source)
    missing = [k for k in missing if not k.startswith("levels.features.")]
    if missing or unexpected:
        raise CheckpointError(
            f"{source}: weights do not fit (missing {missing}, unexpected {unexpected})"
        )
    return net.eval(), dict(payload.get("meta") or {})


def _check_loaded(payload: dict[str, Any], network: torch.nn.Module, source: str) -> None:
    """Refuse a rebuilt network whose layers are not of the types saved (files written
    before the layers were recorded are not checked). Saving compared every setting, in
    the same torch; here only names and types, which another torch version prints alike."""
    saved = payload.get("layers")
    if saved is not None:
        problem = _rebuild_problem(_kinds(list(saved)), lambda: _kinds(layers(network)))
        if problem is not None:
            raise CheckpointError(f"{source}: not the network that was saved: {problem}")


def _kinds(described: list[str]) -> list[str]:
    """:func:`layers` without their settings: ``"name: Type"``."""
    return [layer.split("(", 1)[0] for layer in described]


def save_leanet(
    path: str | os.PathLike,
    net: LEANet,
    *,
    meta: dict[str, Any] | None = None,
    split_seed: int | None = None,
) -> Path:
    """Save a LEANet (config to rebuild it, all weights, `meta` such as data set and
    per-level accuracies); returns the path. ``split_seed``, the seed of the data split it
    was trained on, is kept in its meta: see :func:`save_checkpoint`."""
    path = Path(path)
    meta = dict(meta or {})
    seed = _split_seed(split_seed, meta, "meta")
    if seed is not None:
        meta["split_seed"] = seed
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_save(leanet_checkpoint(net, meta=meta), path)
    return path


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` (named for this process) for the block to write,
    renamed over ``path`` when the block ends and removed if it raises: a crash, or another
    process writing the same file (design searches sharing a cache), never leaves a
    half-written file at ``path``. A process killed outright (SIGKILL, power loss) leaves
    its ``<name>.<pid>.tmp`` beside it, which nothing reads: the next write of ``path``
    removes it once it is abandoned (:func:`remove_abandoned`)."""
    path = Path(path)
    partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    remove_abandoned(path)


#: A partial file untouched this long, by a process no longer alive here, is abandoned.
ABANDONED_AFTER = 3600.0


def remove_abandoned(path: Path) -> None:
    """Remove the ``<name>.<pid>.tmp`` files beside ``path`` that processes killed outright
    left (a design search killed for memory left a network's worth each time): those of a
    pid not alive on this machine and untouched for :data:`ABANDONED_AFTER` seconds. The
    age guards a writer on another machine sharing the folder (its pid means nothing
    here), which touches its file as it writes. POSIX only: elsewhere nothing is removed."""
    if os.name != "posix":  # os.kill(pid, 0) asks a POSIX kernel only (Windows kills)
        return
    now = time.time()
    for partial in path.parent.glob(f"{glob.escape(path.name)}.*.tmp"):
        pid = partial.name[len(path.name) + 1 : -len(".tmp")]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            if now - partial.stat().st_mtime < ABANDONED_AFTER:
                continue
            os.kill(int(pid), 0)  # raises if no such process
        except ProcessLookupError:
            partial.unlink(missing_ok=True)
        except OSError:  # alive under another user (EPERM), or gone already
            continue


def atomic_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` through :func:`atomic_path`. A write that fails raises an OSError
    that names ``path`` (ENOSPC when its disk is full): torch says only e.g. "[enforce fail
    at inline_container.cc:672] . unexpected pos 128 vs 0"."""
    with atomic_path(path) as partial:
        try:
            torch.save(obj, partial)
        except RuntimeError as err:  # torch's file writer failed (pickling fails otherwise)
            raise _write_error(Path(path), err) from err


def _write_error(path: Path, err: RuntimeError) -> OSError:
    """torch's write failure ``err`` as an OSError of ``path``: torch keeps no errno, so
    the free space of its disk (probed while the partial file is still there) tells."""
    if not path.parent.is_dir():
        return FileNotFoundError(errno.ENOENT, f"no such folder; torch: {err}", str(path))
    try:
        disk = os.statvfs(path.parent)
        full = disk.f_bavail * disk.f_frsize < 2**20
    except (AttributeError, OSError):  # no statvfs (Windows)
        full = False
    if full:
        return OSError(errno.ENOSPC, f"{os.strerror(errno.ENOSPC)}; torch: {err}", str(path))
    return OSError(errno.EIO, f"the write failed; torch: {err}", str(path))


#: Cache folders warned about as unwritable (once each, until a write there succeeds).
_UNWRITABLE: set[Path] = set()


def cache_save(obj: Any, path: str | os.PathLike, *, what: str, instead: str) -> bool:
    """:func:`atomic_save` for a cache file: one that cannot be written (disk full, a
    read-only shared folder) warns once per folder, naming it, the cause and what happens
    ``instead``, and returns False, so the caller keeps what it computed in memory. A cache
    is only a cache: a design trained for minutes had been thrown away and journaled as a
    failed point."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_save(obj, path)
    except OSError as err:
        if path.parent not in _UNWRITABLE:
            _UNWRITABLE.add(path.parent)
            warnings.warn(
                f"{what} {str(path.parent)!r} cannot be written ({err.strerror or err}): {instead}",
                stacklevel=3,
            )
        return False
    _UNWRITABLE.discard(path.parent)
    return True


def load_leanet(path: str | os.PathLike) -> tuple[LEANet, dict[str, Any]]:
    """Load a LEANet saved by :func:`save_leanet`; returns it (eval mode) and its meta.

    Raises:
        FileNotFoundError / CheckpointError as :func:`load_checkpoint`.
    """
    return leanet_from_checkpoint(_read(path, LEANET_FORMAT), source=str(path))
