"""Bad inputs get a clear error that names the argument, and never damage a file.

One test per case of the reliability issue (and per public entry point hardened beyond
them). Each asserts the error type, that the message names the offending argument, and
for file cases that the bytes on disk are unchanged.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

import mobo
import mobo.journal
from mobo.journal import JournalError, JournalLockedError

BOUNDS = [[0.0, 0.0], [1.0, 1.0]]


def _f(X: torch.Tensor) -> torch.Tensor:
    return torch.stack([-((X - 0.2) ** 2).sum(-1), -((X - 0.8) ** 2).sum(-1)], dim=-1)


def _problem(function=_f, **kwargs) -> mobo.Problem:
    """The toy problem; its journals are resumed here with wrappers of ``_f`` (counting,
    breaking, then fixed), so it is named by an explicit fingerprint, not its digest."""
    kwargs.setdefault("fingerprint", "toy")
    return mobo.FunctionProblem(function, BOUNDS, 2, [-2.0, -2.0], name="toy", **kwargs)


def _journal(tmp_path: Path, n_evals: int = 3) -> Path:
    path = tmp_path / "study.jsonl"
    mobo.optimize(_problem(), "random", n_evals=n_evals, journal=path, show_progress=False)
    return path


class _Counting:
    """A problem function that counts its calls (to prove nothing was evaluated)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, X):
        self.calls += 1
        return _f(X)


# --------------------------------------------------------------- data damaged or lost
def test_journal_last_line_without_newline_is_kept(tmp_path):
    path = _journal(tmp_path)
    complete = path.read_bytes()
    path.write_bytes(complete.rstrip(b"\n"))  # an editor / echo -n dropped the newline
    stripped = path.read_bytes()
    reader = mobo.Study.load(path, _problem(), read_only=True)
    assert reader.n_evaluated == 3  # parsed, not dropped
    assert path.read_bytes() == stripped  # a reader writes nothing
    with mobo.Study.load(path, _problem()) as writer:
        assert writer.n_evaluated == 3
        assert path.read_bytes() == complete  # the writer only restored the newline
        writer.optimize(4, show_progress=False)
    assert mobo.Study.load(path, _problem(), read_only=True).n_evaluated == 4


@pytest.mark.parametrize(
    "content",
    [b'{"hello": 1}', b'{"hello": 1}\n', b"not json at all", b"[1, 2, 3]\n", b"{}\n{}\n{"],
    ids=["json-no-newline", "json", "text", "json-list", "two-objects-and-a-torn-line"],
)
def test_load_of_a_file_that_is_not_a_journal_writes_nothing(tmp_path, content):
    path = tmp_path / "data.json"
    path.write_bytes(content)
    with pytest.raises(JournalError, match="not a mobo journal") as info:
        mobo.Study.load(path, _problem())
    assert str(path) in str(info.value)
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.json"]  # not even a lock file


HOLDER = textwrap.dedent(
    """
    import sys, time
    import mobo
    problem = mobo.FunctionProblem(
        lambda X: X, [[0.0, 0.0], [1.0, 1.0]], 2, [-2.0, -2.0], name="toy", fingerprint="toy")
    study = mobo.Study.load(sys.argv[1], problem)
    print("locked", flush=True)
    time.sleep(60)
    """
)


