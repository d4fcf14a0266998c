"""A resume file written by namelstm 0.1.0 (before the package was re-laid out) still resumes to the
weights an uninterrupted run of that version ended with."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import torch

from namelstm.checkpoint import load_checkpoint
from namelstm.training.launch import resume_training

FIXTURE = Path(__file__).parent / "data" / "resume-0.1.0"


def _digest(state: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for key in sorted(state):
        h.update(key.encode())
        h.update(state[key].detach().contiguous().numpy().tobytes())
    return h.hexdigest()


def test_a_resume_file_from_0_1_0_resumes_to_identical_weights(tmp_path: Path) -> None:
    # The run after epoch 1 of 3 (lstm, Adam, cosine schedule, mean of the last 2 epochs), copied
    # while the uninterrupted run went on; expected.json holds the digest of that run's final weights.
    run = Path(shutil.copytree(FIXTURE, tmp_path / "run"))
    expected = json.loads((run / "expected.json").read_text(encoding="utf-8"))
    result = resume_training(run, progress=False, log=lambda _: None)
    assert result.history[-1]["epoch"] == expected["epochs"]
    assert _digest(load_checkpoint(run / "checkpoint.pt").state_dict) == expected["checkpoint_weights_sha256"]
    assert result.test_metrics["accuracy"] == expected["test_accuracy"]
