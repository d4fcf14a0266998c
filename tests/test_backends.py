"""Exact-length batches, the ONNX form and the torch-free predictor (issue 25)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import REPO

from namelstm import Predictor
from namelstm.checkpoint import load_checkpoint, save_checkpoint
from namelstm.cli import cli
from namelstm.data.alphabet import REPORT
from namelstm.data.names import encode
from namelstm.errors import NamelstmError
from namelstm.inference.backends import form_matches, sha256_file
from namelstm.inference.export import export_model
from namelstm.inference.predict import pretrained_path
from namelstm.models import MODELS, build_model
from namelstm.models.ensemble import Ensemble
from namelstm.runs import CHECKPOINT, ONNX_FORM, read_json

EXPORTABLE = ("lstm", "tanhrnn", "irnn", "bilstm")
LOOPING = ("rnn", "mylstm")  # a Python loop over letters: tracing fixes it at one length
ALPHA = REPORT.letters[26:52]  # A-Z, so every synthetic name has a capital and any length


def _names(tiny_run: Path) -> list[str]:
    """The tiny run's test names, folded as the model reads them."""
    return [REPORT.fold(row[0]) for row in read_json(tiny_run / "split.json")["test"]]


def _model(family: str, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model(family, len(REPORT), 3, 8)


@pytest.mark.parametrize("family", [*MODELS, "ensemble"])
def test_exact_length_batches_equal_the_padded_and_packed_batch(family: str, tiny_run: Path) -> None:
    model = Ensemble([_model("bilstm"), _model("bilstm", 1)]) if family == "ensemble" else _model(family)
    seen = _names(tiny_run)
    assert len(set(map(len, seen))) > 3  # mixed lengths: the padded batch really pads and packs
    with torch.no_grad():
        padded = model.eval().classify(*encode(seen, REPORT)).numpy()
    bucketed = Predictor(model, ("A", "B", "C")).scorer.log_probs(seen)
    np.testing.assert_allclose(bucketed, padded, atol=1e-5, rtol=0)


@pytest.fixture(scope="module")
def tiny_form(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny run's ONNX form, written by `namelstm export RUN --out DIR`."""
    out = tmp_path_factory.mktemp("form") / "deploy"
    result = CliRunner().invoke(cli, ["export", str(tiny_run), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "as ONNX" in result.output and "of PyTorch" in result.output
    return out


def test_onnx_equals_torch_on_the_tiny_run_and_its_predictions(tiny_run: Path, tiny_form: Path) -> None:
    assert read_json(tiny_form / ONNX_FORM)["checked"]["max_abs_difference"] <= 1e-5
    onnx = Predictor.load(tiny_form)  # a folder with only the form: onnx is all there is
    torch_ = Predictor.load(tiny_run, backend="torch")
    assert onnx.backend == "onnx" and torch_.backend == "torch" and onnx.model is None
    seen = _names(tiny_run)
    np.testing.assert_allclose(onnx.log_probs(seen), torch_.log_probs(seen), atol=1e-5, rtol=0)
    a, b = onnx.predict(seen, top_k=3), torch_.predict(seen, top_k=3)
    assert [p.answer for p in a] == [p.answer for p in b]
    assert onnx.checkpoint.describe() == torch_.checkpoint.describe()  # the same model, named alike


@pytest.mark.parametrize("family", LOOPING)
def test_a_family_whose_graph_is_fixed_at_one_length_is_not_exported(family: str, tmp_path: Path) -> None:
    run = tmp_path / family
    run.mkdir()
    model = _model(family)
    from namelstm.checkpoint import Checkpoint

    save_checkpoint(run / CHECKPOINT, Checkpoint(family, 8, ("A", "B", "C"), model.state_dict(), 1))
    with pytest.raises(NamelstmError, match=f"{family} cannot be exported to ONNX.*stays on torch"):
        export_model(run)
    assert not (run / ONNX_FORM).exists()
    assert Predictor.load(run).backend == "torch"


@pytest.mark.slow
@pytest.mark.parametrize("family", [*EXPORTABLE, "ensemble"])
def test_every_family_that_exports_equals_torch(family: str, tmp_path: Path) -> None:
    from namelstm.checkpoint import Checkpoint

    model = Ensemble([_model("lstm"), _model("lstm", 1)]) if family == "ensemble" else _model(family)
    name, members = ("lstm", 2) if family == "ensemble" else (family, 1)
    checkpoint = Checkpoint(name, 8, ("A", "B", "C"), model.state_dict(), 1, members=members)
    save_checkpoint(tmp_path / CHECKPOINT, checkpoint)
    export_model(tmp_path)
    rng = np.random.default_rng(0)
    seen = ["".join(rng.choice(list(ALPHA), size=n)) for n in rng.integers(1, 30, size=300)]
    onnx, torch_ = Predictor.load(tmp_path), Predictor.load(tmp_path, backend="torch")
    assert onnx.backend == "onnx"
    np.testing.assert_allclose(onnx.log_probs(seen), torch_.log_probs(seen), atol=1e-5, rtol=0)


def test_a_checkpoint_changed_after_its_export_is_answered_by_torch(
    tiny_run: Path, tiny_form: Path, tmp_path: Path
) -> None:
    run = Path(shutil.copytree(tiny_run, tmp_path / "run"))
    for made in ("model.onnx", ONNX_FORM):  # the form of this very checkpoint, beside it
        shutil.copyfile(tiny_form / made, run / made)
    assert Predictor.load(run).backend == "onnx"
    checkpoint = load_checkpoint(run / CHECKPOINT)
    save_checkpoint(run / CHECKPOINT, checkpoint.__class__(**{**checkpoint.__dict__, "epoch": 99}))
    assert not form_matches(run, run / CHECKPOINT)
    assert Predictor.load(run).backend == "torch"
    with pytest.raises(NamelstmError, match="made from another checkpoint"):
        Predictor.load(run, backend="onnx")


def test_the_shipped_onnx_form_is_the_shipped_checkpoints() -> None:
    """Rebuilding model.pt without `namelstm export pretrained` would leave a stale graph: this fails."""
    form = read_json(pretrained_path().parent / ONNX_FORM)
    assert form["checkpoint_sha256"] == sha256_file(pretrained_path())
    assert Predictor.load("pretrained").backend == "onnx"


def _same_answers(names: list[str]) -> None:
    onnx, torch_ = Predictor.load("pretrained"), Predictor.load("pretrained", backend="torch")
    assert onnx.backend == "onnx" and torch_.backend == "torch"
    a, b = onnx.predict(names, top_k=18), torch_.predict(names, top_k=18)
    assert [p.predictions[0][0] for p in a] == [p.predictions[0][0] for p in b]
    for x, y in zip(a, b, strict=True):
        assert dict(x.predictions).keys() == dict(y.predictions).keys()
        assert max(abs(p - dict(y.predictions)[lang]) for lang, p in x.predictions) <= 1e-4


def test_the_shipped_model_answers_alike_on_both_backends() -> None:
    _same_answers(
        ["Smith", "Nakamura", "Кузнецова", "Δημητρίου", "김민준", "佐藤", "O'Neill", "Nguyen", "Rossi"]
    )


@pytest.mark.slow
def test_the_shipped_model_answers_alike_on_both_backends_for_every_real_name() -> None:
    lines = (REPO / "tests" / "data" / "real_names.csv").read_text(encoding="utf-8").splitlines()
    _same_answers([line.split(",")[0] for line in lines if line and not line.startswith("#")][1:])


def test_predict_with_the_shipped_model_imports_no_torch(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "namelstm", "predict", "Smith"],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # no outputs/ here: the default model is the shipped one
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    imported = [
        line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time")
    ]
    assert "onnxruntime" in imported and "torch" not in imported
    assert "Smith" in result.stdout


def test_predict_and_its_backend_option_use_an_exported_form(tiny_form: Path) -> None:
    out = tiny_form
    result = CliRunner().invoke(cli, ["predict", "--checkpoint", str(out), "--backend", "onnx", "Bakiov"])
    assert result.exit_code == 0 and "Alphan" in result.output
    refused = CliRunner().invoke(cli, ["predict", "--checkpoint", str(out), "--backend", "torch", "Bakiov"])
    assert refused.exit_code == 1 and "holds only an ONNX form" in refused.output


def test_the_score_cache_scores_each_distinct_name_once_in_bounded_memory() -> None:
    from namelstm.inference.backends import ScoreCache

    asked: list[str] = []

    def score(texts: list[str]) -> np.ndarray:
        asked.extend(texts)
        return np.array([[len(t), ord(t[0])] for t in texts], dtype=np.float32)

    cache = ScoreCache(2, capacity=4)
    first = cache.scores(["Li", "Smith", "Li", "Li"], score)
    assert asked == ["Li", "Smith"] and first[:, 0].tolist() == [2, 5, 2, 2]
    assert cache.scores(["Smith", "Li"], score)[:, 0].tolist() == [5, 2] and len(asked) == 2  # all cached
    cache.scores(["Abe", "Ode", "Ito"], score)  # 5 distinct > capacity 4: starts again empty
    assert len(cache.slots) <= 4 and len(cache.rows) <= 4
    wide = cache.scores([f"N{i}" for i in range(9)] * 2, score)  # more new texts than it can keep
    assert wide[:, 0].tolist() == [2] * 18 and asked.count("N3") == 1
