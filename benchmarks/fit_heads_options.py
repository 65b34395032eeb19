"""What `leanet fit-heads` options are worth, run as a user runs them (stop 65's default change).

For one base checkpoint (from ``leanet train``) and each variant (a name and the extra
``leanet fit-heads`` flags), the LEANet is fitted through the command line, then measured
without optimizer noise: each level's test accuracy alone, and the energy saved on test
at 0/1/2% allowed loss with thresholds chosen on the dense validation front
(:func:`leanet.reference_front.reference_front`, :func:`leanet.policy.energy_savings`, the paper's
table). A fitted LEANet is kept beside ``--out`` and reused by a later run.

    python benchmarks/fit_heads_options.py base.pt --variant ft0 --fine-tune-epochs 0 \\
        --variant ft10 --fine-tune-epochs 10
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import provenance  # noqa: E402

from leanet.checkpoints import load_checkpoint, load_leanet  # noqa: E402
from leanet.cli import main as leanet_main  # noqa: E402
from leanet.costs import measure_costs  # noqa: E402
from leanet.data import load_dataset  # noqa: E402
from leanet.evaluator import ThresholdEvaluator  # noqa: E402
from leanet.policy import PAPER_LOSSES, energy_savings  # noqa: E402
from leanet.reference_front import reference_front  # noqa: E402
from leanet.train import evaluate  # noqa: E402

RESULTS = Path(__file__).parent / "results"
LOSSES = PAPER_LOSSES


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, dict[str, list[str]]]:
    """The options, and the variants: each ``--variant NAME`` followed by its flags."""
    cut = argv.index("--variant") if "--variant" in argv else len(argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint", type=Path, help="a base checkpoint from `leanet train`")
    parser.add_argument("--samples", type=int, default=20_000, help="dense front's samples")
    parser.add_argument("--out", type=Path, default=RESULTS / "fit_heads_options")
    args = parser.parse_args(argv[:cut])
    variants: dict[str, list[str]] = {}
    for word in argv[cut:]:
        if word == "--variant":
            variants[""] = []  # the next word names it
        elif "" in variants:
            variants[word] = variants.pop("")
        else:
            variants[list(variants)[-1]].append(word)
    if not variants or "" in variants:
        parser.error("give at least one --variant NAME [leanet fit-heads flags ...]")
    return args, variants


def measure(leanet_path: Path, base, data, samples: int) -> dict:
    """Per-level test accuracy and the energy saved on test, thresholds from the dense
    validation front."""
    net, meta = load_leanet(leanet_path)
    net.eval()
    costs = measure_costs(net, latency=False)
    val = ThresholdEvaluator.from_model(net, data.val, costs)
    test = ThresholdEvaluator.from_model(net, data.test, costs)
    front, _ = reference_front(val, n_samples=samples)
    savings = energy_savings(front, evaluate(base, data.val), test, LOSSES)
    return {
        "fine_tune_epochs": meta["fine_tune_epochs"],
        "level_test_accuracy": meta["test_accuracy"],
        "full_test_accuracy": meta["full_test_accuracy"],
        "savings": [
            {"loss": s.allowed_loss, "test_accuracy": s.test_accuracy, "saved": s.energy_saved}
            for s in savings
        ],
    }


def report(command: str, checkpoint: Path, rows: dict[str, dict]) -> str:
    lines = provenance.heading("What `leanet fit-heads` options are worth", command)
    lines += [
        f"Base: `{checkpoint}`. Per variant: each level's test accuracy alone (the last is "
        "the top level), and on test the accuracy and energy saved at each allowed loss, "
        "thresholds chosen on the dense validation front.",
        "",
        "| variant | fine-tune epochs | level test accuracy | full network | "
        + " | ".join(f"{loss:.0%} loss: acc / saved" for loss in LOSSES)
        + " |",
        "|---|---|---|---|" + "---|" * len(LOSSES),
    ]
    for name, row in rows.items():
        cells = [
            "-" if s["saved"] is None else f"{s['test_accuracy']:.4f} / {s['saved']:.1%}"
            for s in row["savings"]
        ]
        levels = " / ".join(f"{a:.4f}" for a in row["level_test_accuracy"])
        lines.append(
            f"| {name} | {row['fine_tune_epochs']} | {levels} | "
            f"{row['full_test_accuracy']:.4f} | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, dict]:
    argv = sys.argv[1:] if argv is None else argv
    args, variants = parse_args(argv)
    base, meta = load_checkpoint(args.checkpoint)
    data = load_dataset(meta["dataset"], seed=meta.get("split_seed", 0))
    rows = {}
    for name, flags in variants.items():
        path = args.out.parent / f"{args.out.name}-{args.checkpoint.stem}-{name}.leanet.pt"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fit = ["fit-heads", "--checkpoint", str(args.checkpoint), "--out", str(path)]
            if leanet_main([*fit, *flags, "--no-progress"]) != 0:
                raise SystemExit(f"leanet fit-heads failed for variant {name}")
        rows[name] = measure(path, base, data, args.samples)
    command = provenance.command_line("fit_heads_options.py", argv)
    payload = {"command": command, "commit": provenance.commit(), "variants": variants}
    provenance.write_results(
        args.out, {**payload, "rows": rows}, report(command, args.checkpoint, rows)
    )
    return rows


if __name__ == "__main__":
    main()
