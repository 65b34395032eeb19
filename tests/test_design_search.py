"""The design search benchmark (``benchmarks/design_search.py``) on a tiny network: the budget
stops a run, and the polished front is the designs' dense fronts measured on test."""

from __future__ import annotations

import argparse
import json

import pytest
import torch

import leanet
import mobo
from leanet.costs import measure_costs
from leanet.dense_fronts import DenseFronts
from leanet.evaluator import ThresholdEvaluator
from leanet.reference_front import reference_front
from tests.benchmark_scripts import load_benchmark
from tests.leanet.conftest import tiny_base
from tests.mobo.conftest import FAST_BO


@pytest.fixture(scope="module")
def setup():
    from leanet.data import load_dataset

    digits = load_dataset("digits8x8", seed=0)
    base = tiny_base("convnet")
    leanet.train_base(base, digits.train, epochs=1, progress=False)
    full = leanet.evaluate(base.eval(), digits.test)
    return {"name": "tiny-digits", "base": base, "data": digits, "full_test_accuracy": full}


def _args(tmp_path, budget: float) -> argparse.Namespace:
    return argparse.Namespace(
        budget=budget,
        max_evals=3,
        n_initial=2,
        head_epochs=1,
        fine_tune_epochs=1,
        fidelity_epochs=0,
        build_costs=False,
        reference_samples=500,
        first_fraction=[0.25, 0.75],
        cache=tmp_path,
        dense_points=0,
    )


def test_a_run_stops_at_its_budget_and_polishes_the_designs_it_used(setup, tmp_path):
    module = load_benchmark("design_search")
    stopped = module.run_one("convnet", "sobol", 0, setup, _args(tmp_path, budget=0.0))
    assert stopped["evaluations"] == 1  # the first tell already spent the budget
    run = module.run_one("convnet", "sobol", 0, setup, _args(tmp_path, budget=1e9))
    assert run["evaluations"] == 3
    assert run["failed_evaluations"] == 0
    assert 1 <= run["designs"] <= 3
    assert run["charged_seconds"] > 0
    assert set(run["front_designs"]) <= set(run["used_designs"])
    assert run["test_hv_polished"] >= 0 and run["test_hv_evaluated"] >= 0
    # the trajectory ends where the run ends, its charge never falling
    path = run["trajectory"]
    assert [p["evaluation"] for p in path] == [1, 2, 3]
    seconds = [p["charged_seconds"] for p in path]
    assert seconds == sorted(seconds) and seconds[-1] == pytest.approx(run["charged_seconds"])
    assert path[-1]["test_hv_evaluated"] == pytest.approx(run["test_hv_evaluated"])


def test_polishing_one_design_is_its_dense_front_measured_on_test(setup, tmp_path):
    module = load_benchmark("design_search")
    args = _args(tmp_path, budget=1e9)
    problem = module.make_problem("convnet", setup, args)
    x = problem.bounds.mean(dim=0, keepdim=True)
    design = problem.design_of(x)
    polished = module.polished_front(problem, [design], setup, args)
    assert polished["designs"] == [design.key]

    net = problem.network(design)
    front, _ = reference_front(problem.evaluator(design), n_samples=args.reference_samples)
    test = ThresholdEvaluator.from_model(net, setup["data"].test, measure_costs(net, latency=False))
    m = test.evaluate(front.thresholds)
    expected = module.front_hv(
        {"accuracy": m.accuracy.tolist(), "energy_ratio": m.energy_ratio.tolist()},
        setup["full_test_accuracy"],
    )
    assert polished["hv"] == pytest.approx(expected)
    assert torch.isfinite(torch.tensor(polished["hv"]))


