"""scripts/bench.py's process runner (the benchmark itself is run by hand, never timed in a test)."""

from __future__ import annotations

import importlib.util
import sys
import threading

import pytest
from conftest import REPO


def _bench():
    spec = importlib.util.spec_from_file_location("bench", REPO / "scripts" / "bench.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


LOUD = "import sys; sys.stderr.write('x' * 200_000); sys.exit({code})"


def test_a_child_that_writes_much_to_stderr_does_not_hang_the_benchmark() -> None:
    bench = _bench()
    done: list[tuple[float, int]] = []
    runner = threading.Thread(
        target=lambda: done.append(bench.run_measured([sys.executable, "-c", LOUD.format(code=0)], "loud")),
        daemon=True,
    )
    runner.start()
    runner.join(timeout=30)  # a pipe nobody reads blocks the child at 64 KB, for ever
    assert done and done[0][0] > 0 and done[0][1] > 0
    with pytest.raises(SystemExit, match="loud failed: x+$"):
        bench.run_measured([sys.executable, "-c", LOUD.format(code=3)], "loud")
