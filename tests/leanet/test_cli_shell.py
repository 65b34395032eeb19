"""The command line as a shell user and a script use it (sweep 32): progress bars off when
asked, what a rerun says, where --debug goes, a closed output pipe."""

from __future__ import annotations

import os
import sys

import pytest
import tqdm.auto

from leanet.cli import COMMANDS, main


@pytest.fixture(scope="module")
def tiny_leanet(tmp_path_factory):
    """An untrained 2-level hybrid LEANet on the 8x8 digits, saved as fit-heads saves one."""
    import leanet
    from leanet.checkpoints import save_leanet
    from tests.leanet.conftest import tiny_base

    net = leanet.build(tiny_base("convnet"), fractions=(0.5, 1.0), scheme="hybrid")
    path = tmp_path_factory.mktemp("cli") / "net.leanet.pt"
    return save_leanet(path, net, meta={"dataset": "digits8x8"}, split_seed=0)


def optimize(leanet_path, out, n_evals: int, *more: str) -> list[str]:
    """``leanet optimize`` of ``leanet_path`` with Sobol, its artifact at ``out``."""
    algorithm = ["--algorithm", "sobol", "--n-evals", str(n_evals)]
    return ["optimize", str(leanet_path), *algorithm, "--out", str(out), *more]


def test_no_progress_hides_every_bar_of_optimize_and_report(tiny_leanet, tmp_path, monkeypatch):
    # The level-records bars of optimize and report were made with disable=None (shown on
    # a terminal) under --no-progress.
    import leanet.records
    import leanet.reference_front
    import mobo.evaluate

    made = []

    class Spy(tqdm.auto.tqdm):
        def __init__(self, *args, **kwargs):
            made.append((kwargs.get("desc"), kwargs.get("disable")))
            super().__init__(*args, **kwargs)

    for module in (leanet.records, leanet.reference_front, mobo.evaluate):
        monkeypatch.setattr(module, "tqdm", Spy)
    artifact = tmp_path / "a.pt"
    assert main(optimize(tiny_leanet, artifact, 3, "--no-progress")) == 0
    # report reads the test split, and the validation split for the full network's accuracy
    assert main(["report", str(artifact), "--no-progress"]) == 0
    assert [desc for desc, _ in made].count("level records") == 3
    assert all(disable is True for _, disable in made), made


def test_a_rerun_says_it_resumes_the_journal_and_how_far_it_got(tiny_leanet, tmp_path, capsys):
    # A rerun after Ctrl-C resumed 19 of 30 evaluations from the journal without a word.
    artifact = tmp_path / "a.pt"
    journal = tmp_path / "a.sobol-seed0.jsonl"
    assert main(optimize(tiny_leanet, artifact, 3, "--no-progress")) == 0
    assert "resuming" not in capsys.readouterr().err  # a new journal
    assert main(optimize(tiny_leanet, artifact, 5, "--no-progress")) == 0
    captured = capsys.readouterr()
    note = f"leanet: note: resuming {journal}: 3 of 5 evaluations already done"
    assert note in captured.err.splitlines()
    assert "5 evaluations" in captured.out
    assert main(optimize(tiny_leanet, artifact, 5, "--no-progress")) == 0
    note = f"leanet: note: {journal} already holds 5 evaluations (--n-evals 5): nothing left"
    assert note in capsys.readouterr().err
    # A smaller budget reports and saves its first evaluations, as `leanet demo` does: it
    # printed and saved the 5-evaluation front for --n-evals 4.
    assert main(optimize(tiny_leanet, artifact, 4, "--no-progress")) == 0
    captured = capsys.readouterr()
    note = f"leanet: note: {journal} holds 5 evaluations; the first 4 are used (--n-evals 4)"
    assert note in captured.err.splitlines()
    assert "4 evaluations" in captured.out and "5 evaluations" not in captured.out


def test_debug_shows_the_traceback_before_or_after_the_command(tmp_path, capsys):
    # The hint says "--debug shows the traceback"; added after the command, as one adds any
    # option, it was a usage error (exit 2).
    missing = str(tmp_path / "missing.pt")
    assert main(["report", missing]) == 1
    assert "(--debug shows the traceback)" in capsys.readouterr().err
    for argv in (["report", missing, "--debug"], ["--debug", "report", missing]):
        with pytest.raises(FileNotFoundError, match="no LEANet artifact"):
            main(argv)