def test_dense_fronts_tells_each_new_designs_dense_front_once(setup, tmp_path):
    module = load_benchmark("design_search")
    args = _args(tmp_path, budget=1e9)
    problem = module.make_problem("convnet", setup, args)
    study = mobo.Study(problem, "sobol", seed=0)
    X = study.ask()
    study.tell(X, problem.evaluate(X))
    tell = DenseFronts(3, n_samples=args.reference_samples)
    tell(study, study.evaluations)
    design = problem.decode(X)[0][0]
    front, _ = reference_front(problem.evaluator(design), n_samples=args.reference_samples)
    added = study.evaluations[1:]
    assert 1 <= len(added) <= 3
    Xa = torch.tensor([e.x for e in added], dtype=torch.float64)
    assert all(d.key == design.key for d, _ in problem.decode(Xa))
    # the front's cheapest and most accurate ends, at the objectives the front reports
    Ya = torch.tensor([e.y for e in added], dtype=torch.float64)
    assert torch.allclose(Ya[0], front.objectives()[0]) and torch.allclose(
        Ya[-1], front.objectives()[-1]
    )
    tell(study, study.evaluations)  # a design already told: nothing more
    assert len(study.evaluations) == 1 + len(added)


def test_a_run_told_dense_fronts_is_labelled_apart(setup, tmp_path):
    module = load_benchmark("design_search")
    args = _args(tmp_path, budget=1e9)
    args.dense_points, args.max_evals = 2, 2
    run = module.run_one("convnet", "sobol", 0, setup, args)
    assert run["method"] == "sobol+dense2"
    assert run["evaluations"] >= 2 and run["designs"] == 1  # the first design's front, told


def test_a_warm_variant_fits_warm_and_is_labelled_apart(setup, tmp_path, monkeypatch):
    """``qlognehvi+warm`` is qLogNEHVI with mobo's warm-started fit, its runs kept apart
    from the default's; an unknown variant is refused before anything trains."""
    from mobo.surrogate import WARM_FIT

    module = load_benchmark("design_search")
    seen: dict = {}
    study = mobo.Study

    def recording(*args, **kwargs):
        seen.update(kwargs)
        return study(*args, **kwargs)

    monkeypatch.setattr(module.mobo, "Study", recording)
    # (a zero budget: each run stops after its first evaluation, all this test needs)
    run = module.run_one("convnet", "qlognehvi+warm", 0, setup, _args(tmp_path, budget=0.0))
    assert run["method"] == "qlognehvi+warm"
    assert seen["surrogate"] == dict(WARM_FIT)
    seen.clear()
    run = module.run_one("convnet", "qlognehvi", 0, setup, _args(tmp_path, budget=0.0))
    assert run["method"] == "qlognehvi"
    assert "surrogate" not in seen  # the algorithm's own default
    with pytest.raises(ValueError, match="unknown variant 'hot'"):
        module.run_one("convnet", "qlognehvi+hot", 0, setup, _args(tmp_path, budget=0.0))


def fast_acquisition(module, monkeypatch) -> None:
    """The benchmark's studies with a small acquisition optimizer and, for MF-OSEMO, a small
    NSGA-II and quadrature grid: these tests are about the benchmark's bookkeeping,
    not the proposals' quality, and the defaults took most of their time (MOMF's 60 of 65 s
    on an AVX2 EPYC)."""
    study = mobo.Study

    def fast(problem, method, **kwargs):
        extra = {"pop_size": 20, "n_gen": 10, "grid_points": 32} if method == "mfosemo" else {}
        return study(problem, method, **FAST_BO, **extra, **kwargs)

    monkeypatch.setattr(module.mobo, "Study", fast)


# Slow (65 s for MOMF, 40 s for MF-OSEMO on an AVX2 EPYC): the default run keeps the
# target-only front on MF-OSEMO's continued fidelities below, and tests/mobo/test_momf.py
# tests MOMF itself.
@pytest.mark.slow
@pytest.mark.parametrize("method", ["mfosemo", "momf"])
def test_the_multi_fidelity_search_fronts_only_target_fidelity_designs(
    setup, tmp_path, method, monkeypatch
):
    module = load_benchmark("design_search")
    fast_acquisition(module, monkeypatch)
    args = _args(tmp_path, budget=1e9)
    args.max_evals = 12
    run = module.run_one("convnet", method, 0, setup, args)
    assert run["method"] == f"{method}+ft0"  # the tiny test fidelity: 0 epochs
    assert run["designs_trained"] > run["designs"]  # some designs only at the cheap fidelity
    assert all(key.endswith("-ft1") for key in run["used_designs"] + run["front_designs"])
    # cheap evaluations charge time but add no front: the HV moves only at target fidelity
    path = run["trajectory"]
    assert len(path) == run["evaluations"]
    assert path[-1]["test_hv_evaluated"] == pytest.approx(run["test_hv_evaluated"])
    first_target = next((i for i, p in enumerate(path) if p["test_hv_evaluated"] > 0), len(path))
    assert all(p["test_hv_evaluated"] == 0 for p in path[:first_target])


