"""`namelstm compare`: train (or reuse) runs of several models over seeds and compare them."""

from __future__ import annotations

from pathlib import Path

import click

from namelstm.cli.options import (
    COMPARE_DIR,
    DATA_OPTIONS,
    DEFAULTS,
    JOBS_OPTION,
    _echo_progress,
    _jobs,
    _model_list,
    _number_list,
)


@click.command(short_help="Train and compare the models over several seeds.")
@click.option(
    "--models",
    default="rnn,tanhrnn,lstm,mylstm",
    show_default=True,
    callback=_model_list,
    help="Comma-separated model families.",
)
@click.option(
    "--seeds",
    default="0,1,2",
    show_default=True,
    callback=_number_list(int, positive=False),
    help="One run per model and seed; each seed has its own split and initialisation.",
)
@click.option("--epochs", type=click.IntRange(min=1), default=DEFAULTS.epochs, show_default=True)
@DATA_OPTIONS
@click.option("--out", type=click.Path(path_type=Path), default=COMPARE_DIR, show_default=True)
@JOBS_OPTION
@click.option("-q", "--quiet", is_flag=True, help="No progress bars or per-run lines.")
def compare(
    models: tuple[str, ...],
    seeds: tuple[int, ...],
    epochs: int,
    data_dir: Path | None,
    name_column: str,
    label_column: str,
    out: Path,
    jobs: int | None,
    quiet: bool,
) -> None:
    """The report's comparison over seeds: train (or reuse) one run per model and seed, then write
    mean ± sd per model and the paired differences with 95% intervals (compare.md, compare.json),
    and the first seed's loss curves and confusion matrices, into --out.

    \b
    Examples:
      namelstm compare
      namelstm compare --models rnn,lstm,mylstm --seeds 0,1,2 --jobs 2
      namelstm compare --models lstm,mylstm --epochs 30 --seeds 1,2,3,4,5 --out outputs/compare-30
      namelstm compare --data customers.csv --label-column country --models rnn,lstm
    """
    from namelstm.data.sources import Columns
    from namelstm.experiments.compare import compare_models

    log = (lambda _: None) if quiet else _echo_progress
    for line in compare_models(
        models,
        seeds,
        epochs,
        out,
        data_dir,
        _jobs(jobs),
        progress=not quiet,
        log=log,
        columns=Columns(name_column, label_column),
    ):
        click.echo(line)
