"""`namelstm cv`: cross-validate a model family by name and print the pooled figures with intervals."""

from __future__ import annotations

import json
from pathlib import Path

import click

from namelstm.cli.options import (
    DATA_OPTIONS,
    DEFAULTS,
    JOBS_OPTION,
    _echo_progress,
    _jobs,
    _model_list,
    _ModelHelp,
)


@click.command(short_help="Cross-validate model families: every name is a test name once.")
@click.option(
    "--model",
    "models",
    cls=_ModelHelp,
    default=DEFAULTS.model,
    show_default=True,
    callback=_model_list,
    describe=lambda models: (
        f"Model family ({', '.join(models)}), or several separated by commas: they are then compared "
        "on the same folds, paired name by name (families.json, families.md)."
    ),
)
@click.option("--folds", type=click.IntRange(min=2), default=5, show_default=True)
@click.option(
    "--seed", type=int, default=DEFAULTS.seed, show_default=True, help="Draws the folds and the runs."
)
@click.option("--epochs", type=click.IntRange(min=1), default=DEFAULTS.epochs, show_default=True)
@DATA_OPTIONS
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="Where the folds' runs and cv.json go.  [default: outputs/cv/MODEL, or outputs/cv/families]",
)
@JOBS_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print cv.json instead of the table.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def cv(
    models: tuple[str, ...],
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
    fitted tau and at tau 0, and the recall of every language; writes cv.json into --out. With
    several families, each is cross-validated on the same folds into --out/FAMILY, and they are
    paired name by name: differences against lstm and ngram with 95% intervals, overall and within
    languages, short and long names, and names listed under one or several languages.

    \b
    Examples:
      namelstm cv --model lstm --folds 5
      namelstm cv --model bilstm --folds 5 --seed 1 --jobs 2 --out outputs/cv-bilstm
      namelstm cv --model rnn --json > rnn-cv.json
      namelstm cv --model rnn,tanhrnn,lstm,mylstm,bilstm,ngram,cnn --jobs 2   # docs/thesis.md's table
    """
    from namelstm.config import TrainConfig
    from namelstm.data.sources import Columns

    columns = Columns(name_column, label_column)
    configs = [TrainConfig(model=model, epochs=epochs, seed=seed) for model in models]
    if len(configs) > 1:
        from namelstm.experiments.families import compare_families_data, families_lines

        log = (lambda _: None) if quiet else _echo_progress
        out = out or Path("outputs/cv/families")
        result = compare_families_data(configs, data_dir, out, folds, _jobs(jobs), not quiet, columns, log)
        click.echo(json.dumps(result, indent=2) if as_json else "\n".join(families_lines(result)))
        return
    from namelstm.experiments.cv import cross_validate_data, summary_lines

    out = out or Path("outputs/cv") / models[0]
    report = cross_validate_data(configs[0], data_dir, out, folds, _jobs(jobs), not quiet, columns)
    click.echo(json.dumps(report, indent=2) if as_json else "\n".join(summary_lines(report)))
