"""Command line: ``leanet <command> ...``.

Commands (each registered in :data:`COMMANDS` with an argument builder and a runner, so
new ones plug in without touching the rest):

- ``train``: train a base network on a data set and save a checkpoint with its metadata.
- ``fit-heads``: build a LEANet's levels from a base checkpoint, train one head per level
  on frozen features (optionally fine-tune jointly), report per-level test accuracy and
  MACs, and save the LEANet (:mod:`leanet.cli_fit_heads`).
- ``optimize``: optimize a saved LEANet's thresholds with a mobo algorithm on the
  validation split (journaled, resumable) and save an artifact with its Pareto table.
- ``design``: search LEANet designs and thresholds together from a base checkpoint
  (:mod:`leanet.design`) and save one artifact per design of the front
  (:mod:`leanet.cli_design`).
- ``report``: print an artifact's Pareto table, costs and energy saved on the test split
  (:mod:`leanet.cli_report`).
- ``demo``: the main job end to end on the bundled MNIST digits (``make run``).

Every numeric option is checked by argparse (usage error, exit 2). A failure prints one
line ``leanet: error: ...`` (exit 1); ``--debug`` or ``LEANET_DEBUG=1`` shows the traceback.
Output into a pipe its reader closed ends the command quietly, with status 141.
"""

from __future__ import annotations

import argparse
import os
import select
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from leanet.cli_design import add_design, run_design
from leanet.cli_fit_heads import add_fit_heads, run_fit_heads
from leanet.cli_io import (
    CLIError,
    add_data_args,
    check_out_file,
    data_of,
)
from leanet.cli_report import add_report, run_report
from leanet.cli_types import COUNT, EPOCHS, SEED, number

__all__ = ["COMMANDS", "build_parser", "main"]


def _add_train(p: argparse.ArgumentParser) -> None:
    from leanet.data import BUNDLED, TORCHVISION
    from leanet.zoo import ARCHITECTURES

    p.add_argument("--arch", choices=sorted(ARCHITECTURES), default="convnet")
    p.add_argument("--dataset", choices=BUNDLED + TORCHVISION, default="mnist5k")
    p.add_argument(
        "--width-multiplier",
        type=number(float, 0.0, 8.0, above=True),
        default=1.0,
        help="scale every layer's channels (default 1.0)",
    )
    recipe = "default: the architecture's recipe (leanet.recipes.TRAIN, the study's bases)"
    p.add_argument("--epochs", type=EPOCHS, default=None, help=recipe)
    p.add_argument("--lr", type=number(float, 0.0, 10.0, above=True), default=None, help=recipe)
    p.add_argument(
        "--weight-decay", type=number(float, 0.0, 10.0), default=None, help=f"AdamW's; {recipe}"
    )
    p.add_argument("--batch-size", type=COUNT, default=64)
    p.add_argument("--seed", type=SEED, default=0, help="seed of the split and the training")
    p.add_argument(
        "--out", default=None, help="checkpoint path (default checkpoints/<arch>-<dataset>.pt)"
    )
    add_data_args(p, split_seed=False)  # the split is --seed's, and the checkpoint records it


def _run_train(args: argparse.Namespace) -> int:
    from leanet.checkpoints import save_checkpoint
    from leanet.data import load_dataset
    from leanet.machine import trained_with
    from leanet.recipes import train_recipe_for
    from leanet.train import evaluate, train_base
    from leanet.zoo import build_base

    data = load_dataset(args.dataset, root=args.data_root, seed=args.seed, download=args.download)
    out = Path(args.out or f"checkpoints/{args.arch}-{data.name}.pt")
    check_out_file(out)
    model = build_base(
        args.arch,
        num_classes=data.num_classes,
        in_channels=data.in_channels,
        input_size=data.input_size,
        width_multiplier=args.width_multiplier,
        seed=args.seed,
    )
    recipe = train_recipe_for(args.arch)
    epochs = recipe.epochs if args.epochs is None else args.epochs
    result = train_base(
        model,
        data.train,
        val=data.val,
        epochs=epochs,
        lr=recipe.lr if args.lr is None else args.lr,
        weight_decay=recipe.weight_decay if args.weight_decay is None else args.weight_decay,
        batch_size=args.batch_size,
        seed=args.seed,
        progress=not args.no_progress,
    )
    acc = evaluate(model, data.test)
    save_checkpoint(
        out,
        model,
        dataset=data.name,
        classes=data.classes,
        accuracy=acc,
        split_seed=data.seed,
        extra={
            "val_accuracy": result.accuracy,
            "train_seconds": result.seconds,
            "epochs": epochs,
            "trained_with": trained_with(),
        },
    )
    print(
        f"{args.arch} on {data.name}: test accuracy {acc:.4f}, val {result.accuracy:.4f}, "
        f"{result.seconds:.1f} s; saved {out}"
    )
    return 0


