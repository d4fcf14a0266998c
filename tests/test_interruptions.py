"""Ctrl-C, kill -9 and --resume on real training processes."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import ended

from namelstm.checkpoint import load_checkpoint, load_resume_state

# Enough tiny epochs that a signal lands mid-run; each epoch takes a few milliseconds.
ARGS = [
    "--epochs",
    "60",
    "--batch-size",
    "16",
    "--hidden-size",
    "16",
    "--lr",
    "0.1",
    "--model",
    "mylstm",
    "--no-plots",
    "-q",
]


def start(*args: str, cwd: Path, into: list[subprocess.Popen[str]]) -> subprocess.Popen[str]:
    """`namelstm train` in a process, put `into` the test's `started` list, which ends it after the test."""
    process = subprocess.Popen(
        [sys.executable, "-m", "namelstm", "train", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    into.append(process)
    return process


def wait_for_epochs(run_dir: Path, process: subprocess.Popen[str], at_least: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if len(json.loads((run_dir / "history.json").read_text())["epochs"]) >= at_least:
                return
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.02)
    pytest.fail(f"training did not reach epoch {at_least}: {process.communicate()}")


def final_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(run_dir / "checkpoint.pt").state_dict


def untimed(run_dir: Path) -> list[dict]:
    epochs = json.loads((run_dir / "history.json").read_text())["epochs"]
    return [{k: v for k, v in r.items() if not k.endswith("seconds")} for r in epochs]


@pytest.fixture(scope="module")
def reference(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same run, never interrupted."""
    cwd = tmp_path_factory.mktemp("reference")
    processes: list[subprocess.Popen[str]] = []
    with ended(
        start("--data-dir", str(tiny_data), "--out", "run", *ARGS, cwd=cwd, into=processes)
    ) as process:
        assert process.wait(timeout=120) == 0, process.communicate()
    return cwd / "run"


def assert_same_run(run_dir: Path, reference: Path) -> None:
    mine, theirs = final_weights(run_dir), final_weights(reference)
    assert mine.keys() == theirs.keys()
    assert all(torch.equal(mine[k], theirs[k]) for k in mine)
    assert untimed(run_dir) == untimed(reference)


@pytest.mark.slow
def test_ctrl_c_saves_prints_how_to_resume_and_exits_130(
    tiny_data: Path, tmp_path: Path, reference: Path, started: list[subprocess.Popen[str]]
) -> None:
    process = start("--data-dir", str(tiny_data), "--out", "run", *ARGS, cwd=tmp_path, into=started)
    wait_for_epochs(tmp_path / "run", process, 3)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    assert "Continue it with: namelstm train --resume run" in err
    saved = load_resume_state(tmp_path / "run" / "resume.pt")
    assert saved["epoch"] >= 3 and len(saved["history"]) == saved["epoch"]
    resumed = start("--resume", "run", "-q", cwd=tmp_path, into=started)
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    assert out.startswith("mylstm: test accuracy")
    assert_same_run(tmp_path / "run", reference)


@pytest.mark.slow
def test_kill_9_never_leaves_a_half_written_file_and_resume_finishes_the_same(
    tiny_data: Path, tmp_path: Path, reference: Path, started: list[subprocess.Popen[str]]
) -> None:
    rng = random.Random(9)  # the same moments on every run, so a failure can be replayed
    run_dir = tmp_path / "run"
    args = ["--data-dir", str(tiny_data), "--out", "run", *ARGS]
    for _ in range(3):
        done = len(untimed(run_dir)) if (run_dir / "history.json").exists() else 0
        process = (
            start("--resume", "run", "-q", cwd=tmp_path, into=started)
            if done
            else start(*args, cwd=tmp_path, into=started)
        )
        wait_for_epochs(run_dir, process, done + 1)
        time.sleep(rng.uniform(0.0, 0.3))  # a random moment: mid-batch, mid-write, between epochs
        process.kill()
        process.wait()
        # Whatever the kill hit, every file there is complete and loads.
        json.loads((run_dir / "history.json").read_text())
        json.loads((run_dir / "split.json").read_text())
        load_checkpoint(run_dir / "checkpoint.pt").build_model()
        assert load_resume_state(run_dir / "resume.pt")["epoch"] >= done
    resumed = start("--resume", "run", "-q", cwd=tmp_path, into=started)
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    assert not list(run_dir.glob(".*.tmp"))
    assert_same_run(run_dir, reference)


@pytest.mark.slow  # its fixture trains a 60-epoch run in a subprocess (5-6 s), as the other tests here
def test_resume_of_a_finished_run_asks_for_more_epochs(
    reference: Path, tmp_path: Path, started: list[subprocess.Popen[str]]
) -> None:
    process = start("--resume", str(reference), cwd=tmp_path, into=started)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "has already trained 60 of 60 epochs; pass --epochs N" in err
