"""How large a test-hypervolume difference can the test split resolve? (issue 17)

Issue 17's bars compare design-search fronts with the hand-fixed design's front by their
hypervolume on the test split (834 images on the MNIST digits). This resamples those
images: for a ``design_search.py`` results file, every run's polished front (its designs
and thresholds, as recorded) and the hand-fixed design's reference front are measured on
``--resamples`` bootstrap draws of the test images, the same draw for every front (paired),
each draw's reference box set by the full network's accuracy on it, as the recorded figures
are. Reported: each front's test HV and its bootstrap spread, and the difference to the
hand-fixed front (and between the methods' runs of one seed) with its 90% interval and how
often it is positive. A difference whose interval spans zero is one the test split cannot
tell from noise. The designs are read from the run's design cache (never trained here).
Measured on VGG-16's 834 test images: a front's test HV varies by 0.003-0.006, so margins
below about 0.01 are level (``results/design_search_extras/ds_vgg_1800_val1250_noise.md``).
Command::

    .venv/bin/python benchmarks/front_test_noise.py <results.json> --out <prefix>

Writes ``<prefix>.json`` and ``<prefix>.md`` with the command and commit.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import shlex
import statistics
import sys
from pathlib import Path

import torch

from leanet.design_recipe import Design
from leanet.evaluator import ThresholdEvaluator

sys.path.insert(0, str(Path(__file__).parent))
import design_search_args  # noqa: E402
from design_search import make_problem, network_setup  # noqa: E402
from provenance import command_line, commit, heading, machine, write_results  # noqa: E402
from study_networks import front_hypervolume  # noqa: E402

KEY = re.compile(r"L(\d+)-f([0-9.]+)-h(\d+)-([a-z_]+)-ft(\d+)(?:of(\d+))?$")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="a design_search.py results file (.json)")
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap draws")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    args.command = command_line("front_test_noise.py", argv)
    return args


def design_of(key: str) -> Design:
    """The :class:`Design` a key names (the inverse of :attr:`Design.key`)."""
    match = KEY.fullmatch(key)
    if match is None:
        raise ValueError(f"not a design key: {key!r}")
    levels, fraction, hidden, confidence, epochs, schedule = match.groups()
    return Design(
        int(levels), float(fraction), int(hidden), confidence, int(epochs), int(schedule or 0)
    )


class PerImage:
    """A front's per-image outcomes on the test split: right or wrong, and the energy spent,
    for each of its points (``P x N``), so any resample's front is a column selection."""

    def __init__(self, points: list[tuple[ThresholdEvaluator, torch.Tensor]]) -> None:
        self.correct = torch.cat([e.correct_at(t) for e, t in points]).double()
        self.energy = torch.cat([e.energy_at(t) for e, t in points]).double()

    def hv(self, index: torch.Tensor, full_correct: torch.Tensor) -> float:
        """The front's HV on the test images ``index`` (a resample)."""
        full = float(full_correct[index].double().mean())
        accuracy = self.correct[:, index].mean(dim=1)
        return front_hypervolume(accuracy, self.energy[:, index].mean(dim=1), full)


def run_args(run: dict) -> argparse.Namespace:
    """The options the run was made with (its recorded command)."""
    words = shlex.split(run["command"])
    return design_search_args.parse_args(words[words.index("benchmarks/design_search.py") + 1 :])


def fronts_of(network: str, runs: list[dict]) -> tuple[dict[str, PerImage], torch.Tensor]:
    """Per-image outcomes of the hand-fixed front and of every run's polished front, and the
    full network's per-image correctness on test."""
    args = run_args(runs[0])
    arch = network.split("-")[0]
    setup = network_setup(arch, args)
    x, y = setup["data"].test.tensors()
    with torch.no_grad():
        full_correct = setup["base"].eval()(x).argmax(dim=-1) == y
    fixed = setup["hand_fixed_test"]
    fronts = {"hand-fixed": PerImage([(fixed, t) for t in setup["hand_fixed_thresholds"]])}
    problem = make_problem(arch, setup, args)
    tests: dict[str, ThresholdEvaluator] = {}
    for run in runs:
        points = []
        for p in run["front"]:
            design = design_of(p["design"])
            if design.key not in tests:
                if not problem.is_trained(design):
                    raise FileNotFoundError(
                        f"design {design.key} of {network} is not in {args.cache}: this "
                        "measures cached designs only"
                    )
                tests[design.key] = problem.test_evaluator(design)
            points.append((tests[design.key], torch.tensor(p["thresholds"])))
        fronts[f"{run['method']} seed {run['seed']}"] = PerImage(points)
    return fronts, full_correct


