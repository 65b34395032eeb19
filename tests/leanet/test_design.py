"""The design search problem: designs decode, build once, measure as built by hand, resume."""

from __future__ import annotations

import copy
import os
import warnings

import numpy as np
import pytest
import torch

import leanet
import mobo
from leanet.costs import measure_costs
from leanet.design import Design, DesignProblem
from leanet.evaluator import ThresholdEvaluator
from leanet.problem import thresholds_to_log_unit
from leanet.zoo import BaseNet
from tests.leanet.conftest import same_weights, tiny_base


@pytest.fixture(scope="module")
def pretrained(digits):
    """A tiny ConvNet trained one epoch on the 8x8 digits (what every design reuses)."""
    base = tiny_base("convnet")
    leanet.train_base(base, digits.train, epochs=1, progress=False)
    return base.eval()


def _problem(pretrained, digits, **options) -> DesignProblem:
    options = {"levels": (2, 4), "head_epochs": 1, "fine_tune_epochs": 0, **options}
    return DesignProblem(pretrained, digits, **options)


def test_design_validates_its_fields_and_spaces_fractions_evenly():
    design = Design(num_levels=4, first_fraction=0.4)
    assert design.fractions == pytest.approx((0.4, 0.6, 0.8, 1.0))
    assert design.fractions[-1] == 1.0
    assert design.key == "L4-f0.4-h0-max_softmax-ft0"
    for bad, word in (
        (dict(num_levels=1, first_fraction=0.5), "num_levels"),
        (dict(num_levels=3, first_fraction=1.0), "first_fraction"),
        (dict(num_levels=3, first_fraction=0.5, confidence="certainty"), "confidence"),
        (dict(num_levels=3, first_fraction=0.5, head_hidden=-1), "head_hidden"),
    ):
        with pytest.raises(ValueError, match=word):
            Design(**bad)
    with pytest.raises(TypeError, match="num_levels"):
        Design(num_levels=3.0, first_fraction=0.5)
    with pytest.raises(TypeError, match="head_hidden"):  # a bool is no size
        Design(num_levels=3, first_fraction=0.5, head_hidden=True)
    for bad, word in (
        (dict(first_fraction=0.0), "first_fraction"),
        (dict(first_fraction=0.5, fine_tune_epochs=-1), "fine_tune_epochs"),
        # a schedule is longer than the epochs trained of it, and at least one was trained
        (dict(first_fraction=0.5, fine_tune_epochs=3, schedule_epochs=3), "schedule_epochs"),
        (dict(first_fraction=0.5, fine_tune_epochs=0, schedule_epochs=3), "schedule_epochs"),
    ):
        with pytest.raises(ValueError, match=word):
            Design(num_levels=3, **bad)
    # Fractions keep 6 digits (0.675 is not 0.68: another channel count on a wide layer).
    assert Design(num_levels=3, first_fraction=0.35).fractions == (0.35, 0.675, 1.0)
    # A key per design: the cache keeps one network per key, so two designs sharing one
    # would read each other's network.
    designs = [
        Design(2, 0.55),
        Design(2, 0.6),
        Design(2, 0.55, head_hidden=32),
        Design(2, 0.55, confidence="margin"),
        Design(2, 0.55, fine_tune_epochs=2),
        Design(2, 0.55, fine_tune_epochs=1, schedule_epochs=2),
    ]
    assert len({d.key for d in designs}) == len(designs)
    # A prefix is the start of a whole run, never of another prefix.
    whole = Design(3, 0.5, fine_tune_epochs=4)
    assert whole.prefix(1) == Design(3, 0.5, fine_tune_epochs=1, schedule_epochs=4)
    with pytest.raises(ValueError, match="a prefix takes"):
        whole.prefix(2).prefix(1)


def test_a_design_is_built_by_the_library_recipe_under_its_seed(pretrained, digits):
    """Build, recalibrate batch norm, fit the heads, fine-tune without early stopping, all
    under the given seed, and handed back ready to evaluate."""
    train = digits.train.subset(torch.arange(200))
    design = Design(3, 0.5, head_hidden=8, fine_tune_epochs=1)
    net = design.build(pretrained, train, head_epochs=1, seed=1)
    assert not net.training
    by_hand = leanet.build(
        pretrained, fractions=design.fractions, scheme="hybrid", head_hidden=8, seed=1
    )
    leanet.recalibrate_batch_norm(by_hand, train, progress=False)
    leanet.fit_heads(by_hand, train, epochs=1, seed=1, progress=False)
    leanet.fine_tune(by_hand, train, epochs=1, patience=None, seed=1, progress=False)
    assert same_weights(net, by_hand)


@pytest.mark.parametrize(
    ("options", "word"),
    [
        (dict(levels=(1, 3)), "levels"),
        (dict(levels=(4, 3)), "levels"),
        (dict(levels=3), "levels"),
        (dict(first_fraction=(0.0, 0.5)), "first_fraction"),
        (dict(head_hidden=[]), "head_hidden"),
        (dict(head_hidden=[0, -8]), "head_hidden"),
        (dict(confidences=["max_softmax", "certainty"]), "confidences"),
        (dict(fine_tune_epochs=[2, 1]), "fine_tune_epochs"),
        (dict(fidelity_costs=[1.0, 2.0]), "fidelity_costs"),
        (dict(fraction_step=0.0), "fraction_step"),
    ],
)
def test_malformed_declarations_are_rejected_by_name(pretrained, digits, options, word):
    kwargs = {"levels": (2, 4), **options}
    with pytest.raises(ValueError, match=word):
        DesignProblem(pretrained, digits, head_epochs=1, **kwargs)


def test_decoding_rounds_the_design_and_warps_only_the_thresholds(pretrained, digits):
    problem = _problem(pretrained, digits)
    assert problem.dim == 4 + 3  # levels, fraction, head, confidence, T_1..T_3
    U = torch.rand(64, problem.dim, generator=torch.Generator().manual_seed(0)).double()
    X = problem.from_unit(U)
    assert torch.allclose(problem.to_unit(X), U)
    for design, thresholds in problem.decode(X):
        assert 2 <= design.num_levels <= 4
        assert thresholds.shape == (design.num_levels - 1,)
        assert design.first_fraction in {
            0.25,
            0.3,
            0.35,
            0.4,
            0.45,
            0.5,
            0.55,
            0.6,
            0.65,
            0.7,
            0.75,
        }
        assert design.head_hidden in (0, 32)
    # Threshold coordinates use ThresholdProblem's log space, design coordinates are linear.
    x = problem.bounds.mean(dim=0, keepdim=True)
    x[0, 4:] = 0.9
    u = problem.to_unit(x)
    assert torch.allclose(u[0, 4:], thresholds_to_log_unit(torch.tensor([0.9] * 3).double()))
    assert u[0, :4].tolist() == pytest.approx([0.5] * 4)
    # One input's design, whether given as a row or a vector; several rows are refused.
    assert problem.design_of(X[3]) == problem.design_of(X[3:4]) == problem.decode(X)[3][0]
    with pytest.raises(ValueError, match="one input, got 2 rows"):
        problem.design_of(X[:2])
    # Integers and categories round to the nearest value (mutation sweep s76: truncating
    # the level count passed): 2.6 levels are 3, head index 0.4 is 0, confidence 1.6 is 2.
    row = torch.tensor([2.6, 0.52, 0.4, 1.6, 0.3, 0.6, 0.9], dtype=torch.float64)
    design, thresholds = problem.decode(row)[0]
    assert (design.num_levels, design.first_fraction, design.head_hidden) == (3, 0.5, 0)
    assert design.confidence == problem.confidences[2]
    assert thresholds.tolist() == [0.3, 0.6]


