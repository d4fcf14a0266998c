"""`namelstm compare` and the three `analyze` commands, on the tiny dataset; the measurements'
known answers on hand-made models."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import write_tiny_dataset

from namelstm.cli import cli
from namelstm.data.names import load_names
from namelstm.experiments.analyze import input_gradient_norms, random_names
from namelstm.experiments.compare import confused_pairs
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


def test_confused_pairs_reads_the_matrix_rows() -> None:
    metrics = {"languages": ["A", "B", "C"], "confusion": [[8, 2, 0], [6, 4, 0], [0, 1, 2]]}
    pairs = confused_pairs(metrics, top=2, min_support=5)
    assert pairs[0] == {"true": "B", "predicted": "A", "rate": 0.6, "count": 6, "support": 10}
    assert pairs[1]["true"] == "A" and pairs[1]["predicted"] == "B"
    assert all(p["true"] != "C" for p in pairs)  # C has 3 test names, under min_support


def _compare(tiny_data: Path, out: Path, jobs: int) -> None:
    args = [
        "compare",
        "--models",
        "rnn,lstm",
        "--seeds",
        "0,1",
        "--epochs",
        "2",
        "--data-dir",
        str(tiny_data),
        "--out",
        str(out),
        "--jobs",
        str(jobs),
        "-q",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def compared(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("compare")
    _compare(tiny_data, out, jobs=1)
    return out


def test_compare_writes_the_table_and_figures(compared: Path) -> None:
    table = json.loads((compared / "compare.json").read_text())
    assert [(r["model"], r["seed"]) for r in table["runs"]] == [
        ("rnn", 0),
        ("rnn", 1),
        ("lstm", 0),
        ("lstm", 1),
    ]
    assert all(
        set(r)
        == {
            "model",
            "seed",
            "tau",
            "accuracy",
            "balanced_accuracy",
            "macro_f1",
            "as_trained_accuracy",
            "as_trained_balanced_accuracy",
            "seconds",
        }
        for r in table["runs"]
    )
    lstm = next(m for m in table["models"] if m["model"] == "lstm")
    accuracies = [r["accuracy"] for r in table["runs"] if r["model"] == "lstm"]
    assert lstm["runs"] == 2 and lstm["accuracy"] == pytest.approx(np.mean(accuracies))
    assert lstm["accuracy_sd"] == pytest.approx(np.std(accuracies, ddof=1))
    (difference,) = table["differences"]
    assert (difference["a"], difference["b"], difference["seeds"]) == ("lstm", "rnn", [0, 1])
    later, first = table["runs"][2:], table["runs"][:2]
    paired = [a["accuracy"] - b["accuracy"] for a, b in zip(later, first, strict=False)]
    assert difference["accuracy"]["mean"] == pytest.approx(np.mean(paired))
    assert difference["accuracy"]["low"] < difference["accuracy"]["mean"] < difference["accuracy"]["high"]
    assert (
        "seeds 0,1, each its own split by name 0.8/0.1/0.1" in table["about"] and "2 epochs" in table["about"]
    )
    assert [d["model"] for d in table["details"]] == ["rnn", "lstm"]  # the first seed's runs
    markdown = (compared / "compare.md").read_text()
    assert markdown.startswith("Made from: seeds 0,1")
    assert "| `lstm` | 2 |" in markdown and "| `lstm` − `rnn` |" in markdown and " ± " in markdown
    assert "Exceed seed noise:" in markdown and "Within seed noise:" in markdown
    for figure in ("loss-curves.png", "confusion-matrices.png"):
        assert (compared / figure).read_bytes()[:8] == PNG


@pytest.mark.slow  # spawns a pool of two worker processes (about 5 s)
def test_compare_with_two_jobs_gives_the_same_table(compared: Path, tiny_data: Path, tmp_path: Path) -> None:
    _compare(tiny_data, tmp_path, jobs=2)
    serial, parallel = (json.loads((d / "compare.json").read_text()) for d in (compared, tmp_path))
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in parallel["runs"]] == [
        {k: v for k, v in r.items() if k != "seconds"} for r in serial["runs"]
    ]
    assert parallel["differences"] == serial["differences"]


def test_compare_reuses_finished_runs(compared: Path, tiny_data: Path) -> None:
    checkpoint = compared / "lstm-e2-s1" / "checkpoint.pt"
    before = checkpoint.stat().st_mtime_ns
    result = CliRunner().invoke(
        cli,
        [
            "compare",
            "--models",
            "lstm",
            "--seeds",
            "1",
            "--epochs",
            "2",
            "--data-dir",
            str(tiny_data),
            "--out",
            str(compared),
            "--jobs",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "lstm seed 1: reusing" in result.output
    assert checkpoint.stat().st_mtime_ns == before


def test_compare_retrains_a_run_made_from_other_data(compared: Path, tiny_data: Path, tmp_path: Path) -> None:
    shutil.copytree(compared / "lstm-e2-s1", tmp_path / "out" / "lstm-e2-s1")
    other = write_tiny_dataset(tmp_path / "other", seed=1)  # the same labels, other names
    args = ["compare", "--models", "lstm", "--seeds", "1", "--epochs", "2", "--out", str(tmp_path / "out")]
    result = CliRunner().invoke(cli, [*args, "--data", str(other)])  # --data, as train takes it
    assert result.exit_code == 0, result.output
    assert "lstm seed 1: training into" in result.output and "reusing" not in result.output
    split = json.loads((tmp_path / "out" / "lstm-e2-s1" / "split.json").read_text())
    assert split["data"]["fingerprint"] == load_names(other).fingerprint
    assert load_names(other).fingerprint != load_names(tiny_data).fingerprint
    again = CliRunner().invoke(cli, [*args, "--data", str(other)])
    assert again.exit_code == 0 and "lstm seed 1: reusing" in again.output


def test_analyze_gradients_on_the_compared_runs(compared: Path) -> None:
    runs = [str(compared / f"{m}-e2-s{s}") for m in ("rnn", "lstm") for s in (0, 1)]
    result = CliRunner().invoke(
        cli,
        [
            "analyze",
            "gradients",
            *runs,
            "--min-length",
            "4",
            "--random-length",
            "9",
            "--samples",
            "8",
            "--out",
            str(compared),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((compared / "gradients.json").read_text())
    assert len(report["models"]["lstm"]["runs"]) == 2
    for stage in ("initial", "trained"):
        assert len(report["models"]["lstm"][stage]["random_strings"]) == 9
        assert len(report["models"]["rnn"][stage]["test_names"]) == 4
    assert report["models"]["rnn"]["initial"] != report["models"]["rnn"]["trained"]
    assert "at initialisation" in result.output and "after training" in result.output
    assert (compared / "gradients.png").read_bytes()[:8] == PNG


def test_initial_model_is_the_runs_starting_point(compared: Path) -> None:
    from namelstm.experiments.analyze import initial_model
    from namelstm.inference.predict import Predictor
    from namelstm.runs import read_json

    config = read_json(compared / "lstm-e2-s1" / "history.json")["config"]
    trained = Predictor.load(compared / "lstm-e2-s1").model
    model = initial_model(config, trained.n_letters, 3)
    state = torch.get_rng_state()
    again = initial_model(config, trained.n_letters, 3)
    assert torch.equal(state, torch.get_rng_state())  # the global generator is left as it was
    pairs = zip(model.state_dict().values(), again.state_dict().values(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)
    assert not torch.equal(model.out.weight, trained.out.weight)


def test_analyze_stability(tiny_data: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "analyze",
            "stability",
            "--models",
            "rnn",
            "--lrs",
            "0.01,1e12",
            "--epochs",
            "1",
            "--data-dir",
            str(tiny_data),
            "--out",
            str(tmp_path),
            "--jobs",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "stability.json").read_text())
    assert [r["diverged"] for r in report["runs"]] == [False, True]
    assert report["means"][1] == {"model": "rnn", "lr": 1e12, "runs": 1, "diverged": 1, "val_loss": None}
    assert "no gradient clipping" in report["about"] and "1 of 1 diverged" in result.output
    assert (tmp_path / "stability.png").read_bytes()[:8] == PNG


def test_analyze_gradients_without_runs_says_what_to_do(isolated: Path) -> None:
    result = CliRunner().invoke(cli, ["analyze", "gradients"])
    assert result.exit_code == 1 and "make them with: namelstm compare" in result.output
