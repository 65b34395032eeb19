"""The ``leanet fit-heads`` verb: build a LEANet's levels from a base checkpoint, train one
head per level on frozen features (then, by default for width levels, fine-tune levels and
heads jointly with the architecture's recipe), report per-level test accuracy and MACs, and
save the LEANet. Registered in :data:`leanet.cli.COMMANDS`; a file of its own to keep
``cli.py`` short."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from leanet.cli_io import CLIError, add_data_args, check_out_file, data_of
from leanet.cli_types import COUNT, EPOCHS, FRACTIONS, POSITIVE_INTS, SEED, number


def add_fit_heads(p: argparse.ArgumentParser) -> None:
    from leanet.confidence import CONFIDENCES
    from leanet.levels import SCHEMES

    p.add_argument("--checkpoint", required=True, help="base network from `leanet train`")
    p.add_argument("--levels", choices=["width", "depth"], default="width")
    p.add_argument(
        "--fractions",
        type=FRACTIONS,
        default=None,
        help="width fractions, comma-separated (default 0.5,0.625,0.75,0.875,1.0)",
    )
    p.add_argument(
        "--scheme",
        choices=list(SCHEMES),
        default=None,
        help="width levels: triangular levels under the unmodified pretrained network "
        "(hybrid, default), exact reuse up to the top (triangular), or recompute (slice)",
    )
    p.add_argument(
        "--exits",
        type=POSITIVE_INTS,
        default=None,
        help="depth levels: 1-based conv indices of the exits, comma-separated",
    )
    p.add_argument(
        "--num-levels",
        type=number(int, 2),
        default=None,
        help="depth levels, evenly spaced, without --exits (default 4)",
    )
    p.add_argument("--confidence", choices=sorted(CONFIDENCES), default="max_softmax")
    p.add_argument(
        "--head-hidden",
        type=COUNT,
        default=0,
        help="hidden units of each head's MLP (default 0: linear heads; an MLP head is read "
        "for every input, and with 128 units the upper exits cost as much as the full network)",
    )
    p.add_argument("--epochs", type=EPOCHS, default=30, help="head training epochs")
    p.add_argument(
        "--fine-tune-epochs",
        type=number(int, 0),
        default=None,
        help="then fine-tune the levels and heads jointly for this many epochs, all of them "
        "(the validation split is left to the threshold search), with the architecture's "
        "recipe (leanet.recipes); default: the recipe's epochs for width levels (ConvNet and "
        "VGG-16 10, MobileNet 40), 0 for depth exits (heads on the frozen pretrained "
        "features) and the slice scheme (it cannot be); the hybrid's pretrained top stays",
    )
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--out", default=None, help="LEANet path (default <checkpoint>.leanet.pt)")
    add_data_args(p)


def run_fit_heads(args: argparse.Namespace) -> int:
    from leanet.checkpoints import load_checkpoint, save_leanet
    from leanet.levels import DEFAULT_FRACTIONS
    from leanet.machine import trained_with
    from leanet.model import build
    from leanet.recipes import fine_tune_epochs, fine_tune_options, recipe_for
    from leanet.train import (
        correct_predictions,
        evaluate,
        evaluate_levels,
        fine_tune,
        fit_heads,
        recalibrate_batch_norm,
    )

    # An option of the other kind of levels is refused, not ignored.
    if args.levels == "width":
        for given, option in ((args.exits, "--exits"), (args.num_levels, "--num-levels")):
            if given is not None:
                raise CLIError(f"{option} sets depth levels; with --levels width give --fractions")
    elif args.fractions is not None or args.scheme is not None:
        option = "--fractions" if args.fractions is not None else "--scheme"
        raise CLIError(f"{option} sets width levels; with --levels depth give --exits")
    elif args.exits is not None and args.num_levels is not None:
        raise CLIError("--exits places the exits and --num-levels spaces them evenly: give one")
    if args.scheme == "slice":  # it cannot be fine-tuned: refused before anything trains
        if args.fine_tune_epochs is None:
            print("leanet: note: --scheme slice fits the heads only", file=sys.stderr)
        args.fine_tune_epochs = fine_tune_epochs("slice", args.fine_tune_epochs, 0)
    # One threshold at least: a single level has nothing to choose (optimize would refuse it).
    levels = args.fractions if args.levels == "width" else args.exits
    if levels is not None and len(levels) < 2:
        option = "--fractions" if args.levels == "width" else "--exits"
        raise CLIError(f"a LEANet needs at least 2 levels; {option} {levels} gives 1")
    base, meta = load_checkpoint(args.checkpoint)
    out = Path(args.out or Path(args.checkpoint).with_suffix(".leanet.pt"))
    check_out_file(out, source=args.checkpoint)
    data = data_of(meta, args, args.checkpoint)
    if data.classes != meta["classes"]:
        raise CLIError(
            f"{args.checkpoint}: classes {meta['classes']} do not match data set "
            f"{data.name} ({data.classes})"
        )
    # The pretrained network's accuracy, recorded for reports: the LEANet's copy of the base
    # shares its features with the levels, which recalibration and fine-tuning change. Its
    # outcome per validation input too, for the paired bound of `leanet report --bound`.
    full_val_correct = correct_predictions(base, data.val)
    full_accuracy = {
        "full_val_accuracy": float(full_val_correct.double().mean()),
        "full_test_accuracy": evaluate(base, data.test),
        "full_val_correct": full_val_correct,
    }
    net = build(
        base,
        levels=args.levels,
        fractions=args.fractions or DEFAULT_FRACTIONS,
        scheme=args.scheme or "hybrid",
        exits=args.exits,
        num_levels=args.num_levels or 4,
        head_hidden=args.head_hidden,
        confidence=args.confidence,
        seed=args.seed,
    )
    progress = not args.no_progress
    if args.levels == "width" and args.scheme != "slice":
        # Triangular channels read fewer inputs than the pretrained statistics assume.
        recalibrate_batch_norm(net, data.train, progress=progress)
    fit_heads(net, data.train, epochs=args.epochs, seed=args.seed, progress=progress)
    # The recipe the study's networks were fine-tuned with; against heads only, ConvNet
    # levels 1-4 about a point more accurate on test (benchmarks/results/fit_heads_options.md).
    recipe = recipe_for(base.config.get("arch"))
    epochs = args.fine_tune_epochs
    if epochs is None:
        epochs = recipe.epochs if args.levels == "width" else 0
    if epochs > 0:
        # Every epoch, no early stopping on validation: as the study and `leanet demo` do
        # (leanet.train.fine_tune says why).
        options = fine_tune_options(recipe)
        fine_tune(net, data.train, epochs=epochs, seed=args.seed, progress=progress, **options)
    accuracy = evaluate_levels(net, data.test)
    macs = net.level_macs()
    save_leanet(
        out,
        net,
        split_seed=data.seed,
        meta={
            "dataset": data.name,
            "test_accuracy": accuracy,
            "level_macs": macs,
            "fine_tune_epochs": epochs,
            "trained_with": trained_with(),
            **full_accuracy,
        },
    )
    print(
        json.dumps(
            {"test_accuracy": [round(a, 4) for a in accuracy], "incremental_macs": macs},
            indent=None,
        )
    )
    print(f"saved {out}")
    return 0
