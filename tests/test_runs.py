"""Run directories: which run is the default, and writes that keep the user's file mode."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

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
