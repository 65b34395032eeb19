"""The notebooks in notebooks/ run end to end on small settings, and ship without outputs.

Each notebook runs in a fresh Jupyter kernel (nbclient) with ``LEANET_NOTEBOOK_QUICK=1``
(small data, few epochs and evaluations) and ``LEANET_NOTEBOOK_OUT`` pointing at a
temporary folder; its last cell writes ``summary.json`` there, which the tests check.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
EXPECTED = ("01_quickstart", "02_mobo", "03_tradeoff_study", "04_design_search")
CELL_TIMEOUT = 300  # seconds per cell; quick mode takes a few (a loaded machine: more)


def kernel_env(out: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "LEANET_STUDY_RESULTS"}
    env.update(
        LEANET_NOTEBOOK_QUICK="1",
        LEANET_NOTEBOOK_OUT=str(out),
        OMP_NUM_THREADS="1",  # as tests/conftest.py: one thread on a shared machine
        MKL_NUM_THREADS="1",
        PYDEVD_DISABLE_FILE_VALIDATION="1",
    )
    env.update(extra)
    return env


def execute(nb, env: dict[str, str]):
    """Run every cell of ``nb`` in a new python3 kernel with cwd notebooks/."""
    client = nbclient.NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute(env=env)
    return nb


def run_notebook(name: str, out: Path, **extra_env: str) -> tuple[dict, nbformat.NotebookNode]:
    """Execute notebooks/<name>.ipynb in quick mode; return the summary it wrote and the
    executed notebook."""
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    execute(nb, kernel_env(out, **extra_env))
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    path = out / f"{name}-quick" / "summary.json"
    assert path.is_file(), f"{name} wrote no summary at {path}"
    return json.loads(path.read_text()), nb


# ----------------------------------------------------------------------- the files


def test_notebooks_are_committed_without_outputs():
    found = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))
    assert set(EXPECTED) <= set(found)
    for path in NOTEBOOKS.glob("*.ipynb"):
        nb = json.loads(path.read_text())
        assert nb["metadata"]["kernelspec"]["name"] == "python3", path.name
        for cell in nb["cells"]:
            if cell["cell_type"] != "code":
                continue
            assert cell["outputs"] == [], f"{path.name}: cell {cell.get('id')} has outputs"
            assert cell["execution_count"] is None, (
                f"{path.name}: cell {cell.get('id')} has an execution count"
            )
        nbformat.validate(nbformat.reads(path.read_text(), as_version=4))


def test_kernel_is_this_interpreter(tmp_path):
    """nbclient's "python3" kernel must be this venv's python, and see our environment."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import os, sys\nprint(sys.prefix)\nprint(os.environ['LEANET_NOTEBOOK_QUICK'])\n"
            "print(os.getcwd())"
        )
    ]
    execute(nb, kernel_env(tmp_path))
    prefix, quick, cwd = nb.cells[0].outputs[0]["text"].splitlines()
    assert Path(prefix).resolve() == Path(sys.prefix).resolve()
    assert quick == "1"
    assert Path(cwd).resolve() == NOTEBOOKS.resolve()


# ----------------------------------------------------------------------- 01 quickstart