def interval(values: list[float]) -> dict:
    q = statistics.quantiles(values, n=20)
    return {
        "median": statistics.median(values),
        "low": q[0],
        "high": q[-1],
        "positive": sum(v > 0 for v in values) / len(values),
    }


def measure(network: str, runs: list[dict], args) -> dict:
    fronts, full_correct = fronts_of(network, runs)
    n = len(full_correct)
    everything = torch.arange(n)
    generator = torch.Generator().manual_seed(args.seed)
    draws = [torch.randint(n, (n,), generator=generator) for _ in range(args.resamples)]
    hv = {name: [f.hv(i, full_correct) for i in draws] for name, f in fronts.items()}
    recorded = {f"{r['method']} seed {r['seed']}": r["test_hv_polished"] for r in runs}
    rows = []
    for name, front in fronts.items():
        row = {"front": name, "test_hv": front.hv(everything, full_correct)}
        if name in recorded:  # the same front, measured as the run measured it
            row["recorded_test_hv"] = recorded[name]
        row["spread"] = statistics.stdev(hv[name])
        if name != "hand-fixed":
            diff = [a - b for a, b in zip(hv[name], hv["hand-fixed"], strict=True)]
            row["minus_hand_fixed"] = interval(diff)
        rows.append(row)
    pairs = []
    for a, b in itertools.combinations([r for r in runs], 2):
        if a["seed"] == b["seed"] and a["method"] != b["method"]:
            na, nb = (f"{r['method']} seed {r['seed']}" for r in (a, b))
            diff = [u - v for u, v in zip(hv[na], hv[nb], strict=True)]
            pairs.append({"a": na, "b": nb, "a_minus_b": interval(diff)})
    return {"network": network, "test_images": n, "rows": rows, "pairs": pairs}


def fmt(d: dict) -> str:
    return (
        f"{d['median']:+.4f} ({d['low']:+.4f} to {d['high']:+.4f}), "
        f"positive in {100 * d['positive']:.0f}%"
    )


def report(args, results: list[dict]) -> str:
    lines = heading(
        "How large a test-HV difference the test split resolves (issue 17)", args.command
    ) + [
        f"{args.resamples} paired bootstrap draws of the test images (seed {args.seed}); "
        "intervals are the 5th to 95th percentiles.",
    ]
    for res in results:
        lines += [
            "",
            f"## {res['network']} ({res['test_images']} test images)",
            "",
            "| front | test HV | bootstrap sd | minus hand-fixed: median (90% interval) |",
            "|---|---|---|---|",
        ]
        for r in res["rows"]:
            diff = fmt(r["minus_hand_fixed"]) if "minus_hand_fixed" in r else "-"
            lines.append(f"| {r['front']} | {r['test_hv']:.5f} | {r['spread']:.5f} | {diff} |")
        if res["pairs"]:
            lines += ["", "| same seed | a minus b: median (90% interval) |", "|---|---|"]
            for p in res["pairs"]:
                lines.append(f"| {p['a']} - {p['b']} | {fmt(p['a_minus_b'])} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> list[dict]:
    args = parse_args(argv)
    torch.set_num_threads(1)
    runs = json.loads(args.results.read_text())["runs"]
    results = []
    for network in sorted({r["network"] for r in runs}):
        mine = sorted((r for r in runs if r["network"] == network), key=lambda r: r["seed"])
        results.append(measure(network, mine, args))
    payload = {"command": args.command, "commit": commit(), "machine": machine()}
    write_results(args.out, {**payload, "results": results}, report(args, results))
    return results


if __name__ == "__main__":
    main()
