"""The memory experiment: the task generator, the held-out set, the arms' initialisation, a run."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from namelstm.cli import cli
from namelstm.data.names import ALPHABET
from namelstm.experiments import memory
from namelstm.experiments.memory import (
    CLASS_INDEX,
    CLASS_SYMBOLS,
    DISTRACTOR_INDEX,
    DISTRACTORS,
    Arm,
    MemoryConfig,
    RunTask,
    heldout_set,
    init_model,
    make_batch,
    train_run,
)

TINY = MemoryConfig(
    arms=(Arm("rnn"), Arm("lstm", 1.0)),
    distances=(2, 4),
    seeds=(0, 1),
    lrs=(3e-3, 1e-2),
    batch_size=16,
    max_steps=60,
    eval_every=20,
    heldout_size=100,
    gradient_samples=4,
)
CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def one_thread() -> object:
    # Tiny models gain nothing from a second thread, and on a loaded machine they spin against it.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_no_class_symbol_is_ever_a_distractor() -> None:
    assert not set(CLASS_SYMBOLS) & set(DISTRACTORS)
    letters, labels = make_batch(30, 500, torch.Generator().manual_seed(0))
    assert letters.shape == (500, 31)
    assert torch.equal(letters[:, 0], CLASS_INDEX[labels])  # the class is the first symbol
    assert torch.isin(letters[:, 1:], DISTRACTOR_INDEX).all()
    assert not torch.isin(letters[:, 1:], CLASS_INDEX).any()
    assert set(labels.tolist()) == {0, 1, 2, 3}
    assert {ALPHABET[i] for i in letters[:, 1:].unique().tolist()} == set(DISTRACTORS)


def test_heldout_sequences_are_fixed_and_never_trained_on(monkeypatch: pytest.MonkeyPatch) -> None:
    config = dataclasses.replace(TINY, batch_size=64, max_steps=20, heldout_size=300)
    trained: list[torch.Tensor] = []

    def recording(distance: int, size: int, rng: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        letters, labels = make_batch(distance, size, rng)
        if size == config.batch_size:
            trained.append(letters)
        return letters, labels

    monkeypatch.setattr(memory, "make_batch", recording)
    train_run(RunTask(Arm("rnn"), 6, 0, 1e-2, config))
    assert len(trained) == config.max_steps  # a fresh batch at every step
    heldout, _ = heldout_set(6, config.heldout_size)
    assert torch.equal(heldout, heldout_set(6, config.heldout_size)[0])  # the same set every time
    seen = {tuple(row) for batch in trained for row in batch.tolist()}
    assert len(seen) > 0.99 * config.max_steps * config.batch_size  # batches do not repeat
    assert not seen & {tuple(row) for row in heldout.tolist()}


def test_forget_bias_arm_sets_the_gate_and_the_seed_fixes_the_init() -> None:
    lstm = init_model(Arm("lstm", 1.0), 0, CPU, 10)
    H = lstm.rnn.hidden_size
    forget = lstm.rnn.bias_ih_l0[H : 2 * H] + lstm.rnn.bias_hh_l0[H : 2 * H]  # nn.LSTM adds both biases
    assert torch.allclose(forget, torch.ones(H))
    assert torch.allclose(init_model(Arm("mylstm", 1.0), 0, CPU, 10).W_f.bias, torch.ones(H))
    default = init_model(Arm("lstm"), 0, CPU, 10)
    assert not torch.allclose(
        default.rnn.bias_ih_l0[H : 2 * H] + default.rnn.bias_hh_l0[H : 2 * H], torch.ones(H)
    )
    assert torch.equal(default.rnn.weight_hh_l0, init_model(Arm("lstm"), 0, CPU, 10).rnn.weight_hh_l0)
    assert not torch.equal(default.rnn.weight_hh_l0, init_model(Arm("lstm"), 1, CPU, 10).rnn.weight_hh_l0)


def test_a_short_distance_is_solved_and_the_steps_recorded() -> None:
    config = dataclasses.replace(TINY, batch_size=32, max_steps=400, eval_every=25)
    row = train_run(RunTask(Arm("rnn"), 1, 0, 1e-2, config))
    assert row["accuracy"] >= config.solved_at
    assert row["steps"] is not None and row["steps"] % 25 == 0 and row["steps"] >= 50
    assert row["initial_gradient"] > 0
    again = train_run(RunTask(Arm("rnn"), 1, 0, 1e-2, config))
    assert {**again, "seconds": 0} == {**row, "seconds": 0}  # a run is reproducible


@pytest.mark.slow  # several seconds: the fast suite keeps under 45 s on 2 cores
def test_analyze_memory_writes_the_flat_results_and_figure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("namelstm.cli.analyze.MEMORY", TINY)
    result = CliRunner().invoke(
        cli,
        [
            "analyze",
            "memory",
            "--distances",
            "2,4",
            "--seeds",
            "0,1",
            "--jobs",
            "1",
            "--max-steps",
            "60",
            "--batch-size",
            "16",
            "--out",
            str(tmp_path),
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "memory.json").read_text())
    assert len(report["results"]) == 2 * 2 * 2
    assert {k for r in report["results"] for k in r} == {
        "model",
        "init",
        "distance",
        "seed",
        "lr",
        "accuracy",
        "steps",
        "loss",
        "initial_gradient",
        "seconds",
    }
    assert {(r["model"], r["init"]) for r in report["results"]} == {
        ("rnn", "default"),
        ("lstm", "forget bias 1"),
    }
    # A learning rate per (arm, N), tuned at that N, and the one the runs used.
    chosen = {(r["model"], r["init"], r["distance"]): r["lr"] for r in report["lr"]}
    assert len(chosen) == 2 * 2 and set(chosen.values()) <= set(TINY.lrs)
    assert all(r["lr"] == chosen[r["model"], r["init"], r["distance"]] for r in report["results"])
    assert {r["distance"] for r in report["tuning"]} == {2, 4} and len(report["tuning"]) >= 2 * 2 * 2
    assert report["settings"]["max_steps"] == TINY.max_steps and "cap 60 steps" in report["about"]
    assert "rnn: N=2" in result.output and ", lr 0.0" in result.output
    assert (tmp_path / "memory.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_memory_refuses_a_tuning_seed_among_the_seeds() -> None:
    result = CliRunner().invoke(cli, ["analyze", "memory", "--seeds", "0,1000"])
    assert result.exit_code == 2 and "tuning seed 1000" in result.output


def test_an_arm_that_solves_nothing_stops_there_and_the_rate_grid_widens_downwards(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def fake(task: RunTask) -> dict[str, object]:
        # rnn solves only N = 2; lstm solves everything, fastest at a rate of about 1e-3.
        needs = int(100 * max(task.lr / 1e-3, 1e-3 / task.lr))
        solved = (task.arm.model == "lstm" or task.distance == 2) and needs <= task.config.max_steps
        cell = {"model": task.arm.model, "init": task.arm.init, "distance": task.distance, "seed": task.seed}
        return {
            **cell,
            "lr": task.lr,
            "accuracy": 1.0 if solved else 0.25,
            "steps": needs if solved else None,
        }

    monkeypatch.setattr(memory, "train_run", lambda task: {**fake(task), "loss": 1.0})
    config = dataclasses.replace(TINY, distances=(8, 2, 4), lrs=(1e-2, 3e-2), widen=3, max_steps=5000)
    report = memory.run_memory(config, jobs=1, progress=False)
    trained = {(r["model"], r["distance"]) for r in report["results"]}
    assert trained == {("rnn", 2), ("rnn", 4), ("lstm", 2), ("lstm", 4), ("lstm", 8)}
    assert [(r["model"], r["distance"]) for r in report["untrained"]] == [("rnn", 8)] * len(config.seeds)
    assert all(r["initial_gradient"] > 0 for r in report["untrained"])
    # At N = 2, 1e-2 is the grid's lower edge and solves fastest: the grid widens by its ratio (3)
    # while the lowest rate tried stays the best, and stops once a lower one (1e-2 / 27) does worse.
    tuned = [r for r in report["tuning"] if r["model"] == "lstm"]
    assert sorted(r["lr"] for r in tuned if r["distance"] == 2) == pytest.approx(
        [1e-2 / 27, 1e-2 / 9, 1e-2 / 3, 1e-2, 3e-2]
    )
    assert [r["lr"] for r in report["lr"] if r["model"] == "lstm"] == pytest.approx([1e-2 / 9] * 3)
    # At N = 4 the rate chosen at N = 2 runs first; the others only up to the 111 steps it needed.
    assert [r["cap"] for r in tuned if r["distance"] == 4] == [5000, 111, 111, 111]
    everywhere = memory.run_memory(dataclasses.replace(config, every_distance=True), jobs=1, progress=False)
    assert {(r["model"], r["distance"]) for r in everywhere["results"]} == trained | {("rnn", 8)}
    assert everywhere["untrained"] == []


@pytest.mark.slow
def test_two_workers_give_the_serial_results() -> None:
    def untimed(report: dict) -> list:
        return [
            {k: v for k, v in r.items() if k != "seconds"}
            for key in ("tuning", "results")
            for r in report[key]
        ]

    serial = memory.run_memory(TINY, jobs=1, progress=False)
    parallel = memory.run_memory(TINY, jobs=2, progress=False)
    assert untimed(parallel) == untimed(serial) and parallel["lr"] == serial["lr"]
