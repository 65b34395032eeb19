"""The study's report: the markdown tables and the plots of a ``leanet_study`` payload
(the JSON it writes), apart from the measuring so each file keeps one purpose."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from mobo.plotting import median_over_seeds  # noqa: E402

#: Evaluations after which the optimizer table reports the hypervolume ratio.
MARKS = (10, 25, 50)


def fmt(value, pattern: str = "{:.3f}") -> str:
    return "-" if value is None else pattern.format(value)


def markdown(payload: dict) -> str:
    md = [
        "# LEANet study: energy saved, optimizers, baselines",
        "",
        f"Command: `{payload['command']}`",
        "",
        f"Commit of this invocation (networks measured): {payload['commit']}; of the "
        "optimizer runs: "
        + ", ".join(sorted({r.get("commit", "unknown") for r in payload["optimizers"]["runs"]}))
        + ".",
        "",
        f"Machine: {payload['machine']}. Wall time of this invocation: "
        f"{payload['seconds']:.0f} s (cached networks and runs are reused).",
        "",
        "## Energy saved at an allowed accuracy loss (test split)",
        "",
        "Thresholds chosen on the validation split from the reference front (dense search), "
        "as the cheapest point within the allowed absolute loss of the full network's "
        "validation accuracy; measured on test. Energy: 45nm model (`45nm-fp32`, weights "
        "from DRAM), ratio to the full pretrained network. Latency: measured on this CPU, "
        "one input at a time. '-': no threshold vector qualifies.",
        "",
        "| network | full test acc | level test acc | "
        + " | ".join(
            f"{100 * loss:g}% loss: acc / energy saved / latency saved"
            for loss in payload["losses"]
        )
        + " |",
        "|---|---|---|" + "---|" * len(payload["losses"]),
    ]
    for n in payload["networks"]:
        cells = []
        for s in n["savings"]:
            if s["energy_saved"] is None:
                cells.append("-")
            else:
                cells.append(
                    f"{s['test_accuracy']:.4f} / {s['energy_saved']:.1%} / {s['latency_saved']:.1%}"
                )
        levels = " / ".join(f"{a:.3f}" for a in n["level_test_accuracy"])
        md.append(
            f"| {n['name']} | {n['full']['test_accuracy']:.4f} | {levels} | "
            + " | ".join(cells)
            + " |"
        )
    box = payload["front_hv_box"]
    md += [
        "",
        "## LEANet vs static widths vs slimmable (test split)",
        "",
        f"Hypervolume of each front from (full test accuracy - {box['accuracy_below_full']}, "
        f"energy ratio {box['energy_ratio']}); higher is better. 'reference': the LEANet's "
        "dense-search thresholds (chosen on validation) measured on test; 'found': "
        "the front-algorithm's seed-0 run after its first evaluations.",
        "",
    ]
    front_names = sorted({f for n in payload["networks"] for f in n["fronts"]})
    md += ["| network | " + " | ".join(front_names) + " |", "|---|" + "---|" * len(front_names)]
    for n in payload["networks"]:
        md.append(
            f"| {n['name']} | "
            + " | ".join(fmt(n["hypervolume"].get(f), "{:.5f}") for f in front_names)
            + " |"
        )
    md += [
        "",
        "## Threshold optimizers (validation split)",
        "",
        "Median (min-max) over seeds of the hypervolume ratio to the reference front after "
        "10, 25 and 50 evaluations; evaluations to reach 99% (median; '-' when fewer than "
        "half of the runs reach it; 'reached' counts the runs that did); median wall seconds "
        "per model-based iteration (the asks; `threshold_search.py` reports CPU seconds, "
        "which on a shared machine can be half of these).",
        "",
        "| network | algorithm | runs | HV@10 | HV@25 | HV@50 | evals to 99% | reached | "
        "wall s/iter |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in payload["optimizers"]["summary"]:
        md.append(
            f"| {r['network']} | {r['algorithm']} | {r['runs']} | "
            + " | ".join(_with_range(r, m) for m in MARKS)
            + f" | {fmt(r['evals_to_99'], '{:g}')} | {r['reached_99']} | "
            f"{r['seconds_per_iteration']:.2f} |"
        )
    return "\n".join(md) + "\n"


def _with_range(row: dict, mark: int) -> str:
    """'median (min-max)' of a summary row's ratio at ``mark`` (the median alone for one
    run, or for summaries written before ranges were kept)."""
    span = row.get(f"hv_ratio_{mark}_range")
    if row[f"hv_ratio_{mark}"] is None or not span or row["runs"] < 2:
        return fmt(row[f"hv_ratio_{mark}"])
    return f"{fmt(row[f'hv_ratio_{mark}'])} ({fmt(span[0])}-{fmt(span[1])})"


def plot_fronts(networks: list[dict], path: Path) -> None:
    cols = min(3, len(networks)) or 1
    rows = math.ceil(len(networks) / cols) or 1
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.8 * rows), squeeze=False)
    styles = {
        "reference": dict(ls="-", color="0.3", drawstyle="steps-post"),
        "static_widths": dict(ls="--", marker="s"),
        "slimmable": dict(ls=":", marker="^"),
    }
    for ax, n in zip(axes.flat, networks, strict=False):
        for name, front in n["fronts"].items():
            style = styles.get(name, dict(ls="-", marker="o", ms=3, drawstyle="steps-post"))
            ax.plot(front["energy_ratio"], front["accuracy"], label=name, **style)
        ax.plot([1.0], [n["full"]["test_accuracy"]], "k*", ms=10, label="full network")
        top = max(
            [n["full"]["test_accuracy"]] + [a for f in n["fronts"].values() for a in f["accuracy"]]
        )
        ax.set_ylim(n["full"]["test_accuracy"] - 0.1, top + 0.005)
        ax.set_title(n["name"], fontsize=10)
        ax.set_xlabel("energy ratio (45nm model)")
        ax.set_ylabel("test accuracy")
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(networks) :]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_hv(runs: list[dict], summary: list[dict], path: Path) -> None:
    names = list(dict.fromkeys(r["network"] for r in summary))
    fig, axes = plt.subplots(
        1, max(1, len(names)), figsize=(4.8 * max(1, len(names)), 3.8), squeeze=False
    )
    for ax, name in zip(axes[0], names, strict=False):
        for algorithm in dict.fromkeys(r["algorithm"] for r in summary if r["network"] == name):
            traces = [
                r["hv_ratio"] for r in runs if r["network"] == name and r["algorithm"] == algorithm
            ]
            shortest = min(len(t) for t in traces)
            median = median_over_seeds(torch.tensor([t[:shortest] for t in traces]))
            ax.plot(range(1, shortest + 1), median, label=algorithm)
        ax.axhline(0.99, color="grey", ls=":", lw=1)
        ax.set_ylim(0.8, 1.005)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("evaluations")
        ax.set_ylabel("median HV / reference HV")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
