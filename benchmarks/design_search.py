"""Design search vs the hand-fixed LEANet design and a random design search (issue 17).

For each network (the study's pretrained bases at data seed 0: ``--archs``, ``--dataset``):

- **hand-fixed**: the study's 5-level hybrid LEANet (F = 0.5 ... 1.0, linear heads,
  max-softmax, the study's fine-tune recipe), its dense reference front chosen on
  validation and measured on test;
- each **method** (``--methods``; ``sobol`` is the random design search) searches
  :class:`leanet.design.DesignProblem` (levels 2-6, level 1's fraction 0.25-0.75 on a 0.05
  grid, head hidden 0 or 32, the three confidence measures, the study's fine-tune recipe)
  until its charged CPU seconds reach ``--budget``: every design it uses is charged its
  training CPU seconds once (recorded when first trained, so the design cache shared by the
  runs spares time but not charge), plus the CPU seconds of the optimizer's asks (runs
  before 2026-12-06 that record no ``ask_clock`` charged the asks' wall time, which on a
  shared machine is 2-3x their CPU time: sweep 29 measured 2.63 s against 1.06 s of a
  20 s budget for qLogNEHVI, about 0 either way for Sobol). Then every design the
  run used gets the dense threshold search on validation, as the hand-fixed design does, the
  union is reduced to its validation Pareto front, and that front is measured on test
  (``polished``); ``evaluated`` is the front of the points the run evaluated. The budget
  is checked after each evaluation, so the design that crosses it is trained and counted in
  the final figures; the equal-wall-time figure is the evaluated front's test HV at the
  budget (the tables' "test HV at budget", from the run's trajectory). ``mfosemo``
  (and ``momf``, BoTorch's multi-fidelity baseline) searches with the fine-tune epochs as
  a fidelity (``--fidelity-epochs``, then the recipe's); its cheap designs are charged
  but only target-fidelity designs make its front.
  With ``--dense-points K`` a run is also told K points of each design's dense validation
  front as soon as the design is built (:class:`leanet.dense_fronts.DenseFronts`; runs named
  ``<method>+dense<K>``), so its model and its evaluated front see each design's best
  thresholds: the "thresholds searched inside each candidate" formulation; they count in
  the ``--n-initial`` Sobol points unless ``--dense-extra`` tells them as extras (runs
  ``+dense<K>+extra``), so that the initial design counts designs. ``--build-costs``
  prices ``mfosemo``'s fidelities as ``DesignProblem`` does by default (measured costs);
  without it, as the recorded runs did. ``--continue-fidelities``: ``mfosemo``'s cheap
  fidelity is the first epochs of the target's fine-tuning run, and a target evaluation of
  a design trained cheaply continues it, charged the remaining epochs, and ``mfosemo``
  weighs such promotions at that price (runs ``+cont+promote``; ``--no-promote``: ``+cont``).
  ``--moved-to-validation N`` moves N training images to the validation split (test split
  unchanged; networks ``<arch>-<dataset>-val<M>``, M validation images, with their own
  base, hand-fixed design and design cache): a larger split to choose fronts on, against
  the validation noise of ``results/validation_size_vgg_mnist.md``. ``--holdout N`` holds N
  validation images out of the search (networks ``<name>-hold<N>``, their designs cached
  apart; the base and the hand-fixed design keep the whole split), for
  ``design_choice.py`` to choose the deployed point on images the search never read.
  ``--budget-end``: ``mfosemo`` is told the budget left, and picks the cheap fidelity only
  while a target evaluation still fits after it (runs ``+end``). A method named
  ``<method>+warm`` warm-starts each GP fit from the last (``mobo.surrogate.WARM_FIT``,
  qLogNEHVI's default before 2026-12-04, when its recorded runs were made).

Findings, with the figures and commands, are in the results files: the 8x8 digits in
``results/design_search.md`` (random designs reach what the cached space allows,
``results/design_space.md``), the MNIST digits with ConvNet, VGG-16 and MobileNet in
``results/design_search_mnist.md``, and whether the cheap fidelity ranks designs as the
target does in ``results/design_fidelity.md`` (``design_fidelity.py``).

Test hypervolume from (full test accuracy - 0.05, energy ratio 1.25), as in
``leanet_study``. Command::

    .venv/bin/python benchmarks/design_search.py --archs convnet --seeds 3

Writes ``benchmarks/results/design_search.{json,md}`` (runs are kept and skipped when
re-run, and a rerun with another budget or other :data:`SETTINGS` over them is refused;
the command and the commit of each run are recorded; the tables and the figure are
made by ``design_search_report.py``, and findings written under the file's "## What this
says" heading are kept when it is rewritten).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import torch

import mobo
from leanet.data import hold_out, load_dataset
from leanet.dense_fronts import DenseFronts
from leanet.design import DesignProblem
from leanet.evaluator import ThresholdMetrics
from leanet.problem import ThresholdProblem
from leanet.recipes import fine_tune_options
from leanet.reference_front import reference_front
from leanet.train import evaluate
from mobo.metrics import pareto_mask
from mobo.surrogate import WARM_FIT

sys.path.insert(0, str(Path(__file__).parent))
import study_networks  # noqa: E402
from design_search_args import DEFAULT_FIDELITY_EPOCHS, parse_args  # noqa: E402
from design_search_report import markdown, plot  # noqa: E402
from provenance import (  # noqa: E402
    commit,
    machine,
    merge_runs,
    read_json,
    read_results,
    write_atomic,
    write_markdown,
)
from study_networks import front_hv, front_of  # noqa: E402

#: Methods that search with the fine-tune epochs as a fidelity (``--fidelity-epochs``, then
#: the recipe's): MF-OSEMO and BoTorch's MOMF.
MULTI_FIDELITY = ("mfosemo", "momf")


def study_data(args):
    """The data split at seed 0, with ``--moved-to-validation`` images moved if set."""
    moved = getattr(args, "moved_to_validation", 0)  # scripts that share network_setup
    return load_dataset(args.dataset, seed=0, moved_to_validation=moved)


def dataset_name(args, data=None) -> str:
    """``--dataset``, with ``-val<N>`` (N validation images of ``data``, loaded if not
    given) when images were moved to the validation split: the name its base, hand-fixed
    design and results rows go by."""
    if not getattr(args, "moved_to_validation", 0):
        return args.dataset
    data = study_data(args) if data is None else data
    return f"{args.dataset}-val{len(data.val)}"


def network_setup(arch: str, args) -> dict:
    """The base, data and the hand-fixed design's test hypervolume (the study's cache)."""
    data = study_data(args)
    study_args = argparse.Namespace(
        cache=args.cache, epochs=None, seed=0, head_epochs=args.head_epochs, fine_tune_epochs=None
    )
    dataset = dataset_name(args, data)
    base, _ = study_networks.trained_base(arch, dataset, data, study_args)
    name = f"{arch}-{dataset}"
    fixed = study_networks.trained_leanet(base, f"{name}-hybrid", "hybrid", data, study_args)
    _, val, test = study_networks.level_evaluators(fixed, f"{name}-hybrid", 0, data, args.cache)
    front = ThresholdProblem(val, reference_samples=args.reference_samples).reference
    full_test = evaluate(base, data.test)
    tested = front_of(test.evaluate(front.thresholds))
    held = None
    if getattr(args, "holdout", 0):  # the search's own validation split: the rest
        data, held = hold_out(data, args.holdout)
        name = f"{name}-hold{args.holdout}"
    return {
        "name": name,
        "base": base,
        "data": data,
        "holdout": held,
        "full_test_accuracy": full_test,
        "hand_fixed_test_hv": front_hv(tested, full_test),
        "hand_fixed_front": tested,
        # for re-measuring the hand-fixed front on resampled test images (front_test_noise)
        "hand_fixed_thresholds": front.thresholds,
        "hand_fixed_test": test,
    }


def make_problem(arch: str, setup: dict, args, method: str = "") -> DesignProblem:
    """The design problem of the study's network; for ``mfosemo`` the fine-tune epochs are
    a fidelity (``--fidelity-epochs``, then the target), priced ``head_epochs + epochs`` as
    in the recorded runs, or with ``--build-costs`` at DesignProblem's default (measured)
    ``BUILD_EPOCHS + epochs``."""
    recipe = study_networks.FINE_TUNE[arch]
    target = recipe.epochs if args.fine_tune_epochs is None else args.fine_tune_epochs
    epochs = (args.fidelity_epochs, target) if method in MULTI_FIDELITY else target
    costs = None
    if method in MULTI_FIDELITY and not args.build_costs:
        costs = [float(args.head_epochs + e) for e in epochs]
    # A study recipe may list distillation weights to choose among on validation
    # (MobileNet's, since 61e5368); a design is trained once, with the first weight, the one
    # the recorded MobileNet searches used: choosing would train every design once per weight.
    options = fine_tune_options(recipe)
    return DesignProblem(
        setup["base"],
        setup["data"],
        levels=(2, 6),
        first_fraction=tuple(args.first_fraction),
        head_hidden=(0, 32),
        fine_tune_epochs=epochs,
        head_epochs=args.head_epochs,
        cache=args.cache / f"designs-{setup['name']}",
        fine_tune_options=options,
        fidelity_costs=costs,
        continue_fidelities=method in MULTI_FIDELITY
        and getattr(args, "continue_fidelities", False),
    )


def label(method: str, args) -> str:
    """The name of a method's runs:
    ``<method>[+ft<N>][+build][+cont[+promote]][+end][+share<S>][+dense<K>[+extra]]``,
    ``+ft<N>`` for ``mfosemo`` or ``momf`` with a cheap fidelity other than the recorded
    runs' 2 epochs, ``+build`` for them with ``--build-costs``, ``+cont`` with
    ``--continue-fidelities`` (``+promote`` unless ``--no-promote``), ``+end`` with
    ``--budget-end``, ``+share<S>`` with ``--target-share``, ``+dense<K>`` when told
    dense-front points (``+extra`` when told as extras, ``--dense-extra``)."""
    mf = method in MULTI_FIDELITY
    if mf and args.fidelity_epochs != DEFAULT_FIDELITY_EPOCHS:
        method += f"+ft{args.fidelity_epochs}"
    if mf and args.build_costs:
        method += "+build"
    if mf and getattr(args, "continue_fidelities", False):
        method += "+cont+promote" if getattr(args, "promote", True) else "+cont"
    if mf and getattr(args, "budget_end", False):
        method += "+end"
    if mf and getattr(args, "target_share", 0.0):
        method += f"+share{args.target_share:g}"
    if not args.dense_points:
        return method
    extra = "+extra" if getattr(args, "dense_extra", False) else ""
    return f"{method}+dense{args.dense_points}{extra}"


def run_one(arch: str, method_name: str, seed: int, setup: dict, args) -> dict:
    method, _, variant = method_name.partition("+")
    if variant not in ("", "warm"):
        raise ValueError(f"unknown variant {variant!r} of {method!r} (known: 'warm')")
    problem = make_problem(arch, setup, args, method)

    def charged(study: mobo.Study) -> float:
        asks = sum(ask_seconds(e) for e in study.evaluations)
        return sum(problem.train_seconds.values()) + asks

    def within_budget(study: mobo.Study, told: list) -> None:
        if charged(study) >= args.budget:
            study.stop()

    start = time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # "+warm": the GP fit warm-started from the last one (mobo.surrogate.WARM_FIT),
        # qLogNEHVI's default before 2026-12-04, when the recorded qLogNEHVI runs were made.
        options = {"surrogate": dict(WARM_FIT)} if variant == "warm" else {}
        if method == "mfosemo" and not getattr(args, "promote", True):
            options["promote"] = False
        if method == "mfosemo" and getattr(args, "target_share", 0.0):
            options["target_share"] = args.target_share
        with mobo.Study(problem, method, seed=seed, n_initial=args.n_initial, **options) as study:
            callbacks = [within_budget]
            if method == "mfosemo" and getattr(args, "budget_end", False):
                callbacks.append(BudgetLeft(problem, charged, args.budget))
            if args.dense_points:
                extra = getattr(args, "dense_extra", False)
                callbacks.append(
                    DenseFronts(args.dense_points, args.reference_samples, extra=extra)
                )
            result = study.optimize(args.max_evals, show_progress=False, callbacks=callbacks)
    spent = charged(study)
    failed = [e for e in study.evaluations if e.failed]
    if failed:  # the warnings are silenced above; a failed design must not pass unseen
        study_networks.log(
            f"{setup['name']}, {method_name}, seed {seed}: {len(failed)} of "
            f"{len(study.evaluations)} evaluations failed, the first with: {failed[0].error}"
        )
    designs = {}  # the target-fidelity designs: what the result's front may use
    for design, _ in problem.decode(result.X[problem.at_target(result.X)]):
        designs.setdefault(design.key, design)
    polished = polished_front(problem, list(designs.values()), setup, args)
    tests: dict = {}  # test evaluators by design, shared by the fronts measured below
    evaluated = test_front(problem, [problem.decode(x)[0] for x in result.pareto_X], setup, tests)
    return {
        "network": setup["name"],
        "method": label(method_name, args),
        "seed": seed,
        "n_initial": args.n_initial,
        "evaluations": result.n_evaluations,
        "failed_evaluations": len(failed),
        "designs": len(designs),
        "designs_trained": len(problem.train_seconds),
        "trained_designs": sorted(problem.train_seconds),
        "charged_seconds": spent,
        "cpu_seconds": time.process_time() - start,
        "test_hv_polished": polished["hv"],
        "test_hv_evaluated": evaluated["hv"],
        "used_designs": sorted(designs),
        "front_designs": polished["designs"],
        "front": polished["points"],
        "trajectory": trajectory(problem, study.evaluations, setup, tests),
        "ask_clock": "cpu",  # runs without it charged the asks' wall time
    }


def ask_seconds(evaluation) -> float:
    """The seconds an evaluation's ask is charged: its CPU time, as training is charged
    (``time.process_time``), not its wall time, which also counts other processes' turns;
    the wall time where a journal from before mobo recorded CPU time has none."""
    cpu = evaluation.ask_cpu_seconds
    return evaluation.ask_seconds if cpu is None else cpu


class BudgetLeft:
    """Before each ask, tell MF-OSEMO the charged-seconds budget left in its cost units
    (:attr:`mobo.algorithms.mfosemo.MFOSEMO.remaining_cost`), at the seconds per cost unit
    the designs trained so far took: each is priced at its fidelity's cost, less a trained
    cheaper run it continued."""

    def __init__(self, problem: DesignProblem, charged, budget: float) -> None:
        self.problem, self.charged, self.budget = problem, charged, budget

    def start(self, study: mobo.Study) -> None:  # a resumed study is told as well
        self(study, [])

    def __call__(self, study: mobo.Study, told: list) -> None:
        problem, units, seconds = self.problem, {}, 0.0
        for e in study.evaluations:
            x = torch.tensor([e.x], dtype=torch.float64)
            design = problem.design_of(x)
            if design.key in units or design.key not in problem.train_seconds:
                continue
            cost = float(problem.cost(x)[0])
            for prefix in problem.prefixes(design):
                if prefix.key in problem.train_seconds:
                    cost -= float(
                        problem.fidelity_costs[problem.epochs.index(prefix.fine_tune_epochs)]
                    )
                    break
            units[design.key], seconds = cost, seconds + problem.train_seconds[design.key]
        rate = seconds / sum(units.values()) if units else None
        left = None if rate is None else (self.budget - self.charged(study)) / rate
        study.algorithm.remaining_cost = left
        study.algorithm.budget_cost = None if rate is None else self.budget / rate


def trajectory(problem: DesignProblem, evaluations: list, setup: dict, tests: dict) -> list:
    """After each evaluation: the charged seconds so far (training of every design used so
    far, plus the asks) and the test hypervolume of the evaluated target-fidelity points'
    validation front so far, so that searches can be compared at equal time (the
    multi-fidelity claim of issue 17)."""
    out, used, done, asked, hv, front_key = [], set(), [], 0.0, 0.0, None
    for i, e in enumerate(evaluations):
        x = torch.tensor(e.x, dtype=torch.float64)[None]
        design = problem.design_of(x)
        used.add(design.key)
        # a design continued from a cheaper one's run was charged the rest of it only
        used.update(p.key for p in problem.prefixes(design) if p.key in problem.train_seconds)
        asked += ask_seconds(e)
        if e.y is not None and bool(problem.at_target(x)[0]):  # may join the front
            done.append(e)
            Y = torch.tensor([d.y for d in done], dtype=torch.float64)
            pareto = [d.x for d, keep in zip(done, pareto_mask(Y).tolist(), strict=True) if keep]
            if pareto != front_key:  # measure on test only when the front changed
                chosen = [problem.decode(torch.tensor([x]))[0] for x in pareto]
                hv, front_key = test_front(problem, chosen, setup, tests)["hv"], pareto
        charged = sum(problem.train_seconds.get(key, 0.0) for key in used) + asked
        out.append({"evaluation": i + 1, "charged_seconds": charged, "test_hv_evaluated": hv})
    return out


def polished_front(problem: DesignProblem, designs: list, setup: dict, args) -> dict:
    """Every design's dense validation front, their union's validation Pareto front, on test."""
    points = []
    for design in designs:
        front, _ = reference_front(problem.evaluator(design), n_samples=args.reference_samples)
        points += [
            (design, t, y) for t, y in zip(front.thresholds, front.objectives(), strict=True)
        ]
    Y = torch.stack([y for _, _, y in points])
    keep = pareto_mask(Y)
    chosen = [(d, t) for (d, t, _), k in zip(points, keep.tolist(), strict=True) if k]
    return test_front(problem, chosen, setup)


def test_front(
    problem: DesignProblem, chosen: list, setup: dict, tests: dict | None = None
) -> dict:
    """(design, thresholds) pairs measured on test: their hypervolume and designs
    (``tests``: test evaluators by design key, filled and reused)."""
    accuracy, energy, names, points = [], [], [], []
    tests = {} if tests is None else tests
    for design, thresholds in chosen:
        if design.key not in tests:
            tests[design.key] = problem.test_evaluator(design)
        m: ThresholdMetrics = tests[design.key].evaluate(thresholds[None])
        accuracy.append(float(m.accuracy[0]))
        energy.append(float(m.energy_ratio[0]))
        names.append(design.key)
        points.append(
            {
                "design": design.key,
                "thresholds": thresholds.tolist(),
                "test_accuracy": accuracy[-1],
                "test_energy_ratio": energy[-1],
            }
        )
    front = {"accuracy": accuracy, "energy_ratio": energy}
    return {
        "hv": front_hv(front, setup["full_test_accuracy"]),
        "designs": sorted(set(names)),
        "points": points,
    }


#: The options a run records beside its label, which names the fidelity options only: the
#: runs of one row (network and method) must share them, and a stored run is reused only by
#: a command that asks for the same.
SETTINGS = (
    "budget",
    "n_initial",
    "max_evals",
    "fine_tune_epochs",
    "first_fraction",
    "head_epochs",
    "reference_samples",
)


def settings(args) -> dict:
    """The :data:`SETTINGS` of ``args``, as a run records them."""
    return {k: getattr(args, k) for k in SETTINGS}


def refuse_other_settings(store: Path, runs: list[dict], asked: dict, rows: set) -> None:
    """Stop before anything runs if the runs of one row (network and method) were made with
    other :data:`SETTINGS` than each other, or, for the ``rows`` this command runs, than
    ``asked``: a stored run is reused by network, method and seed, so a rerun at budget 40
    over budget-20 runs ran nothing and put its command over them (sweep 29). Settings a run
    did not record are not checked (runs before this check recorded the budget and
    ``n_initial`` only; none before --n-initial: mobo's default then, 20)."""
    seen: dict[tuple, dict] = {}
    for run in runs:
        row = (run["network"], run["method"])
        known = seen.setdefault(row, dict(asked) if row in rows else {})
        have = {k: run[k] for k in SETTINGS if k in run} | {"n_initial": run.get("n_initial", 20)}
        for key, value in have.items():
            if known.setdefault(key, value) != value:
                whose = "this command asks for" if row in rows else "others of the row have"
                raise SystemExit(
                    f"{store} holds {row[1]} runs on {row[0]} (seed {run['seed']}) made with "
                    f"{key} {value}, and {whose} {known[key]}: one row would report them "
                    f"together, under one command. Give a fresh --out (or --rerun {row[1]})"
                )


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(1)
    path = args.out.with_suffix(".json")
    old = read_json(path, {})
    held = f"-hold{args.holdout}" if args.holdout else ""
    names = {f"{arch}-{dataset_name(args)}{held}" for arch in args.archs}
    runs = [
        r for r in old.get("runs", []) if not (r["method"] in args.rerun and r["network"] in names)
    ]
    networks = {k: v for k, v in old.get("networks", {}).items() if isinstance(v, dict)}
    merge(runs, networks, args.merge)
    rows = set() if args.report_only else {(n, label(m, args)) for n in names for m in args.methods}
    refuse_other_settings(path, runs, settings(args), rows)
    if args.report_only:  # no network set up: the results only, e.g. after a report change
        return write(args, runs, networks)
    seeds = range(args.seeds) if args.only_seeds is None else args.only_seeds
    at, here = commit(), machine()
    for arch in args.archs:
        setup = network_setup(arch, args)
        networks[setup["name"]] = {
            "test_hv": setup["hand_fixed_test_hv"],
            "front": setup["hand_fixed_front"],
            "machine": here,
        }
        for method in args.methods:
            for seed in seeds:
                if any(
                    (r["network"], r["method"], r["seed"])
                    == (setup["name"], label(method, args), seed)
                    for r in runs
                ):
                    continue
                study_networks.log(f"design search: {setup['name']}, {method}, seed {seed}")
                run = run_one(arch, method, seed, setup, args)
                runs.append(
                    {
                        **run,
                        "commit": at,
                        "machine": here,
                        "command": args.command,
                        **settings(args),
                    }
                )
                write(args, runs, networks)
    return write(args, runs, networks)


def merge(runs: list[dict], networks: dict, sources: list[Path]) -> None:
    """Add the runs (and hand-fixed networks) of other results files, e.g. one search seed
    per process, to ``runs`` and ``networks`` in place; a run already there is kept."""
    for source in sources:
        other = read_results(source)
        runs[:] = merge_runs(
            runs, other["runs"], key=lambda r: (r["network"], r["method"], r["seed"])
        )
        for name, network in other.get("networks", {}).items():
            networks.setdefault(name, network)


def write(args, runs: list[dict], networks: dict) -> dict:
    payload = {"command": args.command, "networks": networks, "runs": runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(args.out.with_suffix(".json"), json.dumps(payload, indent=1) + "\n")
    figure = None
    if any(r.get("front") for r in runs):
        figure = args.out.with_suffix(".png")
        plot(runs, networks, figure)
    text = markdown(runs, networks, figure)
    write_markdown(args.out.with_suffix(".md"), text)
    print(text)
    return payload


if __name__ == "__main__":
    main()
