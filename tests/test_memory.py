"""The memory experiment: the task generator, the held-out set, the arms' initialisation, a run."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from namelstm import memory
from namelstm.cli import cli
from namelstm.data import ALPHABET
from namelstm.memory import (
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
    tune_distance=3,
    batch_size=16,
    max_steps=60,
    eval_every=20,
    heldout_size=100,
    gradient_samples=4,
)


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
    lstm = init_model(Arm("lstm", 1.0), 0, torch.device("cpu"))
    H = lstm.rnn.hidden_size
    forget = lstm.rnn.bias_ih_l0[H : 2 * H] + lstm.rnn.bias_hh_l0[H : 2 * H]  # nn.LSTM adds both biases
    assert torch.allclose(forget, torch.ones(H))
    assert torch.allclose(init_model(Arm("mylstm", 1.0), 0, torch.device("cpu")).W_f.bias, torch.ones(H))
    default = init_model(Arm("lstm"), 0, torch.device("cpu"))
    assert not torch.allclose(
        default.rnn.bias_ih_l0[H : 2 * H] + default.rnn.bias_hh_l0[H : 2 * H], torch.ones(H)
    )
    assert torch.equal(
        default.rnn.weight_hh_l0, init_model(Arm("lstm"), 0, torch.device("cpu")).rnn.weight_hh_l0
    )
    assert not torch.equal(
        default.rnn.weight_hh_l0, init_model(Arm("lstm"), 1, torch.device("cpu")).rnn.weight_hh_l0
    )


def test_a_short_distance_is_solved_and_the_steps_recorded() -> None:
    config = dataclasses.replace(TINY, batch_size=32, max_steps=400, eval_every=25)
    row = train_run(RunTask(Arm("rnn"), 1, 0, 1e-2, config))
    assert row["accuracy"] >= config.solved_at
    assert row["steps"] is not None and row["steps"] % 25 == 0 and row["steps"] >= 50
    assert row["initial_gradient"] > 0
    again = train_run(RunTask(Arm("rnn"), 1, 0, 1e-2, config))
    assert {**again, "seconds": 0} == {**row, "seconds": 0}  # a run is reproducible


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
    assert {r["lr"] for r in report["results"]} <= set(TINY.lrs) and len(report["tuning"]) == 2 * 2
    assert report["settings"]["max_steps"] == TINY.max_steps and "cap 60 steps" in report["about"]
    assert "learning rates chosen at N = 3" in result.output and "rnn: N=2" in result.output
    assert (tmp_path / "memory.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_memory_refuses_a_tuning_seed_among_the_seeds() -> None:
    result = CliRunner().invoke(cli, ["analyze", "memory", "--seeds", "0,1000"])
    assert result.exit_code == 2 and "tuning seed 1000" in result.output
