"""A run directory's layout, finding the latest run, and writes that never leave half a file."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from namelstm.errors import NamelstmError

OUTPUTS = Path("outputs")
CHECKPOINT = "checkpoint.pt"
HISTORY = "history.json"
SPLIT = "split.json"
METRICS = "metrics.json"
RESUME = "resume.pt"
LOSS_FIGURE = "loss.png"
CONFUSION_FIGURE = "confusion.png"
RELIABILITY_FIGURE = "reliability.png"
TRADEOFF_FIGURE = "tradeoff.png"
RISK_COVERAGE_FIGURE = "risk_coverage.png"
ONNX_MODEL = "model.onnx"  # `namelstm export`: the graph onnxruntime runs ...
ONNX_FORM = "predictor.json"  # ... and everything else prediction needs, as plain JSON
# What training and `plot` write into a run directory; anything else there is the user's.
RUN_FILES = frozenset(
    {
        CHECKPOINT,
        HISTORY,
        SPLIT,
        METRICS,
        RESUME,
        LOSS_FIGURE,
        CONFUSION_FIGURE,
        RELIABILITY_FIGURE,
        TRADEOFF_FIGURE,
        RISK_COVERAGE_FIGURE,
        ONNX_MODEL,
        ONNX_FORM,
    }
)
HOW_TO_TRAIN = "train one first: namelstm train --model lstm"
# The word that stands for the model shipped inside the package. Only this exact string means it:
# a folder of that name is reached as a path (./pretrained), so it can never shadow the model.
PRETRAINED = "pretrained"


@contextlib.contextmanager
def atomic_file(path: Path, encoding: str | None = None) -> Iterator[IO[Any]]:
    """A new file to write `path` through: bytes, or text in `encoding` (written as given, no newline
    translation). It is written under a temporary name beside `path` and renamed over it only when
    the block ends without an error, so readers (and a crash at any moment) see the old file or the
    new one, never a mix. On an error the temporary file is removed and `path` is left as it was."""
    path = Path(path)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    # os.open with mode 0o666 lets the kernel apply the umask, as for any ordinary file (mkstemp
    # would make it private); O_EXCL refuses to follow or reuse anything already there.
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as err:  # the error names the path asked for, never the temporary file's name
        raise NamelstmError(f"cannot write {path}: {err.strerror}") from None
    text = encoding is not None
    try:
        with os.fdopen(fd, "w" if text else "wb", encoding=encoding, newline="" if text else None) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())  # the data is on disk before the name points at it
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _sync_directory(path.parent)


def _sync_directory(directory: Path) -> None:
    """Put the rename itself on disk, where the system can: Windows cannot open a directory, and
    some file systems refuse to sync one; the rename stands either way."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` as `atomic_file` does: the old file or the new one, never a mix."""
    with atomic_file(path) as f:
        f.write(data)


def remove_stale_temporaries(directory: Path) -> None:
    """Delete the temporary files that a killed process left before it could rename them."""
    for tmp in Path(directory).glob(".*.tmp"):
        tmp.unlink(missing_ok=True)


def write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2) + "\n").encode())


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NamelstmError(f"{path} is missing") from None
    except (ValueError, UnicodeDecodeError):
        raise NamelstmError(f"{path} is not valid JSON") from None


def move_user_files(old: Path, new: Path) -> None:
    """The files in `old` that are the user's, not a run's (notes, a copy of old weights), into `new`."""
    for path in old.iterdir():
        if path.name not in RUN_FILES and not path.name.endswith(".tmp") and not (new / path.name).exists():
            os.replace(path, new / path.name)


def finish_killed_swap(run_dir: Path) -> None:
    """An `--overwrite` swaps its new run in with two renames (the old run to `.NAME.old-*`, the new
    one from `.NAME.new-*` to NAME); a kill between them, or before the old one is deleted, would leave
    the old run hidden for good. Here the swap is finished: the new run goes in if it is not yet
    (it has a complete epoch, as it had when the swap began), else the old one goes back."""
    run_dir = Path(run_dir)
    for old in sorted(run_dir.parent.glob(f".{run_dir.name}.old-*")):
        if not run_dir.exists():
            complete = [
                n for n in sorted(run_dir.parent.glob(f".{run_dir.name}.new-*")) if (n / HISTORY).is_file()
            ]
            os.replace(complete[0] if complete else old, run_dir)
        if old.exists():
            move_user_files(old, run_dir)
            shutil.rmtree(old, ignore_errors=True)


