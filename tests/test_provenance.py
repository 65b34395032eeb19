"""Every results file names the command and the commit that made it
(``benchmarks/provenance.py``)."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.benchmark_scripts import BENCHMARKS, load_benchmark


def test_commit_is_the_checkouts_short_head_marked_when_tracked_files_changed():
    module = load_benchmark("provenance")

    def git(*args):  # asked directly, not through the module's helper
        out = subprocess.run(["git", *args], cwd=BENCHMARKS, capture_output=True, text=True)
        return out.stdout.strip()

    dirty = git("status", "--porcelain", "--untracked-files=no")
    code = [line for line in dirty.splitlines() if "benchmarks/results/" not in line]
    assert module.commit() == git("rev-parse", "--short", "HEAD") + ("+changes" if code else "")
    assert re.fullmatch(r"[0-9a-f]{7,}(\+changes)?", module.commit())


def test_commit_outside_a_checkout_is_unknown(tmp_path, monkeypatch):
    module = load_benchmark("provenance")
    monkeypatch.setattr(module, "_ROOT", tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    assert module.commit() == "unknown"


def test_command_line_quotes_what_the_shell_would_split():
    module = load_benchmark("provenance")
    line = module.command_line("x.py", ["--note", "two words", "--seeds", "3"])
    assert line == ".venv/bin/python benchmarks/x.py --note 'two words' --seeds 3"


def test_machine_names_the_cpu_architecture_and_torch():
    import platform

    import torch

    text = load_benchmark("provenance").machine()
    assert f"({platform.machine()}" in text and text.endswith(f"torch {torch.__version__}")
    # Two CPUs sold under one name can round differently: the kernels torch runs are named.
    assert f"{torch.backends.cpu.get_cpu_capability()} kernels" in text


def test_machines_of_names_each_machine_once_and_runs_without_one():
    module = load_benchmark("provenance")
    runs = [{"machine": "A"}, {"machine": "B"}, {"machine": "A"}, {}]
    assert module.machines_of(runs, extra=", 1 thread") == "A, 1 thread; B, 1 thread; unrecorded"
    assert module.machines_of([]) == "none"


def test_merge_runs_keeps_the_first_run_of_a_key_and_adds_the_rest():
    module = load_benchmark("provenance")
    mine = [{"seed": 0, "hv": 1.0}, {"seed": 1, "hv": 2.0}]
    other = [{"seed": 1, "hv": 9.0}, {"seed": 2, "hv": 3.0}, {"seed": 2, "hv": 8.0}]
    merged = module.merge_runs(mine, other, key=lambda r: r["seed"])
    assert merged == [{"seed": 0, "hv": 1.0}, {"seed": 1, "hv": 2.0}, {"seed": 2, "hv": 3.0}]
    assert len(mine) == 2  # the caller's list is not changed
    assert module.merge_runs(merged, other, key=lambda r: r["seed"]) == merged  # idempotent


def test_read_results_names_a_missing_file(tmp_path):
    module = load_benchmark("provenance")
    (tmp_path / "part.json").write_text('{"runs": []}')
    assert module.read_results(tmp_path / "part") == {"runs": []}
    with pytest.raises(FileNotFoundError, match="missing.json"):
        module.read_results(tmp_path / "missing")


def test_write_markdown_regenerates_the_tables_and_keeps_the_findings(tmp_path):
    module = load_benchmark("provenance")
    path = tmp_path / "r.md"
    module.write_markdown(path, "# R\n\n| a | 1 |")  # a new file: just the text
    assert path.read_text() == "# R\n\n| a | 1 |"
    path.write_text(path.read_text() + "\n## What this says\n\nA finding.\n")
    module.write_markdown(path, "# R\n\n| a | 1 |")  # the same tables: kept as they are
    assert path.read_text() == "# R\n\n| a | 1 |\n## What this says\n\nA finding.\n"
    # Other tables: the findings may quote old figures, and say so (once).
    stale = f"# R\n\n| a | 2 |\n## What this says\n\n{module.STALE}\n\nA finding.\n"
    module.write_markdown(path, "# R\n\n| a | 2 |")
    assert path.read_text() == stale
    module.write_markdown(path, "# R\n\n| a | 3 |")
    assert path.read_text() == stale.replace("| a | 2 |", "| a | 3 |")
    # A heading that goes on keeps its line: the marker went between "says" and its date.
    path.write_text("# R\n## What this says (2026-12-04)\n\nA finding.\n")
    module.write_markdown(path, "# R2\n")
    assert (
        path.read_text()
        == f"# R2\n## What this says (2026-12-04)\n\n{module.STALE}\n\nA finding.\n"
    )
    module.write_markdown(path, "# R3\n")  # once
    assert path.read_text().count(module.STALE) == 1
    # the heading only counts at the start of a line
    path.write_text("# R\n\nsee ## What this says below\n")
    module.write_markdown(path, "# R2\n")
    assert path.read_text() == "# R2\n"


def test_write_results_writes_the_payload_and_the_report_keeping_the_findings(tmp_path, capsys):
    import json

    module = load_benchmark("provenance")
    out = tmp_path / "sub" / "r"  # the folder is made
    module.write_results(out, {"rows": [1]}, "# R\n")
    (tmp_path / "sub" / "r.md").write_text("# R\n## What this says\n\nA finding.\n")
    module.write_results(out, {"rows": [2]}, "# R2\n")
    assert json.loads((tmp_path / "sub" / "r.json").read_text()) == {"rows": [2]}
    expected = f"# R2\n## What this says\n\n{module.STALE}\n\nA finding.\n"
    assert (tmp_path / "sub" / "r.md").read_text() == expected
    assert capsys.readouterr().out == "# R\n\n# R2\n\n"


def test_a_store_rewrite_that_fails_leaves_the_old_file_whole(tmp_path, monkeypatch):
    """A full disk mid-rewrite truncated a store of 6 runs to 4096 unreadable bytes (and a
    report's findings with it); the rewrite now replaces the file only once written."""
    import errno
    import os

    module = load_benchmark("provenance")
    store = tmp_path / "runs.json"
    module.write_atomic(store, '{"runs": [1, 2, 3]}')
    report = tmp_path / "r.md"
    report.write_text("# R\n## What this says\n\nA finding.\n")
    real_fsync = os.fsync

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(module.os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left"):
        module.write_atomic(store, '{"runs": [1, 2, 3, 4]}')
    with pytest.raises(OSError, match="No space left"):
        module.write_markdown(report, "# R2\n")
    monkeypatch.setattr(module.os, "fsync", real_fsync)
    assert module.read_json(store) == {"runs": [1, 2, 3]}
    assert "A finding." in report.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.md", "runs.json"]  # no leftovers
    # A store damaged otherwise is named, not a bare JSONDecodeError.
    store.write_text('{"runs": [1, 2')
    with pytest.raises(ValueError, match="runs.json is not readable JSON"):
        module.read_json(store, {"runs": []})
    assert module.read_json(tmp_path / "none.json", {"runs": []}) == {"runs": []}
    store.write_bytes(b'{"runs": [\xff\xfe')  # damaged bytes that are not even UTF-8
    with pytest.raises(ValueError, match="runs.json is not readable JSON"):
        module.read_json(store)


def test_without_note_elides_only_the_note_text():
    provenance = load_benchmark("provenance")
    command = provenance.command_line("s.py", ["--seeds", "3", "--note", "long findings", "--x"])
    assert provenance.without_note(command) == (
        ".venv/bin/python benchmarks/s.py --seeds 3 --note '<findings, as of that merge>' --x"
    )
    assert provenance.without_note("a.py --seeds 3") == "a.py --seeds 3"


def test_a_report_heading_names_its_command_commit_and_machine():
    provenance = load_benchmark("provenance")
    lines = provenance.heading("A title", ".venv/bin/python benchmarks/x.py --seed 1")
    assert lines[0] == "# A title"
    assert "`.venv/bin/python benchmarks/x.py --seed 1`" in lines[2]
    assert lines[3] == f"Commit: `{provenance.commit()}`  "
    assert lines[4] == f"Machine: {provenance.machine()}" and lines[-1] == ""


def test_reported_runs_are_those_of_the_seeds_and_settings_asked_for():
    provenance = load_benchmark("provenance")
    runs = [
        {"seed": 0, "budget": 30},
        {"seed": 2, "budget": 30},
        {"seed": 1, "budget": 12},
        {"seed": 1, "budget": 30},
    ]
    assert provenance.reported(runs, 2, budget=30) == [runs[0], runs[3]]
