"""`namelstm cv`: cross-validate a model family by name and print the pooled figures with intervals."""

from __future__ import annotations

import json
from pathlib import Path

import click

from namelstm.cli.options import (
    DATA_OPTIONS,
    DEFAULTS,
    JOBS_OPTION,
    MODEL_OPTION,
    _jobs,
)


@click.command(short_help="Cross-validate a model family: every name is a test name once.")
@MODEL_OPTION
@click.option("--folds", type=click.IntRange(min=2), default=5, show_default=True)
@click.option(
    "--seed", type=int, default=DEFAULTS.seed, show_default=True, help="Draws the folds and the runs."
)
@click.option("--epochs", type=click.IntRange(min=1), default=DEFAULTS.epochs, show_default=True)
@DATA_OPTIONS
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="Where the folds' runs and cv.json go.  [default: outputs/cv/MODEL]",
)
@JOBS_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print cv.json instead of the table.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def cv(
    model: str,
    folds: int,
    seed: int,
    epochs: int,
    data_dir: Path | None,
    name_column: str,
    label_column: str,
    out: Path | None,
    jobs: int | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """K-fold cross-validation by name: the names are cut into --folds folds (all pairs of a name in
    one fold, each language spread evenly); each fold is the test part once, while a validation part
    carved from the other folds' names chooses the epoch, tau and the temperature. Prints the pooled
    out-of-fold accuracy, balanced accuracy, macro-F1 and ECE with 95% bootstrap intervals, at the
    fitted tau and at tau 0, and the recall of every language; writes cv.json into --out.

    \b
    Examples:
      namelstm cv --model lstm --folds 5
      namelstm cv --model bilstm --folds 5 --seed 1 --jobs 2 --out outputs/cv-bilstm
      namelstm cv --model rnn --json > rnn-cv.json
    """
    from namelstm.config import TrainConfig
    from namelstm.data.sources import Columns
    from namelstm.experiments.cv import cross_validate_data, summary_lines

    config = TrainConfig(model=model, epochs=epochs, seed=seed)
    report = cross_validate_data(
        config,
        data_dir,
        out or Path("outputs/cv") / model,
        folds,
        _jobs(jobs),
        progress=not quiet,
        columns=Columns(name_column, label_column),
    )
    click.echo(json.dumps(report, indent=2) if as_json else "\n".join(summary_lines(report)))