def _add_optimize(p: argparse.ArgumentParser) -> None:
    import mobo

    p.add_argument("leanet", help="LEANet checkpoint (from `leanet fit-heads`)")
    p.add_argument(
        "--algorithm",
        choices=mobo.available_algorithms(fidelities=False),
        default="qlognehvi",
        help="default qlognehvi: 0.991 of the dense reference front's hypervolume at 25 "
        "evaluations, median over the study's 18 LEANets (usemo 0.988, sobol 0.973; "
        "benchmarks/results/threshold_search_20261207.md)",
    )
    p.add_argument("--n-evals", type=COUNT, default=25, help="threshold vectors to evaluate")
    _add_n_initial(p)
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--platform", default="45nm-fp32", help="energy table (see leanet.costs)")
    p.add_argument(
        "--space",
        choices=("log", "linear", "quantile"),  # leanet.problem.SPACES, without importing torch
        default="log",
        help="where the algorithm searches (thresholds are recorded either way; see "
        "leanet.problem)",
    )
    p.add_argument(
        "--out",
        default=None,
        help="artifact path (default <leanet>.artifact.pt); the journal and level "
        "caches go next to it",
    )
    add_data_args(p)


def _add_n_initial(p: argparse.ArgumentParser) -> None:
    # mobo warns a budget within the initial design (all Sobol) to pass n_initial: here too.
    p.add_argument(
        "--n-initial",
        type=COUNT,
        default=None,
        help="Sobol evaluations before a model-based algorithm steers (default 2 (d + 1), d "
        "the number of thresholds: one per level but the last); below --n-evals, or the run "
        "is all Sobol",
    )


def _beside(out: Path, suffix: str) -> Path:
    """A file next to the artifact ``out``, named by its whole name less a final ``.pt``.
    ``with_suffix`` named ``--out exp.1`` and ``--out exp.2`` one journal
    (``exp.sobol-seed0.jsonl``), and the second run was refused: "give another --out"."""
    name = out.name.removesuffix(".pt")
    return out.with_name(name + suffix)


def _run_optimize(args: argparse.Namespace) -> int:
    import mobo
    from leanet.artifact import save_artifact
    from leanet.checkpoints import load_leanet
    from leanet.costs import measure_costs
    from leanet.evaluator import ThresholdEvaluator
    from leanet.problem import search_thresholds

    net, meta = load_leanet(args.leanet)
    data = data_of(meta, args, args.leanet)
    out = Path(args.out or Path(args.leanet).with_suffix(".artifact.pt"))
    check_out_file(out, source=args.leanet)
    costs = measure_costs(net, args.platform)
    print(costs.table())
    cache, progress = _beside(out, ".val.pt"), not args.no_progress
    val = ThresholdEvaluator.from_model(net, data.val, costs, cache=cache, progress=progress)
    init = "" if args.n_initial is None else f"-init{args.n_initial}"  # a study of its own
    journal = _beside(out, f".{args.algorithm}{init}-seed{args.seed}.jsonl")
    try:
        problem, result = search_thresholds(
            val,
            journal,
            algorithm=args.algorithm,
            n_evals=args.n_evals,
            seed=args.seed,
            space=args.space,
            progress=progress,
            n_initial=args.n_initial,
        )
    except mobo.JournalMismatchError as err:
        hint = "for other settings, or in place of a journal an older leanet wrote"
        raise CLIError(f"{err}; to start a new journal ({hint}), give another --out") from err
    except mobo.JournalLockedError as err:
        hint = "from the command line: let that run end, or give another --out"
        raise CLIError(f"{err}; {hint}") from err
    front = problem.deployable_front(result.pareto_X)
    save_artifact(
        out,
        net,
        front,
        costs,
        # the split it was measured on, also for a LEANet that records none (--split-seed)
        meta={**meta, "split_seed": data.seed, "algorithm": args.algorithm},
        input_normalization=data.train.normalization,
    )
    print(result.summary())
    print(
        f"hypervolume {float(result.hypervolume[-1]) / problem.max_hv:.1%} of the reference "
        f"front's; saved {out} (journal {journal})"
    )
    return 0


def _add_demo(p: argparse.ArgumentParser) -> None:
    import mobo
    from leanet.demo import DemoConfig
    from leanet.levels import SCHEMES

    defaults = DemoConfig()
    p.add_argument(
        "--out",
        type=Path,
        default=defaults.out,
        help=f"run folder; every step is cached there (default {defaults.out})",
    )
    p.add_argument(
        "--algorithm",
        choices=mobo.available_algorithms(fidelities=False),
        default=defaults.algorithm,
    )
    p.add_argument("--n-evals", type=COUNT, default=defaults.n_evals)
    _add_n_initial(p)
    p.add_argument("--seed", type=SEED, default=defaults.seed)
    p.add_argument("--scheme", choices=list(SCHEMES), default=defaults.scheme)
    p.add_argument(
        "--fine-tune-epochs", type=number(int, 0), default=None, help="default 10, 0 for slice"
    )
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _run_demo(args: argparse.Namespace) -> int:
    from leanet.demo import DemoConfig, run_demo

    run_demo(
        DemoConfig(
            out=args.out,
            algorithm=args.algorithm,
            n_evals=args.n_evals,
            n_initial=args.n_initial,
            seed=args.seed,
            scheme=args.scheme,
            fine_tune_epochs=args.fine_tune_epochs,
            progress=not args.no_progress,
        )
    )
    return 0


