"""Where a benchmark's figures come from: the commit of the code that ran, and the command.

Every results file names both (the team's rule: a figure without its command and commit
cannot be reproduced or trusted), so every script asks this module rather than git itself.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from leanet.checkpoints import atomic_path
from leanet.machine import machine as machine  # re-exported: every results file names it

_ROOT = Path(__file__).resolve().parent.parent


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=_ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


#: git pathspec leaving the results out of the '+changes' check.
CODE_ONLY = (":(exclude)benchmarks/results",)


def commit() -> str:
    """The short commit of the checkout, with '+changes' if tracked files other than
    results differ from it; "unknown" outside a git checkout. Files under
    ``benchmarks/results`` do not count: they are what runs write (this one's, or another
    benchmark's running beside it), not code that makes them."""
    try:
        head = _git("rev-parse", "--short", "HEAD")
        dirty = _git("status", "--porcelain", "--untracked-files=no", "--", ".", *CODE_ONLY)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+changes" if dirty else "")


def command_line(script: str, argv: list[str] | None = None) -> str:
    """The command that ran ``benchmarks/<script>`` with ``argv`` (default: this process's
    arguments), shell-quoted, as the results files record it."""
    args = sys.argv[1:] if argv is None else argv
    return " ".join([".venv/bin/python", f"benchmarks/{script}", *map(shlex.quote, args)])


def machines_of(runs: list[dict], *, extra: str = "") -> str:
    """The distinct machines that made ``runs`` (each run's ``machine``; "unrecorded" for a
    run from before runs recorded it), in order of first appearance, ``extra`` appended to
    each (e.g. the thread count)."""
    seen = dict.fromkeys(run.get("machine", "unrecorded") for run in runs)
    return "; ".join(f"{m}{extra}" if m != "unrecorded" else m for m in seen) or "none"


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` all at once: written beside it, made durable, then
    renamed over it, so a full disk or a kill mid-write leaves the old file whole (a plain
    ``write_text`` truncated a store of 6 runs to 4096 unreadable bytes)."""
    with atomic_path(path) as partial, open(partial, "w") as f:  # leanet's, for checkpoints
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def read_json(path: Path, default=None):
    """A stored runs file's JSON (``default`` when there is none), with an error that names
    the file when it does not parse."""
    path = Path(path)
    if default is not None and not path.exists():
        return default
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(
            f"{path} is not readable JSON ({err}): a damaged store; restore it (git checkout) "
            "or move it away to start again"
        ) from err


def read_results(path: Path) -> dict:
    """A results file's JSON payload (``path`` with or without ``.json``), with an error
    that names the file when it is missing (``--merge`` of a part that never ran)."""
    source = Path(path).with_suffix(".json")
    if not source.exists():
        raise FileNotFoundError(f"results file {source} not found (nothing to merge from it)")
    return read_json(source)


def merge_runs(runs: list[dict], others: list[dict], key) -> list[dict]:
    """``runs`` then every run of ``others`` whose ``key(run)`` is not held yet: the first
    run of a key wins, so merging the parts of a study (e.g. one seed per process) never
    replaces a run already recorded, and merging a part twice adds nothing."""
    held = {key(r) for r in runs}
    out = list(runs)
    for run in others:
        k = key(run)
        if k not in held:
            held.add(k)
            out.append(run)
    return out


#: The heading under which a results file's hand-written findings start (the team's
#: convention); :func:`write_markdown` keeps that part when the tables are regenerated.
FINDINGS = "## What this says"
#: Put above findings kept under regenerated tables (:func:`write_markdown`).
STALE = (
    "> Written for an earlier version of the tables above: check a figure against them "
    "(and the runs' commits) before quoting it."
)


def reported(runs: list[dict], seeds: int, **settings) -> list[dict]:
    """The stored runs a command's tables report: seeds ``0..seeds-1`` and ``settings``
    (e.g. ``evals``, ``n_initial``, ``budget``) equal to its own. The others stay stored,
    not tabled: a ``--seeds 1`` report printed "seeds 0..0" over three seeds' runs, and a
    run stopped at cost 12 was reported at cost 30."""
    return [
        r for r in runs if r["seed"] < seeds and all(r.get(k) == v for k, v in settings.items())
    ]


def refuse_other_settings(store: Path, runs: list[dict], field: str, wanted) -> None:
    """Stop before anything runs if ``store`` holds runs whose ``field`` (the options or
    settings that made them) is not ``wanted(run)``, this command's for that run (None:
    the command does not report that run). A rerun with new options reused the stored runs
    and reported their figures under the new options. Runs stored before they carried
    ``field`` are not checked."""
    for run in runs:
        want, have = wanted(run), run.get(field)
        if want is not None and have is not None and have != want:
            what = run.get("algorithm") or run.get("variant") or run.get("name")
            raise SystemExit(
                f"{store} holds {what} runs made with {field} {have}, and this command asks "
                f"for {want}: their figures would be reported as this command's. Give a "
                "fresh --out for the variant" + (" (or --rerun it)" if "algorithm" in run else "")
            )


def write_markdown(path: Path, text: str) -> None:
    """Write a results file's generated ``text`` to ``path``, keeping the hand-written
    findings of the file already there (from its first :data:`FINDINGS` heading on), so
    rerunning or merging a benchmark never deletes what was learned from it."""
    path = Path(path)
    old = path.read_text() if path.exists() else ""
    heading = re.search(rf"^{re.escape(FINDINGS)}", old, re.MULTILINE)
    kept = old[heading.start() :] if heading else ""
    if kept and old[: heading.start()].rstrip("\n") != text.rstrip("\n"):
        # Other tables than the findings were written for (new runs, or a rerun that
        # replaced them): say so once above the findings, which may quote old figures.
        # The whole heading line: "## What this says (2026-12-04)" keeps its date.
        title, _, body = kept.partition("\n")
        body = body.lstrip("\n").removeprefix(STALE + "\n\n")
        kept = f"{title}\n\n{STALE}\n\n{body}"
    if kept and not text.endswith("\n"):
        text += "\n"
    write_atomic(path, text + kept)


def heading(title: str, command: str) -> list[str]:
    """A results report's first lines: its title, then the command, commit and machine that
    made it."""
    return [
        f"# {title}",
        "",
        f"Command: `{command}`  ",
        f"Commit: `{commit()}`  ",
        f"Machine: {machine()}",
        "",
    ]


def write_results(out: Path, payload: dict, text: str) -> None:
    """Write a benchmark's ``payload`` to ``<out>.json`` and its report ``text`` to
    ``<out>.md`` (through :func:`write_markdown`, keeping the findings), and print it."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out.with_suffix(".json"), json.dumps(payload, indent=1) + "\n")
    write_markdown(out.with_suffix(".md"), text)
    print(text)


def without_note(command: str) -> str:
    """``command`` with its ``--note`` text elided, for a report's list of commands: a merge
    that re-states the findings in full would otherwise fill that list many times over
    (the JSON keeps the exact commands; the report prints the latest note itself)."""
    words = shlex.split(command)
    for i, word in enumerate(words[:-1]):
        if word == "--note":
            words[i + 1] = "<findings, as of that merge>"
    return " ".join(map(shlex.quote, words))


def listed_commands(commands: list[str]) -> str:
    """``commands`` for a report's header: each in backticks, its note elided
    (:func:`without_note`), comma-separated."""
    return ", ".join(f"`{without_note(c)}`" for c in commands)
