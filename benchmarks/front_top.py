"""How much of a threshold problem's reference hypervolume hangs on its most accurate images.

Issue 15 asks every LEANet's threshold search to reach 0.97 of its dense reference front's
hypervolume in 25 evaluations. From the documented reference point (accuracy 0.01 below
the cheapest exit's) the box spans only a few dozen validation images of accuracy, so the
front's top end is worth a lot: this script measures, for each cached network of
``threshold_search.py`` (network seed 0, validation split),

- the share of the reference hypervolume lost when the front stops one (two) validation
  image(s) below its most accurate point: what a search that misses those images cannot
  get back, however good its energies;
- the share of the search cube (the default log space) whose accuracy comes within 0 / 1 /
  2 images of the top (200k scrambled Sobol points), and the chance that 15 uniform draws
  (the model-based phase's budget) land there at least once.

With ``--climb ALGORITHM``, each network is also searched (25 evaluations, ``--seeds``
seeds) and, from the most accurate point found, a greedy coordinate climb in the search
space (each coordinate moved by +-0.02 / 0.05 / 0.1, the best move kept while accuracy
rises) tells whether the top is near where the search stopped.

    python benchmarks/front_top.py --fine-tune-epochs 10     # results/front_top.*
    python benchmarks/front_top.py --only convnet-mnist5k-hybrid --fine-tune-epochs 10
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import leanet_study  # noqa: E402
import provenance  # noqa: E402
from threshold_search import validation_evaluator  # noqa: E402

import mobo  # noqa: E402
from leanet.data import load_dataset  # noqa: E402
from leanet.problem import ThresholdProblem  # noqa: E402

RESULTS = Path(__file__).parent / "results"
DRAWS = 15  # the model-based evaluations of a 25-evaluation search after 10 Sobol points


def measure(problem: ThresholdProblem, cube_samples: int) -> dict:
    """The top's share of the reference hypervolume and of the search cube (see above)."""
    evaluator = problem.evaluator
    front = problem.reference.objectives()  # (accuracy, -energy ratio)
    n = evaluator.correct.shape[-1]
    top = float(front[:, 0].max())
    lost = []
    for k in (1, 2):
        capped = front.clone()
        capped[:, 0] = capped[:, 0].clamp(max=top - k / n)
        lost.append(1.0 - float(mobo.hypervolume(capped, problem.ref_point) / problem.max_hv))
    d = evaluator.num_levels - 1
    u = torch.quasirandom.SobolEngine(d, scramble=True, seed=1).draw(cube_samples).double()
    accuracy = evaluator.evaluate(problem.from_unit(u)).accuracy
    share = [float((accuracy >= top - k / n - 1e-12).double().mean()) for k in (0, 1, 2)]
    return {
        "validation_images": n,
        "box_images": round((top - float(problem.ref_point[0])) * n),
        "top_accuracy": top,
        "hv_lost_below_top": lost,
        "cube_share_within": share,
        "hit_in_15_draws": [1.0 - (1.0 - s) ** DRAWS for s in share],
    }


STEPS = (-0.1, -0.05, -0.02, 0.02, 0.05, 0.1)


def climb_from(problem: ThresholdProblem, u: torch.Tensor, top: float, budget: int):
    """Greedy coordinate climb in ``problem``'s search space from ``u``: every coordinate
    moved by each of :data:`STEPS`, the most accurate move kept (ties: the cheapest) while
    accuracy rises and ``top`` is not reached. Returns (accuracy reached, evaluations)."""
    evaluator = problem.evaluator
    best = float(evaluator.evaluate(problem.from_unit(u.unsqueeze(0))).accuracy[0])
    spent = 0
    while best < top - 1e-12 and spent < budget:
        moves = []
        for d in range(len(u)):
            for step in STEPS:
                v = u.clone()
                v[d] = (v[d] + step).clamp(0.0, 1.0)
                moves.append(v)
        moves = torch.stack(moves)
        metrics = evaluator.evaluate(problem.from_unit(moves))
        spent += len(moves)
        j = int(torch.argmax(metrics.accuracy - 1e-6 * metrics.energy_ratio))
        if float(metrics.accuracy[j]) <= best + 1e-12:
            break
        best, u = float(metrics.accuracy[j]), moves[j]
    return best, spent


