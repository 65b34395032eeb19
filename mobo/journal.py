"""A study's journal: one JSON object per line, appended, flushed and fsynced.

The first line is a header that identifies the problem, algorithm and seed; every later
line is a record: an evaluation (its constraint values ``c`` too, for a constrained
problem; older journals without them still load), the budget set by ``optimize``, or the
algorithm state an ask left behind (a GP algorithm's last fitted hyperparameters, written
before that ask's evaluations and only when it changed). A line is on disk before
:meth:`Journal.append` returns, so a crash loses only work not yet told.

A last line without its newline is parsed like any other (an editor or ``echo -n`` drops
it); only a last line that does not parse (a write torn by a crash) is dropped. A writer
repairs such a tail, and only once the file is known to be a journal; a reader never
writes. One writer at a time: :meth:`Journal.open_writer` takes an exclusive lock
(``<journal>.lock``, the ``filelock`` package) held until :meth:`Journal.close`.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import json
import math
import operator
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

FORMAT = "mobo-journal"
VERSION = 1

# Fields each record type must carry (beyond "type"), so a damaged line is named by number.
_REQUIRED = {
    "eval": ("index", "x", "y"),
    "budget": ("n_evals",),
    "state": ("step", "state"),
    "ask": ("x",),
}


class JournalError(ValueError):
    """The journal file cannot be used (corrupt, wrong format, another problem)."""


class JournalMismatchError(JournalError):
    """The journal holds another study: another problem, algorithm, seed or options."""


class JournalLockedError(JournalError):
    """Another writer (a process, or a live study in this one) holds the journal."""


class JournalRecoveryWarning(UserWarning):
    """A truncated last line was dropped from a journal; complete lines were kept."""


class JournalUncheckedWarning(UserWarning):
    """A journal was resumed that cannot be checked against the given problem: an older
    version wrote it without what the check compares (its fingerprint)."""


class Journal:
    """Appends records to a journal file. Use :meth:`create` or :meth:`open_writer`."""

    def __init__(self, path: str | os.PathLike, lock: FileLock | None = None) -> None:
        # Absolute once, here: every append reopens the file, and a black box that changes
        # folder sent a relative path's records to a headerless file elsewhere. Not
        # resolve(), so a symbolic link to the journal's folder keeps being followed.
        self.path = Path(path).absolute()
        self._lock = lock
        # Where a failed append began, if its partial line could not be cut off then: the
        # next append cuts it first, so no torn line ends up inside the journal.
        self._torn_from: int | None = None

    @classmethod
    def create(cls, path: str | os.PathLike, header: dict[str, Any]) -> Journal:
        """Start a new journal at ``path`` with ``header``; refuses to overwrite a file."""
        path = Path(path)
        _check_not_directory(path)
        if path.exists() and path.stat().st_size > 0:
            raise FileExistsError(
                f"journal {str(path)!r} already exists; resume it with Study.load(path) "
                "or choose another path"
            )
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise _unwritable(path, err) from err
        journal = cls(path, _acquire(path))
        try:
            journal.append({"type": "header", "format": FORMAT, "version": VERSION, **header})
        except BaseException:
            journal.close()
            raise
        return journal

    @classmethod
    def open_writer(cls, path: str | os.PathLike) -> tuple[Journal, dict, list[dict]]:
        """Lock an existing journal for appending and read it; repairs a torn last line.

        Returns the journal, its header and its records. Nothing is written to a file that
        does not read as a journal, and the lock is taken only after it does.
        """
        read_journal(path)  # validates without writing a byte (and without a lock file)
        _check_writable(Path(path))
        journal = cls(path, _acquire(Path(path)))
        try:
            header, records = read_journal(path, repair=True)  # again, under the lock
        except BaseException:
            journal.close()
            raise
        return journal, header, records

    def append(self, record: dict[str, Any]) -> None:
        """Write ``record`` as one line and make it durable before returning.

        A write that fails part-way (a full disk writes up to its last free block) is cut
        back to where it began, so a study that goes on after the error, or resumes, reads
        every line before it (a torn line left mid-file made the whole journal unreadable).
        """
        line = (json.dumps(record, allow_nan=False, separators=(",", ":")) + "\n").encode()
        try:
            # Unbuffered, so nothing is left to flush after a failure; appending, so every
            # write lands at the end whatever the file position says.
            with open(self.path, "ab", buffering=0) as f:
                if self._torn_from is not None and self._torn_from <= f.seek(0, os.SEEK_END):
                    f.truncate(self._torn_from)
                start = f.seek(0, os.SEEK_END)
                self._torn_from = None
                try:
                    view = memoryview(line)
                    while view:
                        view = view[f.write(view) :]
                    os.fsync(f.fileno())
                except OSError:
                    self._torn_from = start
                    with contextlib.suppress(OSError):
                        f.truncate(start)
                        os.fsync(f.fileno())
                        self._torn_from = None
                    raise
        except OSError as err:
            raise _unwritable(self.path, err) from err

    def close(self) -> None:
        """Release the writer's lock (a journal is closed when it is collected, too)."""
        if self._lock is not None:
            self._lock.release(force=True)
            self._lock = None


