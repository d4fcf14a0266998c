"""Shared fixtures: a small generated dataset, the real one when present, and a trained tiny run."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from namelstm.config import TrainConfig

REPO = Path(__file__).resolve().parents[1]


def pytest_configure(config: pytest.Config) -> None:
    # A shell that starts the suite in the background without job control ignores SIGINT, and every
    # child inherits that: the tests that press Ctrl-C on a child process would wait for ever. Ctrl-C
    # gets its usual meaning back here, and so (reset to the default at exec) in every child.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@contextlib.contextmanager
def ended(process: subprocess.Popen[str]) -> Iterator[subprocess.Popen[str]]:
    """The process, killed (and waited for) if the block leaves it running, whatever happened in the
    block: a failed assert or a timeout never leaves a `namelstm serve` or a training behind."""
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)  # reaped: no zombie either
        for pipe in (process.stdin, process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[str]]]:
    """A list to put the processes a test starts in; each is ended after the test, as `ended` says."""
    processes: list[subprocess.Popen[str]] = []
    with contextlib.ExitStack() as stack:
        yield processes
        for process in processes:
            stack.enter_context(ended(process))


TINY_LANGUAGES = ("Alphan", "Betan", "Gamman")


def _tiny_names(language: str, rng: random.Random) -> list[str]:
    """Names whose language is plain from their shape, so a tiny model learns it in seconds."""
    consonants, vowels = "bdgklmnprstvz", "aeiou"

    def stem(n: int) -> str:
        return "".join(rng.choice(consonants) + rng.choice(vowels) for _ in range(n))

    if language == "Alphan":
        return [stem(rng.randint(1, 3)).capitalize() + "ov" for _ in range(80)]
    if language == "Betan":
        return [stem(rng.randint(1, 3)).capitalize() + "aki" for _ in range(80)]
    return ["Mc" + stem(rng.randint(1, 3)).capitalize() for _ in range(80)]


def write_tiny_dataset(directory: Path, seed: int = 0) -> Path:
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    for language in TINY_LANGUAGES:
        lines = _tiny_names(language, rng)
        if language == "Alphan":
            lines += [lines[0], "12345", "Ślusàrskiov"]  # a repeat, a line with no letters, accents
        (directory / f"{language}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return directory


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_dataset(tmp_path_factory.mktemp("tiny") / "names")


@pytest.fixture(scope="session")
def real_data() -> Path:
    candidates = [os.environ.get("NAMELSTM_DATA"), REPO.parent / "shared" / "data" / "names"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "Russian.txt").is_file():
            return Path(candidate)
    pytest.skip("the real names data is not here (set NAMELSTM_DATA or put it in ../shared/data/names)")


# The report's plain recipe (constant lr, best-validation epoch), not the lstm family's defaults.
TINY_CONFIG = TrainConfig(
    model="lstm", epochs=8, batch_size=16, hidden_size=16, lr=0.3, lr_schedule="constant", average_last=0
)


@pytest.fixture(scope="session")
def tiny_run(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from namelstm.training.launch import train_from_data

    run_dir = tmp_path_factory.mktemp("runs") / "lstm"
    train_from_data(TINY_CONFIG, tiny_data, run_dir, progress=False, log=lambda _: None)
    return run_dir


@pytest.fixture
def trained(isolated: Path, tiny_run: Path) -> Path:
    """A working directory whose outputs/ holds one tiny lstm run, as after a user's first train.
    It is a copy of the session's `tiny_run` (trained once), so a test may change or break it."""
    return Path(shutil.copytree(tiny_run, isolated / "outputs" / "lstm"))


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in an empty working directory with no data variable, as a new user would."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NAMELSTM_DATA", raising=False)
    return tmp_path


# Hypothesis: CI runs a fixed, derandomised set of examples (reproducible, no example database
# written); HYPOTHESIS_PROFILE=dev draws new ones each run. Budgets are set per test
# (tests/test_properties.py): small in the fast suite, larger under the slow marker.
settings.register_profile("ci", deadline=None, derandomize=True, database=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