def test_the_search_box_gives_every_choice_a_unit_band_and_keeps_the_users_settings(
    pretrained, digits
):
    """Every level count, head size and confidence measure owns a band of width 1 around
    its value, so a uniform draw picks each as often (a box ending at the last value gave
    it half a band); what a user stated is kept as stated."""
    base = copy.deepcopy(pretrained).train()
    problem = _problem(base, digits, head_hidden=(0, 16, 32))
    assert base.training and all(m.training for m in base.modules())  # the caller's, as it was
    assert problem.bounds[:, :4].tolist() == [[1.5, 0.25, -0.5, -0.5], [4.5, 0.75, 2.5, 2.5]]
    assert problem.bounds[:, 4:].tolist() == [[0.0] * 3, [1.0] * 3]
    named = _problem(
        pretrained,
        digits,
        constraints={"size": lambda d, m: 1.0, "accuracy floor": lambda d, m: 0.5 - m.accuracy},
    )
    assert named.constraint_names == ["size", "accuracy floor"]  # the columns' order
    priced = _problem(pretrained, digits, fine_tune_epochs=(0, 2), fidelity_costs=(0.5, 3.0))
    assert priced.fidelity_costs.tolist() == [0.5, 3.0]
    continued = _problem(pretrained, digits, fine_tune_epochs=(1, 2, 4), continue_fidelities=True)
    target = Design(3, 0.5, fine_tune_epochs=4)
    assert continued.prefixes(target) == [target.prefix(2), target.prefix(1)]  # longest first
    design = Design(2, 0.5)
    parameters = sum(p.numel() for p in problem.network(design).parameters())
    assert problem.weights_mb(design) == pytest.approx(parameters * 4 / 2**20)


def test_settings_that_change_a_designs_network_or_objectives_change_its_identity(
    pretrained, digits, tmp_path, monkeypatch
):
    """A design cached under other training settings or data is another network (built
    again, never reused), and a journal of other settings is another study's."""
    import dataclasses

    import leanet.design

    cache = tmp_path / "designs"
    design = Design(2, 0.5)
    _problem(pretrained, digits, cache=cache).network(design)
    assert _problem(pretrained, digits, cache=cache).is_trained(design)
    other_train = dataclasses.replace(digits, train=digits.train.subset(torch.arange(500)))
    for other in (
        _problem(pretrained, digits, cache=cache, fine_tune_options={"lr": 1e-3}),
        _problem(pretrained, other_train, cache=cache),
    ):
        assert not other.is_trained(design)
    plain = _problem(pretrained, digits).fingerprint()
    for options in ({"fraction_step": 0.1}, {"fine_tune_epochs": 1}):
        assert _problem(pretrained, digits, **options).fingerprint() != plain, options
    latency = _problem(pretrained, digits, cost="latency").fingerprint()
    for options in ({"measure_inputs": 50}, {"measure_repeats": 5}):
        assert _problem(pretrained, digits, cost="latency", **options).fingerprint() != latency
    monkeypatch.setattr(leanet.design, "machine", lambda: {"cpu": "another"})
    assert _problem(pretrained, digits, cost="latency").fingerprint() != latency


def test_a_batch_of_several_designs_measures_each_as_alone(pretrained, digits):
    problem = _problem(pretrained, digits)
    X = torch.tensor(
        [
            [3.0, 0.5, 0.0, 0.0, 0.6, 0.3, 0.3],
            [3.0, 0.7, 0.0, 0.0, 0.6, 0.3, 0.3],  # the same level count, another width
            [3.0, 0.5, 0.0, 0.0, 0.2, 0.9, 0.3],
        ],
        dtype=torch.float64,
    )
    together = problem.evaluate(X)
    assert torch.equal(together, torch.cat([problem.evaluate(x[None]) for x in X]))
    assert not torch.equal(together[0], together[1])

    def two_values(design, metrics):
        return torch.zeros(2)

    short = _problem(pretrained, digits, constraints={"short": two_values})
    with pytest.raises(ValueError, match="constraint 'short' returned 2 values for 3"):
        short.evaluate(X[[0, 2, 0]])  # three threshold vectors of one design


def test_a_measured_cost_runs_over_at_most_the_validation_images(pretrained, digits):
    def constant(run):  # a meter reading the same for any run: every ratio is 1
        return 1.0

    problem = _problem(pretrained, digits, cost=constant, measure_inputs=10**6, measure_repeats=1)
    x = torch.tensor([[2.0, 0.5, 0.0, 0.0, 0.5, 0.5, 0.5]], dtype=torch.float64)
    assert float(problem.evaluate(x)[0, 1]) == -1.0
    assert len(problem.measured(problem.design_of(x)).inputs) == len(digits.val)


