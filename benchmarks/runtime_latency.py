"""CPU time of an exit at level k, as a ratio to the full network, old path vs runtime.

For ConvNet (width 1), VGG-16 (x0.25) and MobileNet v1 (x0.5) on 1 x 28 x 28 inputs (the
sizes of ``benchmarks/leanet_levels.py``), random weights with non-trivial batch-norm
statistics (latency does not depend on accuracy; heads untrained), width levels (5,
triangular, default fractions) and depth levels (4 early exits), batch 1 and 64, it times:

- ``old``: :meth:`leanet.LEANet.forward` (the levels API) with thresholds that make every
  input exit at level k, over the unmodified full network in eager PyTorch;
- ``eager``: :func:`leanet.runtime.compile_runtime` in eager mode, over the full network
  with BN folded (:func:`leanet.runtime.compile_full`, eager);
- ``trace``: the runtime traced and frozen, over the full network traced and frozen;
- ``dense``: as ``trace``, both sides with ``depthwise="dense"`` (depthwise convolutions of
  maps up to 8 x 8 as dense matrix products, :func:`leanet.folding.densify_depthwise`):
  faster at batch 1, at more MACs than the cost model charges, also tabled (counted with
  ``FlopCounterMode`` at batch 1, as a ratio to the ``trace`` mode's).

CPU time of this thread (``time.thread_time``), torch on one thread, every callable warmed
up, all callables of a configuration interleaved round-robin in each repeat; a ratio is
computed per repeat (numerator and denominator from the same repeat) and reported as the
median with its interquartile range over repeats. Writes
``benchmarks/results/runtime_latency.{json,md}`` with the command and the git commit.

Run: ``PYTHONPATH=. .venv/bin/python benchmarks/runtime_latency.py`` (a few minutes).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch
from torch import nn

from leanet import build, build_base
from leanet.costs import count_work
from leanet.runtime import compile_full, compile_runtime
from leanet.timing import cpu_times

sys.path.insert(0, str(Path(__file__).parent))
import provenance  # noqa: E402  (a sibling module)

NETS = {
    "convnet": dict(width_multiplier=1.0),
    "vgg16": dict(width_multiplier=0.25),
    "mobilenet": dict(width_multiplier=0.5),
}
LEVELS = {"width": dict(levels="width"), "depth": dict(levels="depth", num_levels=4)}
MODES = ("old", "eager", "trace", "dense")
RESULTS = Path(__file__).parent / "results"


def _random_base(arch: str, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    base = build_base(arch, num_classes=10, in_channels=1, input_size=28, **NETS[arch])
    g = torch.Generator().manual_seed(seed)
    for m in base.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
    return base.eval()


def _ratio(num, den) -> dict:
    r = [a / b for a, b in zip(num.samples, den.samples, strict=True)]
    q = statistics.quantiles(r, n=4) if len(r) > 1 else [r[0]] * 3
    return dict(median=statistics.median(r), q1=q[0], q3=q[2])


def _network(arch: str, levels: str, seed: int):
    """The random base network and its LEANet."""
    base = _random_base(arch, seed)
    # 128 hidden units: the heads of the recorded runs (leanet.build's default until stop 69)
    return base, build(base, seed=seed, head_hidden=128, **LEVELS[levels])


def measure(arch: str, levels: str, batch: int, repeats: int, seed: int) -> dict:
    base, net = _network(arch, levels, seed)
    options = {"eager": dict(mode="eager"), "trace": {}, "dense": dict(depthwise="dense")}
    rt = {mode: compile_runtime(net, **kw) for mode, kw in options.items()}
    full = {"old": base} | {mode: compile_full(base, **kw) for mode, kw in options.items()}
    x = torch.randn(batch, 1, 28, 28, generator=torch.Generator().manual_seed(seed))
    L = net.num_levels
    fns = {}
    for mode in MODES:
        fns[f"{mode}/full"] = lambda f=full[mode]: f(x)
        for k in range(1, L + 1):
            t = rt["trace"].exit_thresholds(k)
            run = net if mode == "old" else rt[mode]
            fns[f"{mode}/{k}"] = lambda run=run, t=t: run(x, t)
    with torch.no_grad():
        for k in range(1, L + 1):  # every callable really exits at level k
            for mode in MODES:
                run = net if mode == "old" else rt[mode]
                assert bool((run(x, rt["trace"].exit_thresholds(k)).exit_level == k).all())
    times = cpu_times(fns, repeats=repeats, min_sample=2e-3 if batch == 1 else 0.0)
    row = dict(arch=arch, levels=levels, batch=batch, num_levels=L, repeats=repeats)
    row["seconds"] = {name: dict(median=t.median, q1=t.q1, q3=t.q3) for name, t in times.items()}
    row["ratio"] = {
        mode: [_ratio(times[f"{mode}/{k}"], times[f"{mode}/full"]) for k in range(1, L + 1)]
        for mode in MODES
    }
    return row


def dense_macs(arch: str, levels: str, seed: int) -> dict:
    """MACs per input executed with ``depthwise="dense"`` over those of the convolutions
    (eager steps, which run the same modules the traced ones freeze), per level exit and
    for the full network (the same at every batch size)."""
    base, net = _network(arch, levels, seed)
    x = torch.randn(1, 1, 28, 28, generator=torch.Generator().manual_seed(seed))
    conv, dense = (compile_runtime(net, mode="eager", depthwise=d) for d in ("conv", "dense"))
    ratio = [
        count_work(dense.run_through, x, k)[1].macs / count_work(conv.run_through, x, k)[1].macs
        for k in range(1, net.num_levels + 1)
    ]
    full = [
        count_work(compile_full(base, mode="eager", depthwise=d), x)[1].macs
        for d in ("conv", "dense")
    ]
    return dict(levels=ratio, full=full[1] / full[0])


def _markdown(rows: list[dict], command: str, commit: str, machine: str) -> str:
    lines = [
        "# Runtime latency: CPU time of an exit at level k / the full network",
        "",
        f"Command: `{command}`  ",
        f"Commit: `{commit}`  ",
        f"Machine: {machine}",
        "",
        "Per-repeat ratio, median [IQR] over repeats; each mode over the full network in the "
        "same mode (old: levels API over the raw eager network; eager: runtime over the "
        "BN-folded eager network; trace: traced+frozen runtime over the traced+frozen "
        "network; dense: as trace, with depthwise convolutions of maps up to 8 x 8 as dense "
        "matrix products on both sides). Full-network medians in ms.",
        "",
        "| net | levels | batch | mode | full ms | "
        + " | ".join(f"L{k}" for k in range(1, 6))
        + " |",
        "|---|---|---|---|---|" + "---|" * 5,
    ]
    for row in rows:
        for mode in MODES:
            cells = [f"{r['median']:.2f} [{r['q1']:.2f}-{r['q3']:.2f}]" for r in row["ratio"][mode]]
            cells += [""] * (5 - len(cells))
            full_ms = row["seconds"][f"{mode}/full"]["median"] * 1e3
            lines.append(
                f"| {row['arch']} | {row['levels']} | {row['batch']} | {mode} | {full_ms:.2f} | "
                + " | ".join(cells)
                + " |"
            )
    lines += [
        "",
        "MACs executed in the dense mode over those of the convolutions (what the cost model "
        "charges), per exit level and for the full network (1.00: no depthwise convolution "
        "on a map of 8 x 8 or less):",
        "",
        "| net | levels | full | " + " | ".join(f"L{k}" for k in range(1, 6)) + " |",
        "|---|---|---|" + "---|" * 5,
    ]
    first_batch = min(r["batch"] for r in rows)
    for row in rows:
        if row["batch"] != first_batch:
            continue
        macs = row["dense_macs"]
        cells = [f"{v:.3f}" for v in macs["levels"]] + [""] * (5 - len(macs["levels"]))
        lines.append(
            f"| {row['arch']} | {row['levels']} | {macs['full']:.3f} | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--archs", nargs="+", default=list(NETS), choices=list(NETS))
    parser.add_argument("--levels", nargs="+", default=list(LEVELS), choices=list(LEVELS))
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 64])
    parser.add_argument("--repeats", type=int, default=25, help="repeats at batch 1")
    parser.add_argument("--repeats-large", type=int, default=9, help="repeats at batch > 1")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runtime_latency")
    args = parser.parse_args(argv)
    command = provenance.command_line("runtime_latency.py", argv)
    commit = provenance.commit()
    torch.set_num_threads(1)
    machine = f"{provenance.machine()}, 1 thread"
    rows = []
    for arch in args.archs:
        for levels in args.levels:
            macs = dense_macs(arch, levels, args.seed)
            for batch in args.batches:
                repeats = args.repeats if batch == 1 else args.repeats_large
                row = measure(arch, levels, batch, repeats, args.seed)
                rows.append(row | {"dense_macs": macs})
                summary = {m: [round(r["median"], 2) for r in row["ratio"][m]] for m in MODES}
                print(f"{arch} {levels} batch {batch}: {summary}", flush=True)
    RESULTS.mkdir(exist_ok=True)
    meta = dict(command=command, commit=commit, machine=machine)
    (RESULTS / f"{args.out}.json").write_text(json.dumps(dict(meta, rows=rows), indent=1))
    md = _markdown(rows, command, commit, machine)
    provenance.write_markdown((RESULTS / f"{args.out}.md"), md)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
