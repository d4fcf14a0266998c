"""`python -m namelstm`: the command line, also what torchrun starts on every rank."""

import os
import sys

from namelstm.cli import main


def _exit_worker(code: object) -> None:
    """A torchrun worker leaves without running C++ static destructors: with gloo (torch 2.13) a
    rank could abort in that teardown ('terminate called without an active exception', exit -6)
    after its run was complete and written, about once in 15-40 launches on 2 busy cores, turning
    a finished run into a failed one. The process group is already destroyed and every file
    written atomically, so there is nothing left for the destructors to do."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else (0 if code is None else 1))


if "TORCHELASTIC_RUN_ID" in os.environ:  # set by torchrun in every worker it starts
    try:
        main()
    except SystemExit as stop:
        _exit_worker(stop.code)
    _exit_worker(0)
else:
    main()
