"""The ``ax`` algorithm and the study <-> Ax experiment bridge."""

from __future__ import annotations

import json

import pytest
import torch

import mobo
from tests.mobo.algorithms._contract import assert_algorithm_contract

pytest.importorskip("ax")

from mobo.ax_bridge import from_ax, to_ax  # noqa: E402


def _tradeoff(X):
    """Like a LEANet threshold problem: accuracy up, energy ratio (a cost) up, with x."""
    accuracy = 0.9 + 0.1 * X[:, 0] - 0.02 * X[:, 1] ** 2
    energy_ratio = 0.2 + 0.8 * X[:, 0] ** 2 + 0.1 * X[:, 1]
    Y = torch.stack([accuracy, -energy_ratio], dim=-1)
    Y[X[:, 1] > 0.85] = float("nan")  # some evaluations fail
    return Y


@pytest.fixture
def tradeoff():
    return mobo.FunctionProblem(
        _tradeoff,
        [[0.0, 0.0], [1.0, 1.0]],
        2,
        [0.85, -1.15],
        objective_names=["accuracy", "energy ratio"],
        senses=["max", "min"],
        name="tradeoff",
    )


def test_the_ax_algorithm_runs_a_journaled_study(tmp_path, tradeoff):
    path = tmp_path / "ax.jsonl"
    result = mobo.optimize(
        tradeoff, "ax", n_evals=7, n_initial=5, seed=0, journal=path, show_progress=False
    )
    assert result.algorithm == "ax" and result.n_evaluations == 7
    assert torch.all(result.X >= 0) and torch.all(result.X <= 1)
    design = mobo.make_algorithm("sobol", tradeoff).ask(
        7, torch.empty(0, 2), torch.empty(0, 2), seed=0
    )
    torch.testing.assert_close(result.X[:5], design[:5], rtol=0, atol=0)  # mobo's design
    assert not torch.allclose(result.X[5:], design[5:])  # then Ax's model
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0]["algorithm"] == "ax" and sum(r["type"] == "eval" for r in lines) == 7
    assert mobo.Study.load(path, tradeoff).n_evaluated == 7


def test_the_ax_algorithm_keeps_the_algorithm_contract(branin_currin):
    generator = torch.Generator().manual_seed(0)
    X = branin_currin.from_unit(torch.rand(6, 2, dtype=torch.float64, generator=generator))
    assert_algorithm_contract("ax", branin_currin, X, branin_currin.evaluate(X), q=2)


