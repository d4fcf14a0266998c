from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner
from conftest import TINY_CONFIG

import namelstm.training.train
from namelstm.checkpoint import load_checkpoint, load_resume_state
from namelstm.cli import cli
from namelstm.data.names import load_names, split_by_name
from namelstm.errors import NamelstmError
from namelstm.evaluation.evaluate import evaluate_run, metrics_table
from namelstm.evaluation.plots import plot_run
from namelstm.training.launch import resume_training, train, train_from_data
from namelstm.training.results import TrainingInterrupted, TrainResult
from namelstm.training.settings import resolve_config

QUIET = {"progress": False, "log": lambda _: None}


def test_training_learns_the_tiny_languages_and_writes_the_run(tiny_run: Path) -> None:
    history = json.loads((tiny_run / "history.json").read_text())
    epochs = history["epochs"]
    assert len(epochs) == TINY_CONFIG.epochs
    assert epochs[-1]["train_loss"] < epochs[0]["train_loss"]
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    assert metrics["accuracy"] > 0.9  # chance is 1/3
    assert metrics["part"] == "test" and "seed 0" in metrics["split"]
    assert sorted(p.name for p in tiny_run.iterdir()) == [
        "checkpoint.pt",
        "history.json",
        "metrics.json",
        "resume.pt",
        "split.json",
    ]
    raw = torch.load(tiny_run / "checkpoint.pt", weights_only=True)
    assert raw["model_name"] == "lstm" and raw["languages"] == ["Alphan", "Betan", "Gamman"]
    assert raw["epoch"] == min(epochs, key=lambda r: r["val_loss"])["epoch"]
    assert raw["metrics"]["test"]["accuracy"] == metrics["accuracy"]


def test_same_seed_gives_identical_runs_on_cpu(tiny_data: Path, tmp_path: Path) -> None:
    config = dataclasses.replace(TINY_CONFIG, epochs=2, model="mylstm")
    first = train_from_data(config, tiny_data, tmp_path / "a", **QUIET)
    second = train_from_data(config, tiny_data, tmp_path / "b", **QUIET)

    def untimed(history: list[dict]) -> list[dict]:
        return [{k: v for k, v in r.items() if not k.endswith("seconds")} for r in history]

    assert untimed(first.history) == untimed(second.history)
    assert first.test_metrics["accuracy"] == second.test_metrics["accuracy"]


def test_an_existing_run_is_never_replaced_silently(tiny_run: Path, tiny_data: Path) -> None:
    before = (tiny_run / "checkpoint.pt").read_bytes()
    with pytest.raises(NamelstmError, match="already holds a trained run"):
        train_from_data(TINY_CONFIG, tiny_data, tiny_run, **QUIET)
    assert (tiny_run / "checkpoint.pt").read_bytes() == before


def test_diverging_loss_stops_with_the_epoch_named(tiny_data: Path, tmp_path: Path) -> None:
    split = split_by_name(load_names(tiny_data))
    config = dataclasses.replace(TINY_CONFIG, model="rnn", lr=1e12, clip=1e12, epochs=3)
    with pytest.raises(NamelstmError, match=r"loss became (nan|inf) in epoch 1; lower --lr"):
        train(config, split, tmp_path / "run", **QUIET)


# lstm's default lr 0.8 is tuned for batches of 64; one name a step needs the report's 0.1.
@pytest.mark.parametrize(("model", "lr"), [("rnn", None), ("lstm", 0.1), ("mylstm", None)])
def test_every_family_trains_with_batch_size_one(
    tiny_data: Path, tmp_path: Path, model: str, lr: float | None
) -> None:
    config = dataclasses.replace(TINY_CONFIG, model=model, batch_size=1, epochs=1, lr=lr)
    result = train_from_data(config, tiny_data, tmp_path / model, **QUIET)
    assert result.test_metrics["accuracy"] > 0.5


def test_family_defaults_fill_what_is_not_set() -> None:
    config = resolve_config(dataclasses.replace(TINY_CONFIG, model="rnn", lr=None, hidden_size=None))
    assert (config.lr, config.hidden_size) == (0.02, 128)
    with pytest.raises(NamelstmError, match="unknown model"):
        resolve_config(dataclasses.replace(TINY_CONFIG, model="gru"))


