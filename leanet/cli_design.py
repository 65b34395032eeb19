"""The ``leanet design`` verb: search LEANet designs and thresholds together from a base
checkpoint (:mod:`leanet.design`), journaled, and save one artifact per design of the front.
Registered in :data:`leanet.cli.COMMANDS`; a file of its own to keep ``cli.py`` short."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from leanet.cli_io import CLIError, add_bound_arg, add_data_args, data_of
from leanet.cli_types import COUNT, EPOCHS, SEED, number

# The defaults are the setting the design-search benchmarks measured best
# (benchmarks/results/design_search_extras/ds_convnet.md): the study's 10 fine-tune epochs,
# 5 dense-front points per design told as extras after a four-design Sobol start (ConvNet,
# median test HV 0.0646, against 0.0559 with the points counted in a 10-point start). 60
# points is about what those 600 s ConvNet runs evaluated (10 designs, 65 points).
DEFAULT_FINE_TUNE_EPOCHS = 10
DEFAULT_DENSE_POINTS = 5
DEFAULT_INITIAL_DESIGNS = 4
DEFAULT_EVALS = 60
DEFAULT_HEAD_EPOCHS = 5
DEFAULT_LEVELS = [2, 6]


def add_design(p: argparse.ArgumentParser) -> None:
    import mobo

    p.add_argument("checkpoint", help="pretrained base checkpoint (from `leanet train`)")
    p.add_argument(
        "--algorithm",
        # The epochs fidelity is discrete: iMOCA, which needs a continuous one, always failed.
        choices=[a for a in mobo.available_algorithms() if a != "imoca"],
        default=None,
        help="default qlognehvi; mfosemo when the epochs are a fidelity; momf with a "
        "fidelity and constraints",
    )
    p.add_argument(
        "--n-evals",
        type=COUNT,
        default=None,
        help=f"(design, thresholds) points (default {DEFAULT_EVALS}: about ten designs with the "
        "default dense points; no limit with --max-cost)",
    )
    p.add_argument(
        "--max-cost",
        type=number(float, 0, above=True),
        default=None,
        help="with fidelities: stop once the designs trained cost this many epochs (a design "
        "costs 1 for building and its heads, plus its fine-tune epochs; less when it continues "
        "a cheaper run of itself)",
    )
    p.add_argument(
        "--levels",
        type=COUNT,
        nargs=2,
        default=DEFAULT_LEVELS,
        metavar=("MIN", "MAX"),
        help="fewest and most levels a design may have (default 2 6)",
    )
    p.add_argument(
        "--fine-tune-epochs",
        type=number(int, 0),
        nargs="+",
        default=[DEFAULT_FINE_TUNE_EPOCHS],
        help=f"one value, or ascending values that become the fidelity (default "
        f"{DEFAULT_FINE_TUNE_EPOCHS}; 0 fits heads only: fast, but a design then keeps a median "
        "0.1 (VGG-16) or 0 (MobileNet) of its 10-epoch hypervolume, "
        "benchmarks/results/design_fidelity.md)",
    )
    p.add_argument(
        "--continue-fidelities",
        action="store_true",
        help="a cheaper fidelity trains the first epochs of the target's run, which a "
        "target evaluation of that design continues (see leanet.design)",
    )
    p.add_argument(
        "--max-accuracy-drop",
        type=number(float, 0, 1),
        default=None,
        help="constraint: validation accuracy at least the pretrained network's minus this "
        "(e.g. 0.01)",
    )
    p.add_argument(
        "--max-mb",
        type=number(float, 0, above=True),
        default=None,
        help="constraint: the design's parameters at most this many megabytes (float32)",
    )
    p.add_argument(
        "--head-epochs",
        type=EPOCHS,
        default=DEFAULT_HEAD_EPOCHS,
        help=f"epochs fitting each design's heads before fine-tuning (default "
        f"{DEFAULT_HEAD_EPOCHS})",
    )
    p.add_argument(
        "--dense-points",
        type=number(int, 0),
        default=DEFAULT_DENSE_POINTS,
        help=f"tell the search this many points of each built design's dense threshold front "
        f"(default {DEFAULT_DENSE_POINTS}; 0: none). They count in --n-evals; see "
        "leanet.dense_fronts",
    )
    p.add_argument(
        "--dense-extra",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="tell the dense points as extras (the default with dense points): the model "
        "learns from them and --n-evals counts them, but the initial design does not, so "
        "--n-initial counts designs; --no-dense-extra counts them in the initial design",
    )
    p.add_argument(
        "--n-initial",
        type=COUNT,
        default=None,
        help=f"Sobol evaluations before the model steers (default {DEFAULT_INITIAL_DESIGNS} "
        "designs with dense extras, else 2 (d + 1), d the number of search inputs)",
    )
    p.add_argument(
        "--holdout",
        type=number(float, 0, 1),
        default=0.0,
        metavar="SHARE",
        help="share of the validation split the search never reads (e.g. 0.33): the closing "
        "table chooses on it and the artifacts' tables are measured on it, free of the "
        "search's selection (chosen on the split the search read, the 0%% point lost test "
        "accuracy in 15 of 17 searches: benchmarks/results/design_choice.md); default 0, "
        "the search reads all of it",
    )
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--out", default=None, help="folder (default <checkpoint>.designs)")
    add_bound_arg(p)
    add_data_args(p)


def run_design(args: argparse.Namespace) -> int:
    import mobo
    from leanet.checkpoints import load_checkpoint
    from leanet.data import hold_out
    from leanet.dense_fronts import DenseFronts
    from leanet.design import DesignProblem
    from leanet.recipes import fine_tune_options, recipe_for

    base, meta = load_checkpoint(args.checkpoint)
    out = Path(args.out or Path(args.checkpoint).with_suffix(".designs"))
    if out.exists() and not out.is_dir():
        raise CLIError(f"--out {out} is a file; the design search writes a folder")
    data = data_of(meta, args, args.checkpoint)
    held, kept = None, {}
    if args.holdout:
        n = round(args.holdout * len(data.val))
        if not 0 < n < len(data.val):
            raise CLIError(
                f"--holdout {args.holdout:g} of {len(data.val)} validation images holds out "
                f"{n}: give a share that keeps some on each side"
            )
        data, held = hold_out(data, n, seed=args.seed)
        kept = {"holdout": n, "holdout_seed": args.seed}  # how `leanet report` draws it again
    epochs = args.fine_tune_epochs
    for flag, given in (
        ("--continue-fidelities", args.continue_fidelities),
        ("--max-cost", args.max_cost),
    ):
        if given and len(epochs) == 1:
            raise CLIError(f"{flag} needs two or more --fine-tune-epochs (fidelities)")
    if args.dense_extra and not args.dense_points:
        raise CLIError("--dense-extra needs --dense-points (the points it tells as extras)")
    extra = bool(args.dense_points) if args.dense_extra is None else args.dense_extra
    n_initial = args.n_initial
    if n_initial is None and extra:
        n_initial = DEFAULT_INITIAL_DESIGNS
    # The constraints read `problem`, bound below before any evaluation calls them.
    constraints, study = {}, ""  # other constraints or settings: other studies, other journals
    # (settings at their defaults leave the name as it was, so old journals still resume)
    if epochs != [DEFAULT_FINE_TUNE_EPOCHS]:
        study += "-ft" + "-".join(map(str, epochs))
    if args.head_epochs != DEFAULT_HEAD_EPOCHS:
        study += f"-he{args.head_epochs}"
    if list(args.levels) != DEFAULT_LEVELS:
        study += f"-L{args.levels[0]}-{args.levels[1]}"
    if (drop := args.max_accuracy_drop) is not None:
        constraints["accuracy floor"] = lambda d, m: problem.full_accuracy - drop - m.accuracy
        study += f"-drop{drop:g}"
    if (mb := args.max_mb) is not None:
        constraints["size"] = lambda d, m: problem.weights_mb(d) - mb
        study += f"-mb{mb:g}"
    problem = DesignProblem(
        base,
        data,
        levels=tuple(args.levels),
        fine_tune_epochs=epochs[0] if len(epochs) == 1 else epochs,
        head_epochs=args.head_epochs,
        constraints=constraints,
        cache=out / "cache",
        seed=args.seed,
        continue_fidelities=args.continue_fidelities,
        # The architecture's recipe, as the design-search benchmarks trained every design.
        fine_tune_options=fine_tune_options(recipe_for(base.config.get("arch"))),
    )
    algorithm = args.algorithm or (
        ("momf" if constraints else "mfosemo") if problem.has_fidelities else "qlognehvi"
    )
    study += f"-hold{len(held)}" if held is not None else ""
    study += "-cont" if args.continue_fidelities else ""
    study += f"-dense{args.dense_points}" if args.dense_points else ""
    study += "-extra" if extra else ""
    study += f"-init{n_initial}" if n_initial is not None else ""
    options = {} if n_initial is None else {"n_initial": n_initial}
    dense = DenseFronts(args.dense_points, extra=extra) if args.dense_points else None
    journal = out / f"{algorithm}{study}-seed{args.seed}.jsonl"
    result = mobo.optimize(
        problem,
        algorithm,
        n_evals=args.n_evals if args.n_evals or args.max_cost else DEFAULT_EVALS,
        max_cost=args.max_cost,
        seed=args.seed,
        journal=journal,
        show_progress=not args.no_progress,
        callbacks=[dense] if dense else (),
        **options,
    )
    print(result.summary())
    print(problem.front_table(result.pareto_X, result.pareto_Y))
    if len(result.pareto_X):
        print(savings_on_test(problem, result.pareto_X, bound=args.bound, choose_on=held))
    elif not problem.at_target(result.X).any():  # an empty table said nothing
        print("no design reached the target fidelity within --max-cost: raise it")
    else:
        print("no design met the constraints (--max-accuracy-drop, --max-mb)")
    # One folder per study: searches sharing --out overwrote each other's artifacts, and a
    # design that left the front kept its artifact beside the new front's.
    folder = out / f"{journal.stem}.artifacts"
    for stale in [*folder.glob("*.artifact.pt"), *folder.glob("*.artifact.pt.runtime")]:
        if stale.is_dir():
            shutil.rmtree(stale)
        else:
            stale.unlink()
    # with the data split, the held-out images' draw and the pretrained network's figures
    paths = problem.save_artifacts(result.pareto_X, folder, meta=kept, selection=held)
    print(
        f"saved {len(paths)} artifact(s) in {folder} (one per design of the front; journal "
        f"{journal})"
    )
    return 0


def savings_on_test(problem, X, losses=None, bound: float | None = None, choose_on=None) -> str:
    """The paper's table for a front of several designs, as ``leanet demo`` and ``leanet
    report`` print it for one: at each allowed loss, the cheapest point of ``X`` (or the
    pretrained network, if none is cheaper) whose validation accuracy is within it of the
    pretrained network's (with ``bound``: whose paired lower bound at that confidence on
    the accuracy change is; see :func:`leanet.policy.cheapest_allowed` and
    :func:`~leanet.policy.cheapest_across`), measured on test. A search's front is chosen on
    validation, so this is where its optimism shows (``benchmarks/results/design_choice.md``);
    ``choose_on``: held-out validation images to choose on instead, which the search never
    read (``--holdout``). ``losses``: by default the paper's,
    :data:`leanet.policy.PAPER_LOSSES`.
    """
    from leanet.demo import savings_table
    from leanet.policy import PAPER_LOSSES, Saving, choices_across
    from leanet.train import correct_predictions, evaluate

    losses = PAPER_LOSSES if losses is None else losses
    points = problem.decode(X)
    evaluators = {d: problem.evaluator_on(d, choose_on) for d, _ in points}  # None: validation
    full_accuracy, full_correct = problem.full_accuracy, None
    if choose_on is not None or bound is not None:  # the pretrained network's outcomes there
        full_correct = correct_predictions(
            problem.base, problem.data.val if choose_on is None else choose_on
        )
        full_accuracy = float(full_correct.double().mean())
    pairs = [(evaluators[d], t) for d, t in points]
    rule = {"confidence": bound, "full_correct": full_correct}
    chosen, allowed = choices_across(pairs, full_accuracy, losses, **rule)
    test_evaluators, savings, names = {}, [], []
    for loss, i, any_allowed in zip(losses, chosen, allowed, strict=True):
        if i is None:  # the full network is kept: say whether a point qualified at all
            why = None if any_allowed is None else "none that qualifies saves energy"
            savings.append(Saving(loss, None, None, None, kept_because=why))
            continue
        design, t = points[i]
        if design not in test_evaluators:
            test_evaluators[design] = problem.test_evaluator(design)
        deployed = problem.deployed(design, t[None], evaluators[design])  # as its artifact
        test = test_evaluators[design].evaluate(deployed)
        saving = Saving(loss, deployed[0], float(test.accuracy[0]), float(test.energy_ratio[0]))
        savings.append(saving)
        names.append(f"{loss:.0%}: {design.key}")
    on = "validation" if choose_on is None else f"{len(choose_on)} held-out validation images"
    table = savings_table(savings, evaluate(problem.base, problem.data.test), bound, on)
    return table + (f"\nchosen on {on}: {'; '.join(names)}" if names else "")
