"""The ``leanet report`` verb: an artifact's Pareto table and the energy it saves on the
test split, against the pretrained network it records. Registered in
:data:`leanet.cli.COMMANDS`; a file of its own to keep ``cli.py`` short."""

from __future__ import annotations

import argparse

from leanet.cli_io import CLIError, add_bound_arg, add_data_args, data_of
from leanet.cli_types import FRACTIONS


def add_report(p: argparse.ArgumentParser) -> None:
    # Here, not at the top: leanet.policy imports mobo, which `import leanet.cli` should not.
    from leanet.policy import PAPER_LOSSES

    p.add_argument("artifact", help="artifact from `leanet optimize` or `leanet demo`")
    p.add_argument(
        "--losses",
        type=FRACTIONS,
        default=list(PAPER_LOSSES),
        help="allowed accuracy losses, comma-separated (default 0,0.01,0.02, the paper's)",
    )
    add_bound_arg(p)
    add_data_args(p)


def run_report(args: argparse.Namespace) -> int:
    from leanet.artifact import load_artifact
    from leanet.demo import pareto_table, savings_table
    from leanet.evaluator import ThresholdEvaluator
    from leanet.machine import describe
    from leanet.policy import energy_savings
    from leanet.train import correct_predictions

    artifact = load_artifact(args.artifact)
    if "dataset" not in artifact.meta:  # save_artifact's meta is free-form: say what to keep
        raise CLIError(
            f"{args.artifact} does not say which data set it was made on: save it with "
            "save_artifact(..., meta={'dataset': data.name, 'split_seed': data.seed}), data "
            "being the load_dataset splits it was made on"
        )
    data = data_of(artifact.meta, args, args.artifact)
    records = {"progress": not args.no_progress}
    test = ThresholdEvaluator.from_model(artifact.net, data.test, artifact.costs, **records)
    meta, config = artifact.meta, artifact.net.config().get("levels", {})
    # The pretrained network's outcomes: recorded with the artifact, or (older artifacts)
    # read from a level that is the unmodified network, which costs a pass over the data:
    # a hybrid's top level; a depth LEANet's backbone, which head fitting leaves as it was.
    # Otherwise the levels changed the network's copy.
    full_val_correct = meta.get("full_val_correct")
    full_val, full_test = meta.get("full_val_accuracy"), meta.get("full_test_accuracy")
    val = None
    if full_val is None or full_test is None or (args.bound and full_val_correct is None):
        top_val = top_test = None
        if config.get("scheme") == "hybrid":
            val = ThresholdEvaluator.from_model(artifact.net, data.val, artifact.costs, **records)
            top_val, top_test = val.correct[-1], test.correct[-1]
        elif config.get("kind") == "depth":
            top_val = correct_predictions(artifact.net.base, data.val)
            top_test = correct_predictions(artifact.net.base, data.test)
        if full_val_correct is None:
            full_val_correct = top_val
        if (full_val is None or full_test is None) and top_val is not None:
            full_val, full_test = (float(c.double().mean()) for c in (top_val, top_test))
    if full_val is None or full_test is None:
        raise CLIError(
            f"{args.artifact} does not record the pretrained network's accuracy (made before "
            "it did), and its levels changed the network's copy: make it again with "
            "`leanet fit-heads` and `leanet optimize`"
        )
    guard = {}
    if args.bound is not None:
        if full_val_correct is None or len(full_val_correct) != len(data.val):
            raise CLIError(
                f"--bound needs the pretrained network's outcome on each of the "
                f"{len(data.val)} validation inputs, which {args.artifact} does not record "
                "(made before artifacts did) and its levels do not give: make it again with "
                "`leanet fit-heads` and `leanet optimize`"
            )
        if val is None:
            val = ThresholdEvaluator.from_model(artifact.net, data.val, artifact.costs, **records)
        guard = {
            "confidence": args.bound,
            "val_evaluator": val,
            "full_val_correct": full_val_correct,
        }
    print(pareto_table(artifact.front, test, len(data.val)))
    print()
    savings = energy_savings(artifact.front, full_val, test, args.losses, **guard)
    on = f"{len(data.val)} held-out validation images" if "holdout" in meta else "validation"
    print(savings_table(savings, full_test, args.bound, on))
    print(describe(meta.get("trained_with")))
    return 0
