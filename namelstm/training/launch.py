"""Starting a run, new (`train`, `train_from_data`) or continued (`resume_training`): the run
directory is staged so that a failed or stopped run never leaves half of one, and the `Trainer`
(train.py) does the rest.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from tqdm import tqdm

from namelstm.checkpoint import load_resume_state
from namelstm.config import TrainConfig
from namelstm.data.names import Split, load_dataset, split_by_name
from namelstm.data.script import script_table
from namelstm.data.sources import Columns
from namelstm.errors import NamelstmError
from namelstm.runs import (
    HISTORY,
    METRICS,
    RESUME,
    SPLIT,
    Staging,
    completed_epochs,
    holds_files,
    new_run_dir,
    read_json,
    remove_stale_temporaries,
)
from namelstm.training.distributed import Group
from namelstm.training.results import TrainingInterrupted, TrainResult
from namelstm.training.settings import resolve_config
from namelstm.training.train import OnEpoch, Trainer, seeded


def train(
    config: TrainConfig,
    split: Split,
    run_dir: Path,
    progress: bool = True,
    log: Callable[[str], None] = tqdm.write,
    overwrite: bool = False,
    group: Group | None = None,
    on_epoch: OnEpoch | None = None,
) -> TrainResult:
    """Train on `split.train`, select on `split.val`, score the selected weights on `split.test`.

    Writes into `run_dir`: the split, the checkpoint of the best validation loss (rewritten
    atomically whenever it improves), the per-epoch history, the state to resume from after
    every epoch, and the test metrics. Among several ranks (`group`), every rank calls this with
    the same arguments; only rank 0 writes, logs and scores. `on_epoch(epoch, model)` runs after
    each epoch's training (for benchmarks and sweeps; its time is left out of the epoch's).
    """
    group = group or Group()
    config = resolve_config(config)
    if config.init == "chrono" and config.chrono_tmax is None:
        # Chrono's T_max is the longest dependency to keep: in a name, from its first letter to its last.
        config = replace(config, chrono_tmax=max(len(name) for name, _ in split.train))
    trainer = Trainer(config, split, group, log, progress, on_epoch)  # its device before anything is written
    # Rank 0 alone writes checkpoints, so it alone needs the table; a bad file fails before writing.
    scripts = script_table(config.scripts, split.languages) if group.is_main else {}
    existed = Path(run_dir).exists()
    staging = Staging(Path(run_dir))
    if group.is_main:
        new_run_dir(run_dir, overwrite)
        staging = Staging.beside(Path(run_dir)) if overwrite and holds_files(run_dir) else staging
        (staging.current / METRICS).unlink(missing_ok=True)  # no scores of another run in a new one
        split.write(staging.current / SPLIT)
    try:
        try:
            with seeded(config.seed, trainer.device):
                trainer.setup(staging, scripts)
                return trainer.train()
        except KeyboardInterrupt:  # a Ctrl-C outside the epoch loop's own handling
            epochs = completed_epochs(staging.current)
            raise TrainingInterrupted(staging.current, epochs, staging.replacing) from None
    except BaseException as stop:
        if group.is_main:
            _leave_nothing_half_made(staging, stop, Path(run_dir), existed)
        raise


def _leave_nothing_half_made(staging: Staging, stop: BaseException, run_dir: Path, existed: bool) -> None:
    """After a run failed or was stopped: an `--overwrite`'s old run stays whole until epoch 1 is done,
    and a run stopped before its first epoch leaves nothing worth resuming behind."""
    if staging.replacing is not None:
        staging.abandon()
    elif isinstance(stop, TrainingInterrupted) and stop.epoch == 0:
        for name in (SPLIT, RESUME, HISTORY):
            (run_dir / name).unlink(missing_ok=True)
        if not existed:
            shutil.rmtree(run_dir, ignore_errors=True)


def resume_training(
    run_dir: Path,
    epochs: int | None = None,
    progress: bool = True,
    log: Callable[[str], None] = tqdm.write,
    group: Group | None = None,
) -> TrainResult:
    """Continue an interrupted (or, with more `epochs`, a finished) run from its last completed
    epoch. On CPU it ends with the same weights as a run that was never stopped. Among several
    ranks, rank 0 reads the run and hands it to the others (with any number of ranks)."""
    group = group or Group()
    run_dir = Path(run_dir)
    loaded: tuple[dict[str, Any], Split] | None = None
    if group.is_main:
        remove_stale_temporaries(run_dir)
        if not (run_dir / RESUME).is_file():
            raise NamelstmError(f"{run_dir} holds no {RESUME} to resume from")
        loaded = load_resume_state(run_dir / RESUME), Split.from_dict(read_json(run_dir / SPLIT))
    state, split = group.broadcast(loaded)  # type: ignore[misc]
    config = TrainConfig.from_dict(state["config"])
    if epochs is not None and epochs != config.epochs:
        config, state = _with_new_total(config, state, epochs)
    if state["epoch"] >= config.epochs:
        raise NamelstmError(
            f"{run_dir} has already trained {state['epoch']} of {config.epochs} epochs; "
            "pass --epochs N to go further"
        )
    log(f"resuming {run_dir} after epoch {state['epoch']} of {config.epochs}")
    trainer = Trainer(config, split, group, log, progress)
    scripts = state.get("scripts") or script_table(config.scripts, split.languages)
    with seeded(config.seed, trainer.device):
        trainer.setup(Staging(run_dir), scripts, resume=state)
        return trainer.train()


def _with_new_total(
    config: TrainConfig, state: dict[str, Any], epochs: int
) -> tuple[TrainConfig, dict[str, Any]]:
    """The run's settings and state for a new total of `epochs`. The cosine schedule keeps the span it
    started with (a new span would raise the rate again). The mean of the last N epochs must hold
    exactly the epochs of the new window: if the saved mean holds others, it is dropped and N becomes
    the epochs still to come, so the description says what is averaged."""
    done = state["epoch"]
    new = replace(config, epochs=epochs, schedule_epochs=config.schedule_epochs or config.epochs)
    if config.average_last:
        averaged = range(max(config.epochs - config.average_last + 1, 1), done + 1)
        wanted = range(max(epochs - config.average_last + 1, 1), done + 1)
        if averaged != wanted:
            new = replace(new, average_last=min(config.average_last, epochs - done))
            state = {**state, "averaged": None}
    return new, state


def train_from_data(
    config: TrainConfig,
    data_dir: Path | None,
    run_dir: Path,
    progress: bool = True,
    log: Callable[[str], None] = tqdm.write,
    overwrite: bool = False,
    columns: Columns | None = None,
    group: Group | None = None,
) -> TrainResult:
    """Find (or download) the data (a directory or a CSV/TSV: see `load_names`), split it by name, and
    train. Among several ranks, rank 0 reads the data and hands the split to the others, so only its
    machine needs the files."""
    group = group or Group()
    group.world.device(config.device)  # fail before any download, loading or writing
    split = None
    if group.is_main:
        new_run_dir(run_dir, overwrite, create=False)
        try:
            dataset = load_dataset(data_dir, config, columns, progress)
            split = split_by_name(dataset, config.fractions, config.seed)
        except KeyboardInterrupt:
            raise TrainingInterrupted(None, 0) from None
        log(f"data: {dataset.describe()}; {split.describe()}")
    split = group.broadcast(split)
    return train(config, split, run_dir, progress=progress, log=log, overwrite=overwrite, group=group)
