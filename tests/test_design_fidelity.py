"""The cheap-fidelity benchmark (``benchmarks/design_fidelity.py``): designs cached at both
fidelities are paired, ``--train`` trains missing cheap twins, and the summary's correlation
and regret say what choosing by the cheap fidelity costs."""

from __future__ import annotations

import pytest

import leanet
from leanet.data import load_dataset
from leanet.design import Design, DesignProblem
from tests.benchmark_scripts import load_benchmark
from tests.leanet.conftest import tiny_base


@pytest.fixture(scope="module")
def module():
    return load_benchmark("design_fidelity")


def test_pairs_are_designs_cached_at_both_fidelities_and_train_adds_twins(module, tmp_path):
    digits = load_dataset("digits8x8", seed=0)
    base = tiny_base("convnet")
    leanet.train_base(base, digits.train, epochs=1, progress=False)
    problem = DesignProblem(
        base, digits, levels=(2, 3), fine_tune_epochs=(0, 1), head_epochs=1, cache=tmp_path
    )
    paired, alone = Design(2, 0.5, fine_tune_epochs=1), Design(3, 0.25, fine_tune_epochs=1)
    for design in (paired, Design(2, 0.5), alone):  # only `paired` has its 0-epoch twin
        problem.evaluator(design)
    known = {}
    rows = module.pairs(problem, cheap=0, train=0, samples=200, known=known)
    assert list(known) == [paired.key]  # only a paired design's target HV is computed
    assert [r["design"] for r in rows] == [paired.key.rsplit("-ft", 1)[0]]
    assert rows[0]["cheap"] >= 0 and rows[0]["target"] >= 0
    rows = module.pairs(problem, cheap=0, train=1, samples=200, known=known)
    assert set(known) == {paired.key, alone.key}
    assert len(rows) == 2 and list(tmp_path.glob(f"{Design(3, 0.25).key}-s0-{'?' * 12}.pt"))
    assert rows[0]["target"] >= rows[1]["target"]


def test_continued_pairs_use_the_prefix_twins_and_never_a_fresh_short_run(module, tmp_path):
    digits = load_dataset("digits8x8", seed=0)
    base = tiny_base("convnet")
    leanet.train_base(base, digits.train, epochs=1, progress=False)

    def problem(continued: bool) -> DesignProblem:
        return DesignProblem(
            base,
            digits,
            levels=(2, 3),
            fine_tune_epochs=(1, 2),
            head_epochs=1,
            cache=tmp_path,
            continue_fidelities=continued,
        )

    fresh, continued = problem(False), problem(True)
    target, other = Design(2, 0.5, fine_tune_epochs=2), Design(3, 0.25, fine_tune_epochs=2)
    fresh.evaluator(Design(2, 0.5, fine_tune_epochs=1))  # a fresh 1-epoch run of `target`
    continued.evaluator(other.prefix(1))  # the first epoch of `other`'s run
    for design in (target, other):
        continued.evaluator(design)
    assert [r["design"] for r in module.pairs(continued, 1, 0, 200, {})] == [
        "L3-f0.25-h0-max_softmax"
    ]
    assert [r["design"] for r in module.pairs(fresh, 1, 0, 200, {})] == ["L2-f0.5-h0-max_softmax"]


def test_summary_gives_correlation_regret_and_ratio_by_levels(module):
    rows = [  # the cheap fidelity under-rates the 6-level designs
        {"design": "a", "levels": 6, "cheap": 0.02, "target": 0.05},
        {"design": "b", "levels": 6, "cheap": 0.03, "target": 0.048},
        {"design": "c", "levels": 2, "cheap": 0.04, "target": 0.044},
        {"design": "d", "levels": 2, "cheap": 0.041, "target": 0.041},
    ]
    s = module.summarize(rows)
    assert s["n"] == 4 and s["spearman"] == pytest.approx(-1.0)
    assert s["regret"] == pytest.approx(0.05 - 0.041)  # picked d, the best is a
    assert s["ratio_by_levels"][6] == pytest.approx((0.4 + 0.625) / 2)
    assert module.summarize(rows[:2]) == {"n": 2}


def test_common_compares_the_cheap_fidelities_on_the_same_designs(module):
    def row(name, cheap, target):
        return {"design": name, "levels": 2, "cheap": cheap, "target": target}

    two = [row("a", 0.01, 0.05), row("b", 0.02, 0.04), row("c", 0.03, 0.03), row("d", 0.5, 0.6)]
    five = [row("a", 0.05, 0.05), row("b", 0.04, 0.04), row("c", 0.03, 0.03)]
    results = [
        {"network": "n", "cheap": c, "over": "all", "pairs": p} | module.summarize(p)
        for c, p in ((2, two), (5, five))
    ]
    assert results[0]["spearman"] == pytest.approx(0.2)  # d, paired at 2 epochs only, helps
    fair = module.common(results)
    assert [r["over"] for r in fair] == ["common", "common"]
    assert [p["design"] for p in fair[0]["pairs"]] == ["a", "b", "c"]
    assert fair[0]["spearman"] == pytest.approx(-1.0) and fair[1]["spearman"] == pytest.approx(1.0)
    unpaired = {"network": "n", "cheap": 4, "over": "all", "pairs": []}
    assert module.common([*results, unpaired]) == fair  # a fidelity without pairs is left out
    assert module.common([results[0], unpaired]) == []
    lonely = module.common([results[0], {**results[1], "pairs": five[:2]}])
    assert lonely[0] == {"network": "n", "cheap": 2, "over": "common", "pairs": two[:2], "n": 2}
