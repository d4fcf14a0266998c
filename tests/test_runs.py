"""Run directories: which run is the default, and writes that keep the user's file mode."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from namelstm.errors import NamelstmError
from namelstm.runs import PRETRAINED, atomic_write_bytes, default_model, find_latest_run


def _fake_run(directory: Path, mtime: float) -> Path:
    directory.mkdir(parents=True)
    (directory / "checkpoint.pt").write_bytes(b"")
    os.utime(directory / "checkpoint.pt", (mtime, mtime))
    return directory


def test_only_runs_directly_under_outputs_can_be_the_latest(tmp_path: Path) -> None:
    mine = _fake_run(tmp_path / "outputs" / "lstm", 1_000)
    _fake_run(tmp_path / "outputs" / "compare" / "rnn-e2-s0", 2_000)  # newer, but a compare run
    assert find_latest_run(tmp_path / "outputs") == mine
    assert default_model(tmp_path / "outputs") == (mine, f"using the latest run, {mine}")


def test_with_no_run_the_default_is_the_pretrained_model(tmp_path: Path) -> None:
    source, note = default_model(tmp_path / "outputs")
    assert source == PRETRAINED and "using the pretrained model" in note


def test_atomic_writes_follow_the_umask_without_changing_it(tmp_path: Path) -> None:
    previous = os.umask(0o027)
    try:
        atomic_write_bytes(tmp_path / "f.json", b"{}")
        assert os.umask(0o027) == 0o027  # still the caller's umask
    finally:
        os.umask(previous)
    assert (tmp_path / "f.json").stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "f.json").read_bytes() == b"{}" and not list(tmp_path.glob(".*.tmp"))


def test_atomic_writes_sync_the_file_then_the_directory_holding_its_new_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[bool] = []  # whether each fsync was of a directory
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    atomic_write_bytes(tmp_path / "f.json", b"{}")
    assert synced == [False, True]


def _run(directory: Path, epochs: int, note: str | None = None) -> Path:
    directory.mkdir()
    (directory / "history.json").write_text(f'{{"epochs": {list(range(epochs))}}}')
    (directory / "checkpoint.pt").write_bytes(b"w" * epochs)
    if note:
        (directory / "notes.txt").write_text(note)
    return directory


@pytest.mark.parametrize("killed", ["between the renames", "before the old run was deleted"])
def test_a_kill_during_the_overwrite_swap_is_finished_not_left_hidden(tmp_path: Path, killed: str) -> None:
    from namelstm.runs import resolve_run

    old = _run(tmp_path / ".lstm.old-1a2b", 5, note="mine")
    if killed == "between the renames":
        _run(tmp_path / ".lstm.new-3c4d", 1)
    else:
        _run(tmp_path / "lstm", 1)
    assert resolve_run(tmp_path / "lstm") == tmp_path / "lstm"
    assert (tmp_path / "lstm" / "checkpoint.pt").read_bytes() == b"w"  # the new run, whose epoch was done
    assert (tmp_path / "lstm" / "notes.txt").read_text() == "mine" and not old.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lstm"]


def test_a_swap_killed_with_no_new_run_to_finish_puts_the_old_run_back(tmp_path: Path) -> None:
    from namelstm.runs import new_run_dir

    _run(tmp_path / ".lstm.old-1a2b", 5)
    with pytest.raises(NamelstmError, match="already holds a trained run"):  # and is found again
        new_run_dir(tmp_path / "lstm")
    assert (tmp_path / "lstm" / "checkpoint.pt").read_bytes() == b"w" * 5