def test_continued_fidelities_charge_each_epoch_once(setup, tmp_path, monkeypatch):
    module = load_benchmark("design_search")
    fast_acquisition(module, monkeypatch)
    args = _args(tmp_path, budget=1e9)
    args.max_evals, args.fidelity_epochs, args.fine_tune_epochs = 4, 1, 2
    args.continue_fidelities = True
    run = module.run_one("convnet", "mfosemo", 0, setup, args)
    assert run["method"] == "mfosemo+ft1+cont+promote"
    # the front holds target-fidelity designs only, some designs trained only cheaply
    assert run["used_designs"] and run["designs_trained"] > run["designs"]
    assert all(key.endswith("-ft2") for key in run["used_designs"] + run["front_designs"])
    assert all(k.endswith(("-ft1of2", "-ft2")) for k in run["trained_designs"])
    assert run["trajectory"][-1]["charged_seconds"] == pytest.approx(run["charged_seconds"])
    # A design evaluated cheaply, then at the target, which continues its run: the trajectory
    # charges the target evaluation the prefix (if not yet counted) and the rest.
    problem = module.make_problem("convnet", setup, args, "mfosemo")
    cheap = problem.bounds.mean(dim=0)
    cheap[-1], target = 1.0, cheap.clone()
    target[-1] = 2.0
    problem.evaluate(cheap[None])
    problem.evaluate(target[None])
    design = problem.design_of(target[None])
    assert problem.built == [design.prefix(1).key, design.key]
    seconds = problem.train_seconds
    told = [
        argparse.Namespace(x=target.tolist(), y=None, ask_seconds=9.0, ask_cpu_seconds=0.5),
        argparse.Namespace(x=cheap.tolist(), y=None, ask_seconds=9.0, ask_cpu_seconds=0.25),
    ]
    path = module.trajectory(problem, told, setup, {})
    assert path[0]["charged_seconds"] == pytest.approx(sum(seconds.values()) + 0.5)
    assert path[1]["charged_seconds"] == pytest.approx(sum(seconds.values()) + 0.75)


def _run(method, points, seed=0):
    """A stored design-search run of network "a" (budget 100 s) with a trajectory of
    (charged seconds, evaluated test HV) points."""
    path = [
        {"evaluation": i + 1, "charged_seconds": t, "test_hv_evaluated": hv}
        for i, (t, hv) in enumerate(points)
    ]
    return {
        "network": "a",
        "method": method,
        "seed": seed,
        "budget": 100.0,
        "trajectory": path,
        "test_hv_evaluated": path[-1]["test_hv_evaluated"],
        "test_hv_polished": path[-1]["test_hv_evaluated"],
        **dict.fromkeys(["designs", "evaluations", "charged_seconds"], 3),
    }