def test_an_evaluation_is_the_design_built_by_hand_and_each_design_builds_once(pretrained, digits):
    problem = _problem(pretrained, digits)
    x = torch.tensor([[3.0, 0.5, 0.0, 0.0, 0.6, 0.95, 0.3]], dtype=torch.float64)
    design, thresholds = problem.decode(x)[0]
    assert design == Design(num_levels=3, first_fraction=0.5)
    assert thresholds.tolist() == pytest.approx([0.6, 0.95])

    by_hand = design.build(pretrained, digits.train, head_epochs=1, seed=0)
    evaluator = ThresholdEvaluator.from_model(
        by_hand, digits.val, measure_costs(by_hand, latency=False)
    )
    expected = evaluator.evaluate(thresholds[None]).objectives()
    assert torch.allclose(problem.evaluate(x), expected)
    assert problem.built == [design.key]
    # measured over validation once: later points of the design cost milliseconds
    assert problem.evaluator(design) is problem.evaluator(design)

    # Other thresholds of the same design: no new build; a level-1-only vector exits all
    # inputs at level 1 at the energy of level 1.
    x2 = x.clone()
    x2[0, 4:] = 0.0
    y2 = problem.evaluate(x2)
    assert problem.built == [design.key]
    assert float(-y2[0, 1]) == pytest.approx(float(evaluator.exit_cost[0] / evaluator.full_cost))
    # The reference point: the pretrained network's validation accuracy minus the margin,
    # energy of the pretrained network.
    assert problem.ref_point.tolist() == pytest.approx([problem.full_accuracy - 0.05, -1.0])
    # The table names each point's design and says how finely validation measures accuracy.
    table = problem.front_table(torch.cat([x, x2])).splitlines()
    assert len(table) == 4 and all(design.key in row for row in table[1:3])
    assert table[3].startswith(f"validation: {len(digits.val)} inputs: one input is")
    # Thresholds as the demo's tables show them (sweepK): 0.99996 printed as 1, the same as
    # a level turned off, which exits no input there and costs otherwise.
    x3 = x.clone()
    x3[0, 4:6] = torch.tensor([0.99996, 1.0])
    assert problem.front_table(x3).splitlines()[1].endswith("T = (0.999960, off)")
    # On test, the same design (no new build), measured as by hand on the test split.
    on_test = ThresholdEvaluator.from_model(
        by_hand, digits.test, measure_costs(by_hand, latency=False)
    )
    tested = problem.test_evaluator(design)
    assert problem.built == [design.key] and tested.num_inputs == len(digits.test)
    assert torch.allclose(
        tested.evaluate(thresholds[None]).objectives(),
        on_test.evaluate(thresholds[None]).objectives(),
    )


def test_designs_that_differ_only_in_confidence_share_one_trained_network(
    pretrained, digits, tmp_path
):
    """Training never reads the confidence measure, so a design that differs from a trained
    one only in it is that network with another exit rule: nothing trained, nothing more
    charged (each was trained again before: the same weights bit for bit, at full price)."""
    from dataclasses import replace

    def fresh() -> DesignProblem:
        return _problem(pretrained, digits, cache=tmp_path / "designs")

    problem = fresh()
    x = torch.tensor([[3.0, 0.5, 0.0, 0.0, 0.6, 0.95, 0.3]], dtype=torch.float64)
    x_margin, x_entropy = x.clone(), x.clone()
    x_margin[0, 3], x_entropy[0, 3] = 1.0, 2.0
    first, margin, entropy = (problem.design_of(v) for v in (x, x_margin, x_entropy))
    assert (margin, entropy) == (
        replace(first, confidence="margin"),
        replace(first, confidence="entropy"),
    )
    assert not problem.is_trained(margin)
    problem.evaluate(x)
    assert problem.is_trained(margin) and problem.is_trained(entropy)
    y = problem.evaluate(torch.cat([x_margin, x_entropy]))
    assert problem.built == [first.key]
    assert problem.train_seconds[first.key] > 0
    assert problem.train_seconds[margin.key] == problem.train_seconds[entropy.key] == 0.0
    net = problem.network(margin)
    assert net.confidence == "margin" and problem.network(first).confidence == "max_softmax"
    assert same_weights(net, problem.network(first))
    # Evaluated as the margin design built by hand: its exits, not max_softmax's.
    by_hand = margin.build(pretrained, digits.train, head_epochs=1, seed=0)
    assert same_weights(net, by_hand)
    thresholds = problem.decode(x_margin)[0][1]
    costs = measure_costs(by_hand, latency=False)
    expected = ThresholdEvaluator.from_model(by_hand, digits.val, costs).evaluate(thresholds[None])
    assert torch.allclose(y[:1], expected.objectives())
    assert not torch.equal(
        problem.evaluator(margin).confidence, problem.evaluator(first).confidence
    )
    # The cache holds one network for the three. A new process: the first of them used is
    # charged what training cost, the others nothing.
    assert len(list((tmp_path / "designs").glob(f"*-s0-{'?' * 12}.pt"))) == 1
    again = fresh()
    again.evaluate(torch.cat([x_entropy, x]))
    assert again.built == []
    assert again.train_seconds == {entropy.key: problem.train_seconds[first.key], first.key: 0.0}


def test_constraints_journal_resume_and_cache_build_nothing_twice(pretrained, digits, tmp_path):
    floor = 0.2

    def accuracy_floor(design, metrics):
        return floor - metrics.accuracy

    def fresh() -> DesignProblem:
        return _problem(
            pretrained,
            digits,
            constraints={"accuracy floor": accuracy_floor, "levels": lambda d, m: d.num_levels - 3},
            cache=tmp_path / "designs",
        )

    problem = fresh()
    journal = tmp_path / "study.jsonl"
    first = mobo.optimize(problem, "sobol", n_evals=4, seed=1, journal=journal, show_progress=False)
    assert first.C is not None and first.C.shape == (4, 2)
    assert torch.allclose(first.C[:, 0], floor - first.Y[:, 0])
    levels = [problem.design_of(x).num_levels - 3 for x in first.X]  # one value per design
    assert first.C[:, 1].tolist() == levels
    built = set(problem.built)
    assert built and len(list((tmp_path / "designs").glob(f"*-s0-{'?' * 12}.pt"))) == len(built)

    # A new process: the same points, from the cache, with nothing trained.
    again = fresh()
    assert torch.allclose(again.evaluate(first.X)[:, :2], first.Y)
    assert again.built == []
    assert again.train_seconds == {k: problem.train_seconds[k] for k in again.train_seconds}
    assert set(again.train_seconds) == built
    resumed = mobo.optimize(again, "sobol", n_evals=6, seed=1, journal=journal, show_progress=False)
    assert resumed.n_evaluations == 6
    assert torch.equal(resumed.X[:4], first.X)


def test_fine_tune_epochs_as_the_fidelity(pretrained, digits):
    problem = _problem(pretrained, digits, fine_tune_epochs=(0, 1))
    assert problem.has_fidelities
    assert problem.fidelity_levels.tolist() == [0.0, 1.0]
    assert problem.fidelity_costs.tolist() == [1.0, 2.0]  # BUILD_EPOCHS + fine-tune epochs
    # head epochs cost little next to fine-tune epochs: they do not price the fidelities
    many_heads = DesignProblem(
        pretrained, digits, levels=(2, 4), head_epochs=20, fine_tune_epochs=(2, 10)
    )
    assert many_heads.fidelity_costs.tolist() == [3.0, 11.0]
    x = torch.tensor([[2.0, 0.5, 0.0, 0.0, 0.5, 0.5, 0.5, 0.0]], dtype=torch.float64)
    cheap = problem.design_of(x)
    x[0, -1] = 1.0
    target = problem.design_of(x)
    assert (cheap.fine_tune_epochs, target.fine_tune_epochs) == (0, 1)
    # The epochs column, last, is no threshold: searched linearly, not in the thresholds'
    # log space (mutation sweep s76: one threshold column too many warped it, and passed).
    assert problem.threshold_columns == slice(4, 7)
    half = x.clone()
    half[0, -1] = 0.5
    assert float(problem.to_unit(half)[0, -1]) == 0.5
    assert float(problem.from_unit(problem.to_unit(half))[0, -1]) == pytest.approx(0.5)
    assert float(problem.cost(x)) == 2.0  # the fidelity's cost, what a study journals
    y = problem.evaluate(torch.cat([x, x]))
    assert torch.isfinite(y).all()
    assert problem.built == [target.key]


