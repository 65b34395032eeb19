"""``python -m mobo.demo``: what it does with the journals already in its --out folder."""

from __future__ import annotations

import json

import pytest

import mobo
from mobo.demo import main
from mobo.journal import Journal


def test_the_demo_starts_over_only_journals_no_other_process_writes(tmp_path, capsys):
    # The demo deleted its journals before taking their locks: a second run with the same
    # --out wiped the journal of a study still running (77 lines gone, a headerless
    # fragment left that Study.load refused).
    out = tmp_path / "demo"
    running = out / "sobol-seed0.jsonl"
    study = mobo.Study(mobo.problems.make("BraninCurrin"), "sobol", seed=0, journal=running)
    study.optimize(3, show_progress=False)
    held = running.read_bytes()
    with pytest.raises(mobo.JournalLockedError) as refused:
        main(["--algorithm", "sobol", "--n-evals", "4", "--out", str(out)])
    assert running.read_bytes() == held
    assert f"in --out {out}/: let the run that writes there end" in str(refused.value)
    study.close()

    stranger = tmp_path / "mine" / "sobol-seed0.jsonl"  # a file of the user's, not a journal
    stranger.parent.mkdir()
    stranger.write_text("my notes\n")
    with pytest.raises(mobo.JournalError, match="not a mobo journal"):
        main(["--algorithm", "sobol", "--n-evals", "4", "--out", str(stranger.parent)])
    assert stranger.read_text() == "my notes\n"

    capsys.readouterr()
    main(["--algorithm", "sobol", "--n-evals", "4", "--out", str(out)])  # no one holds it now
    printed = capsys.readouterr().out
    assert f"starting over: replacing {running} (3 evaluations of an earlier run)" in printed
    records = [json.loads(line) for line in running.read_text().splitlines()]
    assert records[0]["type"] == "header"
    assert sum(r["type"] == "eval" for r in records) == 4


def test_the_demo_deletes_no_journal_while_another_one_is_refused(tmp_path, capsys):
    # start_over removed each journal in turn: a second run with the same --out deleted
    # the first run's finished qlognehvi journal, then refused on its running sobol one.
    out = tmp_path / "demo"
    problem = mobo.problems.make("BraninCurrin")
    finished = out / "qlognehvi-seed0.jsonl"
    mobo.optimize(problem, "sobol", n_evals=3, seed=0, journal=finished, show_progress=False)
    kept = finished.read_bytes()
    running = mobo.Study(problem, "sobol", seed=0, journal=out / "sobol-seed0.jsonl")
    running.optimize(2, show_progress=False)
    try:
        with pytest.raises(mobo.JournalLockedError):
            main(["--n-evals", "4", "--out", str(out)])
        assert finished.read_bytes() == kept
        assert "starting over" not in capsys.readouterr().out
        writer, _, _ = Journal.open_writer(finished)  # the refusal released its lock
        writer.close()
    finally:
        running.close()


def test_the_demo_leaves_the_callers_warning_filters_and_figures_alone(tmp_path):
    # main() added a global "ignore FutureWarning", never removed (every later FutureWarning
    # in the process hidden), and its plt.close("all") closed the caller's own figures.
    import warnings

    import matplotlib.pyplot as plt

    mine = plt.figure()
    before, open_before = list(warnings.filters), plt.get_fignums()
    try:
        main(["--algorithm", "sobol", "--n-evals", "4", "--out", str(tmp_path)])
        assert warnings.filters == before
        assert plt.get_fignums() == open_before  # the caller's, and none of the demo's
        for plot in ("pareto_front.png", "hypervolume.png"):
            assert (tmp_path / plot).stat().st_size > 0
    finally:
        plt.close(mine)


def test_importing_the_demo_keeps_the_users_matplotlib_backend():
    # Its module-level matplotlib.use("Agg") replaced the user's backend (a notebook's
    # inline one: later figures were drawn but never shown).
    import subprocess
    import sys

    code = "import matplotlib; matplotlib.use('svg'); import mobo.demo; "
    code += "print(matplotlib.get_backend())"
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert ran.stdout.strip() == "svg", ran.stderr


def test_the_demo_run_again_replaces_both_journals_with_studies_of_its_seed(tmp_path, capsys):
    out = tmp_path / "runs" / "demo"  # parents made too
    argv = ["--algorithm", "random", "--n-evals", "3", "--seed", "2", "--out", str(out)]
    main(argv)
    capsys.readouterr()
    main(argv)
    printed = capsys.readouterr().out
    for name in ("random", "sobol"):
        journal = out / f"{name}-seed2.jsonl"
        assert f"starting over: replacing {journal} (3 evaluations" in printed
        header = json.loads(journal.read_text().splitlines()[0])
        assert header["seed"] == 2 and header["algorithm"] == name
        writer, _, _ = Journal.open_writer(journal)  # the demo let go of its lock
        writer.close()