def test_quickstart_notebook(tmp_path):
    s, nb = run_notebook("01_quickstart", tmp_path)
    out = tmp_path / "01_quickstart-quick"
    assert s["quick"] is True
    # The quick network learned something (10 classes: chance is 0.1).
    assert s["full_test_accuracy"] > 0.5
    assert len(s["level_test_accuracy"]) == 5
    assert all(0.2 < a <= 1.0 for a in s["level_test_accuracy"])
    # qLogNEHVI's front against the reference front (dense search): a ratio in (0, 1].
    assert s["n_evals"] == 12
    assert 0.0 < s["hypervolume_ratio"] <= 1.0 + 1e-9
    assert s["front_size"] >= 1
    # The thresholds chosen for the budget meet it, on the validation split.
    assert len(s["chosen_thresholds"]) == 4
    assert all(0.0 <= t <= 1.0 for t in s["chosen_thresholds"])
    assert s["chosen_val_energy_ratio"] <= s["energy_budget"] + 1e-12
    assert 0.0 < s["chosen_val_accuracy"] <= 1.0
    # The saved artifact's adaptive inference agrees with the cached evaluator.
    assert s["runtime_accuracy"] == pytest.approx(s["evaluator_accuracy"], abs=2 / 256)
    assert s["runtime_energy_ratio"] == pytest.approx(s["evaluator_energy_ratio"], abs=0.01)
    assert [x["allowed_loss"] for x in s["savings"]] == [0.0, 0.01, 0.02]
    for name in ("leanet-artifact.pt", "fronts.png", "levels-val.pt", "levels-test.pt"):
        assert (out / name).is_file(), name
    # The fronts figure shows in the notebook, not only in fronts.png: importing leanet.demo
    # switched matplotlib to Agg, so it drew nothing inline (sweep38).
    (cell,) = [c for c in nb.cells if c.cell_type == "code" and "fronts.png" in c.source]
    assert any("image/png" in o.get("data", {}) for o in cell.outputs), cell.outputs


# ----------------------------------------------------------------------- 02 mobo


def test_mobo_notebook(tmp_path):
    s, _ = run_notebook("02_mobo", tmp_path)
    assert set(s["algorithms"]) == {"sobol", "nsga2", "qlognehvi", "usemo", "mesmo"}
    for name, a in s["algorithms"].items():
        assert a["n_evaluations"] == s["n_evals"] == 8, name
        trace = a["hypervolume"]
        assert len(trace) == 8
        assert all(v >= u - 1e-9 for u, v in zip(trace, trace[1:], strict=False)), name
        assert 0.0 <= a["hv_ratio"] <= 1.0 + 1e-9, name
    # The journaled study resumed after a simulated crash in the middle of a batch: three
    # quarters of its evaluations recovered as they were (the last GP-based), the rest of the
    # batch evaluated and the later points proposed exactly as the uninterrupted study did,
    # since the journal keeps every ask and the GP's fitted hyperparameters.
    study = s["study"]
    assert study["recovered"] == 3 * study["budget"] // 4 == 7
    assert study["resumed"] == study["budget"] == 10
    assert study["recovered_unchanged"] is True
    assert study["max_drift"] == 0.0
    assert study["hypervolume"] >= 0.0
    assert (tmp_path / "02_mobo-quick" / "study-qlognehvi.jsonl").is_file()
    assert (tmp_path / "02_mobo-quick" / "algorithms.png").is_file()
    # Multiple fidelities: the two that choose one spend part of the budget below the target,
    # the single-fidelity one none; each stops once the cost budget is spent (3 in quick
    # mode: at 5, iMOCA alone took 45 CPU s on an AVX2 EPYC; at 3, 5 s).
    fidelities = s["fidelities"]
    assert fidelities["imoca"]["below_target"] > 0 and fidelities["momf"]["below_target"] > 0
    assert fidelities["qlognehvi"]["below_target"] == 0
    for name, f in fidelities.items():
        assert 3.0 - 1e-9 <= f["cost"] < 4.0, name
        assert f["hypervolume"] >= 0.0, name
    assert (tmp_path / "02_mobo-quick" / "fidelities.png").is_file()


# ----------------------------------------------------------------------- 03 tradeoff study

LOSSES = [0.0, 0.01, 0.02, 0.05]