COMMANDS: dict[
    str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]
] = {
    "train": ("train a base network and save a checkpoint", _add_train, _run_train),
    "fit-heads": ("build levels and train one head per level", add_fit_heads, run_fit_heads),
    "optimize": (
        "optimize a LEANet's thresholds and save an artifact",
        _add_optimize,
        _run_optimize,
    ),
    "design": (
        "search LEANet designs and thresholds together; save the front's artifacts",
        add_design,
        run_design,
    ),
    "report": ("print an artifact's Pareto table and energy savings", add_report, run_report),
    "demo": ("the main job end to end on the bundled MNIST digits", _add_demo, _run_demo),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="leanet",
        description="Energy-accuracy tradeoff networks (LEANets) from pretrained classifiers.",
    )
    debug = "show the full traceback of an error (or set LEANET_DEBUG=1)"
    parser.add_argument("--debug", action="store_true", help=debug)
    # After the command too, where the error's hint has a user add it: left unset when not
    # given (SUPPRESS), so a subparser does not overwrite `leanet --debug <command>`'s.
    after = argparse.ArgumentParser(add_help=False)
    after.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=debug)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, add_args, _) in COMMANDS.items():
        add_args(sub.add_parser(name, help=help_text, description=help_text, parents=[after]))
    return parser


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"leanet: warning: {' '.join(str(message).split())}", file=sys.stderr)


def _check_extras(args: argparse.Namespace) -> None:
    """Refuse an algorithm whose extra is not installed before any work: ``--algorithm ax``
    without ax-platform failed only in mobo.optimize, after the level records and the
    reference front (24 s at 833 inputs), with a traceback."""
    if getattr(args, "algorithm", None) == "ax":
        from mobo.ax_client import require_ax

        require_ax("--algorithm ax")


def _one_line_error(err: BaseException) -> int:
    message = " ".join(str(err).split()) or type(err).__name__
    print(f"leanet: error: {message} (--debug shows the traceback)", file=sys.stderr)
    return 1


def _closed_stdout_pipe() -> int | None:
    """stdout's file descriptor if it is a pipe whose reader left, else None. A broken
    pipe of anything else (a worker's) ended the run with 141 and no word, and sent the
    process's stdout to devnull; under Jupyter, stdout has no descriptor at all."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError
        return None
    if not hasattr(select, "poll"):  # Windows: flushing again fails only on a closed pipe
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            return fd
        return None
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    # Linux flags a pipe with no reader POLLERR, macOS POLLHUP
    return fd if any(e & (select.POLLERR | select.POLLHUP) for _, e in poller.poll(0)) else None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``leanet`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    debug = args.debug or os.environ.get("LEANET_DEBUG", "") not in ("", "0")
    shown = warnings.showwarning
    if not debug:  # a warning is one line too, without the library's file and code line
        warnings.showwarning = _one_line_warning
    try:
        _check_extras(args)
        status = COMMANDS[args.command][2](args)
        sys.stdout.flush()  # a closed pipe fails here, where it is handled, not at exit
        return status
    except BrokenPipeError as err:
        stdout = _closed_stdout_pipe()
        if stdout is None:  # another pipe broke (a worker's, a socket's): an error of the run
            if debug:
                raise
            return _one_line_error(err)
        # The reader left (`leanet ... | head -1`): not an error of the run. Quiet, with the
        # status a shell gives a tool a closed pipe ended (128 + SIGPIPE, as `seq 1 100000 |
        # head -1` gives), so `set -o pipefail` sees it as for any such tool. stdout goes to
        # devnull so the exit's flush does not fail again (Python's docs, "Note on SIGPIPE").
        os.dup2(os.open(os.devnull, os.O_WRONLY), stdout)
        return 141
    except KeyboardInterrupt:
        if debug:
            raise
        print("leanet: interrupted", file=sys.stderr)
        return 130
    except (CLIError, ValueError, TypeError, OSError, RuntimeError, ImportError) as err:
        # The project's errors name the problem; a traceback would only bury it.
        if debug:
            raise
        return _one_line_error(err)
    finally:
        warnings.showwarning = shown


if __name__ == "__main__":
    sys.exit(main())
