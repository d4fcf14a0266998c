"""The `namelstm` command: parse, call the library, print. Each command lives in its own module
here; heavy imports wait inside each command, so `--help` answers at once."""

from __future__ import annotations

from typing import Any

import click

from namelstm.cli import analyze, compare, cv, data, evaluate, export, plot, predict, serve, train
from namelstm.errors import BadInput, NamelstmError


class _BadInput(click.ClickException):
    exit_code = 2  # like click's own usage errors, but one line


class _Group(click.Group):
    """Turns the package's own errors (and file-system errors) into one line: exit code 2 for
    input that can never work, 1 for the rest."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BadInput as err:
            raise _BadInput(str(err)) from None
        except NamelstmError as err:
            raise click.ClickException(str(err)) from None
        except OSError as err:
            where = f" ({err.filename})" if err.filename else ""
            raise click.ClickException(f"{err.strerror or err}{where}") from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="namelstm")
def cli() -> None:
    """Character-level RNN / LSTM models that tell a name's language of origin (18 languages).

    \b
    Quick start:
      namelstm predict Dostoevsky Nakamura   # the pretrained model that ships with namelstm
      namelstm train --model lstm            # your own; downloads the data if needed, ~15 s on 2 CPU cores
      namelstm plot                          # its loss curves and confusion matrix as PNG
      namelstm compare                       # rnn vs lstm vs mylstm, side by side
      namelstm cv --model lstm               # 5-fold cross-validation: figures with intervals
    """


cli.add_command(train.train)
cli.add_command(predict.predict)
cli.add_command(evaluate.evaluate)
cli.add_command(plot.plot)
cli.add_command(compare.compare)
cli.add_command(cv.cv)
cli.add_command(analyze.analyze)
cli.add_command(serve.serve)
cli.add_command(export.export)
cli.add_command(data.data)


def main() -> None:
    cli(prog_name="namelstm")
