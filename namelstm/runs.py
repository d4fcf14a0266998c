"""A run directory's layout, finding the latest run, and writes that never leave half a file."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

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
HOW_TO_TRAIN = "train one first: namelstm train --model lstm"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename over it: readers (and a crash at
    any moment) see the old file or the new one, never a mix."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes files private; ours are ordinary files
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0o022)  # the only way to read it is to set it; put it straight back
    os.umask(mask)
    return mask


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


def new_run_dir(path: Path, overwrite: bool = False, create: bool = True) -> Path:
    """Check (and, with `create`, make) a run directory for training, or say in one line why it
    cannot be used. A directory that already holds a trained run is only reused with `overwrite`."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise NamelstmError(f"cannot use {path} as a run directory: a file is in the way")
    if (path / CHECKPOINT).exists() and not overwrite:
        raise NamelstmError(f"{path} already holds a trained run; choose another --out DIR, or --overwrite to replace it")
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
    """The run directory under `root` whose checkpoint was written last, if there is one."""
    checkpoints = list(Path(root).glob(f"**/{CHECKPOINT}"))
    return max(checkpoints, key=lambda p: p.stat().st_mtime).parent if checkpoints else None


def latest_run(root: Path = OUTPUTS) -> Path:
    latest = find_latest_run(root)
    if latest is None:
        raise NamelstmError(f"no trained run under {root}/; {HOW_TO_TRAIN}")
    return latest


def resolve_checkpoint(path: Path | None, root: Path = OUTPUTS) -> Path:
    """A checkpoint file from a file, a run directory, or None for the latest run's."""
    if path is not None and Path(path).is_file():
        return Path(path)
    return resolve_run(path, root) / CHECKPOINT


def resolve_run(path: Path | None, root: Path = OUTPUTS) -> Path:
    """A run directory from a run directory, a checkpoint file inside one, or None for the latest."""
    if path is None:
        return latest_run(root)
    path = Path(path)
    if path.is_file():
        return path.parent
    if not path.exists():
        raise NamelstmError(f"{path} does not exist")
    if not (path / CHECKPOINT).is_file():
        raise NamelstmError(f"{path} holds no {CHECKPOINT}; {HOW_TO_TRAIN} --out {path}")
    return path