def new_run_dir(path: Path, overwrite: bool = False, create: bool = True) -> Path:
    """Check (and, with `create`, make) a run directory for training, or say in one line why it
    cannot be used. A directory that already holds a trained run is only reused with `overwrite`."""
    path = Path(path)
    finish_killed_swap(path)
    if path.exists() and not path.is_dir():
        raise NamelstmError(f"cannot use {path} as a run directory: a file is in the way")
    if (path / CHECKPOINT).exists() and not overwrite:
        raise NamelstmError(
            f"{path} already holds a trained run; continue it with --resume {path}, "
            "choose another --out DIR, or --overwrite to replace it"
        )
    existing = next(p for p in (path, *path.absolute().parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise NamelstmError(f"cannot write the run directory {path}: {existing} is not a writable directory")
    if create:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise NamelstmError(f"cannot create run directory {path}: {err.strerror}") from None
    return path


def find_latest_run(root: Path = OUTPUTS) -> Path | None:
    """The run directly under `root` (`outputs/<run>/`) whose checkpoint was written last, if any.
    Runs nested deeper (such as `compare`'s in `outputs/compare/`) are helpers, never the default."""
    checkpoints = [p for p in Path(root).glob(f"*/{CHECKPOINT}") if p.is_file()]
    return max(checkpoints, key=lambda p: p.stat().st_mtime).parent if checkpoints else None


def latest_run(root: Path = OUTPUTS) -> Path:
    latest = find_latest_run(root)
    if latest is None:
        raise NamelstmError(f"no trained run under {root}/; {HOW_TO_TRAIN}")
    return latest


def default_model(root: Path = OUTPUTS) -> tuple[Path | str, str]:
    """The model `predict`, `evaluate` and `serve` use when none is named: the latest run directly
    under `root`, else the pretrained one (`PRETRAINED`). Also returns a line saying which."""
    latest = find_latest_run(root)
    if latest is not None:
        return latest, f"using the latest run, {latest}"
    return PRETRAINED, f"no trained run under {root}/ ({HOW_TO_TRAIN}); using the pretrained model"


def resolve_checkpoint(path: Path | str | None, root: Path = OUTPUTS) -> Path:
    """A checkpoint file from a file, a run directory, or None for the latest run's."""
    if path is not None and Path(path).is_file():
        return Path(path)
    return resolve_run(path, root) / CHECKPOINT


def resolve_run(path: Path | str | None, root: Path = OUTPUTS) -> Path:
    """A run directory from a run directory, a checkpoint file inside one, or None for the latest."""
    if path is None:
        return latest_run(root)
    path = Path(path)
    if path.is_file():
        return path.parent
    finish_killed_swap(path)
    if not path.exists():
        raise NamelstmError(f"{path} does not exist")
    if not (path / CHECKPOINT).is_file():
        raise NamelstmError(f"{path} holds no {CHECKPOINT}; {HOW_TO_TRAIN} --out {path}")
    return path


@dataclass
class Staging:
    """Where a run is being written. `--overwrite` of a run writes the new one into a hidden
    directory beside it (`replacing` is the old run), swapped in once the first epoch is complete:
    a Ctrl-C, a crash or a diverging loss before then leaves the old run whole."""

    current: Path
    replacing: Path | None = None

    @classmethod
    def beside(cls, run_dir: Path) -> Staging:
        for stale in run_dir.parent.glob(f".{run_dir.name}.new-*"):  # left by a killed process
            shutil.rmtree(stale, ignore_errors=True)
        work = run_dir.parent / f".{run_dir.name}.new-{secrets.token_hex(4)}"
        work.mkdir()
        return cls(work, run_dir)

    def promote(self) -> Path:
        """Swap the new run in for the old one (kept: files that are not a run's), once."""
        if self.replacing is not None:
            old = self.replacing.parent / f".{self.replacing.name}.old-{secrets.token_hex(4)}"
            os.replace(self.replacing, old)  # a kill from here on is undone by finish_killed_swap
            os.replace(self.current, self.replacing)
            move_user_files(old, self.replacing)
            shutil.rmtree(old, ignore_errors=True)
            self.current, self.replacing = self.replacing, None
        return self.current

    def abandon(self) -> None:
        shutil.rmtree(self.current, ignore_errors=True)


def holds_files(path: Path) -> bool:
    return Path(path).is_dir() and any(Path(path).iterdir())


def completed_epochs(run_dir: Path) -> int:
    try:
        return len(read_json(run_dir / HISTORY)["epochs"])
    except NamelstmError:
        return 0
