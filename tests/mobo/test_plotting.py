from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import math  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import mobo  # noqa: E402
from mobo.plotting import plot_hypervolume_trace, plot_pareto_front  # noqa: E402
from tests.mobo.conftest import toy_function  # noqa: E402


def test_pareto_front_plot_draws_the_front_in_natural_units(tmp_path, branin_currin):
    result = mobo.optimize(branin_currin, "random", n_evals=30, seed=0, show_progress=False)
    ax = plot_pareto_front(result)
    staircase, points = ax.lines[0], ax.lines[1]
    natural_front = branin_currin.natural(result.pareto_Y)
    assert sorted(points.get_xdata().tolist()) == sorted(natural_front[:, 0].tolist())
    # Every corner of the staircase is attained: dominated by (no better than) a front
    # point. A fixed steps-post drew corners no point reaches when one objective is a cost.
    corners = branin_currin.natural(torch.tensor(staircase.get_xydata())).double()  # to max
    Y = result.pareto_Y
    attained = (Y[None, :, :] >= corners[:, None, :] - 1e-9).all(-1).any(-1)
    assert attained.all() and len(corners) == 2 * len(Y) - 1
    assert torch.all(torch.as_tensor(ax.collections[0].get_offsets()) >= 0)  # costs, not -cost
    ax.figure.savefig(tmp_path / "front.png")
    assert (tmp_path / "front.png").stat().st_size > 1000
    with pytest.raises(ValueError, match=r"objectives must be two indices in 0..1, got \(0, 2\)"):
        plot_pareto_front(result, objectives=(0, 2))


def test_the_staircase_runs_from_left_to_right_through_the_front(toy_problem):
    # Not a path back and forth between the front's points in the order they were found.
    result = mobo.optimize(toy_problem, "sobol", n_evals=32, seed=0, show_progress=False)
    staircase = plot_pareto_front(result).lines[0]
    assert len(result.pareto_Y) > 3
    assert np.all(np.diff(staircase.get_xdata()) >= 0)
    assert np.all(np.diff(staircase.get_ydata()) <= 0)  # two maximized objectives: a trade-off


def test_pareto_front_plot_of_three_objectives_draws_the_projected_set_without_a_staircase():
    # r6_proj.py (C2DTLZ2, 3 objectives): 16 of the 17 points were dominated in the two
    # shown, and the staircase through them went up and down.
    problem = mobo.problems.make("DTLZ2", dim=4, num_objectives=3)
    result = mobo.optimize(problem, "sobol", n_evals=40, seed=0, show_progress=False)
    ax = plot_pareto_front(result, objectives=(0, 2))
    (points,) = ax.lines
    assert points.get_linestyle() == "None" and points.get_marker() == "o"
    front = problem.natural(result.pareto_Y)
    assert sorted(points.get_xdata().tolist()) == sorted(front[:, 0].tolist())
    assert sorted(points.get_ydata().tolist()) == sorted(front[:, 2].tolist())
    assert "sobol Pareto set (projection of 3 objectives)" in [
        t.get_text() for t in ax.get_legend().get_texts()
    ]


def test_hypervolume_trace_plots_the_median_over_seeds(branin_currin):
    runs = [
        mobo.optimize(branin_currin, "random", n_evals=12, seed=s, show_progress=False)
        for s in range(3)
    ]
    ax = plot_hypervolume_trace({"random": runs})
    median = torch.stack([r.log_hv_difference for r in runs]).quantile(0.5, dim=0)
    torch.testing.assert_close(torch.as_tensor(ax.lines[0].get_ydata()), median)
    assert ax.get_ylabel() == "log10 hypervolume difference"


def test_the_median_over_seeds_is_the_tables_median_infinite_values_included():
    # median_inf.py (review_mobo): torch.quantile(0.5) drew NaN for (inf, inf) and (x, inf),
    # a gap where statistics.median, which the tables print, gives inf (an IGD trace is inf
    # until the first finite evaluation).
    import statistics

    from mobo.plotting import median_over_seeds, plot_median_traces

    inf = math.inf
    for seeds in (
        [[inf, inf, 0.4, 0.2], [inf, 0.5, 0.3, 0.1]],  # even: the mean of the middle two
        [[inf, 1.0, 0.4], [inf, inf, 0.3], [2.0, 3.0, 0.2], [5.0, inf, 1e308]],
        [[inf, -inf, 0.4], [1.0, 2.0, 0.1], [inf, inf, 0.3]],  # odd: the middle one
    ):
        expected = [statistics.median(column) for column in zip(*seeds, strict=True)]
        assert median_over_seeds(torch.tensor(seeds, dtype=torch.float64)).tolist() == expected
    ax = plot_median_traces(
        Figure().subplots(), {"igd": torch.tensor(seeds[:1] * 2, dtype=torch.float64)}
    )
    assert ax.lines[0].get_ydata().tolist() == [inf, -inf, 0.4]
    with_nan = median_over_seeds(torch.tensor([[math.nan, 1.0], [2.0, 3.0], [4.0, 5.0]]))
    assert math.isnan(with_nan[0]) and with_nan[1] == 3.0