def test_chrono_init_takes_the_longest_training_name_as_t_max_and_is_refused_where_it_cannot_apply(
    tiny_data: Path, tmp_path: Path
) -> None:
    split = split_by_name(load_names(tiny_data))
    config = dataclasses.replace(TINY_CONFIG, epochs=1, init="chrono")
    result = train(config, split, tmp_path / "chrono", **QUIET)
    longest = max(len(name) for name, _ in split.train)
    assert result.config.chrono_tmax == longest and f"chrono init T_max {longest}" in result.config.describe()
    saved = json.loads((tmp_path / "chrono" / "history.json").read_text())["config"]
    assert (saved["init"], saved["chrono_tmax"]) == ("chrono", longest)
    for bad, message in [
        ({"model": "rnn"}, "rnn has no forget gate"),
        ({"forget_bias": 1.0}, "drop --forget-bias"),
        ({"chrono_tmax": 2.0}, "more than 2"),
        ({"init": "default", "chrono_tmax": 10.0}, "goes with --init chrono"),
    ]:
        with pytest.raises(NamelstmError, match=message):
            resolve_config(dataclasses.replace(config, **bad))


@pytest.fixture(scope="module")
def averaged_run(
    tiny_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, TrainResult, list[str]]:
    """A finished 3-epoch cosine run that keeps the mean of its last 2 epochs, and what it printed."""
    config = dataclasses.replace(TINY_CONFIG, epochs=3, lr_schedule="cosine", average_last=2)
    lines: list[str] = []
    run_dir = tmp_path_factory.mktemp("averaged") / "run"
    result = train_from_data(config, tiny_data, run_dir, progress=False, log=lines.append)
    return run_dir, result, lines