def test_continued_fidelities_train_the_target_once_and_charge_the_rest(
    pretrained, digits, tmp_path
):
    def fresh(cache=tmp_path / "designs"):
        return _problem(
            pretrained, digits, fine_tune_epochs=(1, 3), continue_fidelities=True, cache=cache
        )

    problem = fresh()
    x = torch.tensor([[3.0, 0.5, 1.0, 0.0, 0.5, 0.5, 0.5, 1.0]], dtype=torch.float64)
    cheap = problem.design_of(x)
    assert cheap == Design(3, 0.5, 32, fine_tune_epochs=1, schedule_epochs=3)
    assert cheap.key.endswith("-ft1of3")
    x_target = x.clone()
    x_target[0, -1] = 3.0
    target = problem.design_of(x_target)
    assert target == Design(3, 0.5, 32, fine_tune_epochs=3) and cheap == target.prefix(1)

    problem.evaluate(x)
    cheap_net = copy.deepcopy(problem.network(cheap))
    problem.evaluate(x_target)
    assert problem.built == [cheap.key, target.key]
    # the target trained on from a copy: the cheap design's points still measure its network
    assert same_weights(problem.network(cheap), cheap_net)
    from_scratch = target.build(pretrained, digits.train, head_epochs=1, seed=0)
    assert same_weights(problem.network(target), from_scratch)  # continued, bit for bit
    shared = {k: problem.train_seconds[k] for k in (cheap.key, target.key)}
    # A new process over the cache: the continued target alone is charged what it cost from
    # the start; after its prefix, the remaining epochs only.
    alone = fresh()
    alone.evaluate(x_target)
    assert alone.built == [] and list(alone.train_seconds) == [target.key]
    assert alone.train_seconds[target.key] == pytest.approx(sum(shared.values()))
    both = fresh()
    both.evaluate(torch.cat([x, x_target]))
    assert both.train_seconds == pytest.approx(shared)
    # A prefix whose state file is damaged: warned, and the target trains from the start.
    x07, x07_target = x.clone(), x_target.clone()
    x07[0, 1] = x07_target[0, 1] = 0.7
    fresh().evaluate(x07)
    (state,) = (tmp_path / "designs").glob("*f0.7*-ft1of3-s0-*-state.pt")
    state.write_bytes(b"not a state")
    damaged = fresh()
    with pytest.warns(UserWarning, match="unreadable.*trains from the start"):
        damaged.evaluate(x07_target)
    design = damaged.design_of(x07_target)
    assert damaged.built == [design.key]
    assert same_weights(
        damaged.network(design), design.build(pretrained, digits.train, head_epochs=1, seed=0)
    )


def test_a_target_continues_the_cheap_run_of_another_confidence(pretrained, digits, tmp_path):
    """The cheap run of a design under another confidence measure trained the same weights:
    the target continues it, charged the remaining epochs, bit for bit as from scratch."""
    problem = _problem(
        pretrained, digits, fine_tune_epochs=(1, 3), continue_fidelities=True, cache=tmp_path
    )
    x = torch.tensor([[3.0, 0.5, 1.0, 0.0, 0.5, 0.5, 0.5, 1.0]], dtype=torch.float64)
    x_target = x.clone()
    x_target[0, 3], x_target[0, -1] = 1.0, 3.0  # margin, at the target's 3 epochs
    cheap, target = problem.design_of(x), problem.design_of(x_target)
    assert (cheap.confidence, target.confidence) == ("max_softmax", "margin")
    problem.evaluate(x)
    assert float(problem.current_cost(x_target)) == float(problem.cost(x_target) - problem.cost(x))
    problem.evaluate(x_target)
    assert problem.built == [cheap.key, target.key]
    from_scratch = target.build(pretrained, digits.train, head_epochs=1, seed=0)
    assert same_weights(problem.network(target), from_scratch)
    charged = problem.train_seconds
    assert charged[cheap.key] > 0 and charged[target.prefix(1).key] == 0.0
    assert problem._builder._meta[target.key]["continued_from"] == target.prefix(1).key


def test_current_cost_prices_what_is_left_to_train(pretrained, digits, tmp_path):
    problem = _problem(
        pretrained, digits, fine_tune_epochs=(1, 3), continue_fidelities=True, cache=tmp_path
    )
    x = torch.tensor([[3.0, 0.5, 1.0, 0.0, 0.5, 0.5, 0.5, 1.0]], dtype=torch.float64)
    x_target = x.clone()
    x_target[0, -1] = 3.0
    both = torch.cat([x, x_target])
    assert problem.current_cost(both).tolist() == [2.0, 4.0]  # BUILD_EPOCHS + epochs
    problem.evaluate(x)
    assert problem.current_cost(both).tolist() == [0.0, 2.0]  # trained; 2 epochs left
    # a new process reads the prefix and its state from the cache; without the state the
    # target trains from the start
    assert _problem(
        pretrained, digits, fine_tune_epochs=(1, 3), continue_fidelities=True, cache=tmp_path
    ).current_cost(both).tolist() == [0.0, 2.0]
    for state in tmp_path.glob("*-state.pt"):
        state.unlink()
    assert _problem(
        pretrained, digits, fine_tune_epochs=(1, 3), continue_fidelities=True, cache=tmp_path
    ).current_cost(both).tolist() == [0.0, 4.0]
    problem.evaluate(x_target)
    assert problem.current_cost(both).tolist() == [0.0, 0.0]
    # without continuation a cheap run saves nothing
    fresh = _problem(pretrained, digits, fine_tune_epochs=(1, 3), cache=tmp_path / "fresh")
    fresh.evaluate(x)
    assert fresh.current_cost(both).tolist() == [0.0, 4.0]


