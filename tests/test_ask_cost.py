"""benchmarks/ask_cost.py: every variant timed on every problem, options parsed from JSON."""

from __future__ import annotations

import json

from tests.benchmark_scripts import load_benchmark


def test_every_variant_is_timed_each_repeat(capsys, tmp_path):
    module = load_benchmark("ask_cost")
    assert module.variant('mesmo:{"information": "front"}') == ("mesmo", {"information": "front"})
    rows = module.main(
        [
            "--problems",
            "BraninCurrin",
            "--variants",
            "sobol",
            "random",
            "--observations",
            "12",
            "--repeats",
            "2",
            "--out",
            str(tmp_path / "cost"),
        ]
    )
    assert [(r["problem"], r["variant"]) for r in rows] == [
        ("BraninCurrin", "sobol"),
        ("BraninCurrin", "random"),
    ]
    assert all(len(r["seconds"]) == 2 and min(r["seconds"]) >= 0 for r in rows)
    assert "| BraninCurrin | random |" in capsys.readouterr().out
    stored = json.loads((tmp_path / "cost.json").read_text())
    assert stored["rows"] == rows
    assert stored["commit"] == module.provenance.commit()
    md = (tmp_path / "cost.md").read_text()
    assert "Command: `.venv/bin/python benchmarks/ask_cost.py --problems BraninCurrin" in md
    assert "| BraninCurrin | random |" in md
