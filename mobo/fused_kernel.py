"""BoTorch's fused C++ kernel for log-EHVI acquisitions, built before the first study needs it.

BoTorch (0.18) compiles ``botorch/csrc/logei_fused.cpp`` with ``-march=native`` the first
time a qLogEHVI or qLogNEHVI is made in an environment (``torch.utils.cpp_extension``,
cached under ``~/.cache/torch_extensions``: one build per name, redone when another
environment built it last), and falls back to its pure-PyTorch path, with a warning, where
no compiler is found. mobo's qLogNEHVI, constrained qLogNEHVI and USeMO's noisy scores use
it. Measured on a 2-core AMD EPYC (AVX2), torch on 1 thread: the compile takes 40-110 s, a
silent stall inside a study's first model-based step; the kernel saves 27-31% / 8% / 20% of
a 50-evaluation qLogNEHVI study's CPU time on BraninCurrin / DTLZ2 / VehicleSafety; and the
two paths round differently, so one seed's proposals part after a few model-based steps
(``benchmarks/results/reproducibility.md``). So the kernel is kept, and ``make setup``
builds it once: ``python -m mobo.fused_kernel`` does it anywhere and says which path studies
will take.
"""

from __future__ import annotations

from mobo.expected_warnings import quiet_torch_extension_log

__all__ = ["load"]


def load() -> bool:
    """Build (once per environment) and load BoTorch's fused log-EHVI kernel; whether
    log-EHVI acquisitions in this process will use it. False where it cannot compile
    (BoTorch has warned why) or where this BoTorch has no such kernel."""
    from botorch.acquisition.multi_objective import logei

    try_load = getattr(logei, "_try_load_fused_kernel", None)
    if try_load is None:  # a BoTorch without the kernel: nothing to build
        return False
    with quiet_torch_extension_log():
        try_load()
    return getattr(logei, "_C", None) is not None


def main() -> None:
    if load():
        print("BoTorch's fused log-EHVI kernel: built and loaded (qLogNEHVI uses it)")
    else:
        print(
            "BoTorch's fused log-EHVI kernel: not available; qLogNEHVI takes BoTorch's "
            "pure-PyTorch path (8-46% more CPU time, and a seed's proposals differ from a "
            "machine with the kernel)"
        )


if __name__ == "__main__":
    main()
