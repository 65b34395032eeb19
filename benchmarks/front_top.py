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


def measure(evaluator, reference_samples: int, cube_samples: int) -> dict:
    problem = ThresholdProblem(evaluator, reference_samples=reference_samples)
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
                networks[name] = measure(evaluator, args.reference_samples, args.cube_samples)
                print(name, networks[name], flush=True)
    payload = {
        "command": provenance.command_line("front_top.py", argv),
        "commit": provenance.commit(),
        "machine": provenance.machine(),
        "networks": networks,
    }
    provenance.write_results(args.out, payload, markdown(payload))
    return payload


if __name__ == "__main__":
    main()
