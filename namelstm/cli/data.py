"""`namelstm data`: find (or download) the dataset and describe it."""

from __future__ import annotations

from pathlib import Path

import click

from namelstm.cli.options import ALPHABET_OPTION, DATA_OPTIONS
from namelstm.data.sources import Columns


@click.command(short_help="Find or download the dataset and describe it.")
@DATA_OPTIONS
@ALPHABET_OPTION
def data(data_dir: Path | None, name_column: str, label_column: str, alphabet: str) -> None:
    """Find (or download and check) the dataset and describe it: rows, distinct names, repeats, and
    every bad row (the first ones with their line numbers).

    \b
    Examples:
      namelstm data
      namelstm data --data ~/datasets/names
      namelstm data --data customers.csv --name-column name --label-column country --alphabet auto
    """
    from namelstm.data.alphabet import pick_alphabet
    from namelstm.data.names import summarize_data

    for line in summarize_data(data_dir, Columns(name_column, label_column), pick_alphabet(alphabet)).lines():
        click.echo(line)
