"""A metered cost runs the compiled runtime at the thresholds and the full network, and the
ratio of the meter's readings is the objective (checked with a deterministic meter: FLOPs)."""

from __future__ import annotations

import dataclasses
import pickle
import threading
import time
from dataclasses import dataclass, field

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import leanet
from leanet.costs import LevelCosts, measure_costs
from leanet.design import DesignProblem
from leanet.evaluator import ThresholdEvaluator
from leanet.measured import MeasuredCost, cpu_meter
from tests.leanet.conftest import tiny_base


def flop_meter(run) -> float:
    """FLOPs of one run: deterministic, so a ratio is exact."""
    with FlopCounterMode(display=False) as counter:
        run()
    return float(counter.get_total_flops())


def metered_problem(hybrid, digits, cost, **options) -> DesignProblem:
    """A 2-3 level design search of ``hybrid``'s base under ``cost`` (a meter or a name),
    one head epoch and no fine-tuning: quick to build."""
    return DesignProblem(
        hybrid.base, digits, levels=(2, 3), head_epochs=1, fine_tune_epochs=0, cost=cost, **options
    )


@pytest.fixture(scope="module")
def hybrid(digits):
    base = tiny_base("convnet")
    leanet.train_base(base, digits.train, epochs=1, progress=False)
    net = leanet.build(base, fractions=(0.5, 0.75, 1.0), head_hidden=0)
    leanet.fit_heads(net, digits.train, epochs=1, progress=False)
    return net.eval()


def test_metered_ratio_is_the_work_the_runtime_does_at_the_thresholds(hybrid, digits):
    inputs = torch.stack([digits.val[i][0] for i in range(20)])
    cost = MeasuredCost(hybrid, inputs, meter=flop_meter, repeats=2, mode="eager")
    costs = measure_costs(hybrid, latency=False)
    macs = torch.tensor(costs.exit_macs, dtype=torch.float64)
    full = float(costs.full_work.macs)
    # Every input at level 1; then the pretrained top level alone (the hybrid skips the
    # levels that cannot answer): the full network's work, exactly.
    assert cost.ratio(torch.zeros(2)) == pytest.approx(float(macs[0]) / full)
    assert cost.ratio(torch.ones(2)) == pytest.approx(1.0)
    # In between, the mean over inputs of the work up to each input's exit.
    t = torch.tensor([0.6, 0.3])
    with torch.no_grad():
        levels = hybrid(inputs, t).exit_level - 1
    assert cost.ratio(t) == pytest.approx(float(macs[levels].mean()) / full)
    # A batch of threshold vectors: each row's ratio.
    rows = cost.ratios(torch.stack([torch.zeros(2), t, torch.ones(2)]))
    assert rows.tolist() == pytest.approx(
        [cost.ratio(v) for v in (torch.zeros(2), t, torch.ones(2))]
    )
    # The model's prediction from per-exit latencies, with exact per-exit "latencies",
    # also where levels are off and the runtime skips them (it charged every level before).
    # An off level that level 2 reads runs without its head: predicted so given the heads.
    heads = torch.tensor([w.macs for w in costs.head_work], dtype=torch.float64)
    for v in (t, torch.ones(2), torch.tensor([1.0, 0.3]), torch.tensor([0.6, 1.0])):
        modelled = float(cost.modelled(v[None], macs, full, heads)[0])
        assert modelled == pytest.approx(cost.ratio(v))


def test_a_device_joules_table_skips_the_levels_the_runtime_skips(hybrid, digits):
    # The model's own exit energies given back as a device's table price every threshold
    # vector alike: the table's levels are skipped as the network's are (before, the
    # all-ones fallback, the pretrained network alone, was charged every level).
    modelled = measure_costs(hybrid, latency=False)
    table = LevelCosts.from_joules(modelled.exit_energy, modelled.full_energy)
    T = torch.tensor([[1.0, 1.0], [0.9, 1.0], [1.0, 0.5], [0.3, 0.6]])
    # A table cannot split out the heads: compared with the model's costs without the split
    # (the split charges level 1 without its head under [1.0, 0.5], level 2 reading it).
    whole = dataclasses.replace(modelled, head_energy=None, head_work=None)
    ratios = [
        ThresholdEvaluator.from_model(hybrid, digits.val, costs).evaluate(T).energy_ratio
        for costs in (whole, table, modelled)
    ]
    torch.testing.assert_close(ratios[1], ratios[0])
    assert float(ratios[1][0]) == pytest.approx(1.0)
    assert float(ratios[2][2]) < float(ratios[1][2])
    with pytest.raises(ValueError, match=r"standalone must have one entry per level \(3\)"):
        LevelCosts.from_joules(modelled.exit_energy, modelled.full_energy, standalone=[True])