def fixture_results(with_summary: bool) -> dict:
    """A small synthetic results file in the schema of benchmarks/leanet_study.py."""
    networks = []
    specs = [
        ("convnet", "mnist5k", "width"),
        ("convnet", "mnist5k", "depth"),
        ("vgg16", "digits8x8", "width"),
    ]
    for i, (arch, dataset, levels) in enumerate(specs):
        name = f"{arch}-{dataset}-{levels}"
        savings = []
        for j, loss in enumerate(LOSSES):
            if i == 2 and j < 2:  # no threshold vector qualifies
                savings.append(
                    {
                        "allowed_loss": loss,
                        "test_accuracy": None,
                        "energy_ratio": None,
                        "energy_saved": None,
                        "latency_ratio": None,
                        "latency_saved": None,
                        "thresholds": None,
                    }
                )
                continue
            ratio = 0.6 - 0.1 * i - 0.05 * j
            savings.append(
                {
                    "allowed_loss": loss,
                    "test_accuracy": 0.97 - loss,
                    "energy_ratio": ratio,
                    "energy_saved": 1 - ratio,
                    "latency_ratio": ratio + 0.2,
                    "latency_saved": 0.8 - ratio,
                    "thresholds": [0.5, 0.5, 0.5, 0.5],
                }
            )
        fronts = {
            "reference": {"energy_ratio": [0.3, 0.5, 0.8], "accuracy": [0.9, 0.95, 0.97]},
            "static_widths": {"energy_ratio": [0.3, 0.6, 1.0], "accuracy": [0.88, 0.93, 0.96]},
            "usemo@25": {"energy_ratio": [0.35, 0.55], "accuracy": [0.9, 0.95]},
        }
        if i == 1:
            fronts["slimmable"] = {"energy_ratio": [0.4, 1.0], "accuracy": [0.9, 0.96]}
        networks.append(
            {
                "name": name,
                "arch": arch,
                "dataset": dataset,
                "levels": levels,
                "fingerprint": "x" * 8,
                "exit_macs": [1, 2, 3, 4, 5],  # extras are ignored
                "full": {"val_accuracy": 0.97, "test_accuracy": 0.968},
                "level_test_accuracy": [0.9, 0.93, 0.95, 0.96, 0.968],
                "savings": savings,
                "fronts": fronts if i < 2 else {},
                "hypervolume": {k: 0.05 + 0.01 * n for n, k in enumerate(fronts)},
            }
        )
    # Before the races, as in the study's file: single-run networks (its --front-algorithm
    # runs), more than quick mode's 4 panels leave room for after them.
    runs = [
        {
            "network": f"vgg16-digits8x8-{levels}",
            "algorithm": "qlognehvi",
            "seed": 0,
            "hv_ratio": [0.5 + 0.01 * k for k in range(30)],
            "evals_to_99": None,
            "seconds_per_iteration": 1.0,
            "X": [[0.1] * 4] * 30,
        }
        for levels in ("width", "depth", "hybrid")
    ]
    for net in ("convnet-mnist5k-width", "convnet-mnist5k-depth"):
        for a, algorithm in enumerate(("usemo", "sobol")):
            for seed in range(3):
                trace = [min(1.0, 0.5 + 0.02 * k * (1 + a + seed) / 3) for k in range(30)]
                runs.append(
                    {
                        "network": net,
                        "algorithm": algorithm,
                        "seed": seed,
                        "hv_ratio": trace,
                        "evals_to_99": None,
                        "seconds_per_iteration": 0.5 + a,
                        "X": [[0.1] * 4] * 30,
                    }
                )
    summary = [
        {
            "network": r["network"],
            "algorithm": r["algorithm"],
            "hv_ratio_10": 0.8,
            "hv_ratio_25": 0.9,
            "hv_ratio_50": None,
            "evals_to_99": None,
            "runs": 3,
            "reached_99": 0,
            "seconds_per_iteration": 0.5,
        }
        for r in runs
        if r["seed"] == 0
    ]
    optimizers = {"runs": runs}
    if with_summary:
        optimizers["summary"] = summary
    return {
        "command": "fixture",
        "settings": {"seeds": 3, "evals": 30},
        "losses": LOSSES,
        "machine": {"threads": 1},
        "networks": networks,
        "optimizers": optimizers,
    }


