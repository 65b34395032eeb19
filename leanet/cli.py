"""Command line: ``leanet <command> ...``.

Commands (each registered in :data:`COMMANDS` with an argument builder and a runner, so
new ones plug in without touching the rest):

- ``train``: train a base network on a data set and save a checkpoint with its metadata.
- ``fit-heads``: build a LEANet's levels from a base checkpoint, train one head per level
  on frozen features (optionally fine-tune jointly), report per-level test accuracy and
  MACs, and save the LEANet.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["COMMANDS", "build_parser", "main"]


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v.strip()]


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def _add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-root", default=None,
                   help="folder of torchvision data sets (default $LEANET_DATA or ./data)")
    p.add_argument("--download", action="store_true",
                   help="let torchvision download missing data (needs internet)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _add_train(p: argparse.ArgumentParser) -> None:
    from leanet.data import BUNDLED, TORCHVISION
    from leanet.zoo import ARCHITECTURES

    p.add_argument("--arch", choices=sorted(ARCHITECTURES), default="convnet")
    p.add_argument("--dataset", choices=BUNDLED + TORCHVISION, default="mnist5k")
    p.add_argument("--width-multiplier", type=float, default=1.0,
                   help="scale every layer's channels (default 1.0)")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0, help="seed of the split and the training")
    p.add_argument("--out", default=None,
                   help="checkpoint path (default checkpoints/<arch>-<dataset>.pt)")
    _add_data_args(p)


def _run_train(args: argparse.Namespace) -> int:
    import torch

    from leanet.data import load_dataset
    from leanet.train import evaluate, save_checkpoint, train_base
    from leanet.zoo import build_base

    data = load_dataset(args.dataset, root=args.data_root, seed=args.seed, download=args.download)
    torch.manual_seed(args.seed)
    model = build_base(args.arch, num_classes=data.num_classes, in_channels=data.in_channels,
                       input_size=data.input_size, width_multiplier=args.width_multiplier)
    result = train_base(model, data.train, val=data.val, epochs=args.epochs, lr=args.lr,
                        batch_size=args.batch_size, seed=args.seed,
                        progress=not args.no_progress)
    acc = evaluate(model, data.test)
    out = Path(args.out or f"checkpoints/{args.arch}-{data.name}.pt")
    save_checkpoint(out, model, dataset=data.name, classes=data.classes, accuracy=acc,
                    extra={"split_seed": args.seed, "val_accuracy": result.accuracy,
                           "train_seconds": result.seconds, "epochs": args.epochs})
    print(f"{args.arch} on {data.name}: test accuracy {acc:.4f}, val {result.accuracy:.4f}, "
          f"{result.seconds:.1f} s; saved {out}")
    return 0


def _add_fit_heads(p: argparse.ArgumentParser) -> None:
    from leanet.confidence import CONFIDENCES

    p.add_argument("--checkpoint", required=True, help="base network from `leanet train`")
    p.add_argument("--levels", choices=["width", "depth"], default="width")
    p.add_argument("--fractions", type=_floats, default=None,
                   help="width fractions, comma-separated (default 0.5,0.625,0.75,0.875,1.0)")
    p.add_argument("--scheme", choices=["triangular", "slice"], default="triangular",
                   help="width levels: exact reuse (triangular) or recompute (slice)")
    p.add_argument("--exits", type=_ints, default=None,
                   help="depth levels: 1-based conv indices of the exits, comma-separated")
    p.add_argument("--num-levels", type=int, default=4, help="depth levels without --exits")
    p.add_argument("--confidence", choices=sorted(CONFIDENCES), default="max_softmax")
    p.add_argument("--head-hidden", type=int, default=128)
    p.add_argument("--epochs", type=int, default=30, help="head training epochs")
    p.add_argument("--fine-tune-epochs", type=int, default=0,
                   help="then fine-tune backbone and heads jointly for this many epochs "
                        "(changes the pretrained weights; default 0 = off)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="LEANet path (default <checkpoint>.leanet.pt)")
    _add_data_args(p)


def _run_fit_heads(args: argparse.Namespace) -> int:
    from leanet.cascade import DEFAULT_FRACTIONS
    from leanet.data import load_dataset
    from leanet.model import build
    from leanet.train import evaluate_levels, fine_tune, fit_heads, load_checkpoint, save_leanet

    base, meta = load_checkpoint(args.checkpoint)
    split_seed = int(meta.get("extra", {}).get("split_seed", 0))
    data = load_dataset(meta["dataset"], root=args.data_root, seed=split_seed,
                        download=args.download)
    if data.classes != meta["classes"]:
        raise SystemExit(f"{args.checkpoint}: classes {meta['classes']} do not match data set "
                         f"{data.name} ({data.classes})")
    net = build(base, levels=args.levels, fractions=args.fractions or DEFAULT_FRACTIONS,
                scheme=args.scheme, exits=args.exits, num_levels=args.num_levels,
                head_hidden=args.head_hidden, confidence=args.confidence, seed=args.seed)
    progress = not args.no_progress
    fit_heads(net, data.train, epochs=args.epochs, seed=args.seed, progress=progress)
    if args.fine_tune_epochs > 0:
        fine_tune(net, data.train, epochs=args.fine_tune_epochs, seed=args.seed,
                  progress=progress)
    accuracy = evaluate_levels(net, data.test)
    macs = net.level_macs()
    out = Path(args.out or Path(args.checkpoint).with_suffix(".leanet.pt"))
    save_leanet(out, net, meta={"dataset": data.name, "split_seed": split_seed,
                                "test_accuracy": accuracy, "level_macs": macs,
                                "fine_tune_epochs": args.fine_tune_epochs})
    print(json.dumps({"test_accuracy": [round(a, 4) for a in accuracy],
                      "incremental_macs": macs}, indent=None))
    print(f"saved {out}")
    return 0


COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None],
                          Callable[[argparse.Namespace], int]]] = {
    "train": ("train a base network and save a checkpoint", _add_train, _run_train),
    "fit-heads": ("build levels and train one head per level", _add_fit_heads, _run_fit_heads),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="leanet",
        description="Energy-accuracy tradeoff networks (LEANets) from pretrained classifiers.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, add_args, _) in COMMANDS.items():
        add_args(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``leanet`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    return COMMANDS[args.command][2](args)


if __name__ == "__main__":
    sys.exit(main())
