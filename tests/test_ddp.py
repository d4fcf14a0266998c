"""DistributedDataParallel on CPU (gloo): 2 ranks train exactly like 1 process, and torchrun runs predict."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from conftest import TINY_CONFIG, ended

from namelstm.checkpoint import load_checkpoint, load_resume_state
from namelstm.config import TrainConfig
from namelstm.data.names import Split, load_names, split_by_name
from namelstm.inference.predict import Predictor
from namelstm.training.distributed import World, process_group
from namelstm.training.launch import train, train_from_data

# 15 names per global batch: the 2 ranks get 8 and 7, and a last batch of 1 leaves rank 1 nothing;
# class weights, so each rank must divide by the global batch's weight, not its own.
CONFIG = replace(TINY_CONFIG, epochs=2, batch_size=15, balance="inverse")
QUIET = {"progress": False, "log": lambda _: None}


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Like each rank: one PyTorch thread (two, beside busy ranks, spin against each other)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank(rank: int, size: int, port: int, config: TrainConfig, split: Split, run_dir: Path) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    with process_group(World(rank, size, rank)) as group:
        train(config, split, run_dir, group=group, **QUIET)


# ngram: its table's sparse gradients are summed over the ranks by gloo's sparse all-reduce.
NGRAM = replace(CONFIG, model="ngram", hidden_size=8, optimizer="adam", lr=1e-2)


@pytest.mark.slow  # spawns two gloo ranks (about 5 s), as the torchrun tests beside it
@pytest.mark.parametrize("config", [CONFIG, NGRAM], ids=["lstm", "ngram"])
def test_two_ranks_end_two_epochs_with_the_weights_of_one_process(
    tiny_data: Path, tmp_path: Path, one_thread: None, config: TrainConfig
) -> None:
    split = split_by_name(load_names(tiny_data))
    split = replace(split, train=split.train[:166])  # 11 batches of 15, then 1 name
    one = train(config, split, tmp_path / "one", **QUIET)
    mp.start_processes(
        _rank, args=(2, _free_port(), config, split, tmp_path / "two"), nprocs=2, start_method="spawn"
    )
    alone, ranked = (
        load_resume_state(tmp_path / "one" / "resume.pt"),
        load_resume_state(tmp_path / "two" / "resume.pt"),
    )
    assert alone["epoch"] == ranked["epoch"] == 2
    for name, weight in alone["model"].items():
        assert torch.allclose(ranked["model"][name], weight, rtol=0, atol=1e-5), name
    assert not torch.equal(alone["model"]["out.weight"], torch.zeros_like(alone["model"]["out.weight"]))
    # The epoch totals are summed over the ranks: the same losses and accuracies.
    for a, b in zip(one.history, ranked["history"], strict=False):
        assert b["train_loss"] == pytest.approx(a["train_loss"], abs=1e-5)
        assert b["train_accuracy"] == a["train_accuracy"]
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(
        p.name for p in (tmp_path / "one").iterdir()
    )


TEARDOWN_ABORT = "terminate called without an active exception"
TRAIN = ["train", "--model", "lstm", "--hidden-size", "16", "--batch-size", "16", "--no-plots"]
ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.mark.slow
def test_torchrun_with_two_ranks_writes_a_run_that_predicts(tiny_data: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "namelstm",
        *TRAIN,
        "--epochs",
        "2",
        "--data-dir",
        str(tiny_data),
        "--out",
        str(run_dir),
    ]
    launch = {"capture_output": True, "text": True, "timeout": 120, "env": ONE_THREAD, "check": False}
    done = subprocess.run(command, **launch)
    if done.returncode != 0 and TEARDOWN_ABORT in done.stderr and "epoch   2/2" in done.stderr:
        # Seen once in about 20 launches on 2 busy cores: a rank aborts in C++ teardown after the run
        # is complete (torch 2.13, gloo). That is not what this test checks, so it launches once more.
        shutil.rmtree(run_dir)
        done = subprocess.run(command, **launch)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("lstm: test accuracy") == 1  # only rank 0 prints
    # The two ranks end with the weights one process gets from the same settings.
    config = TrainConfig(model="lstm", hidden_size=16, batch_size=16, epochs=2)
    with torch.random.fork_rng():
        torch.set_num_threads(1)
        train_from_data(config, tiny_data, tmp_path / "one", **QUIET)
    alone, ranked = (load_checkpoint(d / "checkpoint.pt").state_dict for d in (tmp_path / "one", run_dir))
    assert alone.keys() == ranked.keys()
    assert all(torch.allclose(ranked[k], alone[k], rtol=0, atol=1e-5) for k in alone)
    one, two = (
        Predictor.load(d).predict(["Bakaki", "McDurin"], top_k=3) for d in (tmp_path / "one", run_dir)
    )
    assert [p.predictions[0][0] for p in two] == [p.predictions[0][0] for p in one]


@pytest.mark.slow
def test_ctrl_c_stops_every_rank_of_train_nproc_and_the_run_resumes(tiny_data: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    args = [*TRAIN, "--data-dir", str(tiny_data), "--out", str(run_dir), "-q"]
    process = subprocess.Popen(
        [sys.executable, "-m", "namelstm", *args, "--epochs", "500", "--nproc", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ONE_THREAD,
    )
    with ended(process):  # killed if anything below fails
        deadline = time.monotonic() + 90
        while (
            not (run_dir / "history.json").exists() and process.poll() is None and time.monotonic() < deadline
        ):
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)  # what Ctrl-C sends to the launcher
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert stderr.count("namelstm train --resume") == 1, stderr
    stopped_after = load_resume_state(run_dir / "resume.pt")["epoch"]
    assert 1 <= stopped_after < 500
    more = subprocess.run(
        [
            sys.executable,
            "-m",
            "namelstm",
            "train",
            "--resume",
            str(run_dir),
            "--epochs",
            str(stopped_after + 1),
            "--nproc",
            "2",
            "--no-plots",
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=ONE_THREAD,
        check=False,
    )
    # A rank that aborts in gloo's C++ teardown after the run is written (TEARDOWN_ABORT, rare; see
    # namelstm/__main__.py) is not what this test checks: the finished run below is.
    assert more.returncode == 0 or TEARDOWN_ABORT in more.stderr, more.stderr
    state = load_resume_state(run_dir / "resume.pt")
    assert state["epoch"] == stopped_after + 1 == len(state["history"])
    # Finished: scored, and (averaging only the one epoch still to come) its weights are that epoch's.
    checkpoint = load_checkpoint(run_dir / "checkpoint.pt")
    assert checkpoint.finished and (run_dir / "metrics.json").is_file()
    assert checkpoint.config["average_last"] == 1
    assert all(torch.equal(checkpoint.state_dict[k], state["model"][k]) for k in state["model"])
