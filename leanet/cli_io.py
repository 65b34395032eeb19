"""Where the ``leanet`` command line's verbs read their data and write their files: the
data split a checkpoint was made on, output paths checked before any work, and the error
a user can fix, reported as one line."""

from __future__ import annotations

import argparse
import os
import warnings
from pathlib import Path

from leanet.cli_types import SEED, level


class CLIError(Exception):
    """A failure the user can fix, reported as one line."""


def add_data_args(p: argparse.ArgumentParser, *, split_seed: bool = True) -> None:
    """The data options; ``split_seed``: a verb that reads a file's split offers
    ``--split-seed`` for a file that records none (:func:`split_seed`)."""
    p.add_argument(
        "--data-root",
        default=None,
        help="folder of torchvision data sets (default $LEANET_DATA or ./data)",
    )
    p.add_argument(
        "--download",
        action="store_true",
        help="let torchvision download missing data (needs internet)",
    )
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    if split_seed:
        p.add_argument(
            "--split-seed",
            type=SEED,
            default=None,
            metavar="S",
            help="the seed of the data split the file was trained on, for a file that "
            "records none (saved before files recorded it, or without split_seed=): it is "
            "then measured on that split, not seed 0's; it overrides a recorded seed, with "
            "a warning (fit-heads recorded a guessed 0 before)",
        )


def add_bound_arg(p: argparse.ArgumentParser) -> None:
    """``--bound C``: choose the thresholds of the energy-saved table by the paired bound."""
    p.add_argument(
        "--bound",
        type=level,
        default=None,
        metavar="C",
        help="choose each allowed loss's thresholds by a paired lower confidence bound at "
        "level C (e.g. 0.9) on the accuracy change against the full network, instead of "
        "validation accuracy alone: fewer choices that lose more than allowed on test, for "
        "less energy saved at 0%% (leanet.policy.accuracy_change_bound; "
        "benchmarks/results/threshold_choice.md)",
    )


def split_seed(meta: dict, args: argparse.Namespace, source: str | os.PathLike) -> int:
    """The seed of the data split the file ``source`` (its metadata ``meta``) was made on:
    a LEANet's or artifact's metadata holds it, a base checkpoint's too (or its ``extra``,
    where `leanet train` kept it before). A file that records none gets ``--split-seed``,
    else 0 with a warning: measured on another seed's split, a network's "validation" and
    "test" images are half its training images (a seed-1 demo network's test accuracy
    0.966 read 0.988 on seed 0's split). ``--split-seed`` overrides a recorded seed with a
    warning: fit-heads recorded 0 for a base that recorded none, as if it were known."""
    recorded = meta.get("split_seed")
    if recorded is None:
        recorded = (meta.get("extra") or {}).get("split_seed")
    given = getattr(args, "split_seed", None)
    if recorded is not None:
        if given is not None and given != int(recorded):
            warnings.warn(
                f"{source} records the data split of seed {int(recorded)}; measuring it on "
                f"seed {given}'s, as --split-seed says (files fit-heads wrote before recorded a "
                "guessed 0); on another split than its own, it is measured partly on its "
                "training images",
                stacklevel=2,
            )
            return given
        return int(recorded)
    if given is not None:
        return given
    warnings.warn(
        f"{source} does not record the seed of the data split it was trained on (saved "
        "before files recorded it, or without split_seed=): assuming seed 0; if it was "
        "trained on another split, give --split-seed",
        stacklevel=2,
    )
    return 0


def check_out_file(path: Path, *, source: str | os.PathLike | None = None) -> None:
    """Refuse an output file path that cannot be written, or that is the command's input
    file ``source`` (the output would replace it), before any work is done."""
    if path.is_dir():
        raise CLIError(f"--out {path} is a folder; give a file path")
    if source is not None and path.exists() and path.samefile(source):
        raise CLIError(f"--out {path} is the input file; give another path (it would replace it)")
    parent = next((p for p in path.parents if p.exists()), Path("."))
    if not parent.is_dir():
        raise CLIError(f"--out {path}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK):
        raise CLIError(f"--out {path}: {parent} is not writable")


def data_of(meta: dict, args: argparse.Namespace, source: str | os.PathLike):
    """The data set the file ``source`` (its metadata ``meta``) was made on, split as it
    was (:func:`split_seed`). An artifact of a search that held validation images out
    (``leanet design --holdout``) was measured on those: they are its validation split
    here."""
    from dataclasses import replace

    from leanet.data import hold_out, load_dataset

    if "dataset" not in meta:
        raise CLIError("the checkpoint does not say which data set it was made on")
    data = load_dataset(
        meta["dataset"],
        root=args.data_root,
        seed=split_seed(meta, args, source),
        download=args.download,
    )
    if "holdout" in meta:
        _, held = hold_out(data, int(meta["holdout"]), seed=int(meta["holdout_seed"]))
        data = replace(data, val=held)
    return data