@pytest.mark.parametrize("n_seeds", [2, 4])
def test_the_median_over_an_even_number_of_seeds_is_the_mean_of_the_middle_two(
    toy_problem, n_seeds
):
    # t6_plot_median.py (sweep39): torch's lower median was drawn, 18.31 for final
    # hypervolumes 18.31 and 27.58 (the tables print 22.94), below its own quartile band.
    runs = [
        mobo.optimize(toy_problem, "random", n_evals=6, seed=s, show_progress=False)
        for s in range(n_seeds)
    ]
    ax = plot_hypervolume_trace({"random": runs}, log_difference=False)
    traces = torch.stack([r.hypervolume for r in runs]).numpy()
    drawn = ax.lines[0].get_ydata()
    assert drawn.tolist() == pytest.approx(np.median(traces, axis=0).tolist())
    finals = sorted(traces[:, -1].tolist())
    middle = n_seeds // 2
    assert finals[middle - 1] < finals[middle]  # the lower median would not do
    band = ax.collections[0].get_paths()[0].vertices
    at_end = band[band[:, 0] == ax.lines[0].get_xdata()[-1]][:, 1]
    assert at_end.min() <= drawn[-1] <= at_end.max()


def test_hypervolume_trace_draws_runs_of_other_lengths_to_their_ends(branin_currin):
    # Cut to the shortest run, MF-OSEMO's median final hypervolume of 25.6 was drawn as
    # 4.0 (r7_mf_trace.py): the longer runs' last evaluations were dropped without a word.
    runs = [
        mobo.optimize(branin_currin, "random", n_evals=n, seed=s, show_progress=False)
        for s, n in ((0, 12), (1, 18))
    ]
    ax = plot_hypervolume_trace({"random": runs}, log_difference=False)
    median, tail = ax.lines
    assert median.get_xdata()[-1] == 12
    assert "median to the shortest of 2 runs" in median.get_label()
    common = torch.stack([r.hypervolume[:12] for r in runs]).quantile(0.5, dim=0)
    torch.testing.assert_close(torch.as_tensor(median.get_ydata()), common)
    assert tail.get_xdata()[0] == 12 and tail.get_xdata()[-1] == 18
    torch.testing.assert_close(torch.as_tensor(tail.get_ydata()[1:]), runs[1].hypervolume[12:])
    assert tail.get_color() == median.get_color()


def test_hypervolume_trace_of_fidelities_is_drawn_against_the_cost_spent():
    from mobo.problems.multi_fidelity import BiasedFidelityProblem

    problem = BiasedFidelityProblem("BraninCurrin", levels=(0.25, 1.0), costs=(0.1, 1.0))
    runs = []
    for seed, (n_low, n_high) in enumerate([(10, 3), (4, 5)]):
        U = torch.quasirandom.SobolEngine(2, scramble=True, seed=seed).draw(n_low + n_high)
        U = problem.base.from_unit(U.double())
        s = torch.tensor([0.25] * n_low + [1.0] * n_high, dtype=torch.float64)
        X = torch.cat([U, s.unsqueeze(-1)], -1)
        study = mobo.Study(problem, "sobol", seed=seed)
        study.tell(X, problem.evaluate(X))
        runs.append(study.result())
    spent = [float(r.cumulative_cost[-1]) for r in runs]
    assert spent == pytest.approx([4.0, 5.4])
    ax = plot_hypervolume_trace({"sobol": runs}, log_difference=False)
    assert ax.get_xlabel() == "total cost"
    assert ax.get_ylabel() == "hypervolume at the target fidelity"
    median, tail = ax.lines
    assert median.get_drawstyle() == "steps-post"
    x, y = torch.as_tensor(median.get_xdata()), torch.as_tensor(median.get_ydata())
    assert float(x[-1]) == pytest.approx(4.0) and float(tail.get_xdata()[-1]) == pytest.approx(5.4)
    assert float(tail.get_ydata()[-1]) == float(runs[1].hypervolume[-1])
    # each run a step function of its cost: the value after its last evaluation within it
    at = [torch.searchsorted(r.cumulative_cost, x, right=True) - 1 for r in runs]
    within = torch.stack([r.hypervolume[i] for r, i in zip(runs, at, strict=True)])
    torch.testing.assert_close(y, within.quantile(0.5, dim=0))
    evaluations = plot_hypervolume_trace({"sobol": runs}, x="evaluations", log_difference=False)
    assert evaluations.get_xlabel() == "evaluations"
    with pytest.raises(ValueError, match="x must be 'evaluations' or 'cost', got 'time'"):
        plot_hypervolume_trace(runs, x="time")