def test_a_continued_study_is_another_problem_for_its_journal(pretrained, digits):
    # its cheap evaluations are other designs (the start of a longer run)
    plain = _problem(pretrained, digits, fine_tune_epochs=(1, 3))
    continued = _problem(pretrained, digits, fine_tune_epochs=(1, 3), continue_fidelities=True)
    assert plain.fingerprint() != continued.fingerprint()
    assert (
        plain.fingerprint() == _problem(pretrained, digits, fine_tune_epochs=(1, 3)).fingerprint()
    )


def test_continued_fidelities_need_fidelities(pretrained, digits):
    with pytest.raises(ValueError, match="continue_fidelities needs fine_tune_epochs"):
        _problem(pretrained, digits, fine_tune_epochs=3, continue_fidelities=True)
    with pytest.raises(ValueError, match="a prefix takes 0 < epochs < fine_tune_epochs"):
        Design(3, 0.5, fine_tune_epochs=3).prefix(3)
    with pytest.raises(ValueError, match="schedule_epochs must be 0 or above"):
        Design(3, 0.5, fine_tune_epochs=3, schedule_epochs=2)


def _one_design_problem(pretrained, digits, tmp_path, **options) -> DesignProblem:
    """A search space of one design: every point after the first is an old (cached) design."""
    return DesignProblem(
        pretrained,
        digits,
        levels=(3, 3),
        first_fraction=(0.5, 0.5),
        head_hidden=(0,),
        confidences=("max_softmax",),
        head_epochs=1,
        fine_tune_epochs=0,
        cache=tmp_path / "designs",
        **options,
    )


def test_dense_fronts_tell_each_design_its_front_once_across_a_resume(pretrained, digits, tmp_path):
    from leanet.dense_fronts import DenseFronts

    def run(n_evals: int) -> tuple[DesignProblem, mobo.Result]:
        problem = _one_design_problem(pretrained, digits, tmp_path)
        result = mobo.optimize(
            problem,
            "sobol",
            n_evals=n_evals,
            seed=0,
            journal=tmp_path / "study.jsonl",
            show_progress=False,
            callbacks=[DenseFronts(2, n_samples=300)],
        )
        return problem, result

    def dense_rows(problem, result) -> dict[str, int]:
        """Per design: how many of the study's points are its told dense-front points."""
        counts = {}
        for x in result.X:
            design = problem.design_of(x)
            dense = DenseFronts(2, n_samples=300).inputs(problem, design, x)
            counts[design.key] = counts.get(design.key, 0) + int(
                any(torch.equal(x, row) for row in dense)
            )
        return counts

    problem, first = run(2)
    assert first.n_evaluations == 2  # one proposal and one dense point: they count, and
    assert list(dense_rows(problem, first).values()) == [1]  # never pass the budget
    problem, resumed = run(4)  # a new process resumes: the missing point first, then on
    assert resumed.n_evaluations == 4
    assert list(dense_rows(problem, resumed).values()) == [2]  # each told once
    with pytest.raises(ValueError, match="k must be a positive int"):
        DenseFronts(0)


def test_dense_fronts_told_as_extras_leave_the_initial_design_to_designs(
    pretrained, digits, tmp_path
):
    from leanet.dense_fronts import DenseFronts

    def study(callbacks) -> mobo.Study:
        problem = _one_design_problem(pretrained, digits, tmp_path)
        with mobo.Study(problem, "sobol", seed=0) as run:
            run.optimize(4, show_progress=False, callbacks=callbacks)
        return run

    plain = study([])
    dense = study([DenseFronts(2, n_samples=300, extra=True)])
    assert [e.extra for e in dense.evaluations] == [False, True, True, False]
    assert dense.evaluations[3].x == plain.evaluations[1].x  # the Sobol design's 2nd point


def test_the_cache_and_the_journal_belong_to_one_base_and_one_set_of_settings(
    pretrained, digits, tmp_path
):
    """A cached design built from another base network or other settings is built again
    (it was reused, so a search ran another network) beside it, not over it (searches of
    other head epochs sharing a folder each trained every design again), a damaged one is
    built again, and a journal of another design problem is refused."""
    import copy
    import shutil

    cache = tmp_path / "designs"
    design = Design(num_levels=2, first_fraction=0.5)
    problem = _problem(pretrained, digits, cache=cache)
    problem.network(design)
    other = copy.deepcopy(pretrained)
    with torch.no_grad():
        next(other.parameters()).add_(0.1)
    for changed in (
        _problem(other, digits, cache=cache),
        _problem(pretrained, digits, cache=cache, head_epochs=2),
    ):
        # Another search's file is not this one's trained design: it was priced at 0 (then
        # trained anyway), so a cost budget paid nothing for it.
        assert not changed.is_trained(design)
        changed.network(design)
        assert changed.built == [design.key] and changed.is_trained(design)
    resumed = _problem(pretrained, digits, cache=cache)  # the first search, resumed
    assert resumed.is_trained(design)
    resumed.network(design)
    assert resumed.built == []
    # A file from before sources were named: reused if of this source, else built again
    # beside it (warned), never overwritten.
    path = problem._store.path(design.key)
    legacy = tmp_path / "old" / f"{design.key}-s0.pt"
    legacy.parent.mkdir()
    shutil.copy(path, legacy)
    old = _problem(pretrained, digits, cache=legacy.parent)
    old.network(design)
    assert old.built == []
    with pytest.warns(UserWarning, match="built from another base network"):
        _problem(pretrained, digits, cache=legacy.parent, head_epochs=2).network(design)
    assert legacy.read_bytes() == path.read_bytes()
    path.write_bytes(path.read_bytes()[:100])
    again = _problem(pretrained, digits, cache=cache)
    with pytest.warns(UserWarning, match="is damaged"):
        again.network(design)
    assert again.built == [design.key]
    journal = tmp_path / "study.jsonl"
    mobo.optimize(problem, "random", n_evals=2, journal=journal, show_progress=False)
    with pytest.raises(mobo.JournalError, match="fingerprint"):
        mobo.optimize(
            _problem(pretrained, digits, cache=cache, head_epochs=2),
            "random",
            n_evals=3,
            journal=journal,
            show_progress=False,
        )
    # Another validation split (two held-out draws): the journal resumed and mixed them.
    from leanet.data import hold_out

    first, other = (_problem(pretrained, hold_out(digits, 30, seed=s)[0]) for s in (0, 1))
    assert first.fingerprint() != other.fingerprint()