def test_output_into_a_closed_pipe_ends_quietly_with_sigpipes_status(monkeypatch, capsys):
    # `leanet optimize ... | head -1` did all its work, then printed "leanet: error: [Errno
    # 32] Broken pipe" and exited 1.
    def prints_a_table(args):
        for row in range(10_000):  # more than a pipe's buffer
            print(f"{row:8d} a row of a long table")
        return 0

    help_text, add_args, _ = COMMANDS["report"]
    monkeypatch.setitem(COMMANDS, "report", (help_text, add_args, prints_a_table))
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone
    with open(write_end, "w") as closed:
        monkeypatch.setattr(sys, "stdout", closed)
        assert main(["report", "any.pt"]) == 141
        print("after the command")  # stdout now leads nowhere: no second error at exit
        monkeypatch.undo()
    assert capsys.readouterr().err == ""


def test_outs_that_differ_after_their_last_dot_keep_their_own_journals(
    tiny_leanet, tmp_path, capsys
):
    # The journal and level cache were named by replacing --out's last suffix, so --out
    # exp.1 and --out exp.2 shared exp.sobol-seed0.jsonl: the second run found the first's
    # 3 evaluations done (with other settings it was refused: "give another --out").
    for out in ("exp.1", "exp.2"):
        assert main(optimize(tiny_leanet, tmp_path / out, 3, "--no-progress")) == 0
        err = capsys.readouterr().err
        assert "already holds" not in err and "resuming" not in err
    journals = sorted(p.name for p in tmp_path.glob("*.jsonl"))
    assert journals == ["exp.1.sobol-seed0.jsonl", "exp.2.sobol-seed0.jsonl"]
    assert (tmp_path / "exp.1.val.pt").exists() and (tmp_path / "exp.2.val.pt").exists()


def test_optimize_and_demo_take_the_n_initial_mobo_advises(tiny_leanet, tmp_path, monkeypatch):
    """A budget within the initial design warned to pass n_initial, and `leanet optimize` and
    `leanet demo` refused --n-initial (status 2): a CLI user could not follow the advice."""
    import json
    import warnings

    import leanet.demo

    artifact = tmp_path / "a.pt"
    command = optimize(tiny_leanet, artifact, 3, "--n-initial", "2", "--no-progress")
    command[command.index("sobol")] = "qlognehvi"  # 1 threshold: a design of 4 by default
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(command) == 0
    assert not [w for w in caught if "initial Sobol design" in str(w.message)]
    journal = tmp_path / "a.qlognehvi-init2-seed0.jsonl"  # not the default design's study
    header = json.loads(journal.read_text().splitlines()[0])
    assert header["algorithm_options"] == {"n_initial": 2}
    given = []
    monkeypatch.setattr(leanet.demo, "run_demo", given.append)
    assert main(["demo", "--n-evals", "10", "--n-initial", "5"]) == 0
    assert (given[0].n_evals, given[0].n_initial) == (10, 5)


def test_a_broken_pipe_other_than_stdout_is_an_error_and_leaves_stdout_alone(monkeypatch, capsys):
    # Any BrokenPipeError (a worker's pipe) ended the run with 141 and no word, and sent
    # stdout to devnull; with a stdout that has no descriptor (Jupyter's, pytest's) the
    # handler itself raised io.UnsupportedOperation.
    def breaks_a_workers_pipe(args):
        print("half the work done")
        raise BrokenPipeError(32, "Broken pipe")

    help_text, add_args, _ = COMMANDS["report"]
    monkeypatch.setitem(COMMANDS, "report", (help_text, add_args, breaks_a_workers_pipe))
    assert main(["report", "any.pt"]) == 1  # stdout without a descriptor
    captured = capsys.readouterr()
    assert captured.out == "half the work done\n"
    assert captured.err == "leanet: error: [Errno 32] Broken pipe (--debug shows the traceback)\n"
    read_end, write_end = os.pipe()  # stdout an open pipe, its reader still there
    with open(read_end) as reader, open(write_end, "w") as open_pipe:
        monkeypatch.setattr(sys, "stdout", open_pipe)
        assert main(["report", "any.pt"]) == 1
        print("after the command", flush=True)  # stdout still leads to its reader
        monkeypatch.undo()
        open_pipe.close()
        assert reader.read() == "half the work done\nafter the command\n"