def lock_path(path: str | os.PathLike) -> Path:
    """The lock file that guards the journal at ``path``: beside the file the path leads
    to, so a symbolic link to the journal (or to its folder: ``runs/latest``) takes the
    same lock instead of letting a second writer in."""
    return Path(os.path.realpath(path) + ".lock")


def _acquire(path: Path) -> FileLock:
    """Take the journal's exclusive lock now or fail, naming the file and the holder."""
    lock_file = lock_path(path)
    lock = FileLock(lock_file, timeout=0, thread_local=False)
    for attempt in range(2):
        try:
            lock.acquire()
        except Timeout:
            holder = _holder(lock_file)
            if attempt == 0 and holder == os.getpid():
                gc.collect()  # an unreachable study of this process may still hold it
                continue
            who = {os.getpid(): "a live study of this process", None: "another process"}.get(
                holder, f"process {holder}"
            )
            raise JournalLockedError(
                f"journal {str(path)!r} is open for writing by {who} "
                f"(lock {str(lock_file)!r}); close that study first, or read the journal "
                "with Study.load(path, read_only=True)"
            ) from None
        except OSError as err:
            raise _unwritable(path, err) from err
        break
    try:
        lock_file.write_text(f"{os.getpid()}\n", encoding="utf-8")
    except OSError:
        pass  # the pid only improves the message a second writer gets
    return lock