def test_the_time_table_compares_methods_at_equal_charged_time():
    module = load_benchmark("design_search_report")
    run = _run
    runs = [
        run("qlognehvi", [(30, 0.01), (90, 0.05)]),
        run("qlognehvi", [(30, 0.02), (95, 0.03)], seed=1),
        run("mfosemo", [(10, 0.0), (40, 0.045)]),  # reaches the target 0.04 at 40 s
        run("mfosemo", [(10, 0.0), (80, 0.02)], seed=1),  # never does
    ]
    table = module.time_table(runs, {"a": {}})
    rows = {line.split(" | ")[1]: line for line in table.splitlines()[2:]}
    # at 25 s nothing yet; at 50 s mfosemo's runs hold 0.045 and 0.0 (median 0.0225)
    assert "| 0.00000 | 0.02250 |" in rows["mfosemo"]
    # the median over the runs that reached it flatters a method that seldom does: over
    # all runs, one of two never reaching the target, the median run never does
    assert rows["mfosemo"].endswith("| 40 | 1 of 2 | never |")
    assert rows["qlognehvi"].endswith("| 90 | 1 of 2 | never |")
    three = [*runs[:2], run("qlognehvi", [(20, 0.05)], seed=2)]  # 2 of 3 reach 0.05
    row = module.time_table(three, {"a": {}}).splitlines()[2]
    assert row.endswith("| 55 | 2 of 3 | 90 |")

    # told dense points, mfosemo is also timed against qlognehvi told the same points
    runs += [
        run("qlognehvi+dense5", [(50, 0.06)]),
        run("mfosemo+dense5", [(20, 0.05), (60, 0.07)]),
    ]
    table = module.time_table(runs, {"a": {}})
    header = table.splitlines()[0]
    assert header.index("qlognehvi's median at budget") < header.index("qlognehvi+dense5's")
    rows = {line.split(" | ")[1]: line for line in table.splitlines()[2:]}
    # on seed 0, the one it shares: plain qlognehvi's 0.05 at 20 s; qlognehvi+dense5's 0.06
    # at 60 s
    assert rows["mfosemo+dense5"].endswith("| 20 | 1 of 1 | 20 | 60 | 1 of 1 | 60 |")
    assert rows["mfosemo"].endswith("| 40 | 1 of 2 | never | - | 0 of 2 | never |")


def test_a_row_without_a_baseline_on_its_seeds_is_not_timed_as_never_reaching_it():
    # sweep 29: VGG-16's mfosemo rows of seeds 5-9 against qlognehvi's seeds 0-2, and every
    # MobileNet row (no qlognehvi run there), read "0 of N" and "never"
    module = load_benchmark("design_search_report")
    runs = [_run("qlognehvi", [(50, 0.05)], seed=s) for s in range(3)]
    runs += [_run("mfosemo", [(20, 0.06)], seed=s) for s in range(5, 10)]
    runs += [{**_run("sobol", [(20, 0.06)]), "network": "b"}]  # no baseline on network b
    table = module.time_table(runs, {"a": {}, "b": {}})
    rows = {line.split(" | ")[1]: line for line in table.splitlines()[2:] if " | " in line}
    assert rows["mfosemo"].endswith("| - | - | - |")
    assert rows["sobol"].endswith("| - | - | - |")
    assert not any("0 of" in row or "never" in row for row in rows.values())
    assert table.endswith(module.NO_BASELINE)  # the footnote says what "-" means
    # a row that shares a seed is timed as before, with no footnote
    table = module.time_table(runs[:3] + [_run("sobol", [(20, 0.06)])], {"a": {}})
    assert table.splitlines()[-1].endswith("| 20 | 1 of 1 | 20 |")


def test_a_count_whose_median_falls_between_two_prints_the_half():
    # sweep 29: VGG-16 qlognehvi+dense5's designs, median 5.5 of 10 runs, read "6 (4-12)"
    module = load_benchmark("design_search_report")
    assert module._spread_of([4, 7], "d") == "5.5 (4-7)"
    assert module._spread_of([2, 3, 4, 4], "d") == "3.5 (2-4)"  # not "4", half to even
    assert module._spread_of([4, 5, 7], "d") == "5 (4-7)"


def test_design_search_figures_at_equal_wall_time_leave_out_the_design_that_crossed_it():
    # The budget is checked after each evaluation: the design that crosses it is trained
    # and counted in the final figures (qLogNEHVI on the ConvNet: 0.0667 final, 0.0574 at
    # the budget), so the tables lead with the HV at the budget, and time a row against the
    # baseline's figure there, on the seeds the two share.
    module = load_benchmark("design_search_report")
    runs = [
        _run("qlognehvi", [(50, 0.03), (130, 0.09)]),  # 0.09 only past the budget
        _run("qlognehvi", [(50, 0.08)], seed=5),  # a seed the other row does not have
        _run("sobol", [(40, 0.05), (101, 0.05)]),
    ]
    summary = module.summary(runs, {"a": {"test_hv": 0.04}})
    rows = {line.split(" | ")[2]: line for line in summary.splitlines()[2:]}
    assert rows["qlognehvi"].startswith(
        "| a | 0.04000 | qlognehvi | 0, 5 | 20 | 0.05500 (0.03000-0.08000) | "
        "0.08500 (0.08000-0.09000) |"
    )
    assert module.seed_list([{"seed": s} for s in (0, 1, 2, 4, 7, 8)]) == "0-2, 4, 7-8"
    # sobol (seed 0) is timed against qlognehvi's seed 0 at the budget: 0.03, at 40 s
    table = module.time_table(runs, {"a": {}})
    rows = {line.split(" | ")[1]: line for line in table.splitlines()[2:]}
    assert rows["sobol"].endswith("| 40 | 1 of 1 | 40 |")