def test_a_second_writer_fails_fast_naming_the_file_and_the_holder(tmp_path):
    path = _journal(tmp_path)
    script = tmp_path / "hold.py"
    script.write_text(HOLDER)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    holder = subprocess.Popen(
        [sys.executable, str(script), str(path)], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = path.read_bytes()
        start = time.monotonic()
        with pytest.raises(JournalLockedError) as info:
            mobo.Study.load(path, _problem())
        assert time.monotonic() - start < 5  # fails fast, does not wait
        assert str(path) in str(info.value) and f"process {holder.pid}" in str(info.value)
        with pytest.raises(JournalLockedError, match=str(holder.pid)):
            mobo.optimize(_problem(), "random", n_evals=8, journal=path, show_progress=False)
        # A reader needs no lock.
        assert mobo.Study.load(path, _problem(), read_only=True).n_evaluated == 3
        assert path.read_bytes() == before
    finally:
        holder.kill()
        holder.wait()
    # The lock dies with its holder: a new writer goes on.
    assert (
        mobo.optimize(
            _problem(), "random", n_evals=5, journal=path, show_progress=False
        ).n_evaluations
        == 5
    )


def test_two_writing_studies_in_one_process_are_refused(tmp_path):
    path = _journal(tmp_path)
    first = mobo.Study.load(path, _problem())
    before = path.read_bytes()
    with pytest.raises(JournalLockedError, match="live study of this process"):
        mobo.Study.load(path, _problem())
    assert path.read_bytes() == before
    first.close()
    with pytest.raises(ValueError, match="read-only"):
        first.optimize(5, show_progress=False)  # a closed study cannot write
    mobo.Study.load(path, _problem()).close()


def test_a_journal_reached_through_a_symbolic_link_takes_the_same_lock(tmp_path):
    """The lock sat beside the path as given: through a link to the journal, or to its
    folder (runs/latest), a second writer got in and both evaluated the same points."""
    path = _journal(tmp_path)
    (tmp_path / "link.jsonl").symlink_to(path)
    (tmp_path / "latest").symlink_to(tmp_path, target_is_directory=True)
    first = mobo.Study.load(path, _problem())
    before = path.read_bytes()
    for other in (tmp_path / "link.jsonl", tmp_path / "latest" / path.name):
        with pytest.raises(JournalLockedError, match="live study of this process"):
            mobo.Study.load(other, _problem())
    assert path.read_bytes() == before
    first.close()


def _read_only_open(real_open):
    def fake(file, mode="r", *args, **kwargs):
        if any(c in mode for c in "aw+"):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(file))
        return real_open(file, mode, *args, **kwargs)

    return fake


def test_a_read_only_journal_is_reported_before_any_evaluation(tmp_path, monkeypatch):
    path = _journal(tmp_path)
    before = path.read_bytes()
    # A read-only file system (root ignores file modes, so simulate what the kernel says).
    monkeypatch.setattr(mobo.journal, "open", _read_only_open(open), raising=False)
    counting = _Counting()
    with pytest.raises(PermissionError, match="cannot be written.*read-only") as info:
        mobo.optimize(_problem(counting), "random", n_evals=6, journal=path, show_progress=False)
    assert str(path) in str(info.value)
    assert counting.calls == 0 and path.read_bytes() == before
    new = tmp_path / "new.jsonl"
    with pytest.raises(PermissionError, match="new.jsonl"):
        mobo.optimize(_problem(counting), "random", n_evals=6, journal=new, show_progress=False)
    assert counting.calls == 0 and not new.exists()
    monkeypatch.undo()
    assert mobo.Study.load(path, _problem(), read_only=True).n_evaluated == 3
    # A torn tail on such a file (append-only, chattr +a): cutting it was a bare error.
    with open(path, "ab") as f:
        f.write(b'{"type":"eval","index":3,"x":[0.1,')
    monkeypatch.setattr(mobo.journal, "open", _read_only_open(open), raising=False)
    with pytest.raises(PermissionError, match=f"journal {str(path)!r} cannot be written"):
        mobo.Study.load(path, _problem())


# ------------------------------------------------------- accepted silently, wrong result
def test_function_problem_wrong_output_shape_raises_at_the_first(tmp_path):
    counting = _Counting()

    def one_objective(X):
        counting(X)
        return X[:, :1]

    path = tmp_path / "shape.jsonl"
    with pytest.raises(mobo.EvaluationShapeError, match=r"toy._evaluate returned shape \(1, 1\)"):
        mobo.optimize(
            _problem(one_objective), "random", n_evals=5, journal=path, show_progress=False
        )
    assert counting.calls == 1
    assert mobo.Study.load(path, _problem(), read_only=True).n_evaluated == 0


def test_a_study_whose_every_evaluation_failed_raises_with_the_first_error():
    def broken(X):
        raise RuntimeError("the simulator is not installed")

    with pytest.raises(mobo.StudyFailedError, match="all 4 evaluations.*not installed"):
        mobo.optimize(_problem(broken), "random", n_evals=4, show_progress=False)


class _BreaksAfter:
    """A toy objective that works for its first ``good`` calls, then raises until fixed."""

    def __init__(self, good: int) -> None:
        self.good, self.calls, self.fixed = good, 0, False

    def __call__(self, X):
        self.calls += 1
        if self.calls > self.good and not self.fixed:
            raise RuntimeError("the licence server is down")
        return _f(X)


def test_a_study_stops_after_failures_in_a_row_and_resumes_once_fixed(tmp_path):
    objective, path = _BreaksAfter(good=4), tmp_path / "study.jsonl"
    problem = _problem(objective)
    with pytest.raises(mobo.StudyFailedError, match=r"last 10 evaluations.*in a row") as err:
        mobo.optimize(problem, "random", n_evals=60, journal=path, show_progress=False)
    assert "licence server is down" in str(err.value) and "journal" in str(err.value)
    assert objective.calls == 14  # 4 evaluations, then 10 failures: not 60
    objective.fixed = True  # what was computed is kept: the journal resumes to the budget
    result = mobo.optimize(problem, "random", n_evals=60, journal=path, show_progress=False)
    assert result.n_evaluations == 60 and int(result.failed.sum()) == 10
    assert not result.failed[:4].any() and result.failed[4:14].all()