def test_optimize_by_default_saves_next_to_its_leanet_with_its_seed_and_split(
    tiny_leanet, tmp_path, capsys
):
    """Without --out the artifact and its journal go next to the LEANet, named after it;
    --seed reaches the search and names the journal; --split-seed is the split recorded."""
    import json
    import shutil

    from leanet.artifact import load_artifact

    net = shutil.copy(tiny_leanet, tmp_path / "net.leanet.pt")
    argv = ["optimize", str(net), "--algorithm", "sobol", "--n-evals", "2", "--seed", "5"]
    assert main([*argv, "--split-seed", "1", "--no-progress"]) == 0
    artifact = tmp_path / "net.leanet.artifact.pt"
    journal = tmp_path / "net.leanet.artifact.sobol-seed5.jsonl"
    captured = capsys.readouterr()
    assert f"saved {artifact} (journal {journal})" in captured.out
    assert "records the data split of seed 0; measuring it on seed 1's" in captured.err
    assert json.loads(journal.read_text().splitlines()[0])["seed"] == 5
    assert load_artifact(artifact).meta["split_seed"] == 1  # the split it was measured on


def test_optimize_refuses_an_out_it_cannot_write_before_any_work(tiny_leanet, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    out = blocker / "sub" / "a.pt"
    assert main(optimize(tiny_leanet, out, 2, "--no-progress")) == 1
    assert f"--out {out}: {blocker} is a file, not a folder" in capsys.readouterr().err
    assert sorted(tmp_path.iterdir()) == [blocker]


def test_a_journal_another_run_holds_is_one_line_with_what_to_do(
    tiny_leanet, tmp_path, monkeypatch, capsys
):
    import leanet.problem
    import mobo

    def locked(*args, **kwargs):
        raise mobo.JournalLockedError("a.jsonl is being written by process 123")

    monkeypatch.setattr(leanet.problem, "search_thresholds", locked)
    assert main(optimize(tiny_leanet, tmp_path / "a.pt", 2, "--no-progress")) == 1
    err = capsys.readouterr().err
    assert err.startswith("leanet: error: a.jsonl is being written by process 123; from the")
    assert "let that run end, or give another --out" in err and len(err.splitlines()) == 1


def test_demo_passes_every_option_to_its_run_and_keeps_its_defaults(tmp_path, monkeypatch):
    from dataclasses import replace

    import leanet.demo
    from leanet.demo import DemoConfig

    given = []
    monkeypatch.setattr(leanet.demo, "run_demo", given.append)
    assert main(["demo"]) == 0
    assert given[-1] == DemoConfig()
    argv = ["demo", "--out", str(tmp_path), "--algorithm", "sobol", "--seed", "3"]
    argv += ["--scheme", "triangular", "--fine-tune-epochs", "2", "--no-progress"]
    assert main(argv) == 0
    assert given[-1] == replace(
        DemoConfig(),
        out=tmp_path,
        algorithm="sobol",
        seed=3,
        scheme="triangular",
        fine_tune_epochs=2,
        progress=False,
    )


def _report_runs(monkeypatch, run):
    help_text, add_args, _ = COMMANDS["report"]
    monkeypatch.setitem(COMMANDS, "report", (help_text, add_args, run))


def test_ctrl_c_ends_with_one_line_and_status_130_unless_debugging(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    _report_runs(monkeypatch, interrupted)
    monkeypatch.delenv("LEANET_DEBUG", raising=False)
    assert main(["report", "any.pt"]) == 130
    assert capsys.readouterr().err == "leanet: interrupted\n"
    with pytest.raises(KeyboardInterrupt):
        main(["report", "any.pt", "--debug"])


def test_leanet_debug_0_is_off_and_an_error_without_words_is_named(monkeypatch, capsys):
    def fails(args):
        raise RuntimeError()

    _report_runs(monkeypatch, fails)
    monkeypatch.setenv("LEANET_DEBUG", "0")
    assert main(["report", "any.pt"]) == 1
    err = capsys.readouterr().err
    assert err == "leanet: error: RuntimeError (--debug shows the traceback)\n"


def test_warnings_are_one_line_during_a_command_and_as_before_after_it(monkeypatch, capsys):
    import warnings

    def warns(args):
        warnings.warn("a long\n   warning", UserWarning, stacklevel=1)
        return 0

    _report_runs(monkeypatch, warns)
    monkeypatch.delenv("LEANET_DEBUG", raising=False)
    before = warnings.showwarning
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert main(["report", "any.pt"]) == 0
        assert warnings.showwarning is before
    assert capsys.readouterr().err == "leanet: warning: a long warning\n"