def test_the_ax_algorithm_proposes_on_a_problem_with_fidelities_as_without_them(tradeoff):
    """Ax models every parameter it is given; the fidelity input, constant at the target
    in the data it sees, made it wander along that input (BraninCurrin with a fidelity
    input fell from 56.6 to 44.2 in 30 evaluations)."""

    def with_fidelity(X):
        return _tradeoff(X[:, :2]) - 0.05 * (1 - X[:, 2:3])

    problem = mobo.FunctionProblem(
        with_fidelity,
        [[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]],
        2,
        tradeoff.ref_point.tolist(),
        objective_names=tradeoff.objective_names,
        senses=tradeoff.senses,
        name="tradeoff+fidelity",
        fidelity_levels=[0.5, 1.0],
        fidelity_costs=[0.2, 1.0],
    )
    X = torch.rand(6, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 0.8
    Y = tradeoff.evaluate(X)
    cheap = torch.cat([X[:2], torch.full((2, 1), 0.5, dtype=torch.float64)], dim=1)  # not seen
    at_target = torch.cat([X, torch.ones(6, 1, dtype=torch.float64)], dim=1)
    expected = mobo.make_algorithm("ax", tradeoff, n_initial=2).ask(2, X, Y, seed=3, n_evaluated=8)
    got = mobo.make_algorithm("ax", problem, n_initial=2).ask(
        2, torch.cat([at_target, cheap]), torch.cat([Y, Y[:2] - 0.05]), seed=3, n_evaluated=8
    )
    torch.testing.assert_close(got[:, :2], expected)
    assert (got[:, 2] == 1.0).all()


def test_a_study_round_trips_through_an_ax_experiment(tmp_path, tradeoff):
    study = mobo.Study(tradeoff, "sobol", seed=1)
    study.optimize(12, batch_size=3, show_progress=False)
    assert any(e.failed for e in study.evaluations)

    client = to_ax(study)
    experiment = client._experiment
    assert list(experiment.search_space.parameters) == ["x0", "x1"]
    assert experiment.search_space.parameters["x1"].upper == 1.0
    config = experiment.optimization_config
    assert str(config.objective.expression) == "accuracy, -energy_ratio"
    thresholds = {t.metric_names[0]: (t.op.name, t.bound) for t in config.objective_thresholds}
    assert thresholds == {"accuracy": ("GEQ", 0.85), "energy_ratio": ("LEQ", 1.15)}
    statuses = [experiment.trials[i].status.name for i in range(12)]
    assert statuses == ["FAILED" if e.failed else "COMPLETED" for e in study.evaluations]
    data = experiment.lookup_data().df
    first = data[data["trial_index"] == 0].set_index("metric_name")["mean"]
    assert first["energy_ratio"] == -study.evaluations[0].y[1]  # natural sign in Ax

    back = from_ax(client, tradeoff, "qlognehvi", seed=1, journal=tmp_path / "back.jsonl")
    assert [(e.x, e.y, e.error) for e in back.evaluations] == [
        (e.x, e.y, e.error) for e in study.evaluations
    ]
    torch.testing.assert_close(back.result().hypervolume, study.result().hypervolume)
    assert mobo.Study.load(tmp_path / "back.jsonl", tradeoff, read_only=True).n_evaluated == 12

    # Through Ax's own JSON snapshot too (Ax stores metric values to about 1e-10).
    from ax.api.client import Client

    client.save_to_json_file(str(tmp_path / "ax.json"))
    loaded = from_ax(Client.load_from_json_file(str(tmp_path / "ax.json")), tradeoff, "sobol")
    result, original = loaded.result(), study.result()
    torch.testing.assert_close(result.X, original.X, rtol=0, atol=0)
    torch.testing.assert_close(result.Y, original.Y, rtol=0, atol=1e-9, equal_nan=True)
    assert torch.equal(result.failed, original.failed)

    # A Result exports the same trials (without error messages).
    from_result = from_ax(to_ax(study.result()), tradeoff, "sobol")
    assert [e.y for e in from_result.evaluations] == [e.y for e in study.evaluations]


def _with_fidelity(X):
    return torch.stack([X[:, 0] + 0.5 * (1 - X[:, 2]), 1 - X[:, 0] + 0.1 * X[:, 1]], dim=-1)


def test_a_fidelity_input_is_exported_as_its_levels_and_a_bad_import_leaves_no_journal(
    tmp_path,
):
    """The fidelity was a float range over its whole bound: Ax proposed fidelities that are
    no level (0.936, 0.0), and from_ax failed on one after it had journaled 6 evaluations,
    so a retry met FileExistsError. Now Ax gets the levels only, and from_ax checks every
    trial before it creates a journal."""
    bounds = [[0, 0, 0], [1, 1, 1]]
    levels = dict(fidelity_levels=[0.5, 1.0], fidelity_costs=[0.1, 1.0])
    problem = mobo.FunctionProblem(_with_fidelity, bounds, 2, [0.0, 0.0], name="fid", **levels)
    study = mobo.Study(problem, "sobol", seed=0)
    study.optimize(3, show_progress=False)
    cheap = torch.tensor([[0.5, 0.5, 0.5]], dtype=torch.float64)
    study.tell(cheap, problem.evaluate(cheap))
    fidelity = to_ax(study)._experiment.search_space.parameters["x2"]
    assert fidelity.values == [0.5, 1.0] and fidelity.is_ordered
    assert from_ax(to_ax(study), problem, "sobol").X.tolist() == study.X.tolist()
    # An experiment whose x2 took any value: its trial at 0.7 is no level of the problem.
    free = mobo.FunctionProblem(_with_fidelity, bounds, 2, [0.0, 0.0], name="fid")
    client = to_ax(mobo.Study(free, "sobol", seed=0).optimize(3, show_progress=False))
    mobo.ax_bridge.attach_evaluation(client, free, [0.2, 0.2, 0.7], [0.3, 0.8])
    path = tmp_path / "back.jsonl"
    with pytest.raises(ValueError, match="not one of the problem's levels"):
        from_ax(client, problem, "sobol", journal=path)
    assert not path.exists()


def test_importing_an_experiment_of_another_problem_is_refused(branin_currin, tradeoff):
    study = mobo.Study(branin_currin, "random")
    study.optimize(2, show_progress=False)
    with pytest.raises(ValueError, match=r"has no \['accuracy', 'energy_ratio'\]"):
        from_ax(to_ax(study), tradeoff)


def test_a_constrained_study_round_trips_through_an_ax_experiment(tmp_path):
    constrained = mobo.problems.make("ConstrainedBraninCurrin")
    study = mobo.Study(constrained, "sobol", seed=0)
    study.optimize(10, show_progress=False)
    assert not all(e.feasible for e in study.evaluations)
    for exported in (study, study.result()):
        client = to_ax(exported)
        config = client._experiment.optimization_config
        limits = {c.metric_names[0]: (c.op.name, c.bound) for c in config.outcome_constraints}
        assert limits == {"c0": ("LEQ", 0.0)}  # the constraint, apart from the thresholds
        back = from_ax(client, constrained, "sobol", journal=tmp_path / f"{id(exported)}.jsonl")
        assert [(e.y, e.c) for e in back.evaluations] == [(e.y, e.c) for e in study.evaluations]
        assert back.result().hypervolume[-1] == study.result().hypervolume[-1]


def test_a_single_objective_study_round_trips_through_an_ax_experiment():
    """Ax took the reference point for an outcome constraint on its objective and refused."""
    bowl = mobo.FunctionProblem(
        lambda X: -((X - 0.3) ** 2).sum(dim=-1, keepdim=True), [[0.0, 0.0], [1.0, 1.0]], 1,
        [-2.0], name="bowl",
    )  # fmt: skip
    study = mobo.Study(bowl, "sobol", seed=0)
    study.optimize(5, show_progress=False)
    config = to_ax(study)._experiment.optimization_config
    assert str(config.objective.expression) == "f0" and not config.outcome_constraints
    back = from_ax(to_ax(study), bowl, "sobol")
    assert [e.y for e in back.evaluations] == [e.y for e in study.evaluations]


def _capped(X):
    """Both objectives grow with x0; the constraint x0 <= 0.5 stops them."""
    return torch.stack([X[:, 0] - (X[:, 1] - 0.3) ** 2, X[:, 0] - (X[:, 1] - 0.7) ** 2,
                        X[:, 0] - 0.5], dim=-1)  # fmt: skip


def test_the_ax_algorithm_proposes_in_the_problems_units(tradeoff):
    """Ax sees the observations in the problem's units and its proposals come back in them:
    on the tradeoff moved to other bounds, it proposes about the same points, moved alike."""
    lo = torch.tensor([-5.0, 1.0], dtype=torch.float64)
    hi = torch.tensor([5.0, 3.0], dtype=torch.float64)
    moved = mobo.FunctionProblem(
        lambda Z: _tradeoff((Z - lo) / (hi - lo)),
        [lo.tolist(), hi.tolist()],
        2,
        tradeoff.ref_point.tolist(),
        objective_names=tradeoff.objective_names,
        senses=tradeoff.senses,
        name="moved",
    )
    X = torch.rand(6, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 0.8
    Y = tradeoff.evaluate(X)
    expected = mobo.make_algorithm("ax", tradeoff, n_initial=2).ask(2, X, Y, seed=3, n_evaluated=8)
    got = mobo.make_algorithm("ax", moved, n_initial=2).ask(
        2, lo + X * (hi - lo), Y, seed=3, n_evaluated=8
    )
    assert ((got >= lo) & (got <= hi)).all()
    # about the same points: Ax's optimizer ends a little apart on the other scale
    torch.testing.assert_close((got - lo) / (hi - lo), expected, rtol=0, atol=0.03)


def test_the_ax_algorithm_proposes_away_from_its_pending_points(tradeoff):
    """Asked again with the same seed while its first proposal is still being evaluated,
    the ax algorithm proposes another point, not the pending one (Ax sees it as a running
    trial; the shared repeat guard of Algorithm.ask would also replace it)."""
    X = torch.rand(6, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 0.8
    Y = tradeoff.evaluate(X)
    algorithm = mobo.make_algorithm("ax", tradeoff, n_initial=2)
    alone = algorithm.ask(1, X, Y, seed=3, n_evaluated=8)
    beside = algorithm.ask(1, X, Y, seed=3, n_evaluated=8, X_pending=alone)
    assert torch.cdist(beside, alone).min() > 1e-6
    with pytest.raises(ValueError, match="method must be 'fast' or 'quality'"):
        mobo.make_algorithm("ax", tradeoff, method="best")


def test_the_ax_algorithm_gives_ax_its_pending_points(tradeoff):
    """Below Algorithm.ask's repeat guard (which would replace a repeat of a pending point
    anyway): the algorithm's own proposal, with the same seed and history, moves away from
    a pending point only because Ax received it as a running trial."""
    X = torch.rand(6, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 0.8
    U, Y = tradeoff.to_unit(X), tradeoff.evaluate(X)
    algorithm = mobo.make_algorithm("ax", tradeoff, n_initial=2)
    alone = algorithm._propose(1, U, Y, seed=3, U_pending=None)
    torch.testing.assert_close(algorithm._propose(1, U, Y, seed=3, U_pending=None), alone)
    beside = algorithm._propose(1, U, Y, seed=3, U_pending=alone)
    assert torch.cdist(beside, alone).min() > 1e-3


def test_the_ax_algorithm_proposes_under_a_problems_constraints():
    capped = mobo.FunctionProblem(
        _capped, [[0.0, 0.0], [1.0, 1.0]], 2, [-1.0, -1.0], num_constraints=1, name="capped"
    )
    result = mobo.optimize(capped, "ax", n_evals=9, n_initial=6, seed=0, show_progress=False)
    assert (result.X[6:, 0] < 0.6).all(), result.X[6:]  # Ax's own proposals
    assert mobo.make_algorithm("ax", capped).supports_constraints


def _fails_on_the_right(X):
    """Two objectives that fail (NaN) wherever x0 > 0.5, the better half of the box."""
    Y = torch.stack([-(X**2).sum(-1) + 2 * X[:, 0], -((X - 1) ** 2).sum(-1)], dim=-1)
    Y[X[:, 0] > 0.5] = float("nan")
    return Y


def test_the_ax_algorithm_learns_where_evaluations_fail():
    """Ax never saw a failed evaluation: with the objectives failing on half the box, every
    one of its model-based proposals failed (qLogNEHVI: 1 of 10)."""
    problem = mobo.FunctionProblem(
        _fails_on_the_right, [[0.0, 0.0], [1.0, 1.0]], 2, [-3.0, -3.0], name="right"
    )
    failed = {}
    for failures in ("auto", "ignore"):
        result = mobo.optimize(
            problem, "ax", n_evals=10, n_initial=4, seed=0, show_progress=False,
            max_failures_in_a_row=None, failures=failures,
        )  # fmt: skip
        failed[failures] = int(result.failed[4:].sum())
    assert failed["ignore"] >= 5 and failed["auto"] <= 3, failed
    with pytest.raises(ValueError, match="failures must be one of"):
        mobo.make_algorithm("ax", problem, failures="sometimes")


def _named(names: list[str]) -> mobo.FunctionProblem:
    return mobo.FunctionProblem(
        _tradeoff, [[0.0, 0.0], [1.0, 1.0]], 2, [0.85, -1.15],
        objective_names=names, senses=["max", "min"], name="names",
    )  # fmt: skip


def _assert_round_trips(problem: mobo.FunctionProblem, n: int) -> None:
    """A study of ``n`` points exported to Ax and imported back keeps every outcome."""
    study = mobo.Study(problem, "sobol", seed=1)
    study.optimize(n, show_progress=False)
    back = from_ax(to_ax(study), problem, "sobol")
    assert [e.y for e in back.evaluations] == [e.y for e in study.evaluations]


def test_objective_names_that_ax_cannot_parse_are_renamed_for_it():
    """Ax parses objectives with sympy: 'E' (energy), 'gamma' or a keyword such as
    'lambda' failed at the first model ask, after the initial design was paid for."""
    from mobo.ax_client import metric_names

    problem = _named(["E", "lambda"])
    assert metric_names(problem) == ["f0_E", "f1_lambda"]
    _assert_round_trips(problem, 6)
    result = mobo.optimize(problem, "ax", n_evals=7, n_initial=5, seed=0, show_progress=False)
    assert result.n_evaluations == 7


def test_a_renamed_metric_does_not_take_another_outcomes_name():
    """'lambda' was renamed 'f1_lambda', the name of the first objective: Ax refused the
    objective 'f1_lambda, f1_lambda' (at the first model ask, with the ``ax`` algorithm)."""
    from mobo.ax_client import metric_names

    problem = _named(["f1_lambda", "lambda"])
    assert metric_names(problem) == ["f1_lambda", "f1_lambda_1"]
    _assert_round_trips(problem, 4)


def test_inputs_too_narrow_for_ax_are_refused_before_any_evaluation():
    """Ax refused a range of 1e-7 only at its first model ask, the initial design spent."""
    calls = []

    def f(X):
        calls.append(X)
        return _tradeoff(X - torch.tensor([5.0, 0.0]))

    narrow = mobo.FunctionProblem(f, [[5.0, 0.0], [5.0000001, 1.0]], 2, [0.85, -1.15])
    with pytest.raises(ValueError, match=r"Ax refuses input ranges narrower than .*x0: 1e-07"):
        mobo.optimize(narrow, "ax", n_evals=6, show_progress=False)
    assert not calls
    study = mobo.Study(narrow, "sobol")
    study.optimize(2, show_progress=False)
    with pytest.raises(ValueError, match="Ax refuses input ranges"):
        to_ax(study)


class _Trained(mobo.FunctionProblem):
    """Prices as leanet.design.DesignProblem does: a point evaluated before costs 0 now."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.done: set[tuple[float, ...]] = set()

    def evaluate(self, X):
        self.done.update(map(tuple, torch.as_tensor(X).tolist()))
        return super().evaluate(X)

    def current_cost(self, X):
        cost = self.cost(X).clone()
        for i, x in enumerate(X.tolist()):
            if tuple(x) in self.done:
                cost[i] = 0.0
        return cost


def _trained() -> _Trained:
    return _Trained(
        _with_fidelity,
        [[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]],
        2,
        [0.0, 0.0],
        name="trained",
        fidelity_levels=[0.5, 1.0],
        fidelity_costs=[0.1, 1.0],
    )


def test_each_evaluations_cost_survives_the_round_trip(tmp_path):
    """from_ax re-priced every trial with current_cost at import time: a problem pricing
    a trained design at 0 came back with costs [0] * 5 for [1] * 5, and resumed to the
    same max_cost ran 5 more evaluations."""
    from ax.api.client import Client

    problem = _trained()
    study = mobo.Study(problem, "sobol", seed=0)
    study.optimize(max_cost=5.0, show_progress=False)
    costs = [e.cost for e in study.evaluations]
    assert costs == [1.0] * 5 and problem.current_cost(study.X).tolist() == [0.0] * 5
    pending = study.ask(1)  # priced when asked: 1.0 (or 0.1), and kept so
    pending_cost = study.ledger.asked.cost_of(pending[0])

    client = to_ax(study)
    problem.done.add(tuple(pending[0].tolist()))  # trained since: priced now, it costs 0
    client.save_to_json_file(str(tmp_path / "ax.json"))
    back = from_ax(
        Client.load_from_json_file(str(tmp_path / "ax.json")),
        problem,
        "sobol",
        journal=tmp_path / "back.jsonl",
    )
    assert [e.cost for e in back.evaluations] == costs
    assert back.cost_spent == study.cost_spent == 5.0
    back.close()
    loaded = mobo.Study.load(tmp_path / "back.jsonl", problem)
    assert [e.cost for e in loaded.evaluations] == costs
    loaded.optimize(max_cost=5.0, show_progress=False)  # the budget was spent already
    assert loaded.n_evaluated == 5
    torch.testing.assert_close(loaded.ask(1), pending, rtol=0, atol=0)
    assert loaded.ledger.asked.cost_of(pending[0]) == pending_cost  # not 0, as priced now

    assert [e.cost for e in from_ax(to_ax(study.result()), problem, "sobol").evaluations] == costs
    # A trial Ax made (no cost with it) is priced at import, as before.
    client = to_ax(study)
    mobo.ax_bridge.attach_evaluation(client, problem, [0.2, 0.3, 1.0], [0.4, 0.5])
    assert from_ax(client, problem, "sobol").evaluations[-1].cost == 1.0


def test_pending_points_are_exported_as_running_trials_and_asked_again_first(tmp_path):
    """to_ax dropped points asked and not told: the imported study neither evaluated them
    nor counted them, so its design went on from another point than the study's."""
    problem = mobo.FunctionProblem(
        _with_fidelity, [[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]], 2, [0.0, 0.0], name="p"
    )
    with mobo.Study(problem, "sobol", seed=0, journal=tmp_path / "s.jsonl") as study:
        study.optimize(4, show_progress=False)
        pending = study.ask(2)
    study = mobo.Study.load(tmp_path / "s.jsonl", problem)  # after a crash: to ask again
    client = to_ax(study)
    statuses = [t.status.name for _, t in sorted(client._experiment.trials.items())]
    assert statuses == ["COMPLETED"] * 4 + ["RUNNING"] * 2

    back = from_ax(client, problem, "sobol", journal=tmp_path / "back.jsonl")
    assert back.n_evaluated == 4
    torch.testing.assert_close(back.ask(2), pending, rtol=0, atol=0)
    torch.testing.assert_close(study.ask(2), pending, rtol=0, atol=0)
    torch.testing.assert_close(back.ask(1), study.ask(1), rtol=0, atol=0)
    back.close()
    again = mobo.Study.load(tmp_path / "back.jsonl", problem)  # the import is journaled
    torch.testing.assert_close(again.ask(3)[:2], pending, rtol=0, atol=0)


def test_extra_evaluations_stay_extra_and_the_initial_design_goes_on_alike():
    """extra=True came back False: the initial design counted them, and the imported
    study's next ask was a model point where the study's design went on."""
    problem = mobo.FunctionProblem(
        lambda X: torch.stack([X[:, 0], 1 - X[:, 0] ** 0.5 + X[:, 1] * (1 - X[:, 1])], -1),
        [[0.0, 0.0], [1.0, 1.0]],
        2,
        [-0.1, -0.1],
        name="fast",
    )
    study = mobo.Study(problem, "qlognehvi", seed=0, n_initial=4)
    study.tell(first := study.ask(2), problem.evaluate(first))
    X = torch.tensor([[0.11, 0.2], [0.12, 0.3], [0.13, 0.4]], dtype=torch.float64)
    study.tell(X, problem.evaluate(X), extra=True)
    back = from_ax(to_ax(study), problem, "qlognehvi", seed=0, n_initial=4)
    assert [e.extra for e in back.evaluations] == [False, False, True, True, True]
    torch.testing.assert_close(back.ask(2), study.ask(2), rtol=0, atol=0)


def test_outcome_names_are_made_distinct_ax_identifiers():
    """Ax parses metric names as identifiers: two outcomes that clean to the same name, or a
    name starting with a digit, would be one metric or refused."""
    from mobo.ax_client import metric_names

    assert metric_names(_named(["energy ratio", "energy_ratio"])) == [
        "energy_ratio",
        "f1_energy_ratio",
    ]
    assert metric_names(_named(["2nd", "accuracy"])) == ["f0_2nd", "accuracy"]


def test_the_problems_bounds_are_the_ax_parameters_bounds():
    shifted = mobo.FunctionProblem(
        lambda X: _tradeoff(X - torch.tensor([2.0, -1.0], dtype=torch.float64)),
        [[2.0, -1.0], [3.0, 0.5]], 2, [0.85, -1.15], name="shifted",
    )  # fmt: skip
    parameters = mobo.ax_bridge.new_client(shifted)._experiment.search_space.parameters
    assert [(p.lower, p.upper) for p in parameters.values()] == [(2.0, 3.0), (-1.0, 0.5)]


def test_a_point_an_ulp_off_its_bounds_or_level_goes_to_ax_on_them():
    """Inputs that a unit-cube round trip left an ulp outside their bounds, or a fidelity
    an ulp off its level, are "out-of-design" to Ax (attached with a RuntimeWarning):
    they go in on the bound and on the level."""
    import warnings

    from mobo.ax_client import attach_evaluation, parameters_of

    problem = mobo.FunctionProblem(
        lambda X: X[:, :2], [[0.1, 0.1, 0.1], [0.3, 0.3, 0.3]], 2, [-1.0, -1.0],
        fidelity_levels=[0.1, 0.2, 0.3], fidelity_costs=[0.2, 0.5, 1.0],
    )  # fmt: skip
    x = [0.30000000000000004, 0.09999999999999999, 0.20000000000000004]
    assert parameters_of(problem, x) == {"x0": 0.3, "x1": 0.1, "x2": 0.2}
    client = mobo.ax_bridge.new_client(problem)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        attach_evaluation(client, problem, x, [0.3, 0.1])
    assert not [w for w in caught if "out-of-design" in str(w.message)]
    assert client._experiment.trials[0].arm.parameters == {"x0": 0.3, "x1": 0.1, "x2": 0.2}


def test_a_client_made_with_a_seed_generates_the_same_trials_each_time(tradeoff):
    def first_trials(seed):
        client = mobo.ax_bridge.new_client(tradeoff, seed=seed)
        with mobo.ax_client.quiet_ax():
            return client.get_next_trials(max_trials=3)

    assert first_trials(5) == first_trials(5) != first_trials(6)


def test_quiet_ax_restores_the_ax_loggers_levels():
    import logging

    from mobo.ax_client import quiet_ax

    logger = logging.getLogger("ax.service")
    previous = logger.level
    try:
        logger.setLevel(logging.DEBUG)
        with quiet_ax():
            assert logger.level == logging.WARNING
        assert logger.level == logging.DEBUG
    finally:
        logger.setLevel(previous)


def test_abandoned_trials_are_left_out_of_an_import(tradeoff):
    study = mobo.Study(tradeoff, "sobol", seed=0)
    study.optimize(3, show_progress=False)
    client = to_ax(study)
    with mobo.ax_client.quiet_ax():
        index = client.attach_trial(parameters=mobo.ax_client.parameters_of(tradeoff, [0.5, 0.5]))
        client.mark_trial_abandoned(index)
    back = from_ax(client, tradeoff, "sobol")
    assert [e.x for e in back.evaluations] == [e.x for e in study.evaluations]
    assert back.ledger.asked.pending.shape[0] == 0  # nor asked again


def test_a_completed_trial_without_every_metric_is_left_out_of_an_import(tradeoff):
    """Ax marks a trial completed with some metrics missing COMPLETED (with a warning):
    it is no evaluation of the problem, neither a failed one nor a point to ask again."""
    study = mobo.Study(tradeoff, "sobol", seed=0)
    study.optimize(3, show_progress=False)
    client = to_ax(study)
    with mobo.ax_client.quiet_ax():
        index = client.attach_trial(parameters=mobo.ax_client.parameters_of(tradeoff, [0.5, 0.5]))
        client.complete_trial(index, raw_data={"accuracy": 0.93})  # no energy_ratio
    assert client._experiment.trials[index].status.is_completed
    back = from_ax(client, tradeoff, "sobol")
    assert [e.x for e in back.evaluations] == [e.x for e in study.evaluations]
    assert [e.failed for e in back.evaluations] == [e.failed for e in study.evaluations]
    assert back.ledger.asked.pending.shape[0] == 0


def test_read_trials_yields_the_evaluations_not_the_running_trials(tradeoff):
    from mobo.ax_bridge import read_trials

    study = mobo.Study(tradeoff, "sobol", seed=0)
    study.optimize(4, show_progress=False)
    study.ask(2)  # pending: RUNNING trials
    trials = list(read_trials(to_ax(study), tradeoff))
    assert [x for x, _, _ in trials] == [e.x for e in study.evaluations]
    for (_, y, error), evaluation in zip(trials, study.evaluations, strict=True):
        assert len(y) == 2 and (error is not None) == evaluation.failed
        if not evaluation.failed:
            assert y == pytest.approx(evaluation.y, rel=1e-12)