def test_the_results_say_on_which_machine_each_network_ran(tmp_path):
    """Runs and hand-fixed designs name their machine (the same seed can end differently on
    another one); rows made before machines were recorded say so."""
    module = load_benchmark("design_search")
    run = {
        "method": "sobol",
        "seed": 0,
        "commit": "abc1234",
        "command": "cmd",
        **dict.fromkeys(["test_hv_polished", "test_hv_evaluated", "charged_seconds"], 0.05),
        **dict.fromkeys(["designs", "evaluations"], 3),
    }
    runs = [{**run, "network": "a", "machine": "M1"}, {**run, "network": "b"}]
    networks = {"a": {"test_hv": 0.04, "machine": "M1"}, "b": {"test_hv": 0.04}}
    args = argparse.Namespace(out=tmp_path / "ds", command="cmd")
    module.write(args, runs, networks)
    md = (tmp_path / "ds.md").read_text()
    assert "Machines of the runs and of the hand-fixed designs: M1 (a); unrecorded (b)." in md
    # findings written by hand under the file's tables survive the next write
    findings = "## What this says\n\nRandom designs win here.\n"
    (tmp_path / "ds.md").write_text(md + findings)
    module.write(args, runs + [{**run, "network": "a", "seed": 1, "machine": "M1"}], networks)
    again = (tmp_path / "ds.md").read_text()
    assert again.endswith("\n\nRandom designs win here.\n")  # marked as written for others
    assert again.count("## What this says") == 1 and "earlier version of the tables" in again
    assert "| a | 0.04000 | sobol | 0-1 |" in again  # the tables were regenerated


def test_a_rerun_with_another_budget_is_refused_not_skipped(tmp_path, monkeypatch):
    # sweep 29: a rerun at --budget 40 over budget-20 runs ran nothing and wrote its
    # command over them
    module = load_benchmark("design_search")
    figures = dict.fromkeys(["test_hv_polished", "test_hv_evaluated", "charged_seconds"], 0.05)
    figures |= {"designs": 3, "evaluations": 3, "network": "convnet-digits8x8"}
    stored = {**figures, "method": "sobol", "seed": 0, "commit": "abc", "command": "old"}
    stored |= {"budget": 20.0, "n_initial": 10, "max_evals": 80}
    out = tmp_path / "ds"
    out.with_suffix(".json").write_text(json.dumps({"runs": [stored]}))

    def run(*flags):
        argv = ["--archs", "convnet", "--methods", "sobol", "--seeds", "2", "--out", str(out)]
        return module.main([*argv, "--cache", str(tmp_path), *flags])

    monkeypatch.setattr(module, "network_setup", lambda *a: pytest.fail("nothing may run"))
    for flags in (["--budget", "40"], ["--budget", "20", "--max-evals", "5"]):
        with pytest.raises(SystemExit, match="sobol runs on convnet-digits8x8 .*"):
            run("--n-initial", "10", *flags)
    with pytest.raises(SystemExit, match="with n_initial 10, and this command asks for 20"):
        run("--budget", "20", "--n-initial", "20")
    assert json.loads(out.with_suffix(".json").read_text())["runs"] == [stored]
    # at the same settings the stored seed is reused and the new one records its settings
    setup = {"name": stored["network"], "hand_fixed_test_hv": 0.04, "hand_fixed_front": {}}
    monkeypatch.setattr(module, "network_setup", lambda *a: setup)
    monkeypatch.setattr(
        module, "run_one", lambda a, m, seed, *_: {**figures, "method": m, "seed": seed}
    )
    runs = run("--budget", "20", "--n-initial", "10")["runs"]
    assert [r["seed"] for r in runs] == [0, 1] and runs[0] == stored
    assert (runs[1]["budget"], runs[1]["max_evals"], runs[1]["head_epochs"]) == (20.0, 80, 20)
    # runs that record other settings than each other are not reported as one row
    other = {**stored, "seed": 1, "budget": 40.0}
    out.with_suffix(".json").write_text(json.dumps({"runs": [stored, other]}))
    with pytest.raises(SystemExit, match="budget 40.0, and others of the row have 20.0"):
        run("--report-only")