def test_the_failure_streak_counts_this_call_only_and_can_be_turned_off(tmp_path):
    objective, path = _BreaksAfter(good=0), tmp_path / "study.jsonl"
    with pytest.raises(mobo.StudyFailedError, match="last 10 evaluations"):
        mobo.optimize(_problem(objective), "random", n_evals=60, journal=path, show_progress=False)
    with pytest.raises(mobo.StudyFailedError, match="last 3 evaluations"):
        mobo.optimize(  # resumed after 10 failures: 3 more, not 0
            _problem(objective),
            "random",
            n_evals=60,
            journal=path,
            show_progress=False,
            max_failures_in_a_row=3,
        )
    assert objective.calls == 13
    with pytest.raises(mobo.StudyFailedError, match="all 20 evaluations"):
        mobo.optimize(
            _problem(_BreaksAfter(good=0)),
            "random",
            n_evals=20,
            show_progress=False,
            max_failures_in_a_row=None,
        )


@pytest.mark.parametrize(
    ("limit", "error", "match"),
    [
        (0, ValueError, "max_failures_in_a_row must be positive, got 0"),
        (2.5, TypeError, "max_failures_in_a_row must be an int or None, got 2.5"),
        (True, TypeError, "max_failures_in_a_row must be an int or None, got True"),
    ],
)
def test_a_bad_failure_limit_is_refused_before_any_file_is_created(tmp_path, limit, error, match):
    path = tmp_path / "study.jsonl"
    with pytest.raises(error, match=match):
        mobo.optimize(
            _problem(),
            "random",
            n_evals=5,
            journal=path,
            show_progress=False,
            max_failures_in_a_row=limit,
        )
    assert list(tmp_path.iterdir()) == []


def test_n_evals_zero_is_refused_before_any_file_is_created(tmp_path):
    path = tmp_path / "zero.jsonl"
    with pytest.raises(ValueError, match="n_evals must be a positive int, got 0"):
        mobo.optimize(_problem(), "random", n_evals=0, journal=path, show_progress=False)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ errors that name it
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_problem_refuses_a_non_finite_ref_point(bad):
    with pytest.raises(ValueError, match="ref_point must be finite"):
        mobo.FunctionProblem(_f, BOUNDS, 2, [0.0, bad])


def test_function_problem_needs_a_callable():
    with pytest.raises(TypeError, match="function must be callable, got str"):
        mobo.FunctionProblem("f", BOUNDS, 2, [0.0, 0.0])


@pytest.mark.parametrize(
    "line, message",
    [
        ("[1, 2]", r"line 3 is not a JSON object \(got list\)"),
        ('"eval"', r"line 3 is not a JSON object \(got str\)"),
        ('{"type": "eval", "index": 9}', r"line 3 \('eval' record\) lacks \['x', 'y'\]"),
        ('{"type": "eval", "index": 9, "x": 1, "y": null}', r"line 3: an eval record needs"),
        ('{"type": "budget"}', r"line 3 \('budget' record\) lacks \['n_evals'\]"),
        ('{"type": "eval", "index": 9, "x": [0.5], "y": null}', r"line 3: an eval record's x must"),
        (
            '{"type": "eval", "index": 9, "x": ["a", "b"], "y": null}',
            r"line 3: .*x must be 2 finite n",
        ),
        ('{"type": "eval", "index": 9, "x": [0.1, 0.2], "y": [1, 2, 3]}', r"line 3: .*'s y must"),
    ],
)
def test_a_journal_line_that_is_not_a_record_is_named_by_number(tmp_path, line, message):
    path = _journal(tmp_path)
    lines = path.read_text().splitlines(keepends=True)
    lines.insert(2, line + "\n")
    path.write_text("".join(lines))
    before = path.read_bytes()
    for read_only in (True, False):
        with pytest.raises(JournalError, match=message):
            mobo.Study.load(path, _problem(), read_only=read_only)
    assert path.read_bytes() == before