def climb(
    problem: ThresholdProblem, algorithm: str, seed: int, evals: int = 25, budget: int = 200
) -> dict:
    """Search, then climb from the most accurate point found (ties: the cheapest): images
    below the front's top before and after, and the evaluations the climb spent."""
    top = float(problem.reference.accuracy.max())
    n = problem.evaluator.correct.shape[-1]
    result = mobo.optimize(
        problem, algorithm, n_evals=evals, seed=seed, show_progress=False, n_initial=10
    )
    accuracy, energy = result.Y[:, 0], -result.Y[:, 1]
    i = max(range(len(accuracy)), key=lambda j: (float(accuracy[j]), -float(energy[j])))
    u = problem.to_unit(result.X[i : i + 1].double())[0]
    best, spent = climb_from(problem, u, top, budget)
    return {
        "seed": seed,
        "images_below_top": round((top - float(accuracy[i])) * n),
        "climb_evaluations": spent,
        "images_below_top_after_climb": round((top - best) * n),
    }


def markdown(payload: dict) -> str:
    lines = [
        "# The top of the threshold fronts: what one validation image is worth",
        "",
        f"Command: `{payload['command']}`  ",
        f"Commit: `{payload['commit']}`  ",
        f"Machine: {payload['machine']}",
        "",
        "Per network (seed 0, validation split, dense reference front from the documented "
        "reference point): images of accuracy the box spans; share of the reference "
        "hypervolume lost if the front stops 1 / 2 images below its most accurate point; "
        "share of the default log search cube within 0 / 1 / 2 images of that accuracy, and "
        f"the chance that {DRAWS} uniform draws hit it.",
        "",
        "| network | validation images | box (images) | top accuracy | HV lost: 1 / 2 images "
        "below | cube within 0 / 1 / 2 images | hit in 15 draws: 0 / 1 / 2 |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in payload["networks"].items():
        lost = " / ".join(f"{v:.3f}" for v in r["hv_lost_below_top"])
        share = " / ".join(f"{v:.4f}" for v in r["cube_share_within"])
        hit = " / ".join(f"{v:.2f}" for v in r["hit_in_15_draws"])
        lines.append(
            f"| {name} | {r['validation_images']} | {r['box_images']} | "
            f"{r['top_accuracy']:.4f} | {lost} | {share} | {hit} |"
        )
    climbs = {name: r["climb"] for name, r in payload["networks"].items() if r.get("climb")}
    if climbs:
        lines += [
            "",
            f"## A greedy coordinate climb after {payload['climb_algorithm']}'s 25 evaluations",
            "",
            "Per seed: validation images below the front's top accuracy at the end of the "
            "search, then after the climb from its most accurate point (evaluations spent).",
            "",
            "| network | seeds: images below the top -> after the climb (climb evaluations) |",
            "|---|---|",
        ]
        for name, runs in climbs.items():
            cells = ", ".join(
                f"{c['images_below_top']} -> {c['images_below_top_after_climb']} "
                f"({c['climb_evaluations']})"
                for c in runs
            )
            lines.append(f"| {name} | {cells} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", nargs="+", default=list(leanet_study.NETS))
    parser.add_argument("--datasets", nargs="+", default=["mnist5k", "digits8x8"])
    parser.add_argument("--levels", nargs="+", default=["hybrid", "width", "depth"])
    parser.add_argument("--only", nargs="+", default=None, help="only these networks (names)")
    parser.add_argument("--fine-tune-epochs", type=int, default=None, help="see leanet_study")
    parser.add_argument("--reference-samples", type=int, default=50_000)
    parser.add_argument("--cube-samples", type=int, default=200_000)
    parser.add_argument("--cache", type=Path, default=Path("runs/leanet-study"))
    parser.add_argument("--records", type=Path, default=Path("runs/threshold-search"))
    parser.add_argument("--climb", default=None, help="also search with this algorithm, climb")
    parser.add_argument("--seeds", type=int, default=5, help="searches per network (--climb)")
    parser.add_argument("--out", type=Path, default=RESULTS / "front_top")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    networks = {}
    for dataset in args.datasets:
        data = load_dataset(dataset, seed=0)
        for arch in args.archs:
            for levels in args.levels:
                name = f"{arch}-{dataset}-{levels}"
                if args.only and name not in args.only:
                    continue
                evaluator = validation_evaluator(name, arch, levels, data, args)
                # one dense reference front per network, for the measure and every search
                problem = ThresholdProblem(evaluator, reference_samples=args.reference_samples)
                networks[name] = measure(problem, args.cube_samples)
                if args.climb:
                    networks[name]["climb"] = [
                        climb(problem, args.climb, seed) for seed in range(args.seeds)
                    ]
                print(name, networks[name], flush=True)
    payload = {
        "command": provenance.command_line("front_top.py", argv),
        "commit": provenance.commit(),
        "machine": provenance.machine(),
        "climb_algorithm": args.climb,
        "networks": networks,
    }
    provenance.write_results(args.out, payload, markdown(payload))
    return payload


if __name__ == "__main__":
    main()
