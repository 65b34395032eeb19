"""The command-line options of ``design_search.py`` (issue 17), apart from the search so that
what a run can be told reads in one place; that script's docstring says what each method
and variant does, and its ``label`` names the runs after these options.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from provenance import command_line

RESULTS = Path(__file__).parent / "results"

#: The cheap fidelity of the recorded MF-OSEMO runs (fine-tune epochs); runs with another are
#: labelled ``mfosemo+ft<N>``.
DEFAULT_FIDELITY_EPOCHS = 2


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """``design_search.py``'s options (``argv``: None reads ``sys.argv``)."""
    parser = argparse.ArgumentParser(
        description="Design search vs the hand-fixed LEANet design and a random design search"
    )
    parser.add_argument("--archs", nargs="+", default=["convnet", "vgg16", "mobilenet"])
    parser.add_argument("--dataset", default="digits8x8")
    parser.add_argument(
        "--moved-to-validation",
        type=int,
        default=0,
        help="training images moved to the validation split (test split unchanged); the "
        "networks are named <arch>-<dataset>-val<N>, N the validation images, and cached apart",
    )
    parser.add_argument(
        "--holdout",
        type=int,
        default=0,
        help="validation images held out from the search (leanet.data.hold_out, seed 0), "
        "kept for choosing among its front (design_choice.py); the base and the hand-fixed "
        "design keep the whole split; networks named <name>-hold<N>, designs cached apart",
    )
    parser.add_argument("--methods", nargs="+", default=["qlognehvi", "sobol"])
    parser.add_argument("--seeds", type=int, default=3, help="search seeds 0 .. seeds-1")
    parser.add_argument(
        "--only-seeds",
        type=int,
        nargs="+",
        default=None,
        help="run these search seeds only (e.g. one per process, merged with --merge)",
    )
    parser.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        default=[],
        help="results files (.json) whose runs are added to --out's before running",
    )
    parser.add_argument("--budget", type=float, default=120.0, help="charged CPU seconds")
    parser.add_argument("--max-evals", type=int, default=80)
    parser.add_argument(
        "--n-initial",
        type=int,
        default=10,
        help="Sobol points before a model-based method's first proposal (mobo's default, "
        "2 (d + 1) = 20 here, leaves no model-based step in a budget of 14 designs); told "
        "dense-front points count among them unless --dense-extra",
    )
    parser.add_argument(
        "--rerun", nargs="+", default=[], help="methods whose kept runs are dropped and rerun"
    )
    parser.add_argument(
        "--first-fraction",
        type=float,
        nargs=2,
        default=[0.25, 0.75],
        metavar=("LOW", "HIGH"),
        help="range of level 1's width fraction (DesignProblem's first_fraction)",
    )
    parser.add_argument("--head-epochs", type=int, default=20)
    parser.add_argument(
        "--fine-tune-epochs", type=int, default=None, help="default: the study's recipe"
    )
    parser.add_argument(
        "--fidelity-epochs",
        type=int,
        default=DEFAULT_FIDELITY_EPOCHS,
        help="fine-tune epochs of the cheap fidelity (methods mfosemo and momf only)",
    )
    parser.add_argument(
        "--build-costs",
        action="store_true",
        help="price mfosemo's fidelities at DesignProblem's default, BUILD_EPOCHS + epochs "
        "(measured), instead of head_epochs + epochs, the recorded runs' (runs labelled "
        "mfosemo+build)",
    )
    parser.add_argument(
        "--continue-fidelities",
        action="store_true",
        help="mfosemo's cheap fidelity is the first epochs of the target's fine-tuning run, "
        "which a target evaluation continues (DesignProblem's continue_fidelities; runs "
        "labelled mfosemo+...+cont+promote)",
    )
    parser.add_argument(
        "--no-promote",
        dest="promote",
        action="store_false",
        help="with --continue-fidelities: mfosemo does not weigh promotions at their "
        "current cost (MFOSEMO's promote=False; runs labelled +cont, as at dad7c1f)",
    )
    parser.add_argument(
        "--budget-end",
        action="store_true",
        help="tell mfosemo the budget left (MFOSEMO.remaining_cost, in its cost units at the "
        "seconds per unit its trained designs took so far), so that it picks the cheap "
        "fidelity only while a target evaluation still fits after it (runs labelled +end)",
    )
    parser.add_argument(
        "--target-share",
        type=float,
        default=0.0,
        help="with --budget-end: the share of the budget at its end mfosemo keeps for target "
        "designs and promotions (MFOSEMO's target_share; runs labelled +share<S>)",
    )
    parser.add_argument(
        "--dense-points",
        type=int,
        default=0,
        help="tell the optimizer this many points of each newly built design's dense "
        "validation front (thresholds searched inside each candidate; runs are labelled "
        "<method>+dense<K>)",
    )
    parser.add_argument(
        "--dense-extra",
        action="store_true",
        help="with --dense-points: tell them as extras, so --n-initial counts designs, not "
        "told points (runs labelled <method>+dense<K>+extra)",
    )
    parser.add_argument("--reference-samples", type=int, default=20_000)
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="rewrite <out>.md and <out>.png from <out>.json (and --merge), running nothing",
    )
    parser.add_argument("--cache", type=Path, default=Path("runs/leanet-study"))
    parser.add_argument("--out", type=Path, default=RESULTS / "design_search")
    args = parser.parse_args(argv)
    if args.target_share and not args.budget_end:
        parser.error("--target-share needs --budget-end (the share is of the budget told)")
    args.command = command_line("design_search.py", argv)
    return args