def test_a_journal_path_that_is_a_directory_is_named(tmp_path):
    folder = tmp_path / "runs"
    folder.mkdir()
    for call in (
        lambda: mobo.Study(_problem(), "random", journal=folder),
        lambda: mobo.Study.load(folder, _problem()),
        lambda: mobo.optimize(_problem(), "random", n_evals=2, journal=folder),
    ):
        with pytest.raises(JournalError, match="journal path .*runs' is a directory"):
            call()
    assert list(folder.iterdir()) == []


# ----------------------------------------------------------------------------- leanet
@pytest.fixture(scope="module")
def net():
    from leanet.model import build
    from tests.leanet.conftest import tiny_base

    return build(tiny_base("convnet", input_size=8))  # 1 x 8 x 8 inputs, 5 levels


def _images(*shape, dtype=torch.float32):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(0)).to(dtype)


T = [0.5, 0.5, 0.5, 0.5]


@pytest.mark.parametrize(
    "shape, message",
    [
        ((2, 3, 8, 8), r"x has 3 channels, the network was built for 1 \(N x 1 x 8 x 8\)"),
        ((2, 1, 12, 12), r"x has images of 12 x 12 px, the network was built for 8 x 8"),
        ((2, 1, 8, 6), r"x has images of 8 x 6 px"),
        ((1, 8, 8), r"x must be a batch N x C x H x W .*1 x 8 x 8.*unsqueeze\(0\)"),
        ((2, 1, 1, 8, 8), r"x must be a batch N x C x H x W"),
    ],
    ids=["channels", "size", "not-square", "rank-3", "rank-5"],
)
def test_leanet_forward_checks_the_input_against_what_it_was_built_for(net, shape, message):
    with pytest.raises(ValueError, match=message):
        net(_images(*shape), T)


def test_leanet_forward_converts_other_float_types_once_and_refuses_integers(net):
    x = _images(3, 1, 8, 8)
    expected = net(x, T)
    for same in (x.double(), x.numpy(), x.tolist()):
        got = net(same, T)
        assert torch.equal(got.prediction, expected.prediction)
        assert torch.equal(got.exit_level, expected.exit_level)
    with pytest.raises(
        TypeError,
        match=r"x must hold standardized float images, got dtype "
        r"torch.uint8",
    ):
        net((x * 50 + 128).clamp(0, 255).to(torch.uint8), T)
    with pytest.raises(TypeError, match="x must be an N x C x H x W float tensor"):
        net("images.png", T)


def test_the_built_input_shape_round_trips_through_a_checkpoint(net, tmp_path):
    from leanet.checkpoints import load_leanet, save_leanet

    loaded, _ = load_leanet(save_leanet(tmp_path / "n.pt", net))
    assert loaded.base.config["in_channels"] == 1 and loaded.base.config["input_size"] == 8
    with pytest.raises(ValueError, match="x has 3 channels, the network was built for 1"):
        loaded(_images(2, 3, 8, 8), T)


@pytest.mark.parametrize(
    "thresholds, error, message",
    [
        (["0.5", "0.5", "0.5", "0.5"], TypeError, r"thresholds must be 4 numbers .*got list"),
        ("0.5,0.5,0.5,0.5", TypeError, r"thresholds must be 4 numbers .*got str"),
        ([[0.5, 0.5], [0.5, 0.5]], ValueError, r"thresholds must be a 1-D vector of length 4"),
        ([[0.5], [0.5, 0.5]], TypeError, r"thresholds must be 4 numbers"),
        ([0.5, 0.5, 0.5], ValueError, r"thresholds must have length L-1 = 4"),
        ([0.5, 0.5, 1.5, 0.5], ValueError, r"thresholds must lie in \[0, 1\]"),
    ],
    ids=["strings", "one-string", "nested", "ragged", "short", "range"],
)
def test_leanet_thresholds_name_the_problem(net, thresholds, error, message):
    with pytest.raises(error, match=message):
        net(_images(2, 1, 8, 8), thresholds)


def _evaluator():
    from leanet.evaluator import ThresholdEvaluator

    g = torch.Generator().manual_seed(0)
    return ThresholdEvaluator(
        torch.rand(3, 20, generator=g),
        torch.rand(3, 20, generator=g) > 0.3,
        torch.tensor([1.0, 2.0, 3.0]),
        3.0,
    )


@pytest.mark.parametrize(
    "thresholds, error, message",
    [
        (["a", "b"], TypeError, r"thresholds must be numbers \(B x 2 or one vector\)"),
        ([0.5, 0.5, 0.5], ValueError, r"thresholds must have shape B x 2"),
        ([0.5, float("nan")], ValueError, r"thresholds must lie in \[0, 1\] without NaN"),
        # not read as 0 ("exit everything here"): a sign error in the caller's code
        ([0.5, -0.5], ValueError, r"thresholds must lie in \[0, 1\] without NaN"),
    ],
)
def test_threshold_evaluator_names_bad_thresholds(thresholds, error, message):
    with pytest.raises(error, match=message):
        _evaluator().evaluate(thresholds)


