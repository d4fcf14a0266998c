"""The model shipped inside the package, and the Python API around it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from namelstm import Predictor
from namelstm.cli import cli
from namelstm.data.alphabet import REPORT
from namelstm.errors import NamelstmError
from namelstm.inference.predict import pretrained_path
from namelstm.models import build_model

CARD = json.loads((pretrained_path().parent / "card.json").read_text())
ISSUE_9_NAMES = ("Кузнецова", "Δημητρίου", "김민준", "Nakamura")


def test_the_shipped_file_is_small_and_holds_only_tensors_and_plain_data() -> None:
    assert pretrained_path().stat().st_size < 5 * 1024 * 1024  # issue 9: at most 5 MB
    raw = torch.load(pretrained_path(), weights_only=True)
    assert raw["model_name"] == CARD["model"] and raw["epoch"] == CARD["epoch"]
    assert (pretrained_path().parent / "MODEL_CARD.md").read_text().startswith("# namelstm pretrained model")


@pytest.mark.parametrize(
    ("name", "language"),
    [
        ("Dostoevsky", "Russian"),
        ("Nakamura", "Japanese"),
        ("Tanaka", "Japanese"),
        ("Papadopoulos", "Greek"),
        ("Rossi", "Italian"),
        ("Hoffmann", "German"),
        ("Достоевский", "Russian"),
        ("Кузнецова", "Russian"),
        ("Δημητρίου", "Greek"),
        ("김민준", "Korean"),
    ],
)
def test_clear_cases(name: str, language: str) -> None:
    assert Predictor.load("pretrained").predict([name], top_k=1)[0].predictions[0][0] == language


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("name", "files"), [("Schmidt", {"English", "German"}), ("Schneider", {"Czech", "Dutch", "German"})]
)
def test_a_name_listed_under_several_languages_gets_one_of_them(
    real_data: Path, name: str, files: set[str]
) -> None:
    listed = {p.stem for p in real_data.glob("*.txt") if name in p.read_text(encoding="utf-8").split()}
    assert listed == files
    top = Predictor.load("pretrained").predict([name], top_k=len(files))[0].predictions
    assert top[0][0] in files  # which of them comes first is the data's own ambiguity


@pytest.mark.realdata
def test_evaluate_pretrained_rescores_the_card_metrics_on_the_test_split(real_data: Path) -> None:
    from namelstm.data.names import load_names

    assert CARD["data"]["pairs"] == len(load_names(real_data).pairs)  # built from the data as read now
    result = CliRunner().invoke(
        cli, ["evaluate", "--checkpoint", "pretrained", "--json", "--data-dir", str(real_data)]
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert metrics["run"] == "pretrained"
    # The data remade the card's split, all three parts.
    assert metrics["split_detail"]["counts"] == CARD["test_metrics"]["split_detail"]["counts"]
    assert metrics["n"] == CARD["test_metrics"]["n"]
    for key in ("accuracy", "top3_accuracy", "balanced_accuracy", "macro_f1"):
        assert metrics[key] == pytest.approx(CARD["test_metrics"][key], abs=1e-6), key


def test_a_folder_named_pretrained_does_not_shadow_the_shipped_model(isolated: Path, trained: Path) -> None:
    trained.rename(isolated / "pretrained")  # a 3-language run, in a folder called pretrained
    shipped = CliRunner().invoke(cli, ["predict", "--checkpoint", "pretrained", "--json", "Nakamura"])
    assert json.loads(shipped.stdout)[0]["predictions"][0]["language"] == "Japanese"
    folder = CliRunner().invoke(cli, ["predict", "--checkpoint", "./pretrained", "--json", "McDurin"])
    assert json.loads(folder.stdout)[0]["predictions"][0]["language"] == "Gamman"


def test_predict_falls_back_to_the_pretrained_model_and_says_so(isolated: Path) -> None:
    result = CliRunner().invoke(cli, ["predict", "Dostoevsky"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1].split()[0] == "Russian"
    assert "no trained run under outputs/" in result.stderr and "using the pretrained model" in result.stderr
    explicit = CliRunner().invoke(cli, ["predict", "--checkpoint", "pretrained", "--json", "Nakamura"])
    assert json.loads(explicit.stdout)[0]["predictions"][0]["language"] == "Japanese"


def test_the_readme_python_example_runs_as_written() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    example = readme.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(example, "README.md", "exec"), namespace)  # noqa: S102 — our own README
    assert namespace["results"][0].predictions[0][0] == "Russian"


def test_the_names_of_issue_9_come_out_right_and_say_which_script_decided() -> None:
    result = CliRunner().invoke(cli, ["predict", "--checkpoint", "pretrained", "--json", *ISSUE_9_NAMES])
    answers = json.loads(result.stdout)
    assert [a["predictions"][0]["language"] for a in answers] == ["Russian", "Greek", "Korean", "Japanese"]
    assert [a["script"] for a in answers] == ["Cyrillic script", "Greek script", "Hangul script", None]
    text = CliRunner().invoke(cli, ["predict", "--checkpoint", "pretrained", "Кузнецова"]).stdout
    assert text.startswith("Кузнецова  (read as 'Kuznetsova'; Cyrillic script)")


def test_ignore_script_lets_every_language_compete() -> None:
    predictor = Predictor.load("pretrained")
    (kept,) = predictor.predict(["Кузнецова"], top_k=5)
    (free,) = predictor.predict(["Кузнецова"], top_k=5, ignore_script=True)
    assert [lang for lang, _ in kept.predictions] == ["Russian"] and kept.script == "Cyrillic script"
    assert len(free.predictions) == 5 and free.script == ""


def test_the_shipped_model_is_calibrated_and_carries_its_script_table() -> None:
    checkpoint = Predictor.load("pretrained").checkpoint
    assert checkpoint is not None
    assert checkpoint.calibration["fitted_on"] == "validation split"
    assert checkpoint.calibration["temperature"] > 0
    assert checkpoint.scripts["Russian"] == ["Latin", "Cyrillic"]
    assert CARD["test_metrics"]["ece"] <= 0.03


def test_another_tau_needs_a_stored_prior_but_tau_zero_never_does() -> None:
    bare = Predictor(build_model("lstm", len(REPORT), 3, 8), ("A", "B", "C"))
    assert bare.with_tau(0).calibration.tau == 0.0
    with pytest.raises(NamelstmError, match="no language prior"):
        bare.with_tau(0.5)
    # The shipped tau is 0 (the one-standard-error rule kept the model as trained): ask for a balancing one.
    as_trained = Predictor.load("pretrained", tau=0)
    balanced = Predictor.load("pretrained", tau=1.0)
    assert as_trained.calibration.temperature == balanced.calibration.temperature
    assert as_trained.calibration.tau == 0.0 and balanced.calibration.tau == 1.0
    adjusted, raw = (dict(p.predict(["Kim"], top_k=18)[0].predictions) for p in (balanced, as_trained))
    # Without the adjustment the common language gains at the rare one's expense.
    assert raw["Russian"] > adjusted["Russian"] and raw["Korean"] < adjusted["Korean"]
