"""The study's LEANets over seeds: level accuracy, energy and latency saved, fronts vs baselines.

The networks of ``benchmarks/leanet_study.py`` (same recipe, same measurements:
:func:`leanet_study.study_network`), repeated over ``--seeds`` seeds; a seed sets the data
split and every training run (base network, heads, fine-tuning, slimmable network). For
each network and kind of levels (``width``: triangular; ``hybrid``: triangular levels
under the pretrained network; ``depth``: early exits) it reports the median and the range
over seeds of:

- each level's test accuracy next to the full network's and the slimmable network's at the
  same width;
- energy saved (45nm model) at 0, 1, 2 and 5% allowed accuracy loss on test, thresholds
  chosen on validation from the dense reference front;
- batch-1 latency saved at those thresholds: CPU time of the compiled runtime
  (:mod:`leanet.runtime`) against the full network compiled the same way, interleaved
  (:func:`leanet.costs.measure_costs`);
- the test hypervolume of the LEANet's reference front against the static widths and the
  trained slimmable network (from full test accuracy - 5% and energy ratio 1.25).

Command::

    .venv/bin/python benchmarks/leanet_seeds.py                # 3 seeds, 6 networks x 3
    .venv/bin/python benchmarks/leanet_seeds.py --archs convnet --datasets digits8x8 --seeds 1

Writes ``<out>.json`` (every run, resumable: finished runs are kept and skipped) and
``<out>.md`` (tables, command, commit). Trained networks are cached under ``--cache``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import leanet_study  # noqa: E402
import provenance  # noqa: E402
import study_networks  # noqa: E402

from leanet.data import load_dataset  # noqa: E402

RESULTS = Path(__file__).parent / "results"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    study_networks.add_network_arguments(parser)
    parser.add_argument(
        "--only-seeds", type=int, nargs="+", default=None, help="run these seeds instead"
    )
    parser.add_argument(
        "--fine-tune-epochs",
        type=int,
        default=None,
        help="joint fine-tuning epochs (default: per architecture, study_networks.FINE_TUNE)",
    )
    parser.add_argument(
        "--distill",
        type=float,
        default=None,
        help="distillation weight of the fine-tune (default: per architecture, FINE_TUNE)",
    )
    parser.add_argument("--head-epochs", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=None, help="base epochs (default: NETS)")
    parser.add_argument("--no-slimmable", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS / "leanet_seeds")
    parser.add_argument("--note", default=None, help="a provenance note kept in the results")
    parser.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        default=[],
        help="also take the runs of these result files (e.g. seeds run in other processes)",
    )
    args = parser.parse_args(argv)
    args.command = provenance.command_line("leanet_seeds.py", argv)
    return args


def training_settings(args: argparse.Namespace) -> dict:
    """The options that change how a network is trained (None: the architecture's)."""
    keys = ("epochs", "head_epochs", "fine_tune_epochs", "distill")
    return {key: getattr(args, key) for key in keys}


def one_run(arch: str, dataset: str, levels: str, seed: int, data, args) -> dict:
    """One network at one seed, measured as the study measures it."""
    study_args = argparse.Namespace(**vars(args), seed=seed)
    start = time.process_time()
    result, _ = leanet_study.study_network(arch, dataset, levels, data, study_args)
    keep = (
        "name",
        "full",
        "level_test_accuracy",
        "exit_energy_ratio",
        "exit_latency_ratio",
        "savings",
        "hypervolume",
        "val_hypervolume",
        "distill_choice",
    )
    row = {k: result[k] for k in keep if k in result}
    row["hypervolume"] = {
        name: study_networks.front_hv(front, result["full"]["test_accuracy"])
        for name, front in result["fronts"].items()
    }
    row["slimmable_accuracy"] = result.get("slimmable", {}).get("test_accuracy")
    if levels in study_networks.WIDTH_LEVELS:
        row["fractions"] = list(study_networks.width_fractions(args))
    row.update(seed=seed, cpu_seconds=time.process_time() - start)
    return row


def _median_range(values: list[float], pattern: str) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    med = statistics.median(values)
    if len(values) == 1:
        return pattern.format(med)
    return f"{pattern.format(med)} ({pattern.format(min(values))}-{pattern.format(max(values))})"


def _accuracy_change(run: dict, saving: dict) -> float:
    full = run["full"]["test_accuracy"]
    return 100 * ((saving["test_accuracy"] or full) - full)


def _loss_table(by_name: dict[str, list[dict]], value, pattern: str, first=None) -> list:
    """Markdown rows: a network per row, an allowed loss per column, each cell the median
    (range) over seeds of ``value(run, saving)``; ``first``: (header, value(run)) of an
    extra first column."""
    losses = leanet_study.LOSSES
    head = ["network"] + ([first[0]] if first else []) + [f"{loss:.0%} loss" for loss in losses]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, rs in by_name.items():
        cells = [_median_range([first[1](r) for r in rs], "{:.2f}")] if first else []
        for i in range(len(losses)):
            cells.append(_median_range([value(r, r["savings"][i]) for r in rs], pattern))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def _order(name: str) -> tuple:
    """Tables list networks by data set, then architecture and kind of levels as the study
    does, whichever process ran them first."""
    archs, kinds = list(leanet_study.NETS), [*leanet_study.WIDTH_LEVELS, "depth"]
    name, _, fractions = name.partition("-F")  # another design: after the paper's
    parts = name.split("-")
    if len(parts) != 3 or parts[0] not in archs or parts[2] not in kinds:
        return (1, True, "", 0, 0, "")  # another name: after the study's, as first seen
    arch, dataset, levels = parts
    return (0, dataset != "mnist5k", dataset, archs.index(arch), kinds.index(levels), fractions)


def markdown(payload: dict) -> str:
    runs = payload["runs"]
    by_name: dict[str, list[dict]] = {}  # each network's runs
    for r in runs:
        by_name.setdefault(r["name"], []).append(r)
    by_name = dict(sorted(by_name.items(), key=lambda item: _order(item[0])))
    lines = [
        "# The study's LEANets over seeds",
        "",
        "Commands that made the runs: "
        + provenance.listed_commands(payload.get("commands", [payload["command"]])),
        "",
        f"Commit of the runs: {payload['commit']}. Machine: {payload['machine']}.",
        "Each cell: median over seeds (min-max). A seed sets the data split and every "
        "training run."
        + (
            " How the runs were made and re-measured: the last section."
            if payload.get("note")
            else ""
        ),
        "",
        "## Level test accuracy (levels 1..L) vs the full network and the slimmable network",
        "",
        "| network | seeds | full | LEANet levels | slimmable widths |",
        "|---|---|---|---|---|",
    ]
    for name, rs in by_name.items():
        levels = zip(*[r["level_test_accuracy"] for r in rs], strict=True)
        slim_rows = [r["slimmable_accuracy"] for r in rs if r["slimmable_accuracy"]]
        slim = zip(*slim_rows, strict=True) if slim_rows else []
        lines.append(
            f"| {name} | {len(rs)} | "
            + _median_range([r["full"]["test_accuracy"] for r in rs], "{:.3f}")
            + " | "
            + " / ".join(_median_range(list(v), "{:.3f}") for v in levels)
            + " | "
            + (" / ".join(_median_range(list(v), "{:.3f}") for v in slim) or "-")
            + " |"
        )
    lines += [
        "",
        "## Energy saved at an allowed test accuracy loss (45nm model)",
        "",
        "Thresholds chosen on validation (dense reference front); '-' counts as 0% saved "
        "(no threshold vector qualifies; the full network runs).",
        "",
        *_loss_table(by_name, lambda r, s: 100 * (s["energy_saved"] or 0.0), "{:.1f}%"),
        "",
        "Test accuracy at those thresholds minus the full network's test accuracy, in points "
        "(the full network's, 0.0, where no threshold vector qualifies):",
        "",
        *_loss_table(by_name, _accuracy_change, "{:+.1f}"),
        "",
        "## Latency saved (batch 1, CPU time, compiled runtime vs compiled full network)",
        "",
        "At the same thresholds as above; level-1 exit: CPU time of an exit at level 1 over "
        "the full network's.",
        "",
        *_loss_table(
            by_name,
            lambda r, s: 100 * (s.get("latency_saved") or 0.0),
            "{:.1f}%",
            first=("level-1 exit", lambda r: (r.get("exit_latency_ratio") or [None])[0]),
        ),
    ]
    lines += [
        "",
        "## Test hypervolume: LEANet reference front vs baselines",
        "",
        "From (full test accuracy - 0.05, energy ratio 1.25); higher is better.",
        "",
        "| network | LEANet | static widths | slimmable | LEANet >= slimmable |",
        "|---|---|---|---|---|",
    ]
    for name, rs in by_name.items():
        hv = {k: [r["hypervolume"].get(k) for r in rs] for k in ("reference", "static_widths")}
        slim = [r["hypervolume"].get("slimmable") for r in rs]
        wins = sum(
            1 for r in rs if r["hypervolume"]["reference"] >= r["hypervolume"].get("slimmable", 0)
        )
        lines.append(
            f"| {name} | {_median_range(hv['reference'], '{:.4f}')} | "
            f"{_median_range(hv['static_widths'], '{:.4f}')} | {_median_range(slim, '{:.4f}')} | "
            f"{wins} of {len(rs)} |"
        )
    chosen = [r for r in runs if r.get("distill_choice")]
    if chosen:
        lines += [
            "",
            "## Fine-tune recipes chosen on validation",
            "",
            "Distillation weight kept, and each weight's hypervolume of the dense validation "
            "front (same box, from the full network's validation accuracy).",
            "",
            "| network | seed | kept | validation hypervolume by weight |",
            "|---|---|---|---|",
        ]
        for r in sorted(chosen, key=lambda r: (_order(r["name"]), r["seed"])):
            c = r["distill_choice"]
            scores = ", ".join(f"{w}: {hv:.4f}" for w, hv in c["validation_hypervolume"].items())
            lines.append(f"| {r['name']} | {r['seed']} | {c['chosen']:g} | {scores} |")
    cpu = sum(r["cpu_seconds"] for r in runs)
    lines += ["", f"CPU time of the runs (training included unless cached): {cpu:.0f} s.", ""]
    if payload.get("note"):  # the provenance history grows with every re-measurement: last
        lines += ["## How the runs were made and re-measured", "", payload["note"], ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    path = args.out.with_suffix(".json")
    runs = []
    if args.note is None and path.exists():  # keep the note the results already carry
        args.note = json.loads(path.read_text()).get("note")
    for source in ([path] if path.exists() else []) + args.merge:
        old = provenance.read_results(source)
        runs = provenance.merge_runs(
            runs,
            [{"commit": old["commit"], "command": old["command"], **r} for r in old["runs"]],
            key=lambda r: (r["name"], r["seed"]),
        )
    at = provenance.commit()  # the code that runs is the code at start
    machine = provenance.machine()
    # A network's name does not say how it was trained: runs carry the settings, and a
    # store of runs trained otherwise is refused (they were reused and reported as these).
    names = {
        study_networks.network_name(arch, dataset, levels, args)
        for arch in args.archs
        for dataset in args.datasets
        for levels in args.levels
    }
    settings = training_settings(args)
    provenance.refuse_other_settings(
        path, runs, "settings", lambda r: settings if r["name"] in names else None
    )
    for seed in args.only_seeds or range(args.seeds):
        for dataset in args.datasets:
            data = load_dataset(dataset, seed=seed)
            for arch in args.archs:
                for levels in args.levels:
                    name = study_networks.network_name(arch, dataset, levels, args)
                    if any(r["name"] == name and r["seed"] == seed for r in runs):
                        continue
                    study_networks.log(f"{name}, seed {seed}")
                    run = one_run(arch, dataset, levels, seed, data, args)
                    provenance_of = {"commit": at, "command": args.command, "machine": machine}
                    runs.append({**run, "settings": settings, **provenance_of})
                    payload = write(args, runs, at)
    payload = write(args, runs, at)
    print(markdown(payload))
    return payload


def write(args: argparse.Namespace, runs: list[dict], at: str) -> dict:
    """Write ``<out>.json`` and ``<out>.md`` with every run so far; returns the payload."""
    payload = {
        "command": args.command,
        "commit": ", ".join(sorted({r.get("commit", at) for r in runs})),
        "commands": sorted({r.get("command", args.command) for r in runs}),
        "note": args.note,
        "machine": provenance.machines_of(runs, extra=f", {args.threads} thread(s)"),
        "runs": runs,
    }
    path = args.out.with_suffix(".json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1))
    provenance.write_markdown(args.out.with_suffix(".md"), markdown(payload))
    return payload


if __name__ == "__main__":
    main()