@pytest.fixture(scope="module")
def artifact_path(net, tmp_path_factory):
    from leanet.artifact import save_artifact
    from leanet.costs import LevelCosts
    from leanet.evaluator import ThresholdEvaluator

    g = torch.Generator().manual_seed(0)  # a table of net's 5 levels
    evaluator = ThresholdEvaluator(
        torch.rand(5, 20, generator=g), torch.rand(5, 20, generator=g) > 0.3,
        torch.arange(1, 6.0), 5.0,
    )  # fmt: skip
    front = evaluator.evaluate(torch.tensor([[0.2] * 4, [0.9] * 4, [1.0] * 4])).pareto()
    costs = LevelCosts(torch.arange(1, 6.0), 5.0)
    return save_artifact(tmp_path_factory.mktemp("a") / "a.pt", net, front, costs)


@pytest.mark.parametrize("offset", [0.1, 0.5, 0.9, -1])
def test_an_artifact_with_a_flipped_byte_is_refused(artifact_path, tmp_path, offset):
    from leanet.artifact import load_artifact
    from leanet.checkpoints import CheckpointError

    data = bytearray(artifact_path.read_bytes())
    i = int(len(data) * offset) if offset >= 0 else len(data) - 1
    data[i] ^= 0x01
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="damaged.pt: checksum mismatch"):
        load_artifact(damaged)
    assert damaged.read_bytes() == bytes(data)
    load_artifact(artifact_path)  # the intact one loads


def test_an_artifact_of_another_format_version_is_refused(artifact_path, tmp_path):
    from leanet.artifact import load_artifact
    from leanet.checkpoints import CheckpointError

    head, _, body = artifact_path.read_bytes().partition(b"\n")
    other = tmp_path / "v9.pt"
    other.write_bytes(head.replace(b" 2 ", b" 9 ") + b"\n" + body)
    with pytest.raises(
        CheckpointError, match="artifact format version 9, this library reads version 2"
    ):
        load_artifact(other)


def test_a_checksummed_file_of_another_payload_is_not_read_as_an_artifact(tmp_path):
    """The header and checksum say the bytes are whole, not what they hold: a payload
    without the artifact format (another tool's dict under the same header) is refused."""
    import hashlib
    import io

    from leanet.artifact import load_artifact
    from leanet.checkpoints import CheckpointError

    buffer = io.BytesIO()
    torch.save({"format": "something-else", "leanet": {}}, buffer)
    body = buffer.getvalue()
    head = b"LEANET-ARTIFACT 2 sha256=" + hashlib.sha256(body).hexdigest().encode()
    (tmp_path / "other.pt").write_bytes(head + b"\n" + body)
    with pytest.raises(CheckpointError, match="other.pt: not a LEANet artifact"):
        load_artifact(tmp_path / "other.pt")


@pytest.mark.parametrize(
    "requirement, error, message",
    [
        ({"energy_budget": "0.5"}, TypeError, "energy_budget must be a number, got str '0.5'"),
        ({"energy_budget": [0.5]}, TypeError, "energy_budget must be a number, got list"),
        ({"energy_budget": float("nan")}, ValueError, "energy_budget must be finite"),
        ({"accuracy_floor": "high"}, TypeError, "accuracy_floor must be a number, got str"),
        ({"energy_budget": True}, TypeError, "energy_budget must be a number, got bool"),
    ],
)
def test_artifact_requirements_of_the_wrong_type_are_named(
    artifact_path, requirement, error, message
):
    from leanet.artifact import load_artifact

    with pytest.raises(error, match=message):
        load_artifact(artifact_path).thresholds(**requirement)