def test_hypervolume_trace_takes_the_same_prices_in_another_order_as_the_same_cost():
    # r1_trace_rounding.py: the same prices summed in two orders spent 6.1999999999999993
    # and 6.2000000000000002, so the median stopped before the second run's last (best)
    # point, at 20.06 for final hypervolumes of 36.66 and 36.66, labelled as a longer run.
    from mobo.problems.multi_fidelity import BiasedFidelityProblem

    problem = BiasedFidelityProblem("BraninCurrin", levels=(0.25, 1.0), costs=(0.1, 1.0))
    U = torch.quasirandom.SobolEngine(2, scramble=True, seed=0).draw(512).double()
    U = problem.base.from_unit(U)
    good = U[(problem.base.evaluate(U) > problem.ref_point).all(-1)]
    target = torch.cat([good[:6], torch.ones(6, 1, dtype=torch.float64)], -1)
    cheap = torch.cat([good[6:8], torch.full((2, 1), 0.25, dtype=torch.float64)], -1)
    runs = []
    for seed, X in enumerate(
        [torch.cat([target[:5], cheap, target[5:]]), torch.cat([cheap, target])]
    ):
        study = mobo.Study(problem, "sobol", seed=seed)
        study.tell(X, problem.evaluate(X))
        runs.append(study.result())
    ends = [float(r.cumulative_cost[-1]) for r in runs]
    assert ends[0] != ends[1] and ends == pytest.approx([6.2, 6.2])
    ax = plot_hypervolume_trace({"sobol": runs}, log_difference=False)
    (median,) = ax.lines
    assert median.get_label() == "sobol"
    assert float(median.get_xdata()[-1]) == pytest.approx(6.2)
    finals = torch.stack([r.hypervolume[-1] for r in runs])
    assert float(median.get_ydata()[-1]) == float(finals.quantile(0.5)) > 30


def test_a_max_hv_that_requires_grad_plots_its_trace():
    # It was kept as given, so the log HV difference required grad and the plot failed
    # ("Can't call numpy() on Tensor that requires grad").
    max_hv = torch.tensor(1.5, requires_grad=True)
    problem = mobo.FunctionProblem(toy_function, [[0, 0], [1, 1]], 2, [-1, -1], max_hv=max_hv)
    result = mobo.optimize(problem, "sobol", n_evals=4, seed=0, show_progress=False)
    ax = plot_hypervolume_trace(result)
    assert ax.lines[0].get_ydata().tolist() == pytest.approx(result.log_hv_difference.tolist())


def test_a_reference_front_is_drawn_left_to_right_in_natural_units(branin_currin):
    result = mobo.optimize(branin_currin, "random", n_evals=8, seed=0, show_progress=False)
    reference = torch.tensor([[-10.0, -2.0], [-1.0, -9.0], [-5.0, -4.0]])  # maximized
    ax = plot_pareto_front(result, reference_front=reference)
    (line,) = [ln for ln in ax.lines if ln.get_label() == "reference front"]
    assert line.get_xdata().tolist() == [1.0, 5.0, 10.0]  # costs, sorted
    assert line.get_ydata().tolist() == [9.0, 4.0, 2.0]
    with pytest.raises(ValueError, match="objectives must be two indices"):
        plot_pareto_front(result, objectives=(1, 1))


def test_the_trace_is_a_log_difference_only_when_every_problem_knows_its_max_hv(
    branin_currin, toy_problem
):
    known = mobo.optimize(branin_currin, "random", n_evals=4, seed=0, show_progress=False)
    unknown = mobo.optimize(toy_problem, "random", n_evals=4, seed=0, show_progress=False)
    ax = plot_hypervolume_trace({"known": [known], "unknown": [unknown]})
    assert ax.get_ylabel() == "hypervolume"
    torch.testing.assert_close(torch.as_tensor(ax.lines[0].get_ydata()), known.hypervolume)
    empty = mobo.Study(toy_problem, "random", seed=0).result()
    ax = plot_hypervolume_trace({"empty": [empty], "random": [unknown]})
    assert [ln.get_label() for ln in ax.lines] == ["empty", "random"]
    assert len(ax.lines[0].get_xdata()) == 0


def test_a_range_band_spans_the_lowest_to_the_highest_seed():
    from mobo.plotting import plot_median_traces

    values = torch.tensor([[1.0, 2.0], [3.0, 6.0], [2.0, 9.0]], dtype=torch.float64)
    ax = plot_median_traces(Figure().subplots(), {"a": values}, band="range")
    ys = ax.collections[0].get_paths()[0].vertices[:, 1]
    assert {1.0, 2.0, 3.0, 9.0} == set(ys.tolist())  # each point's lowest and highest seed


def test_a_list_of_results_draws_one_line_each_even_of_one_algorithm_and_seed(toy_problem):
    runs = [
        mobo.optimize(toy_problem, "random", n_evals=n, seed=0, show_progress=False) for n in (4, 6)
    ]
    ax = plot_hypervolume_trace(runs, log_difference=False)
    assert [len(line.get_xdata()) for line in ax.lines] == [4, 6]
    assert [line.get_label() for line in ax.lines] == ["random (seed 0) #1", "random (seed 0) #2"]