def test_an_averaging_run_never_calls_one_epoch_best(
    averaged_run: tuple[Path, TrainResult, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir, result, lines = averaged_run
    epochs = [line for line in lines if line.startswith("epoch")]
    assert not any("*best" in line for line in epochs)
    assert [line.endswith("+mean") for line in epochs] == [False, True, True]
    assert "mean of epochs 2–3" in result.summary() and "best epoch" not in result.summary()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["weights"] == "mean of epochs 2–3"
    assert "(mean of epochs 2–3)" in metrics_table(metrics)[0]
    titles: list[str] = []
    for figure in ("plot_history", "plot_confusion", "plot_reliability", "plot_tradeoff"):
        monkeypatch.setattr(
            f"namelstm.evaluation.plots.{figure}", lambda *args, **_: titles.extend(map(str, args))
        )
    plot_run(run_dir)
    assert any("(mean of epochs 2–3)" in t for t in titles) and not any("(epoch 3)" in t for t in titles)


def test_resuming_a_finished_run_with_more_epochs_keeps_the_schedule_and_the_mean_honest(
    averaged_run: tuple[Path, TrainResult, list[str]], tmp_path: Path
) -> None:
    shutil.copytree(averaged_run[0], tmp_path / "run")
    result = resume_training(tmp_path / "run", epochs=5, **QUIET)
    lrs = [r["lr"] for r in result.history]
    assert lrs == sorted(lrs, reverse=True) and lrs[3] == lrs[2]  # falls, then stays: never back up
    state = load_resume_state(tmp_path / "run" / "resume.pt")
    # The kept weights are the mean of epochs 4 and 5, as the description says, not of 2 to 5.
    assert int(state["averaged"]["n_averaged"]) == 2 == result.config.average_last
    assert "mean of the last 2 epochs" in result.config.describe()
    assert "cosine schedule over 3 epochs" in result.config.describe()
    longer = resume_training(tmp_path / "run", epochs=6, **QUIET)  # the window 5..6 holds epoch 5 only
    assert longer.config.average_last == 1 and "the last epoch's weights" in longer.config.describe()


@pytest.fixture
def old_run(tiny_run: Path, tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    """A copy of a finished run, with a figure and a file of the user's, and every file's bytes."""
    run_dir = Path(shutil.copytree(tiny_run, tmp_path / "runs" / "lstm"))
    (run_dir / "loss.png").write_bytes(b"old figure")
    (run_dir / "notes.txt").write_text("mine")
    return run_dir, {p.name: p.read_bytes() for p in run_dir.iterdir()}


def _overwrite_stopped(run_dir: Path, tiny_data: Path, stop_at: int, monkeypatch: pytest.MonkeyPatch) -> str:
    """`train --overwrite` of `run_dir` (seed 1), stopped by Ctrl-C as the training loop sees it
    (the epoch returns None) in epoch `stop_at`: the message it stopped with."""
    real = namelstm.training.train.Trainer.train_epoch

    def epoch(trainer: namelstm.training.train.Trainer, number: int, interrupted: Any) -> Any:
        return None if number == stop_at else real(trainer, number, interrupted)

    monkeypatch.setattr(namelstm.training.train.Trainer, "train_epoch", epoch)
    split = split_by_name(load_names(tiny_data), seed=1)
    with pytest.raises(TrainingInterrupted) as stop:
        train(dataclasses.replace(TINY_CONFIG, seed=1), split, run_dir, overwrite=True, **QUIET)
    assert stop.value.epoch == stop_at - 1
    return str(stop.value)


def test_overwrite_stopped_in_its_first_epoch_leaves_the_old_run_whole(
    old_run: tuple[Path, dict[str, bytes]], tiny_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir, before = old_run
    message = _overwrite_stopped(run_dir, tiny_data, 1, monkeypatch)
    assert message.endswith(f"nothing was kept and {run_dir} is as it was")
    assert {p.name: p.read_bytes() for p in run_dir.iterdir()} == before
    assert [p.name for p in run_dir.parent.iterdir()] == ["lstm"]  # no half-made run beside it
    # A Ctrl-C before the loop names no epoch of the old run to resume from.
    monkeypatch.setattr(namelstm.training.train, "Feed", lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    assert "nothing was kept" in _overwrite_stopped(run_dir, tiny_data, 1, monkeypatch)
    assert {p.name: p.read_bytes() for p in run_dir.iterdir()} == before


def test_overwrite_swaps_the_new_run_in_after_its_first_epoch(
    old_run: tuple[Path, dict[str, bytes]], tiny_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir, _ = old_run
    assert "after epoch 1. Continue it with" in _overwrite_stopped(run_dir, tiny_data, 2, monkeypatch)
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "checkpoint.pt",
        "history.json",
        "notes.txt",
        "resume.pt",
        "split.json",
    ]  # the old figure and scores are gone with the old run; the user's file stays
    assert load_resume_state(run_dir / "resume.pt")["epoch"] == 1
    assert json.loads((run_dir / "split.json").read_text())["seed"] == 1
    assert [p.name for p in run_dir.parent.iterdir()] == ["lstm"]
    # Stopped early, the run is usable, and predict and evaluate say it is unfinished.
    unfinished = "best epoch 1 so far of an unfinished run of 8 epochs"
    assert unfinished in load_checkpoint(run_dir / "checkpoint.pt").describe()
    assert unfinished in metrics_table(evaluate_run(run_dir))[0]
    answer = CliRunner().invoke(cli, ["predict", "--checkpoint", str(run_dir), "Bakiaki"])
    assert answer.exit_code == 0 and f"note: {run_dir} holds {unfinished}" in answer.stderr


def test_an_exploding_but_finite_loss_stops_the_run_naming_it(tiny_data: Path, tmp_path: Path) -> None:
    # The issue's `--lr 1e9`: lstm's losses stay finite (6.7e9) and the run used to end with exit 0.
    split = split_by_name(load_names(tiny_data))
    config = dataclasses.replace(TINY_CONFIG, lr=1e9, clip=1e12, epochs=1)
    with pytest.raises(
        NamelstmError, match=r"loss exploded to \S+ in epoch 1 \(over 100x its start, 1\.10\); lower --lr"
    ):
        train(config, split, tmp_path / "run", **QUIET)


@pytest.mark.parametrize("lr", ["nan", "inf"])
def test_a_learning_rate_that_is_no_number_is_refused_before_training(isolated: Path, lr: str) -> None:
    result = CliRunner().invoke(cli, ["train", "--lr", lr])
    assert (
        result.exit_code == 2
        and "is not a finite number" in result.output
        and not (isolated / "outputs").exists()
    )
    with pytest.raises(NamelstmError, match="--lr must be a finite number above 0"):
        resolve_config(dataclasses.replace(TINY_CONFIG, lr=float(lr)))


@pytest.mark.parametrize(
    ("config", "train_axis"),
    [
        ({}, None),
        (
            {"teachers": ["t"], "distill_temperature": 2.0},
            "train loss: soft cross-entropy x T² (distillation, T 2)",
        ),
        ({"label_smoothing": 0.1}, "train loss: cross-entropy with label smoothing 0.1"),
    ],
)
def test_the_loss_figure_never_draws_two_losses_on_one_nll_axis(
    config: dict[str, Any], train_axis: str | None
) -> None:
    from namelstm.evaluation.plots import history_figure, training_loss_name

    history = [
        {"epoch": e, "train_loss": 9.0 / e, "val_loss": 1.0 / e, "train_accuracy": 0.5, "val_accuracy": 0.5}
        for e in (1, 2)
    ]
    fig = history_figure(history, "t", train_loss=training_loss_name(config))
    loss_axes = [ax for ax in fig.axes if ax.get_xlabel() == "epoch" and "accuracy" not in ax.get_ylabel()]
    labels = [ax.get_ylabel() for ax in loss_axes]
    if train_axis is None:
        assert labels == ["NLL loss"] and len(fig.axes) == 2
    else:
        assert labels[0] == "validation NLL loss" and fig.axes[-1].get_ylabel() == train_axis
        assert [line.get_label() for line in fig.axes[-1].get_lines()] == ["train"]
