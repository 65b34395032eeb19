from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402

import mobo  # noqa: E402
from mobo.plotting import plot_hypervolume_trace, plot_pareto_front  # noqa: E402


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
    median = torch.stack([r.log_hv_difference for r in runs]).median(dim=0).values
    torch.testing.assert_close(torch.as_tensor(ax.lines[0].get_ydata()), median)
    assert ax.get_ylabel() == "log10 hypervolume difference"