def test_a_cached_design_that_recorded_no_source_is_built_again_with_one_warning(
    pretrained, digits, tmp_path
):
    """A design kept before designs recorded their source cannot be checked against this
    base and these settings: it was reused by any search (one of 3 head epochs read the
    energies of 1-epoch heads), so it is built again beside the old file, warned once."""
    from leanet.checkpoints import load_leanet, save_leanet

    design = Design(num_levels=2, first_fraction=0.5)
    problem = _problem(pretrained, digits, cache=tmp_path / "new")
    problem.network(design)
    net, meta = load_leanet(problem._store.path(design.key))
    del meta["source"]  # what leanet wrote before sources were recorded
    legacy = tmp_path / "old" / f"{design.key}-s0.pt"
    legacy.parent.mkdir()
    save_leanet(legacy, net, meta=meta)
    before = legacy.read_bytes()
    other = Design(num_levels=2, first_fraction=0.7)
    save_leanet(legacy.with_name(f"{other.key}-s0.pt"), net, meta=meta)
    changed = _problem(pretrained, digits, cache=legacy.parent, head_epochs=2)
    with pytest.warns(UserWarning, match="recorded no source") as caught:
        assert not changed.is_trained(design)
        changed.network(design)
        changed.network(other)
    assert sum("recorded no source" in str(w.message) for w in caught) == 1
    assert str(legacy.parent) in str(caught[0].message)
    assert changed.built == [design.key, other.key]
    assert legacy.read_bytes() == before
    # Built again under this source's name, it is reused from then on.
    resumed = _problem(pretrained, digits, cache=legacy.parent, head_epochs=2)
    resumed.network(design)
    assert resumed.built == []


def test_a_cache_that_cannot_be_written_keeps_the_design_and_fails_no_point(
    pretrained, digits, tmp_path, monkeypatch
):
    """On a full disk the design trained, then torch.save failed: the network was thrown
    away and the evaluation journaled as a failed point (3 of a budget of 6 in the repro)."""
    import errno

    import leanet.checkpoints

    def full(obj, path):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(leanet.checkpoints, "atomic_save", full)
    problem = _one_design_problem(pretrained, digits, tmp_path)
    with pytest.warns(UserWarning, match="designs' cannot be written .No space") as w:
        result = mobo.optimize(
            problem, "sobol", n_evals=3, journal=tmp_path / "study.jsonl", show_progress=False
        )
    (unwritable,) = [str(m.message) for m in w if "cannot be written" in str(m.message)]
    assert "kept in memory" in unwritable
    assert torch.isfinite(result.Y).all() and result.Y.shape == (3, 2)
    assert not any(
        e.failed
        for e in mobo.Study.load(tmp_path / "study.jsonl", problem, read_only=True).evaluations
    )
    assert len(problem.built) == 1  # trained once, then taken from memory
    assert not (tmp_path / "designs").exists() or not any((tmp_path / "designs").iterdir())


def test_a_journal_made_under_another_constraint_is_refused(pretrained, digits, tmp_path):
    """A design journal made with an accuracy floor of full - 0.5 resumed under full + 0.1
    (infeasible everywhere) kept the old constraint values, so the result reported a
    feasible front the current floor rejects; the threshold problem refuses such a journal."""

    def floored(drop: float) -> DesignProblem:
        floor = {"accuracy floor": lambda d, m: problem.full_accuracy - drop - m.accuracy}
        problem = _one_design_problem(pretrained, digits, tmp_path, constraints=floor)
        return problem

    journal = tmp_path / "study.jsonl"
    loose = floored(0.5)
    mobo.optimize(loose, "sobol", n_evals=1, journal=journal, show_progress=False)
    assert floored(0.5).fingerprint() == loose.fingerprint()  # the same floor resumes
    with pytest.raises(mobo.JournalMismatchError, match="fingerprint"):
        mobo.optimize(floored(-0.1), "sobol", n_evals=2, journal=journal, show_progress=False)
    assert _one_design_problem(pretrained, digits, tmp_path).fingerprint() != loose.fingerprint()


def test_constraint_digests_tell_code_and_closed_over_values_apart():
    from mobo.digest import callable_digest

    def floor_of(floor):
        return lambda d, m: floor - m.accuracy

    assert callable_digest(floor_of(0.2)) == callable_digest(floor_of(0.2))
    assert callable_digest(floor_of(0.2)) != callable_digest(floor_of(0.3))
    assert callable_digest(lambda d, m: 0.2 - m.accuracy) != callable_digest(
        lambda d, m: m.accuracy - 0.2
    )
    global _FLOOR
    _FLOOR = 0.2
    first = callable_digest(lambda d, m: _FLOOR - m.accuracy)
    _FLOOR = 0.3
    assert callable_digest(lambda d, m: _FLOOR - m.accuracy) != first


class _Floor:
    def __init__(self, floor):
        self.floor = floor

    def __call__(self, design, metrics):
        return self.floor - metrics.accuracy


