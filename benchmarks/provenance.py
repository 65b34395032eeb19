"""Where a benchmark's figures come from: the commit of the code that ran, and the command.

Every results file names both (the team's rule: a figure without its command and commit
cannot be reproduced or trusted), so every script asks this module rather than git itself.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=_ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


def commit() -> str:
    """The short commit of the checkout, with '+changes' if tracked files differ from it
    (a results file rewritten by the run itself counts: call this before writing);
    "unknown" outside a git checkout."""
    try:
        head = _git("rev-parse", "--short", "HEAD")
        dirty = _git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+changes" if dirty else "")


def command_line(script: str, argv: list[str] | None = None) -> str:
    """The command that ran ``benchmarks/<script>`` with ``argv`` (default: this process's
    arguments), shell-quoted, as the results files record it."""
    args = sys.argv[1:] if argv is None else argv
    return " ".join([".venv/bin/python", f"benchmarks/{script}", *map(shlex.quote, args)])