def test_a_dense_depthwise_meter_runs_both_sides_dense():
    """With ``depthwise="dense"`` the runtime and the full network both run small-map
    depthwise convolutions as matrix products: the pretrained top level alone is still
    exactly the full network's work, and a level-1 exit's share changes."""
    net = leanet.build(tiny_base("mobilenet", input_size=28), fractions=(0.5, 1.0), head_hidden=0)
    inputs = torch.randn(3, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    conv = MeasuredCost(net.eval(), inputs, meter=flop_meter, repeats=1, mode="eager")
    dense = MeasuredCost(net, inputs, meter=flop_meter, repeats=1, mode="eager", depthwise="dense")
    assert dense.runtime.depthwise == "dense"
    assert dense.ratio(torch.ones(1)) == pytest.approx(1.0)
    assert dense.ratio(torch.zeros(1)) != pytest.approx(conv.ratio(torch.zeros(1)))


def test_the_cpu_meter_times_the_calling_thread():
    assert cpu_meter(lambda: sum(range(200_000))) > 0.0
    assert cpu_meter(lambda: None) < 0.01
    # CPU time, not wall time: a run that waits costs (almost) nothing.
    assert cpu_meter(lambda: time.sleep(0.05)) < 0.02


def test_a_meters_readings_are_used_as_given_and_the_ratio_is_their_median(hybrid, digits):
    """A device meter's joules (tiny numbers) are taken as they are; each repeat reads the
    runtime and the full network, in alternating order (runtime first in even repeats),
    and the objective is the median of the repeats' ratios, not their mean or the last.
    The readings are taken on one thread, and the caller's thread count comes back."""
    joules = iter([0.5e-6, 1e-6, 1e-6, 0.6e-6, 2e-6, 1e-6])  # ratios 0.5, 0.6, 2.0
    threads = []

    def meter(run):
        run()
        threads.append(torch.get_num_threads())
        return next(joules)

    inputs = torch.stack([digits.val[i][0] for i in range(3)])
    cost = MeasuredCost(hybrid, inputs, meter=meter, repeats=3, mode="eager")
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert cost.ratio(torch.zeros(2)) == pytest.approx(0.6)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert threads == [1] * 6


def test_measuring_needs_inputs_and_a_repeat(hybrid, digits):
    inputs = torch.stack([digits.val[i][0] for i in range(2)])
    with pytest.raises(ValueError, match="repeats must be >= 1"):
        MeasuredCost(hybrid, inputs, repeats=0, mode="eager")
    with pytest.raises(ValueError, match="N >= 1"):
        MeasuredCost(hybrid, inputs[:0], mode="eager")


def test_a_design_problem_with_a_meter_reports_the_metered_ratio(hybrid, digits):
    problem = metered_problem(hybrid, digits, flop_meter, measure_inputs=10)
    assert problem.objective_names == ["accuracy", "metered ratio"]
    x = torch.tensor([[3.0, 0.5, 0.0, 0.0, 0.0, 0.0]], dtype=torch.float64)
    y = problem.evaluate(x)
    design = problem.design_of(x)
    macs = measure_costs(problem.network(design), latency=False)
    assert float(-y[0, 1]) == pytest.approx(macs.exit_macs[0] / macs.full_work.macs)
    # The table shows the measured ratio the search saw next to the cost model's energy.
    header, row = problem.front_table(x, y).splitlines()[:2]
    assert "measured" in header and f"{float(-y[0, 1]):9.3f}" in row
    with pytest.raises(ValueError, match="cost"):
        DesignProblem(hybrid.base, digits, levels=(2, 3), cost="joules")


@pytest.mark.parametrize("reading", [-0.5, 0.0, float("nan"), "1.5 J", None, True])
def test_a_meter_reading_that_is_not_a_positive_number_is_named(hybrid, digits, reading):
    inputs = torch.stack([digits.val[i][0] for i in range(4)])
    cost = MeasuredCost(hybrid, inputs, meter=lambda run: reading, repeats=1, mode="eager")
    with pytest.raises(ValueError, match=r"must return a positive finite number .*got"):
        cost.ratio(torch.zeros(2))


def test_a_journal_is_refused_under_another_meter(hybrid, digits, monkeypatch):
    """The meter computes the second objective: two inline meters (both ``<lambda>``) had one
    fingerprint, so a FLOP-metered journal resumed under CPU time and mixed the two
    (ratios 0.397 vs 0.984 for one point). A latency is of this machine too."""

    def problem(cost):
        return metered_problem(hybrid, digits, cost)

    flops, cpu = problem(lambda run: flop_meter(run)), problem(lambda run: cpu_meter(run))
    assert flops.fingerprint() != cpu.fingerprint()
    assert flops.fingerprint() == problem(lambda run: flop_meter(run)).fingerprint()
    latency = problem("latency").fingerprint()
    monkeypatch.setattr("leanet.design.machine", lambda: "another CPU")
    assert problem("latency").fingerprint() != latency


def test_a_measured_problem_pickles_after_measuring(hybrid, digits):
    """A process pool or Dask pickles the problem for every evaluation, and a DenseFronts
    callback measures in the calling process first: the kept compiled TorchScript could not
    be pickled ("Tried to serialize object ..._BandStep"), so every later evaluation failed."""
    problem = metered_problem(hybrid, digits, flop_meter, measure_inputs=10)
    x = torch.tensor([[3.0, 0.5, 0.0, 0.0, 0.6, 0.3]], dtype=torch.float64)
    y = problem.evaluate(x)
    assert problem._measured  # the case: a compiled cost is kept
    unpickled = pickle.loads(pickle.dumps(problem))
    torch.testing.assert_close(unpickled.evaluate(x), y)


@pytest.mark.parametrize("n, runs", [(1, 3), (2, 2), (3, 1), (20, 1)])
def test_each_side_is_warmed_up_three_calls_per_step(hybrid, digits, n, runs):
    """TorchScript optimizes a traced step at its second call: one warm-up run over a single
    input let that into the first timed reading (2.2 ms against 0.14-0.25 ms later), and
    a fresh cost's first ratio read 15% high. Every side runs each input until its steps
    were called 3 times (as ``leanet.timing.cpu_times``), so 1 run from 3 inputs on."""
    inputs = torch.stack([digits.val[i][0] for i in range(n)])
    calls, before_reading = {"runtime": 0, "full": 0}, []

    def meter(run):
        before_reading.append(dict(calls))
        return cpu_meter(run)

    def counted(side, compiled):
        def call(*args):
            calls[side] += 1
            return compiled(*args)

        return call

    cost = MeasuredCost(hybrid, inputs, meter=meter, repeats=1)
    cost.runtime, cost.full = counted("runtime", cost.runtime), counted("full", cost.full)
    cost.ratio(torch.zeros(2))
    assert before_reading[0] == {"runtime": runs * n, "full": runs * n}


@dataclass
class PowerMonitor:
    """A device power monitor as a user writes one: a dataclass (so unhashable) holding
    its device; FLOPs stand in for joules."""

    device: str = "/dev/ina219-0"

    def __call__(self, run) -> float:
        return flop_meter(run)


def test_an_unhashable_meter_object_is_a_meter(hybrid, digits):
    """The objective's name was looked up by the meter: ``TypeError: unhashable type:
    'PowerMonitor'``. Two monitors of other devices are other meters."""

    def problem(meter):
        return metered_problem(hybrid, digits, meter)

    monitor = problem(PowerMonitor())
    assert monitor.objective_names == ["accuracy", "metered ratio"]
    assert monitor.fingerprint() == problem(PowerMonitor()).fingerprint()
    assert monitor.fingerprint() != problem(PowerMonitor("/dev/ina219-1")).fingerprint()


@dataclass
class LoggingMonitor(PowerMonitor):
    """A power monitor that keeps its readings (for a later plot)."""

    readings: list = field(default_factory=list)

    def __call__(self, run) -> float:
        value = flop_meter(run)
        self.readings.append(value)
        return value


def test_a_meter_that_keeps_its_readings_keeps_the_problem_fingerprint(hybrid, digits):
    """The meter was digested at every fingerprint, its readings with it, so after two
    measured designs the same study was refused in the same process as another problem."""
    monitor = LoggingMonitor()
    problem = metered_problem(hybrid, digits, monitor)
    before = problem.fingerprint()
    monitor.readings.extend([1.0, 2.0])  # what measuring two designs leaves
    assert problem.fingerprint() == before


def test_the_meter_reads_each_side_once_per_repeat(hybrid, digits):
    """``repeats`` readings of each side, the ratio the median of their ratios (mutation
    sweep R: a fixed 3 repeats passed every test, which all asked for 1 to 3)."""
    readings = []

    def meter(run):
        readings.append(len(readings))
        return flop_meter(run)

    inputs = torch.stack([digits.val[i][0] for i in range(3)])
    for repeats in (1, 4):
        readings.clear()
        cost = MeasuredCost(hybrid, inputs, meter=meter, repeats=repeats, mode="eager")
        assert cost.ratio(torch.ones(2)) == pytest.approx(1.0)
        assert len(readings) == 2 * repeats


def test_both_sides_run_in_the_mode_asked_and_take_double_inputs(hybrid, digits):
    """``mode`` reaches the runtime and the full network alike (an eager runtime against a
    traced full network would time two different things), and ``float64`` images are
    run as the network's ``float32`` (mutation sweep R: each passed)."""
    inputs = torch.stack([digits.val[i][0] for i in range(3)]).double()
    eager = MeasuredCost(hybrid, inputs, meter=flop_meter, repeats=1, mode="eager")
    assert eager.runtime.mode == "eager"
    assert not isinstance(eager.full, torch.jit.ScriptModule)
    assert eager.ratio(torch.ones(2)) == pytest.approx(1.0)
    traced = MeasuredCost(hybrid, inputs[:1], meter=flop_meter, repeats=1)
    assert traced.runtime.mode == "trace"
    assert isinstance(traced.full, torch.jit.ScriptModule)


def test_the_cpu_meter_does_not_count_other_threads():
    """Latency of the run on this thread: another thread's work meanwhile (a data loader, an
    evaluation on a thread pool) is not counted (mutation sweep R: process time passed)."""
    done = threading.Event()

    def spin():
        while not done.is_set():
            sum(range(1000))

    spinner = threading.Thread(target=spin)
    spinner.start()
    try:
        assert cpu_meter(lambda: time.sleep(0.2)) < 0.02
    finally:
        done.set()
        spinner.join()


def test_the_model_charges_an_input_the_exit_of_the_level_that_answered_it(hybrid, digits):
    """At thresholds 0 every input answers at level 1 and is predicted that exit's cost,
    as metered (mutation sweep R: reading the next level's exit for 1-based levels passed:
    in the other cases checked the tiny network's inputs all reach the top level)."""
    inputs = torch.stack([digits.val[i][0] for i in range(5)])
    cost = MeasuredCost(hybrid, inputs, meter=flop_meter, repeats=1, mode="eager")
    costs = measure_costs(hybrid, latency=False)
    macs = torch.tensor(costs.exit_macs, dtype=torch.float64)
    heads = torch.tensor([w.macs for w in costs.head_work], dtype=torch.float64)
    full = float(costs.full_work.macs)
    modelled = float(cost.modelled(torch.zeros(1, 2), macs, full, heads)[0])
    assert modelled == pytest.approx(cost.ratio(torch.zeros(2)))
    assert modelled == pytest.approx(float(macs[0]) / full)


def test_the_model_averages_over_inputs_that_exit_at_different_levels(hybrid, digits):
    """With a third of the inputs answered at level 1 and the rest at level 2, the model
    predicts the mean of their exits' costs, as the runtime's metered work is (mutation
    sweep R: the median passed every test, whose thresholds sent all inputs to one exit)."""
    inputs = torch.stack([digits.val[i][0] for i in range(30)])
    cost = MeasuredCost(hybrid, inputs, meter=flop_meter, repeats=1, mode="eager")
    with torch.no_grad():
        confidences = hybrid.level_outputs(inputs).confidence[0].double().sort().values
    t = torch.tensor([float(confidences[20]), 0.0])  # the 10 most confident exit at level 1
    with torch.no_grad():
        share = float((hybrid(inputs, t).exit_level == 1).double().mean())
    assert 0.1 < share < 0.45  # a split, with level 2 the median exit
    costs = measure_costs(hybrid, latency=False)
    macs = torch.tensor(costs.exit_macs, dtype=torch.float64)
    full = float(costs.full_work.macs)
    modelled = float(cost.modelled(t[None], macs, full)[0])
    assert modelled == pytest.approx(cost.ratio(t))
    assert modelled == pytest.approx((share * float(macs[0]) + (1 - share) * float(macs[1])) / full)
