"""Batch-1 depthwise 3 x 3 convolutions on a CPU: which kernel is fastest for which shape.

The runtime (:class:`leanet.folding._Conv`) picks one of three ways to run a depthwise
convolution at batch 1, by channels and output size; this script measures the three on the
shapes MobileNet's levels meet, so the rule's thresholds come from a table:

- ``conv``: ``F.conv2d`` (oneDNN), whose glue costs ~50 us per call whatever the size;
- ``unfold``: ``F.unfold`` (im2col) + one ``baddbmm`` over channels;
- ``strided``: the zero-padded map's ``as_strided`` window view copied to columns
  (``reshape``) + one ``baddbmm``: the same product, with a plain strided copy instead of
  PyTorch's im2col kernel.

Each is the runtime's own convolution with that branch forced, traced and frozen as the
runtime's steps are (``leanet.tracing.trace``), and timed
interleaved on one thread (:func:`leanet.timing.cpu_times`, CPU time, median over repeats).

    python benchmarks/depthwise_kernels.py            # results/depthwise_kernels.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).parent))
import provenance  # noqa: E402

from leanet.folding import _Conv  # noqa: E402
from leanet.timing import cpu_times  # noqa: E402
from leanet.tracing import trace as _trace  # noqa: E402

RESULTS = Path(__file__).parent / "results"
#: (channels, map side, stride): the 3 x 3 depthwise layers of MobileNet x0.25-x1 on 32 x 32
#: inputs (the study's digits are upsampled to 32 x 32), plus larger maps for the bounds.
SHAPES = [
    (8, 32, 1),
    (16, 32, 2),
    (16, 32, 1),
    (32, 32, 2),
    (32, 16, 1),
    (32, 32, 1),
    (64, 8, 1),
    (64, 16, 2),
    (64, 16, 1),
    (64, 4, 1),
    (128, 8, 1),
    (128, 8, 2),
    (128, 4, 1),
    (256, 4, 1),
    (256, 4, 2),
    (512, 2, 1),
]


#: Output bound that no shape here reaches: forces a branch of the runtime's convolution.
_ALWAYS = 1 << 30


def _kernel(kind: str, channels: int, stride: int, x: Tensor):
    """The runtime's own depthwise convolution (:class:`leanet.folding._Conv`) with its
    batch-1 branch forced to ``kind``, traced and frozen as the runtime's steps are."""
    like = nn.Conv2d(channels, channels, 3, stride, 1, groups=channels)
    conv = _Conv(like.weight, like.bias, like, channels, depthwise=True)
    conv.max_outputs = _ALWAYS if kind == "unfold" else 0
    conv.max_strided = _ALWAYS if kind == "strided" else 0
    return _trace(nn.Sequential(conv), (x,))  # inside a step, as in the runtime


def measure(channels: int, size: int, stride: int, repeats: int) -> dict:
    x = torch.randn(1, channels, size, size, generator=torch.Generator().manual_seed(1))
    fns, want = {}, None
    for kind in ("conv", "unfold", "strided"):
        torch.manual_seed(0)  # the same weights for every kind
        step = _kernel(kind, channels, stride, x)
        with torch.no_grad():
            got = step(x)
        want = got if want is None else want
        if not torch.allclose(got, want, atol=1e-4):
            raise AssertionError(f"{kind} disagrees with conv on {channels}x{size}x{size}")
        fns[kind] = lambda step=step: step(x)
    with torch.no_grad():
        times = cpu_times(fns, repeats=repeats)
    out = (size - 1) // stride + 1
    return {
        "channels": channels,
        "size": size,
        "stride": stride,
        "outputs": channels * out * out,
        **{f"{k}_us": t.median * 1e6 for k, t in times.items()},
    }


def markdown(rows: list[dict], command: str, commit: str, machine: str) -> str:
    lines = [
        "# Batch-1 depthwise 3 x 3 kernels: oneDNN, im2col, strided copy",
        "",
        f"Command: `{command}`  ",
        f"Commit: `{commit}`  ",
        f"Machine: {machine}, 1 thread",
        "",
        "CPU microseconds per call, median over repeats (traced and frozen, timed "
        "interleaved); ratios over oneDNN's time. The runtime's rule is in "
        "`leanet.folding` (`STRIDED_DEPTHWISE_*`, `UNFOLD_DEPTHWISE_OUTPUTS`).",
        "",
        "| channels | map | stride | outputs | conv us | unfold us | strided us | "
        "unfold / conv | strided / conv |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        c = r["conv_us"]
        lines.append(
            f"| {r['channels']} | {r['size']} x {r['size']} | {r['stride']} | {r['outputs']} "
            f"| {c:.1f} | {r['unfold_us']:.1f} | {r['strided_us']:.1f} "
            f"| {r['unfold_us'] / c:.2f} | {r['strided_us'] / c:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=31)
    parser.add_argument("--out", type=Path, default=RESULTS / "depthwise_kernels")
    args = parser.parse_args(argv)
    rows = []
    for shape in SHAPES:
        rows.append(measure(*shape, repeats=args.repeats))
        print({k: round(v, 1) if isinstance(v, float) else v for k, v in rows[-1].items()})
    command = provenance.command_line("depthwise_kernels.py", argv)
    commit, machine = provenance.commit(), provenance.machine()
    payload = {"command": command, "commit": commit, "machine": machine, "rows": rows}
    provenance.write_results(args.out, payload, markdown(rows, command, commit, machine))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
