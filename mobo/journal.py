"""A study's journal: one JSON object per line, appended, flushed and fsynced.

The first line is a header that identifies the problem, algorithm and seed; every later
line is a record: an evaluation, the budget set by ``optimize``, or the algorithm state an
ask left behind (a GP algorithm's warm-start hyperparameters, written before that ask's
evaluations and only when it changed). A line is on disk
before :meth:`Journal.append` returns, so a crash loses only work not yet told. A crash in
the middle of a write leaves a truncated last line: :func:`read_journal` drops it, keeps
every complete line, truncates the file back to them and says so with a warning.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

FORMAT = "mobo-journal"
VERSION = 1


class JournalError(ValueError):
    """The journal file cannot be used (corrupt, wrong format, another problem)."""


class JournalRecoveryWarning(UserWarning):
    """A truncated last line was dropped from a journal; complete lines were kept."""


class Journal:
    """Appends records to a journal file. Use :meth:`create` or :meth:`open`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @classmethod
    def create(cls, path: str | os.PathLike, header: dict[str, Any]) -> Journal:
        """Start a new journal at ``path`` with ``header``; refuses to overwrite one."""
        path = Path(path)
        if path.exists() and path.stat().st_size > 0:
            raise FileExistsError(
                f"journal {str(path)!r} already exists; resume it with Study.load(path) "
                "or choose another path"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        journal = cls(path)
        journal.append({"type": "header", "format": FORMAT, "version": VERSION, **header})
        return journal

    def append(self, record: dict[str, Any]) -> None:
        """Write ``record`` as one line and make it durable before returning."""
        line = json.dumps(record, allow_nan=False, separators=(",", ":")) + "\n"
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())


def read_journal(path: str | os.PathLike) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Read a journal: its header and its records, in order.

    Raises:
        FileNotFoundError: No file at ``path``.
        JournalError: Empty file, not a journal, or a corrupt line before the last.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no journal at {str(path)!r}")
    data = path.read_bytes()
    lines = data.split(b"\n")
    complete, tail = lines[:-1], lines[-1]  # tail is b"" when the file ends with a newline
    records = []
    for number, raw in enumerate(complete, start=1):
        try:
            records.append(json.loads(raw))
        except json.JSONDecodeError as err:
            if number == len(complete) and not tail:
                # A torn write can also end in a newline-less garbage line; treat the
                # last line alike whether or not a newline made it to disk.
                tail = raw
                break
            raise JournalError(f"journal {str(path)!r}: line {number} is corrupt: {err}") from err
    if tail:
        good_bytes = sum(len(raw) + 1 for raw in complete[: len(records)])
        with open(path, "r+b") as f:
            f.truncate(good_bytes)
            f.flush()
            os.fsync(f.fileno())
        warnings.warn(
            f"journal {str(path)!r}: dropped a truncated last line ({len(tail)} bytes); "
            f"kept the {len(records)} complete lines before it",
            JournalRecoveryWarning,
            stacklevel=2,
        )
    if not records:
        raise JournalError(f"journal {str(path)!r} is empty: no header line")
    header = records[0]
    if header.get("type") != "header" or header.get("format") != FORMAT:
        raise JournalError(f"{str(path)!r} is not a mobo journal (first line is not its header)")
    if header.get("version") != VERSION:
        raise JournalError(
            f"journal {str(path)!r} has format version {header.get('version')}, "
            f"this library reads version {VERSION}"
        )
    return header, records[1:]
