"""How far the measured front lies from the modelled one (issue 17, item 2).

For the study's hand-fixed hybrid LEANets (data seed 0, from its cache), the dense reference
front's threshold vectors (chosen on validation) are priced three ways on the test split:

- ``energy``: the 45nm energy model (what every other figure uses);
- ``modelled latency``: each input charged the measured CPU time of an exit at its level
  (:func:`leanet.costs.measure_costs`, one input, traced runtime);
- ``measured latency``: the compiled runtime actually run at the thresholds over the test
  images one at a time, over the compiled full network on the same images, interleaved
  (:class:`leanet.measured.MeasuredCost`, median of ``--repeats``).

Reported per network: the median and range over the front's points of measured / modelled
latency, the test hypervolume of the front priced each way (box as in ``leanet_study``), and a
plot of the three fronts. Command::

    .venv/bin/python benchmarks/measured_front.py

Writes ``benchmarks/results/measured_front.{json,md,png}`` with the command and commit.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch

from leanet.costs import measure_costs
from leanet.data import load_dataset
from leanet.measured import MeasuredCost
from leanet.problem import ThresholdProblem
from leanet.train import evaluate

sys.path.insert(0, str(Path(__file__).parent))
import study_networks  # noqa: E402
from provenance import command_line, commit, write_markdown  # noqa: E402
from study_networks import front_hv  # noqa: E402

RESULTS = Path(__file__).parent / "results"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", nargs="+", default=["convnet-digits8x8", "convnet-mnist5k"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cache", type=Path, default=Path("runs/leanet-study"))
    parser.add_argument("--out", type=Path, default=RESULTS / "measured_front")
    args = parser.parse_args(argv)
    args.command = command_line("measured_front.py", argv)
    return args


def one_network(name: str, args) -> dict:
    arch, dataset = name.split("-")
    data = load_dataset(dataset, seed=0)
    study_args = argparse.Namespace(
        cache=args.cache, epochs=None, seed=0, head_epochs=20, fine_tune_epochs=None
    )
    base, _ = study_networks.trained_base(arch, dataset, data, study_args)
    net = study_networks.trained_leanet(base, f"{name}-hybrid", "hybrid", data, study_args)
    _, val, test = study_networks.level_evaluators(net, f"{name}-hybrid", 0, data, args.cache)
    front = ThresholdProblem(val, reference_samples=20_000).reference
    T = front.thresholds
    n = len(data.test)  # every test image, so accuracy and energy are on the same inputs
    inputs = torch.stack([data.test[i][0] for i in range(n)])
    costs = measure_costs(net)  # latency per exit, traced runtime
    meter = MeasuredCost(net, inputs, repeats=args.repeats)
    on_test = test.evaluate(T)
    accuracy, energy = on_test.accuracy.tolist(), on_test.energy_ratio.tolist()
    modelled = meter.modelled(T, costs.exit_latency, costs.full_latency).tolist()
    measured = meter.ratios(T).tolist()
    full_test = evaluate(base, data.test)
    hv = {
        key: front_hv({"accuracy": accuracy, "energy_ratio": values}, full_test)
        for key, values in (("energy", energy), ("modelled", modelled), ("measured", measured))
    }
    ratio = [m / p for m, p in zip(measured, modelled, strict=True)]
    return {
        "network": name,
        "points": len(T),
        "inputs": n,
        "thresholds": T.tolist(),
        "accuracy": accuracy,
        "energy_ratio": energy,
        "modelled_latency_ratio": modelled,
        "measured_latency_ratio": measured,
        "measured_over_modelled": {
            "median": statistics.median(ratio),
            "min": min(ratio),
            "max": max(ratio),
        },
        "test_hv": hv,
    }


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(1)
    rows = [one_network(name, args) for name in args.networks]
    payload = {"command": args.command, "commit": commit(), "networks": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(payload, indent=1) + "\n")
    lines = [
        "# Measured vs modelled fronts (issue 17)",
        "",
        f"Command: `{args.command}`. Commit: {payload['commit']}. Torch on 1 thread.",
        "",
        "The hand-fixed hybrid LEANet's dense reference front (thresholds chosen on "
        "validation), priced on test images by the energy model, by per-exit latencies "
        "(modelled) and by running the compiled runtime (measured, CPU time, batch 1). "
        "Test hypervolume from (full test accuracy - 0.05, ratio 1.25).",
        "",
        "| network | points | images | measured / modelled latency: median (min-max) | "
        "HV energy | HV modelled latency | HV measured latency |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        m = r["measured_over_modelled"]
        hv = r["test_hv"]
        lines.append(
            f"| {r['network']} | {r['points']} | {r['inputs']} | {m['median']:.3f} "
            f"({m['min']:.3f}-{m['max']:.3f}) | {hv['energy']:.5f} | {hv['modelled']:.5f} | "
            f"{hv['measured']:.5f} |"
        )
    plot(rows, args.out.with_suffix(".png"))
    lines += ["", f"![fronts]({args.out.with_suffix('.png').name})", ""]
    write_markdown(args.out.with_suffix(".md"), "\n".join(lines))
    print("\n".join(lines))
    return payload


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(rows), figsize=(6 * len(rows), 4.5), squeeze=False)
    for ax, r in zip(axes[0], rows, strict=True):
        for key, label, marker in (
            ("energy_ratio", "energy model (45nm)", "o"),
            ("modelled_latency_ratio", "latency, modelled per exit", "s"),
            ("measured_latency_ratio", "latency, measured (runtime)", "^"),
        ):
            ax.scatter(r[key], r["accuracy"], marker=marker, s=22, label=label)
        ax.set_title(f"{r['network']} hybrid: reference front on test")
        ax.set_xlabel("ratio to the full network")
        ax.set_ylabel("test accuracy")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
