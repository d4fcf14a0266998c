"""`namelstm compare` and the three `analyze` commands, on the tiny dataset; the measurements'
known answers on hand-made models."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from namelstm.analyze import MEMORY_DISTRACTORS, input_gradient_norms, memory_task, random_names
from namelstm.cli import cli
from namelstm.compare import confused_pairs
from namelstm.models import build_model

PNG = b"\x89PNG\r\n\x1a\n"


def test_gradient_norm_stays_constant_when_the_recurrence_is_the_identity() -> None:
    torch.manual_seed(0)
    model = build_model("rnn", 57, 4, hidden_size=6)
    with torch.no_grad():
        model.i2h.weight[:, 57:] = torch.eye(6)  # hidden' = hidden + W_x x + b: nothing fades or grows
    names = random_names(5, 12, seed=1)
    norms = input_gradient_norms(model, [(n, 2) for n in names], steps=12)
    # The last letter reaches the output through i2o directly; every earlier letter through the
    # identity recurrence, so its gradient is the same however far back it is.
    np.testing.assert_allclose(norms[1:], np.full(11, norms[1]), rtol=1e-5)
    assert norms[1] > 0


def test_gradient_norm_shrinks_through_a_contracting_recurrence() -> None:
    torch.manual_seed(0)
    model = build_model("rnn", 57, 4, hidden_size=6)
    with torch.no_grad():
        model.i2h.weight[:, 57:] = 0.5 * torch.eye(6)
    norms = input_gradient_norms(model, [("Abcdefghij", 1)], steps=10)
    np.testing.assert_allclose(norms[2:] / norms[1:-1], np.full(8, 0.5), rtol=1e-4)


def test_memory_task_puts_the_class_in_the_first_letter_only() -> None:
    pairs = memory_task(distance=7, count=400, seed=3)
    assert pairs == memory_task(distance=7, count=400, seed=3)
    assert pairs != memory_task(distance=7, count=400, seed=4)
    for name, label in pairs:
        assert len(name) == 8 and name[0].upper() == label
        assert set(name[1:]) <= set(MEMORY_DISTRACTORS)
    counts = Counter(label for _, label in pairs)
    assert set(counts) == {"A", "B", "C", "D"} and min(counts.values()) > 60


def test_confused_pairs_reads_the_matrix_rows() -> None:
    metrics = {"languages": ["A", "B", "C"], "confusion": [[8, 2, 0], [6, 4, 0], [0, 1, 2]]}
    pairs = confused_pairs(metrics, top=2, min_support=5)
    assert pairs[0] == {"true": "B", "predicted": "A", "rate": 0.6, "count": 6, "support": 10}
    assert pairs[1]["true"] == "A" and pairs[1]["predicted"] == "B"
    assert all(p["true"] != "C" for p in pairs)  # C has 3 test names, under min_support


@pytest.fixture(scope="module")
def compared(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("compare")
    args = ["compare", "--models", "rnn,lstm", "--epochs", "2", "--data-dir", str(tiny_data), "--out", str(out), "-q"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return out


def test_compare_writes_the_table_and_figures(compared: Path) -> None:
    table = json.loads((compared / "compare.json").read_text())
    assert [m["model"] for m in table["models"]] == ["rnn", "lstm"]
    for row in table["models"]:
        for key in ("parameters", "epochs", "seconds", "final_train_loss", "final_val_loss", "accuracy",
                    "top3_accuracy", "balanced_accuracy", "macro_f1", "confused_pairs", "misclassified"):
            assert key in row
    assert "split by name 0.8/0.1/0.1 seed 0" in table["about"] and "2 epochs" in table["about"]
    markdown = (compared / "compare.md").read_text()
    assert markdown.startswith("Made from: split by name")
    assert markdown.count("| `") == 2 and "Most confused language pairs" in markdown
    for figure in ("loss-curves.png", "confusion-matrices.png"):
        assert (compared / figure).read_bytes()[:8] == PNG


def test_compare_reuses_finished_runs(compared: Path, tiny_data: Path) -> None:
    checkpoint = compared / "lstm-e2-s0" / "checkpoint.pt"
    before = checkpoint.stat().st_mtime_ns
    result = CliRunner().invoke(cli, ["compare", "--models", "lstm", "--epochs", "2", "--data-dir", str(tiny_data),
                                      "--out", str(compared)])
    assert result.exit_code == 0, result.output
    assert "lstm: reusing" in result.output
    assert checkpoint.stat().st_mtime_ns == before


def test_analyze_gradients_on_the_compared_runs(compared: Path) -> None:
    runs = [str(compared / "rnn-e2-s0"), str(compared / "lstm-e2-s0")]
    result = CliRunner().invoke(cli, ["analyze", "gradients", *runs, "--min-length", "4", "--random-length", "9",
                                      "--samples", "20", "--out", str(compared)])
    assert result.exit_code == 0, result.output
    report = json.loads((compared / "gradients.json").read_text())
    assert len(report["models"]["lstm"]["random_strings"]) == 9
    assert len(report["models"]["rnn"]["test_names"]) == 4
    assert (compared / "gradients.png").read_bytes()[:8] == PNG


def test_analyze_memory_and_stability(tiny_data: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["analyze", "memory", "--models", "rnn", "--distances", "1,3",
                                      "--train-size", "60", "--epochs", "1", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    memory = json.loads((tmp_path / "memory.json").read_text())
    assert [d for d, _ in memory["models"]["rnn"]] == [1, 3]
    result = CliRunner().invoke(cli, ["analyze", "stability", "--models", "rnn", "--lrs", "0.01,1e12",
                                      "--epochs", "1", "--data-dir", str(tiny_data), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    runs = json.loads((tmp_path / "stability.json").read_text())["runs"]
    assert [r["diverged"] for r in runs] == [False, True]
    assert "no gradient clipping" in json.loads((tmp_path / "stability.json").read_text())["about"]
    for figure in ("memory.png", "stability.png"):
        assert (tmp_path / figure).read_bytes()[:8] == PNG


def test_analyze_gradients_without_runs_says_what_to_do(isolated: Path) -> None:
    result = CliRunner().invoke(cli, ["analyze", "gradients"])
    assert result.exit_code == 1 and "make them with: namelstm compare" in result.output
