"""The one exception type the package raises for problems a user can fix."""


class NamelstmError(Exception):
    """A problem with the user's input, data or files, explained in one line.

    The CLI prints its message without a traceback and exits non-zero.
    """


class BadInput(NamelstmError):
    """Input that can never work, such as a name with no letters: the CLI exits with 2, as for
    any usage error."""