def test_the_asks_are_charged_their_cpu_time_as_training_is(tmp_path):
    # sweep 29: qLogNEHVI's asks were charged 2.63 s of wall time for 1.06 s of CPU time
    from types import SimpleNamespace

    from mobo.result import Evaluation

    module = load_benchmark("design_search")
    problem = SimpleNamespace(
        train_seconds={"d": 5.0},
        design_of=lambda x: SimpleNamespace(key="d"),
        prefixes=lambda design: [],
        at_target=lambda x: torch.tensor([False]),  # no front to measure on test
    )
    evaluations = [
        Evaluation(index=0, x=[0.0], y=[1.0, 1.0], ask_seconds=10.0, ask_cpu_seconds=1.0),
        Evaluation(index=1, x=[0.0], y=[1.0, 1.0], ask_seconds=2.0),  # a journal without CPU
    ]
    path = module.trajectory(problem, evaluations, {}, {})
    assert [p["charged_seconds"] for p in path] == [6.0, 8.0]
    # the results say which runs were charged the wall time
    run = {**_run("sobol", [(50, 0.05)]), "commit": "abc", "command": "cmd"}
    text = load_benchmark("design_search_report").markdown(
        [run, {**run, "seed": 1, "ask_clock": "cpu"}], {"a": {"test_hv": 0.04}}
    )
    assert "1 of 2 runs record no ask clock" in text


def test_merge_adds_other_processes_runs_and_keeps_its_own(tmp_path):
    """One search seed per process, merged: runs not yet held are added, a run already held
    (same network, method, seed) is not replaced, and hand-fixed networks are added."""
    module = load_benchmark("design_search")
    mine = [{"network": "a", "method": "sobol", "seed": 0, "test_hv_evaluated": 1.0}]
    other = {
        "networks": {"a": {"test_hv": 9.0}, "b": {"test_hv": 0.5}},
        "runs": [
            {"network": "a", "method": "sobol", "seed": 0, "test_hv_evaluated": 2.0},
            {"network": "a", "method": "sobol", "seed": 1, "test_hv_evaluated": 3.0},
        ],
    }
    (tmp_path / "s1.json").write_text(json.dumps(other))
    networks = {"a": {"test_hv": 0.4}}
    module.merge(mine, networks, [tmp_path / "s1"])
    assert [(r["seed"], r["test_hv_evaluated"]) for r in mine] == [(0, 1.0), (1, 3.0)]
    assert networks == {"a": {"test_hv": 0.4}, "b": {"test_hv": 0.5}}


def test_mfosemo_prices_its_fidelities_as_recorded_unless_told_build_costs(setup, tmp_path):
    """The recorded MF-OSEMO runs priced a fidelity head_epochs + epochs; --build-costs
    uses DesignProblem's measured default instead, under its own label."""
    module = load_benchmark("design_search")
    args = _args(tmp_path, budget=1e9)
    args.fidelity_epochs, args.fine_tune_epochs, args.head_epochs = 2, 10, 20
    recorded = module.make_problem("convnet", setup, args, "mfosemo")
    assert recorded.fidelity_costs.tolist() == [22.0, 30.0]
    assert module.label("mfosemo", args) == "mfosemo"
    args.build_costs, args.dense_points = True, 5
    built = module.make_problem("convnet", setup, args, "mfosemo")
    assert built.fidelity_costs.tolist() == [3.0, 11.0]
    assert module.label("mfosemo", args) == "mfosemo+build+dense5"
    assert module.label("qlognehvi", args) == "qlognehvi+dense5"
    assert load_benchmark("design_search_report").algorithm("mfosemo+build+dense5") == "mfosemo"
    args.fidelity_epochs = 5
    assert module.make_problem("convnet", setup, args, "mfosemo").epochs == (5, 10)
    assert module.label("mfosemo", args) == "mfosemo+ft5+build+dense5"
    args.continue_fidelities = True
    assert module.label("mfosemo", args) == "mfosemo+ft5+build+cont+promote+dense5"
    args.promote = False
    assert module.label("mfosemo", args) == "mfosemo+ft5+build+cont+dense5"
    assert module.label("qlognehvi", args) == "qlognehvi+dense5"
    assert module.label("qlognehvi", args) == "qlognehvi+dense5"