# -------------------------------------------------------------------------------- CLI
@pytest.mark.parametrize(
    "argv, option",
    [
        (["train", "--epochs", "-1"], "--epochs"),
        (["train", "--lr", "0"], "--lr"),
        (["train", "--lr", "1e308"], "--lr"),
        (["train", "--weight-decay", "-1"], "--weight-decay"),
        (["train", "--seed", "99999999999999999999"], "--seed"),
        (["train", "--batch-size", "many"], "--batch-size"),
        (["train", "--width-multiplier", "-2"], "--width-multiplier"),
        (["fit-heads", "--checkpoint", "c.pt", "--epochs", "-3"], "--epochs"),
        (["fit-heads", "--checkpoint", "c.pt", "--fine-tune-epochs", "-1"], "--fine-tune-epochs"),
        (["fit-heads", "--checkpoint", "c.pt", "--num-levels", "1"], "--num-levels"),
        (["fit-heads", "--checkpoint", "c.pt", "--fractions", "0.5,2"], "--fractions"),
        (["fit-heads", "--checkpoint", "c.pt", "--exits", "0,2"], "--exits"),
        (["optimize", "n.pt", "--n-evals", "0"], "--n-evals"),
        (["optimize", "n.pt", "--seed", "-1"], "--seed"),
        (["report", "a.pt", "--losses", "0.01,nan"], "--losses"),
        (["demo", "--n-evals", "-5"], "--n-evals"),
        (["demo", "--fine-tune-epochs", "1.5"], "--fine-tune-epochs"),
        (["train", "--seed", "4294967296"], "--seed"),  # numpy's seeds end at 2**32 - 1
        (["fit-heads", "--checkpoint", "c.pt", "--epochs", "0"], "--epochs"),
        (["fit-heads", "--checkpoint", "c.pt", "--fractions", " , "], "--fractions"),
        (["report", "a.pt", "--bound", "0"], "--bound"),
        (["design", "b.pt", "--holdout", "inf"], "--holdout"),
    ],
)
def test_cli_numeric_options_are_checked_by_argparse(argv, option, capsys, tmp_path, monkeypatch):
    from leanet.cli import main

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"argument {option}" in err and "expected" in err
    assert list(tmp_path.iterdir()) == []  # nothing created


def test_cli_range_messages_say_which_ends_are_allowed(capsys):
    from leanet.cli import build_parser

    parser = build_parser()
    for argv, says in (
        (["train", "--lr", "0"], "expected a number > 0.0 and <= 10.0, got '0'"),
        (["train", "--weight-decay", "-1"], "expected a number >= 0.0 and <= 10.0, got '-1'"),
        (["optimize", "n.pt", "--n-evals", "0"], "expected an integer >= 1, got '0'"),
    ):
        with pytest.raises(SystemExit):
            parser.parse_args(argv)
        assert says in capsys.readouterr().err
    # a list's blanks are skipped: a trailing comma is not an empty value
    args = parser.parse_args(["fit-heads", "--checkpoint", "c.pt", "--fractions", "0.5, 1.0,"])
    assert args.fractions == [0.5, 1.0]
    assert parser.parse_args(["train", "--seed", str(2**32 - 1)]).seed == 2**32 - 1


@pytest.mark.parametrize(
    "argv, message",
    [
        (["fit-heads", "--checkpoint", "c.pt", "--exits", "2"], "--exits sets depth levels"),
        (
            ["fit-heads", "--checkpoint", "c.pt", "--levels", "depth", "--fractions", "0.5,1"],
            "--fractions sets width",
        ),
        # once accepted and ignored: 5 width levels built for --num-levels 3
        (
            ["fit-heads", "--checkpoint", "c.pt", "--num-levels", "3"],
            "--num-levels sets depth levels",
        ),
        (
            ["fit-heads", "--checkpoint", "c.pt", "--levels", "depth", "--scheme", "slice"],
            "--scheme sets width levels",
        ),
        (
            ["fit-heads", "--checkpoint", "c.pt", "--levels", "depth", "--exits", "2,6"]
            + ["--num-levels", "4"],
            "--exits places the exits and --num-levels spaces them evenly: give one",
        ),
        # once written, then refused by `leanet optimize` in the evaluator's words
        (
            ["fit-heads", "--checkpoint", "c.pt", "--fractions", "1.0", "--scheme", "slice"],
            "a LEANet needs at least 2 levels; --fractions [1.0] gives 1",
        ),
        (
            ["fit-heads", "--checkpoint", "c.pt", "--levels", "depth", "--exits", "6"],
            "a LEANet needs at least 2 levels; --exits [6] gives 1",
        ),
    ],
)
def test_cli_options_of_the_other_kind_of_levels_are_refused(argv, message, capsys):
    from leanet.cli import main

    assert main(argv) == 1
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["report", "missing.pt"], "no LEANet artifact at 'missing.pt'"),
        (["optimize", "missing.pt"], "no checkpoint at"),
        (["fit-heads", "--checkpoint", "missing.pt"], "no checkpoint at"),
        (["report", "garbage.pt"], "garbage.pt: not a readable LEANet artifact"),
        (["fit-heads", "--checkpoint", "garbage.pt"], "(not a PyTorch checkpoint;"),
        (["fit-heads", "--checkpoint", "folder"], "folder is a folder, not a checkpoint file"),
        (
            ["fit-heads", "--checkpoint", "state_dict.pt"],
            "a dict without leanet's format tag (a bare state dict?), not a 'leanet.base/1' "
            "checkpoint; `leanet train` writes those",
        ),
        (["fit-heads", "--checkpoint", "module.pt"], "which leanet does not unpickle"),
        (["fit-heads", "--checkpoint", "tag_only.pt"], "checkpoint without ['config', "),
        (["optimize", "tag_only_leanet.pt"], "checkpoint without ['config', "),
    ],
)
def test_cli_failures_print_one_line_and_exit_1(argv, message, capsys, tmp_path, monkeypatch):
    from leanet.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LEANET_DEBUG", raising=False)
    (tmp_path / "garbage.pt").write_bytes(b"garbage")
    (tmp_path / "folder").mkdir()
    torch.save(torch.nn.Linear(2, 2).state_dict(), tmp_path / "state_dict.pt")
    torch.save(torch.nn.Linear(2, 2), tmp_path / "module.pt")  # a whole model, pickled
    torch.save({"format": "leanet.base/1"}, tmp_path / "tag_only.pt")
    torch.save({"format": "leanet.leanet/1"}, tmp_path / "tag_only_leanet.pt")
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("leanet: error: ") and message in err
    assert "Traceback" not in err
    assert (tmp_path / "garbage.pt").read_bytes() == b"garbage"
    with pytest.raises((FileNotFoundError, ValueError)):  # --debug: the exception itself
        main(["--debug", *argv])
    monkeypatch.setenv("LEANET_DEBUG", "1")
    with pytest.raises((FileNotFoundError, ValueError)):
        main(argv)