def _holder(lock_file: Path) -> int | None:
    try:
        return int(lock_file.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None


def _check_not_directory(path: Path) -> None:
    if path.is_dir():
        raise JournalError(f"journal path {str(path)!r} is a directory; give a file path")


def _check_writable(path: Path) -> None:
    """Fail before any evaluation runs if appending to ``path`` is impossible."""
    try:
        with open(path, "a", encoding="utf-8"):
            pass  # opening for append writes nothing
    except OSError as err:
        raise _unwritable(path, err) from err


def _unwritable(path: Path, err: OSError) -> OSError:
    if err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return OSError(
            err.errno,
            f"journal {str(path)!r} cannot be written ({err.strerror}): free some space or "
            "raise the file size limit (every evaluation told before this one is in the "
            "journal), then resume the study",
        )
    return PermissionError(
        f"journal {str(path)!r} cannot be written ({err.strerror or err}): a read-only file "
        "or file system? Choose a writable path, or open it with read_only=True"
    )


def read_journal(
    path: str | os.PathLike, *, repair: bool = False, numbered: bool = False
) -> (
    tuple[dict[str, Any], list[dict[str, Any]]]
    | tuple[dict[str, Any], list[dict[str, Any]], list[int]]
):
    """Read a journal: its header and its records, in order.

    Args:
        path: The journal file.
        repair: Cut a torn last line off the file and end a complete last line with its
            newline, so appends stay clean (a writer under the lock). Without it, nothing
            is written.
        numbered: Also return each record's line in the file (blank lines, a hand edit's,
            hold none), so a later check names the line a user opens.

    Raises:
        FileNotFoundError: No file at ``path``.
        JournalError: A directory, an empty file, not a journal, or a corrupt line
            before the last (named by its number).
    """
    path = Path(path)
    _check_not_directory(path)
    if not path.exists():
        raise FileNotFoundError(f"no journal at {str(path)!r}")
    data = path.read_bytes()
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()  # the file ends with a newline
    records: list[Any] = []
    numbers: list[int] = []  # each record's line number
    torn: bytes | None = None
    kept = 0  # bytes of the lines before a torn last one
    for number, raw in enumerate(lines, start=1):
        if not raw.strip() and number > 1:
            kept += len(raw) + 1  # a blank line (a hand edit) holds no record
            continue
        try:
            records.append(json.loads(raw))
            numbers.append(number)
            kept += len(raw) + 1
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            if number == len(lines) and number > 1:
                torn = raw  # a write torn by a crash: drop it, keep what came before
                break
            if number == 1:
                raise JournalError(
                    f"{str(path)!r} is not a mobo journal (line 1 is not JSON: {err})"
                ) from err
            raise JournalError(f"journal {str(path)!r}: line {number} is corrupt: {err}") from err
    if not records:
        raise JournalError(f"journal {str(path)!r} is empty: no header line")
    header = records[0]
    if (
        not isinstance(header, dict)
        or header.get("type") != "header"
        or header.get("format") != FORMAT
    ):
        raise JournalError(f"{str(path)!r} is not a mobo journal (first line is not its header)")
    if header.get("version") != VERSION:
        raise JournalError(
            f"journal {str(path)!r} has format version {header.get('version')}, "
            f"this library reads version {VERSION}"
        )
    missing = [k for k in ("problem", "algorithm", "seed") if k not in header]
    if missing or not isinstance(header.get("problem"), dict):
        raise JournalError(
            f"journal {str(path)!r}: its header (line 1) lacks {missing or ['a problem']}"
        )
    for number, record in zip(numbers[1:], records[1:], strict=True):
        _check_record(path, number, record)
    if torn is not None:
        if repair:  # every kept line ended with a newline
            _truncate(path, kept)
        warnings.warn(
            f"journal {str(path)!r}: dropped a truncated last line ({len(torn)} bytes); "
            f"kept the {len(records)} complete lines before it",
            JournalRecoveryWarning,
            stacklevel=2,
        )
    elif repair and not data.endswith(b"\n"):
        with open(path, "ab") as f:  # so the next record starts on a line of its own
            f.write(b"\n")
            f.flush()
            os.fsync(f.fileno())
    return (header, records[1:], numbers[1:]) if numbered else (header, records[1:])


def replay(
    records: list[dict[str, Any]], same: Callable[[list, list], bool] = operator.eq
) -> tuple[list[dict[str, Any]], dict[str, Any] | None, dict | None, list[tuple[Any, list, Any]]]:
    """What a journal's records leave a resumed study: its evaluation records in order, the
    latest budget record (``n_evals`` and ``batch_size``; None if never set), the
    algorithm state after the latest ask (None if none), and every point asked and not told
    after its ask, as ``(step, x, cost)`` in the order asked (a batch, or points in flight, a
    crash interrupted: the resumed study evaluates them first, as the uninterrupted one
    did). Journals from before asks were journaled give the state of the latest ask that
    got any of its points told: a crash between an ask's state and its evaluations leaves a
    state whose ask will be made again."""
    evaluations = [r for r in records if r.get("type") == "eval"]
    budgets = [r for r in records if r.get("type") == "budget"]
    told_steps = {r.get("step", 0) for r in evaluations}
    states = [r["state"] for r in records if r.get("type") == "state" and r["step"] in told_steps]
    # Every point asked and not told after its ask, in the order asked, with its ask's step.
    unanswered: list[tuple[int | None, list[float], float | None]] = []
    last_ask: dict[str, Any] = {}
    for r in records:
        if r.get("type") == "ask":
            costs = r.get("cost") or [None] * len(r["x"])  # priced when asked (fidelities)
            unanswered += [(r.get("step"), x, c) for x, c in zip(r["x"], costs, strict=True)]
            last_ask = r
        elif r.get("type") == "eval":
            match = next((j for j, (_, x, _) in enumerate(unanswered) if x == r["x"]), None)
            if match is None:  # told rounded (float32, a CSV): the asked point nearby
                match = next((j for j, (_, x, _) in enumerate(unanswered) if same(x, r["x"])), None)
            if match is not None:
                del unanswered[match]
    state = last_ask["state"] if "state" in last_ask else (states[-1] if states else None)
    return evaluations, budgets[-1] if budgets else None, state, unanswered


def _check_record(path: Path, number: int, record: Any) -> None:
    if not isinstance(record, dict):
        raise JournalError(
            f"journal {str(path)!r}: line {number} is not a JSON object "
            f"(got {type(record).__name__})"
        )
    kind = record.get("type")
    if kind not in _REQUIRED:
        return  # a record type this version does not know is kept but not used
    missing = [field for field in _REQUIRED[kind] if field not in record]
    if missing:
        raise JournalError(
            f"journal {str(path)!r}: line {number} ({kind!r} record) lacks {missing}"
        )
    if kind == "eval" and (
        not isinstance(record["x"], list) or not isinstance(record["y"], list | type(None))
    ):
        raise JournalError(
            f"journal {str(path)!r}: line {number}: an eval record needs lists x and y "
            f"(y null if it failed), got x={record['x']!r}, y={record['y']!r}"
        )
    if kind == "eval" and not isinstance(record.get("c"), list | type(None)):
        raise JournalError(
            f"journal {str(path)!r}: line {number}: an eval record's constraint values c "
            f"must be a list (or absent), got c={record['c']!r}"
        )


def _truncate(path: Path, size: int) -> None:
    try:
        with open(path, "r+b") as f:
            f.truncate(size)
            f.flush()
            os.fsync(f.fileno())
    except OSError as err:  # an append-only file (chattr +a) refuses the cut
        raise _unwritable(path, err) from err


def check_evaluations(
    path: Any, records: list[dict[str, Any]], problem: Any, lines: Sequence[int]
) -> None:
    """Refuse eval records whose values do not fit ``problem`` (a line damaged into other
    valid JSON), naming the line (``lines``: each record's, from
    ``read_journal(numbered=True)``), before any of them reaches an algorithm."""
    sizes = {"x": problem.dim, "y": problem.num_objectives, "c": problem.num_constraints}
    lower, upper = problem.bounds.tolist()
    for number, record in zip(lines, records, strict=True):
        where = f"journal {str(path)!r}: line {number}: an {record.get('type')} record's"
        step = record.get("step")
        if record.get("type") in ("eval", "ask") and not (step is None or _is_int(step)):
            raise JournalError(f"{where} step must be an int, got {step!r}")
        points = record.get("x") if record.get("type") == "ask" else None
        for x in points if isinstance(points, list) else []:
            if not isinstance(x, list) or len(x) != problem.dim:
                raise JournalError(f"{where} x must be lists of {problem.dim} numbers, got {x!r}")
        cost = record.get("cost") if points is not None else None
        if cost is not None and (
            not isinstance(cost, list)
            or len(cost) != len(points)
            or not all(c is None or (_is_number(c) and math.isfinite(c)) for c in cost)
        ):
            raise JournalError(f"{where} cost must be one price per point, got {cost!r}")
        if record.get("type") != "eval":
            continue
        for key, size in sizes.items():
            values = record.get(key)
            if values is None and key != "x":
                continue  # a failed evaluation
            # json reads NaN and Infinity: a failure is recorded as y null, never so
            numbers = all(_is_number(v) and math.isfinite(v) for v in values)
            if len(values) != size or not numbers:
                raise JournalError(
                    f"{where} {key} must be {size} finite numbers for this problem, got {values!r}"
                )
        tolerance = [1e-9 * (hi - lo) for lo, hi in zip(lower, upper, strict=True)]
        x = record["x"]
        if any(
            not lo - tol <= v <= hi + tol
            for v, lo, hi, tol in zip(x, lower, upper, tolerance, strict=True)
        ):
            raise JournalError(f"{where} x {x!r} lies outside the problem's bounds")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


#: What a refusal of another problem's journal tells the user to do, by default.
NEW_JOURNAL = "to run the given problem, start a new journal"


def check_same_problem(
    path: Any,
    journaled: dict[str, Any],
    current: dict[str, Any],
    *,
    given: bool = True,
    advice: Callable[[Any], str] | None = None,
) -> None:
    """Refuse to resume a journal with a problem other than the one it recorded. One from
    before fingerprints resumes, as older journals' other missing fields do, but with a
    :class:`JournalUncheckedWarning` when the ``given`` problem has one: it resumed silently
    under any data or settings (a design journal mixed two problems' objectives). A problem
    rebuilt from the journal's own spec (``given`` False) has nothing to be checked against.
    ``advice(journaled fingerprint)`` ends the refusal of another fingerprint
    (:meth:`mobo.Problem.fingerprint_advice`; None: :data:`NEW_JOURNAL`)."""
    keys = ("name", "dim", "num_objectives", "bounds", "ref_point", "num_constraints")
    fidelities = ("fidelity_levels", "fidelity_costs", "fidelity_continuous")
    for key in (*keys, *fidelities, "fingerprint"):
        if key == "fingerprint" and key not in journaled:
            if given and current.get(key) is not None:
                warnings.warn(
                    f"journal {str(path)!r} has no fingerprint (written by an older version), "
                    "so it cannot be checked against the given problem (what its objectives "
                    "are computed from): it is read or resumed as is; if the function, data, "
                    "network or settings may have changed since, start a new journal instead",
                    JournalUncheckedWarning,
                    stacklevel=3,
                )
            continue
        default = 0 if key == "num_constraints" else None  # journals from before constraints
        if journaled.get(key, default) == current.get(key, default):
            continue
        if key == "fingerprint":
            raise JournalMismatchError(_fingerprint_refusal(path, journaled, current, advice))
        raise JournalMismatchError(
            f"journal {str(path)!r} belongs to another problem: its {key} is "
            f"{journaled.get(key)!r}, the given problem's is {current.get(key)!r}"
        )


def _fingerprint_refusal(
    path: Any,
    journaled: dict[str, Any],
    current: dict[str, Any],
    advice: Callable[[Any], str] | None,
) -> str:
    """Why a journal of another fingerprint is refused: another problem, or (its fingerprint
    version differs) one whose fingerprint an older version computed differently, which was
    refused as "another problem" when the study was the same (sweep 27: a design journal
    from before the fingerprint covered the validation images)."""
    digests = (
        f"its fingerprint (what the objectives are computed from) is "
        f"{journaled.get('fingerprint')!r}, the given problem's is {current.get('fingerprint')!r}"
    )
    made, now = journaled.get("fingerprint_version"), current.get("fingerprint_version")
    if made == now or now is None:
        tail = NEW_JOURNAL if advice is None else advice(journaled.get("fingerprint"))
        return f"journal {str(path)!r} belongs to another problem: {digests}; {tail}"
    if made is None:  # every journal from before versions: a mistyped setting is likelier
        differ = _differing_settings(journaled.get("make"), current.get("make"))
        return (
            f"journal {str(path)!r} belongs to another problem or other settings{differ}, or "
            "was written by an older version (it recorded no fingerprint version) whose "
            "fingerprint may be computed differently, so that it cannot be checked against "
            f"the given problem ({digests}); {NEW_JOURNAL}"
        )
    older = "an older" if _is_int(made) and made < now else "another"
    return (
        f"journal {str(path)!r} was written by {older} version (fingerprint version "
        f"{made!r}, this one computes version {now}), whose fingerprint is computed "
        f"differently, so it cannot be checked against the given problem ({digests}); "
        f"{NEW_JOURNAL}"
    )


def _differing_settings(journaled: Any, current: Any) -> str:
    """`` (noise_std: 1.0 in the journal, 2.0 given)``: the keyword settings a test
    problem's spec records (its ``make``) that differ, or "" where a spec has none."""
    if not (isinstance(journaled, dict) and isinstance(current, dict)):
        return ""
    if journaled.get("name") != current.get("name"):
        return f" (problem {journaled.get('name')!r} in the journal, {current.get('name')!r} given)"
    old = journaled.get("kwargs") or {}
    new = json.loads(json.dumps(current.get("kwargs") or {}, default=repr))  # as journaled

    def shown(kwargs: dict[str, Any], key: str) -> str:
        return repr(kwargs[key]) if key in kwargs else "unset"

    differ = [
        f"{key}: {shown(old, key)} in the journal, {shown(new, key)} given"
        for key in sorted(old.keys() | new.keys())
        if shown(old, key) != shown(new, key)
    ]
    return f" ({'; '.join(differ)})" if differ else ""