def test_constraint_digests_see_defaults_arrays_and_callable_objects_and_are_stable():
    """Default arguments, numpy values and callable objects counted by type only, so floors
    0.5 and 0.99 gave one fingerprint; a set literal's digest followed the hash seed, and an
    attribute name (m.accuracy) read a notebook variable of that name as a global."""
    import subprocess
    import sys

    from mobo.digest import callable_digest

    def default(f):
        return lambda d, m, f=f: f - m.accuracy

    def of_array(f):
        return lambda d, m: f[0] - m.accuracy

    for make_constraint in (default, of_array, _Floor):
        one = make_constraint(np.array([0.5]) if make_constraint is of_array else 0.5)
        other = make_constraint(np.array([0.99]) if make_constraint is of_array else 0.99)
        assert callable_digest(one) != callable_digest(other), make_constraint
    looped = [1]
    looped.append(looped)
    assert callable_digest(lambda d, m: looped[0])  # a list that holds itself
    global accuracy
    before = callable_digest(lambda d, m: 0.5 - m.accuracy)
    accuracy = 0.7
    assert callable_digest(lambda d, m: 0.5 - m.accuracy) == before
    del accuracy
    code = (
        "from mobo.digest import callable_digest; "
        "print(callable_digest(lambda d, m: d.confidence in {'entropy', 'margin', 'x'}))"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(digests) == 1


def test_saved_artifacts_name_their_design_data_set_and_split(pretrained, digits, tmp_path):
    from leanet.artifact import load_artifact
    from leanet.machine import trained_with

    problem = _problem(pretrained, digits)
    x = torch.tensor([[2.0, 0.5, 0.0, 0.0, 0.5, 0.5, 0.5]], dtype=torch.float64)
    (path,) = problem.save_artifacts(x, tmp_path)
    meta = load_artifact(path).meta
    assert meta["design"]["num_levels"] == 2
    assert (meta["dataset"], meta["split_seed"]) == (digits.name, digits.seed)  # as report reads
    assert meta["full_val_accuracy"] == problem.full_accuracy
    assert meta["full_test_accuracy"] == leanet.evaluate(pretrained, digits.test)
    assert meta["trained_with"] == trained_with()  # where the design was trained: here
    assert load_artifact(path).input_normalization == digits.train.normalization


def test_artifacts_hold_every_point_of_their_design_and_what_it_was_measured_on(
    pretrained, tmp_path
):
    """One file per design, named by its key (two designs of one level count are two
    files), holding its points, the all-ones fallback, the seed, the split, the user's meta
    and, with held-out images, the pretrained network's figures on those images."""
    from leanet.artifact import load_artifact
    from leanet.data import hold_out, load_dataset

    data, held = hold_out(load_dataset("digits8x8", seed=1), 60, seed=3)
    problem = _problem(pretrained, data, seed=2)
    X = torch.tensor(
        [
            [3.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.3],  # every input exits at level 1
            [3.0, 0.5, 0.0, 0.0, 0.5, 0.15, 0.3],
            [3.0, 0.7, 0.0, 0.0, 0.5, 0.5, 0.3],
        ],
        dtype=torch.float64,
    )
    paths = problem.save_artifacts(X, tmp_path, meta={"run": "nightly"}, selection=held)
    designs = [problem.design_of(X[0]), problem.design_of(X[2])]
    assert [p.name for p in paths] == [f"{d.key}.artifact.pt" for d in designs]
    first = load_artifact(paths[0])
    stored = first.front.thresholds
    assert stored.shape == (3, 2)  # both points (neither dominates the other) and 1.0, 1.0
    assert stored[0].tolist() == [0.0, 0.0] and stored[-1].tolist() == [1.0, 1.0]
    meta = first.meta
    assert (meta["seed"], meta["split_seed"], meta["run"]) == (2, 1, "nightly")
    assert len(meta["full_val_correct"]) == len(held)
    assert meta["full_val_accuracy"] == leanet.evaluate(pretrained, held)
    assert meta["full_val_accuracy"] != problem.full_accuracy  # not the search's images
    on_held = problem.evaluator_on(designs[0], held).evaluate(stored)  # the table's images too
    assert torch.equal(first.front.accuracy.double(), on_held.accuracy.double())


def test_artifacts_deploy_thresholds_that_decide_as_the_searched_ones_on_every_image_seen(
    pretrained, digits, tmp_path
):
    """Artifact thresholds were moved into the gaps of the held-out images' confidences
    only, so they decided otherwise on the search's own images and on test (a searched
    point at validation energy 0.929 deployed at 0.970), and the closing table measured the
    unmoved ones (test energy 0.715 there, 0.711 in leanet report)."""
    from leanet.artifact import load_artifact
    from leanet.cli_design import savings_on_test
    from leanet.data import hold_out
    from leanet.evaluator import exit_levels

    data, held = hold_out(digits, 60)
    problem = _problem(pretrained, data)
    # A second threshold among its level's confidences, so that inputs exit early and the
    # point is cheaper than the full network, which the closing table keeps otherwise (at
    # 0.5 none exited early: energy ratio 1.43).
    x = torch.tensor([[3.0, 0.5, 0.0, 0.0, 0.5, 0.15, 0.5]], dtype=torch.float64)
    design, searched = problem.decode(x)[0]
    search, chosen = problem.evaluator(design), problem.evaluator_on(design, held)
    grid = torch.linspace(0.05, 0.95, 19, dtype=torch.float64)
    T = torch.stack([grid, grid.flip(0)], dim=-1)  # thresholds anywhere, as a front's are
    deployed = problem.deployed(design, T, chosen)
    for evaluator in (search, chosen):
        assert torch.equal(
            exit_levels(evaluator.confidence, deployed), exit_levels(evaluator.confidence, T)
        )
    (path,) = problem.save_artifacts(x, tmp_path, selection=held)
    stored = load_artifact(path).front.thresholds
    expected = problem.deployed(design, torch.cat([searched[None], torch.ones(1, 2)]), chosen)
    assert all((expected == row).all(dim=-1).any() for row in stored)  # what it priced
    table = savings_on_test(problem, x, losses=(0.5,), choose_on=held)
    on_test = problem.test_evaluator(design).evaluate(expected[:1])  # the deployed point
    row = table.splitlines()[2].split()
    assert row[1:3] == [
        f"{float(on_test.accuracy[0]):.4f}",
        f"{float(on_test.energy_ratio[0]):.3f}",
    ]


@pytest.mark.parametrize(
    "options, message",
    [
        ({"levels": (2.7, 3.9)}, "levels must be a \\(min, max\\) pair of ints"),
        ({"head_epochs": -3}, "head_epochs must be an int >= 0"),
        ({"accuracy_margin": -2}, "accuracy_margin must be in \\[0, 1\\)"),
        ({"log_decades": 0}, "log_decades must be in \\(0, 12\\]"),
        ({"measure_repeats": 2.5}, "measure_repeats must be an int >= 1"),
        ({"seed": "0"}, "seed must be an int >= 0"),
        ({"fine_tune_epochs": (0, 2), "fidelity_costs": (5, 1)}, "fidelity_costs must ascend"),
        ({"platform": "nope"}, "unknown platform 'nope'"),
        # A study recipe's weights to choose among: every design would fail in fine_tune.
        (
            {"fine_tune_options": {"distill": (1.0, 0.0)}},
            r"fine_tune_options: distill must be a number >= 0, got \(1.0, 0.0\) \(one value",
        ),
        ({"fine_tune_options": {"lr": -1}}, "fine_tune_options: lr must be a number >= 0, got -1"),
        # each would fail only when a design of it is built, or searched a space not asked
        ({"first_fraction": (0.5, 1.0)}, r"first_fraction must be \(min, max\) with 0 < min"),
        ({"first_fraction": (0.6, 0.4)}, r"first_fraction must be \(min, max\) with 0 < min"),
        ({"fraction_step": 1.5}, r"fraction_step must be in \(0, 1\]"),
        # not numbers: "0.1" failed comparing, unnamed; True was a step of 1.0
        ({"fraction_step": "0.1"}, r"fraction_step must be in \(0, 1\], got '0.1'"),
        ({"fraction_step": True}, r"fraction_step must be in \(0, 1\], got True"),
        # no costs at all: the default costs were used, unsaid
        ({"fine_tune_epochs": (0, 2), "fidelity_costs": []}, "fidelity_costs must give one"),
        ({"confidences": "margin"}, "confidences must be a non-empty sequence, got 'margin'"),
        ({"head_hidden": (0, True)}, r"head_hidden: invalid value\(s\) \[True\]"),
        ({"head_hidden": (0, -1)}, r"head_hidden: invalid value\(s\) \[-1\]"),
        ({"fine_tune_epochs": -1}, r"fine_tune_epochs: invalid value\(s\) \[-1\]"),
        ({"fine_tune_epochs": (1, 1, 3)}, "fine_tune_epochs must ascend strictly"),
        ({"fine_tune_epochs": (0, 2), "fidelity_costs": (1, 1)}, "fidelity_costs must ascend"),
        ({"measure_inputs": 0}, "measure_inputs must be an int >= 1"),
        ({"accuracy_margin": 1.0}, r"accuracy_margin must be in \[0, 1\)"),
        ({"log_decades": 13}, r"log_decades must be in \(0, 12\]"),
        ({"cost": "joules"}, "cost must be 'energy', 'latency' or a meter callable"),
    ],
)
def test_settings_that_would_fail_or_mislead_later_are_refused_at_once(
    pretrained, digits, options, message
):
    with pytest.raises(ValueError, match=message):
        _problem(pretrained, digits, **options)
    with pytest.raises(TypeError, match="fine_tune_options: leanet.fine_tune takes no"):
        _problem(pretrained, digits, fine_tune_options={"bogus": 1})


def test_a_constraint_that_is_not_callable_or_a_cache_that_is_a_file_is_refused(
    pretrained, digits, tmp_path
):
    with pytest.raises(TypeError, match=r"constraints\['floor'\] must be a callable"):
        _problem(pretrained, digits, constraints={"floor": 0.9})
    file = tmp_path / "designs"
    file.write_text("")
    with pytest.raises(ValueError, match="is a file; give a folder"):
        _problem(pretrained, digits, cache=file)


def test_a_base_whose_designs_a_cache_cannot_hold_is_refused_before_training(digits, tmp_path):
    # A cache file keeps a design's config and weights: a base changed after it was built
    # (here ReLU6 for ReLU) saved nothing, and the search found out after training a design.
    base = tiny_base("convnet")
    relu = next(i for i, m in enumerate(base.features) if isinstance(m, torch.nn.ReLU))
    base.features[relu] = torch.nn.ReLU6()
    with pytest.raises(ValueError, match=r"cannot save this LEANet.*cache=None"):
        DesignProblem(base, digits, cache=tmp_path / "designs")


def test_a_base_whose_designs_cannot_be_saved_warns_before_a_search_without_cache(
    pretrained, digits
):
    # The README's design search over its own network ('mynet'), with cache=None as the
    # cache's refusal advises, trained every design and only then failed in save_artifacts.
    own = leanet.zoo.BaseNet(
        pretrained.features, pretrained.classifier, {**pretrained.config, "arch": "mynet"}
    )
    with pytest.warns(
        UserWarning, match=r"save_artifacts will refuse.*unknown architecture 'mynet'"
    ):
        DesignProblem(own, digits, cache=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        DesignProblem(pretrained, digits, cache=None)  # a zoo base saves: no warning


def test_the_schedule_and_the_fraction_grid_of_the_coding():
    """Only a prefix (0 < epochs < the most) continues to the target's schedule: a design
    without fine-tuning has none (mutation sweep s76: ``0 <= epochs`` passed). A range off
    the grid keeps the fraction on the grid inside it (rounding the low end down passed)."""
    from types import SimpleNamespace

    from leanet.design_coding import DesignCoding

    coding = SimpleNamespace(continue_fidelities=True, epochs=(0, 1, 3))
    assert [DesignCoding._schedule(coding, e) for e in (0, 1, 3)] == [0, 3, 0]
    grid = SimpleNamespace(fraction_range=(0.27, 0.58), fraction_step=0.05)
    assert [DesignCoding._fraction(grid, v) for v in (0.27, 0.4, 0.58)] == [0.3, 0.4, 0.55]


def test_a_decoded_design_drops_levels_its_base_is_too_narrow_for(digits):
    """4 levels from 0.5 of a 4-channel network round to 2, 3, 3, 4 channels: decoding
    fits the design to 3 levels (mutation sweep s76: skipping ``fitted_to`` passed, as the
    tests' bases are wide enough for every design)."""
    features = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU())
    config = {"arch": "custom", "num_classes": 10, "in_channels": 1, "input_size": 8}
    base = BaseNet(features, torch.nn.Linear(4, 10), config)
    with pytest.warns(UserWarning, match="save_artifacts will refuse"):  # a custom base
        problem = DesignProblem(base, digits, levels=(2, 4), fine_tune_epochs=0)
    row = torch.tensor([4.0, 0.5, 0.0, 0.0, 0.2, 0.4, 0.6], dtype=torch.float64)
    design, thresholds = problem.decode(row)[0]
    assert (design.num_levels, design.fractions) == (3, (0.5, 0.75, 1.0))
    assert thresholds.tolist() == [0.2, 0.4]
    # 5 levels round to 2, 2, 3, 4, 4 channels and 4 levels still repeat one: levels drop
    # until none repeats, not just once.
    assert Design(5, 0.5).fitted_to(base) == Design(3, 0.5)


def test_a_kept_fine_tuning_state_continues_only_a_search_of_its_source(tmp_path):
    """A prefix design's fine-tuning state is continued only by a search of the same base,
    data and settings; a file from before sources were named, of another source, of an
    earlier optimizer layout, or unreadable as a state is not continued (a warning names an
    unreadable or earlier one)."""
    import shutil

    from leanet.design_cache import DesignCache
    from leanet.train_loop import TrainState

    state = TrainState(2, {}, {}, torch.zeros(4, dtype=torch.uint8), {"epochs": 4})
    mine = DesignCache(tmp_path / "new", seed=0, source="a" * 32)
    mine.save_state("k", state)
    back = mine.load_state("k")
    assert back.epoch == 2 and back.settings == {"epochs": 4}
    legacy = tmp_path / "old"  # an older leanet's name, without the source
    legacy.mkdir()
    shutil.copy(mine.path("k", "state"), legacy / "k-s0-state.pt")
    assert DesignCache(legacy, 0, "a" * 32).load_state("k").epoch == 2
    assert DesignCache(legacy, 0, "b" * 32).load_state("k") is None
    # Kept before a hybrid's top head shared the base's classifier: its optimizer held the
    # base's copy too, and resuming it stopped the search (num_params differ).
    kept = torch.load(mine.path("k", "state"), weights_only=False)
    torch.save({k: v for k, v in kept.items() if k != "layout"}, mine.path("k", "state"))
    with pytest.warns(UserWarning, match="kept by an earlier leanet.*trains from the start"):
        assert mine.load_state("k") is None
    torch.save({"source": "a" * 32, "epoch": 2}, mine.path("k", "state"))  # no optimizer
    with pytest.warns(UserWarning, match="is unreadable .* trains from the start"):
        assert mine.load_state("k") is None
    torch.save(["not", "a", "state"], mine.path("k", "state"))
    with pytest.warns(UserWarning, match="is unreadable"):
        assert mine.load_state("k") is None
