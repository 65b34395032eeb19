"""A small mobo study end to end: ``python -m mobo.demo`` (``make run`` runs ``leanet demo``).

Optimizes BraninCurrin with qLogNEHVI and with Sobol search under one budget, prints the
Pareto table and a summary of each, and writes the front and hypervolume plots.

Each run starts both studies over: an earlier run's journal of the same name in ``--out``
is replaced, and said so, but only under its lock, so a journal another process is writing
(a second run with the same ``--out``) is refused and kept, as is a file that is not a
journal; then neither journal is replaced.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

# The plots are drawn on Figures, which need no pyplot backend: importing this module
# must not pick one (its matplotlib.use("Agg") replaced a notebook's inline backend).
from matplotlib.figure import Figure

import mobo
from mobo.journal import Journal
from mobo.plotting import plot_hypervolume_trace, plot_pareto_front


def start_over(journals: list[Path]) -> None:
    """Remove an earlier run's ``journals``, only while holding all of their locks.

    Every lock is taken before any file is removed: removing them one by one deleted a
    finished journal, then refused its sibling that a running study held. Raises
    :class:`~mobo.JournalLockedError` if another process writes one (removing it before
    taking the lock wiped a running study's journal: 77 lines gone, a headerless fragment
    left) and :class:`~mobo.JournalError` for a file that is not a journal; then nothing is
    removed and the locks taken are released.
    """
    held = []  # (journal, writer, records)
    try:
        for journal in journals:
            if journal.is_file() and journal.stat().st_size > 0:  # an empty one may stay
                writer, _, records = Journal.open_writer(journal)
                held.append((journal, writer, records))
        for journal, _, records in held:
            done = sum(r.get("type") == "eval" for r in records)
            print(f"starting over: replacing {journal} ({done} evaluations of an earlier run)")
            journal.unlink()
    finally:
        for _, writer, _ in held:
            writer.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mobo.demo", description=__doc__)
    parser.add_argument(
        "--problem", default="BraninCurrin", choices=mobo.problems.available_problems()
    )
    parser.add_argument("--algorithm", default="qlognehvi", choices=mobo.available_algorithms())
    parser.add_argument("--n-evals", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/demo"))
    args = parser.parse_args(argv)
    # Only while it runs: installed for good, it hid every later FutureWarning in the process.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning)
        run(args)


def run(args: argparse.Namespace) -> None:
    """Both studies, their tables and plots, for :func:`main`'s ``args``. The plots are
    drawn on figures pyplot does not hold, so none is left open and the caller's stay (a
    ``plt.close("all")`` here closed them)."""
    problem = mobo.problems.make(args.problem)
    args.out.mkdir(parents=True, exist_ok=True)
    journals = {
        name: args.out / f"{name}-seed{args.seed}.jsonl" for name in (args.algorithm, "sobol")
    }
    try:  # both before either study runs
        start_over(list(journals.values()))
    except mobo.JournalLockedError as err:
        raise mobo.JournalLockedError(
            f"{err}. This demo starts its studies over in --out {args.out}/: let the "
            "run that writes there end, or give another --out"
        ) from None
    results = {
        name: mobo.optimize(problem, name, n_evals=args.n_evals, seed=args.seed, journal=journal)
        for name, journal in journals.items()
    }
    best = results[args.algorithm]
    print(f"\nPareto set found by {args.algorithm} (objectives in natural sign, minimized):")
    print(best.pareto_table())
    print()
    for result in results.values():
        print(result.summary())

    ax = plot_pareto_front(best, ax=Figure(figsize=(5, 4)).subplots())
    ax.figure.savefig(args.out / "pareto_front.png", dpi=120, bbox_inches="tight")
    traces = {name: [r] for name, r in results.items()}
    ax = plot_hypervolume_trace(traces, ax=Figure(figsize=(6, 4)).subplots())
    ax.figure.savefig(args.out / "hypervolume.png", dpi=120, bbox_inches="tight")
    print(f"\nplots and journals written to {args.out}/")


if __name__ == "__main__":
    try:
        main()
    except mobo.JournalError as err:  # it names the file and what to do; a traceback buries it
        sys.exit(f"python -m mobo.demo: error: {err}")
