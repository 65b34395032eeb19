"""benchmarks/max_hv.py: the best known maximum hypervolumes that mobo.problems carries."""

from __future__ import annotations

from tests.benchmark_scripts import load_benchmark


def test_the_carried_maxima_are_above_every_evaluated_front_and_botorchs(tmp_path):
    payload = load_benchmark("max_hv").main(
        ["--rounds", "2", "--front-points", "2001", "--out", str(tmp_path / "max_hv")]
    )
    for row in payload["rows"]:
        trace = row["trace"]
        assert trace == sorted(trace), row["problem"]  # refining never loses volume
        assert row["botorch"] < trace[-1] <= row["carried"], row["problem"]
    assert (tmp_path / "max_hv.md").read_text().count("| grid + refinement |") == 2