def test_cli_names_a_damaged_artifact(artifact_path, tmp_path, capsys):
    from leanet.cli import main

    data = bytearray(artifact_path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(bytes(data))
    assert main(["report", str(damaged)]) == 1
    assert "checksum mismatch" in capsys.readouterr().err


# ------------------------------------------------- mobo entry points: Study, optimize, Problem
@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda: mobo.Study("toy"), TypeError, "problem must be a mobo.Problem, got str"),
        (lambda: mobo.Study(_problem(), seed="0"), TypeError, "seed must be an int, got '0'"),
        # seeds 2**31 - 1 apart made the same study; 2**64 failed at the first ask
        (lambda: mobo.Study(_problem(), seed=2**31 - 1), ValueError, r"seed must be in \[0, "),
        (lambda: mobo.Study(_problem(), seed=-1), ValueError, r"seed must be in \[0, 2147483646"),
        (lambda: mobo.Study(_problem(), "qnehvi"), ValueError, "unknown algorithm 'qnehvi'"),
        (
            lambda: mobo.optimize(_problem(), "random", n_evals=-2, show_progress=False),
            ValueError,
            "n_evals must be a positive int, got -2",
        ),
        (
            lambda: mobo.optimize(_problem(), "random", n_evals=3, batch_size=0),
            ValueError,
            "batch_size must be a positive int, got 0",
        ),
    ],
    ids=["problem", "seed", "huge seed", "negative seed", "algorithm", "n_evals", "batch_size"],
)
def test_study_and_optimize_name_the_bad_argument(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_study_tell_names_a_wrong_shape():
    study = mobo.Study(_problem(), "random")
    with pytest.raises(ValueError, match=r"Y must have shape \(2, 2\), got \(2, 3\)"):
        study.tell(torch.zeros(2, 2), torch.zeros(2, 3))
    with pytest.raises(TypeError, match="X must be numeric array-like, got str"):
        study.tell("points", torch.zeros(2, 2))


@pytest.mark.parametrize(
    "bounds, message",
    [
        ([[0.0, 1.0]], r"bounds must have shape 2 x d"),
        ([[0.0, 1.0], [1.0, 1.0]], r"dimension 1 has lower=1.0 >= upper=1.0"),
        ([[0.0, 0.0], [1.0, float("inf")]], r"bounds must be finite"),
    ],
)
def test_problem_names_bad_bounds(bounds, message):
    with pytest.raises(ValueError, match=message):
        mobo.FunctionProblem(_f, bounds, 2, [0.0, 0.0])


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"objective_names": "ab"}, TypeError, "objective_names must be a list of names"),
        ({"max_hv": "5"}, ValueError, "max_hv must be a positive finite number, got '5'"),
        ({"max_hv": True}, ValueError, "max_hv must be a positive finite number"),
    ],
)
def test_problem_names_bad_declarations(kwargs, error, message):
    with pytest.raises(error, match=message):
        mobo.FunctionProblem(_f, BOUNDS, 2, [0.0, 0.0], **kwargs)
    with pytest.raises(ValueError, match="num_objectives must be a positive int, got True"):
        mobo.FunctionProblem(_f, BOUNDS, True, [0.0])
    assert mobo.FunctionProblem(_f, BOUNDS, 2, [0.0, 0.0], max_hv=torch.tensor(2.0)).max_hv


