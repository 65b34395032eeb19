"""benchmarks/fit_heads_options.py: variants fitted through the CLI and measured."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import fit_heads_options  # noqa: E402

from leanet.cli import main as leanet_main  # noqa: E402


def test_variants_are_fitted_through_the_cli_and_measured_on_test(tmp_path):
    ckpt = tmp_path / "base.pt"
    train = ["train", "--dataset", "digits8x8", "--epochs", "1", "--width-multiplier", "0.25"]
    assert leanet_main([*train, "--out", str(ckpt), "--no-progress"]) == 0
    fit = ["--fractions", "0.5,1.0", "--epochs", "1"]
    out = tmp_path / "results" / "options"
    argv = [str(ckpt), "--samples", "200", "--out", str(out)]
    argv += ["--variant", "ft0", *fit, "--fine-tune-epochs", "0"]
    argv += ["--variant", "ft1", *fit, "--fine-tune-epochs", "1"]
    rows = fit_heads_options.main(argv)
    assert [rows[name]["fine_tune_epochs"] for name in ("ft0", "ft1")] == [0, 1]
    for row in rows.values():
        assert len(row["level_test_accuracy"]) == 2 and len(row["savings"]) == 3
        saved = [s["saved"] for s in row["savings"] if s["saved"] is not None]
        assert all(-1.0 < s < 1.0 for s in saved)
    text = out.with_suffix(".md").read_text()
    assert "| ft0 | 0 |" in text and "| ft1 | 1 |" in text and "--variant ft1" in text
    # A second run reuses the fitted LEANets (nothing refitted: their files are unchanged).
    kept = {p: p.stat().st_mtime_ns for p in out.parent.glob("*.leanet.pt")}
    assert len(kept) == 2 and fit_heads_options.main(argv) == rows
    assert {p: p.stat().st_mtime_ns for p in out.parent.glob("*.leanet.pt")} == kept


def test_a_run_without_variants_is_refused(tmp_path):
    with pytest.raises(SystemExit):
        fit_heads_options.main([str(tmp_path / "base.pt")])