@pytest.mark.parametrize("with_summary", [True, False], ids=["summary", "runs-only"])
def test_tradeoff_study_notebook_on_fixture(tmp_path, with_summary):
    data = fixture_results(with_summary)
    path = tmp_path / "study.json"
    path.write_text(json.dumps(data))
    s, nb = run_notebook("03_tradeoff_study", tmp_path / "out", LEANET_STUDY_RESULTS=str(path))
    names = [n["name"] for n in data["networks"]]
    assert Path(s["results"]) == path
    assert s["networks"] == names
    assert s["savings_rows"] == len(names)  # one row of the paper's table per network
    assert s["losses"] == LOSSES
    for loss in LOSSES:
        expected = max(
            x["energy_saved"]
            for n in data["networks"]
            for x in n["savings"]
            if x["allowed_loss"] == loss and x["energy_saved"] is not None
        )
        assert s["best_energy_saved"][str(loss)] == pytest.approx(expected)
    assert s["front_names"] == ["reference", "static_widths", "usemo@25", "slimmable"]
    assert s["fronts_plotted"] == 2  # the third network has no fronts
    assert s["optimizer_rows"] == 7  # 2 networks x 2 algorithms, 3 with one
    # the two raced networks drawn first, though listed after 3 single-run ones (sweepR F1)
    assert s["optimizer_networks"] == [*names[:2], "vgg16-digits8x8-width", "vgg16-digits8x8-depth"]
    printed = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "optimizer traces drawn for 4 of 5 networks, 2 of the 2 raced" in printed
    for key, value in s["median_final_hv_ratio"].items():
        net, algorithm = key.split("/")
        finals = [
            r["hv_ratio"][-1]
            for r in data["optimizers"]["runs"]
            if r["network"] == net and r["algorithm"] == algorithm
        ]
        assert value == pytest.approx(statistics.median(finals))
        assert 0.0 < value <= 1.0
    assert len(s["median_final_hv_ratio"]) == 7
    assert (tmp_path / "out" / "03_tradeoff_study-quick" / "hypervolume.png").is_file()


def test_tradeoff_study_notebook_on_benchmark_results(tmp_path):
    """The real results, found at the notebook's default path, when the study has run."""
    results = ROOT / "benchmarks" / "results" / "leanet_study.json"
    if not results.is_file():
        pytest.skip("benchmarks/results/leanet_study.json not written yet")
    data = json.loads(results.read_text())
    s, _ = run_notebook("03_tradeoff_study", tmp_path)  # LEANET_STUDY_RESULTS unset
    assert Path(s["results"]).resolve() == results.resolve()
    assert s["savings_rows"] == len(data["networks"])
    for value in s["median_final_hv_ratio"].values():
        assert value is None or (math.isfinite(value) and 0.0 <= value <= 1.0 + 1e-9)


# ----------------------------------------------------------------------- 04 design search


def test_design_search_notebook(tmp_path):
    s, _ = run_notebook("04_design_search", tmp_path)
    out = tmp_path / "04_design_search-quick"
    assert s["quick"] is True
    assert s["n_evaluations"] == s["n_evals"] == 8
    # the search, the hand-fixed design, then qLogNEHVI told dense fronts as extras
    assert 1 <= s["designs_trained"] <= 2 * s["n_evals"] + 1
    assert s["dense_n_evaluations"] >= s["n_evals"]
    assert s["dense_n_evaluations"] > s["dense_designs"]  # each design's front was told
    lo, hi = s["levels"]
    assert s["front"], "an empty front"
    for point in s["front"]:  # every point names its design and its thresholds
        assert lo <= point["num_levels"] <= hi
        assert len(point["thresholds"]) == point["num_levels"] - 1
        assert point["fractions"][-1] == 1.0
    designs = {
        f"L{p['num_levels']}-f{p['first_fraction']:g}-h{p['head_hidden']}-"
        f"{p['confidence']}-ft{p['fine_tune_epochs']}.artifact.pt"
        for p in s["front"]
    }
    assert set(s["artifacts"]) == designs
    # The artifact's compiled runtime decides as the cached evaluator counts.
    assert s["runtime_accuracy"] == pytest.approx(s["evaluator_accuracy"], abs=1e-9)
    assert (out / "design_front.png").is_file()
    assert (out / "design-study.jsonl").is_file()