def test_a_problem_function_returning_no_numbers_is_the_callers_bug(tmp_path):
    path = tmp_path / "s.jsonl"
    with pytest.raises(mobo.EvaluationShapeError, match=r"must return an n x 2 numeric array, got"):
        mobo.optimize(
            _problem(lambda X: "ok"), "random", n_evals=3, journal=path, show_progress=False
        )
    assert mobo.Study.load(path, _problem(), read_only=True).n_evaluated == 0


# ------------------------------------------------------------------ runtime and artifacts
def test_the_runtime_refuses_inputs_it_was_not_built_for_and_keeps_answering_right(net):
    from leanet.runtime import compile_runtime

    runtime = compile_runtime(net)
    x = _images(3, 1, 8, 8)
    reference = net(x, T)
    for bad in (_images(3, 1, 16, 16), _images(3, 3, 8, 8), _images(1, 8, 8)):
        with pytest.raises(ValueError, match=r"x must be a batch N x 1 x 8 x 8 .*got shape"):
            runtime(bad, T)  # it once ran, resized its buffers, and answered wrongly after
    with pytest.raises(TypeError, match="standardized float images"):
        runtime(_images(3, 1, 8, 8).to(torch.uint8), T)
    for images in (x, x.double(), x.numpy()):  # converted as net(x, T) converts them
        decision = runtime(images, T)
        assert torch.equal(decision.prediction, reference.prediction)
        assert torch.equal(decision.exit_level, reference.exit_level)
    with pytest.raises(ValueError, match="one vector of L-1 = 4 values"):
        runtime(x, torch.tensor([T]))


def test_save_artifact_never_pairs_an_artifact_with_another_networks_runtime(net, tmp_path):
    from leanet.artifact import load_artifact, runtime_folder, save_artifact
    from leanet.costs import LevelCosts
    from leanet.evaluator import ThresholdEvaluator
    from leanet.model import build
    from tests.leanet.conftest import tiny_base

    g = torch.Generator().manual_seed(1)
    evaluator = ThresholdEvaluator(
        torch.rand(5, 20, generator=g),
        torch.rand(5, 20, generator=g) > 0.5,
        torch.arange(1, 6.0),
        5.0,
    )
    front = evaluator.evaluate(torch.tensor([[0.5] * 4, [1.0] * 4])).pareto()
    costs = LevelCosts(torch.arange(1, 6.0), 5.0)
    path = tmp_path / "a.pt"
    save_artifact(path, net, front, costs)
    other = build(tiny_base("convnet", input_size=8, seed=7), scheme="triangular")
    with pytest.raises(ValueError, match="depthwise must be one of"):
        save_artifact(path, other, front, costs, depthwise="Dense")  # fails before writing
    assert load_artifact(path).net.config()["levels"]["scheme"] == "hybrid"
    save_artifact(path, other, front, costs, runtime=False)
    assert not runtime_folder(path).exists()  # the hybrid's runtime went with its file
    x = _images(4, 1, 8, 8)
    # A runtime folder saved with another artifact is not used.
    save_artifact(tmp_path / "b.pt", net, front, costs)
    runtime_folder(tmp_path / "b.pt").rename(runtime_folder(path))
    artifact = load_artifact(path)
    with pytest.warns(UserWarning, match="was not saved with this artifact"):
        runtime = artifact.runtime()
    assert torch.equal(runtime(x, T).prediction, artifact.net(x, T).prediction)


def test_an_empty_tell_tells_nothing_and_ax_bridge_comes_with_import_mobo():
    """An empty tell was a bare IndexError; `mobo.ax_bridge.to_ax` after `import mobo`, as
    the README writes it, an AttributeError."""
    import subprocess
    import sys

    study = mobo.Study(_problem(), "sobol")
    assert study.tell(torch.zeros(0, 2), torch.zeros(0, 2)) == [] and study.n_evaluated == 0
    code = "import mobo; print(mobo.ax_bridge.to_ax.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "to_ax", out.stderr
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        mobo.nothing  # noqa: B018