def test_the_budget_left_is_told_in_cost_units_at_the_measured_rate(setup, tmp_path):
    # --budget-end: MF-OSEMO is told the seconds left over the seconds per cost unit its
    # trained designs took, a continued design priced at the rest of its run only.
    module = load_benchmark("design_search")
    args = _args(tmp_path, budget=1e9)
    args.fidelity_epochs, args.fine_tune_epochs, args.continue_fidelities = 1, 2, True
    args.budget_end = True
    assert module.label("mfosemo", args) == "mfosemo+ft1+cont+promote+end"
    problem = module.make_problem("convnet", setup, args, "mfosemo")
    cheap = problem.bounds.mean(dim=0)
    cheap[-1], target = 1.0, cheap.clone()
    target[-1] = 2.0
    other = problem.bounds[1].clone()  # another design, trained at the target from scratch
    for x in (cheap, target, other):
        problem.evaluate(x[None])
    low, high = problem.fidelity_costs.tolist()
    units = low + (high - low) + high
    seconds = sum(problem.train_seconds.values())
    study = argparse.Namespace(
        evaluations=[argparse.Namespace(x=x.tolist()) for x in (cheap, target, other, target)],
        algorithm=argparse.Namespace(remaining_cost=None),
    )
    left = module.BudgetLeft(problem, lambda study: seconds + 3.0, budget=seconds + 10.0)
    left.start(study)
    assert study.algorithm.remaining_cost == pytest.approx(7.0 / (seconds / units))
    # ... and the whole budget in the same units (what --target-share takes its share of)
    assert study.algorithm.budget_cost == pytest.approx((seconds + 10.0) / (seconds / units))
    study.evaluations = []  # nothing trained yet: no rate, no budget told
    left(study, [])
    assert study.algorithm.remaining_cost is None and study.algorithm.budget_cost is None
    args.target_share = 0.5
    assert module.label("mfosemo", args) == "mfosemo+ft1+cont+promote+end+share0.5"
    with pytest.raises(SystemExit):  # a share of a budget never told
        module.parse_args(["--methods", "mfosemo", "--target-share", "0.5"])


def test_the_plot_draws_the_lowest_seed_that_has_a_front():
    """Runs of seeds 5-9 alone (a second batch of seeds) still get their fronts drawn."""
    report = load_benchmark("design_search_report")
    runs = [
        {"network": "n", "seed": s, "front": [{"design": "L2"}] if s != 5 else []}
        for s in (5, 6, 7)
    ]
    assert report.plotted_seed(runs, "n") == 6
    assert report.plotted_seed(runs, "other") is None


def test_a_recipe_that_chooses_among_distillation_weights_trains_designs_with_its_first(
    setup, tmp_path
):
    """MobileNet's study recipe lists weights (1, 0) to choose among on validation; a design
    is trained once, with the first (a tuple made every design fail in fine_tune)."""
    module = load_benchmark("design_search")
    recipe = load_benchmark("study_networks").FINE_TUNE["mobilenet"]
    assert isinstance(recipe.distill, tuple)
    problem = module.make_problem("mobilenet", setup, _args(tmp_path, budget=1e9))
    assert problem.fine_tune_options["distill"] == recipe.distill[0] == 1.0
    assert problem.fine_tune_options["lr"] == recipe.lr


def test_a_moved_validation_split_names_its_networks_apart():
    module = load_benchmark("design_search")
    args = module.parse_args(["--dataset", "digits8x8"])
    assert module.dataset_name(args) == "digits8x8"
    args = module.parse_args(["--dataset", "digits8x8", "--moved-to-validation", "100"])
    # 1797 digits split 4:1:1 leave 300 for validation; 100 more join them
    assert module.dataset_name(args) == "digits8x8-val400"
