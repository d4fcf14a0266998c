"""Recipes and their one build path: ensembles of any families with weights chosen on validation, their
checkpoints, cross-validation through the same build, and scripts/build_pretrained.py's card."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import shutil
from pathlib import Path

import pytest
import torch
from conftest import REPO, TINY_CONFIG

from namelstm.checkpoint import (
    ENSEMBLE,
    Checkpoint,
    load_averaged,
    load_checkpoint,
    save_checkpoint,
    weighted_ensemble,
)
from namelstm.config import TrainConfig
from namelstm.data.names import Batches, Split, load_names
from namelstm.errors import NamelstmError
from namelstm.evaluation.evaluate import infer
from namelstm.experiments import cv, recipe
from namelstm.experiments.recipe import Member, Recipe, choose_weights, weight_grid
from namelstm.models import build_model
from namelstm.runs import CHECKPOINT, SPLIT, read_json


def _script():
    spec = importlib.util.spec_from_file_location(
        "build_pretrained", REPO / "scripts" / "build_pretrained.py"
    )
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


@pytest.fixture(scope="module")
def pair(tiny_run: Path) -> tuple[Checkpoint, Checkpoint]:
    """The tiny trained lstm and an untrained rnn of the same letters and languages that answers the
    first language with confidence, whatever the name (no training)."""
    trained = load_checkpoint(tiny_run / CHECKPOINT)
    torch.manual_seed(0)
    model = build_model("rnn", len(trained.alphabet), len(trained.languages), 8)
    with torch.no_grad():
        model.i2o.bias.copy_(torch.tensor([4.0, 0.0, 0.0]))
    fresh = dataclasses.replace(trained, model_name="rnn", hidden_size=8, state_dict=model.state_dict())
    return trained, fresh


def test_a_weighted_ensemble_of_two_families_saves_loads_and_mixes_probabilities(
    pair: tuple[Checkpoint, Checkpoint], tmp_path: Path
) -> None:
    lstm, rnn = pair
    combined = weighted_ensemble([lstm, rnn], [3, 1])
    assert combined.model_name == ENSEMBLE and [p["weight"] for p in combined.parts] == [0.75, 0.25]
    save_checkpoint(tmp_path / "e.pt", combined)
    loaded = load_checkpoint(tmp_path / "e.pt")  # weights_only inside
    assert loaded.parts == combined.parts and "an ensemble of lstm hidden 16 x0.75" in loaded.describe()
    letters, lengths = torch.tensor([[1, 2, 3], [4, 5, 0]]), torch.tensor([3, 2])
    want = torch.logsumexp(
        torch.stack(
            [
                m.build_model().classify(letters, lengths) + torch.tensor(w).log()
                for m, w in ((lstm, 0.75), (rnn, 0.25))
            ]
        ),
        0,
    )
    assert torch.allclose(loaded.build_model().classify(letters, lengths), want, atol=1e-6)
    # An ensemble inside an ensemble is flattened into its members, shares multiplied.
    nested = weighted_ensemble([loaded, lstm], [1, 1])
    assert [p["weight"] for p in nested.parts] == [0.375, 0.125, 0.5]
    model, _ = load_averaged([tmp_path / "e.pt"])
    assert torch.allclose(model.classify(letters, lengths), want, atol=1e-6)


def test_members_of_other_languages_or_bad_weights_are_refused(pair: tuple[Checkpoint, Checkpoint]) -> None:
    lstm, rnn = pair
    with pytest.raises(NamelstmError, match="same languages"):
        weighted_ensemble([lstm, dataclasses.replace(rnn, languages=tuple(reversed(rnn.languages)))], [1, 1])
    with pytest.raises(NamelstmError, match="non-negative weight"):
        weighted_ensemble([lstm, rnn], [1, -1])


def test_weights_are_chosen_on_validation_and_the_test_names_change_nothing(
    pair: tuple[Checkpoint, Checkpoint], tiny_run: Path
) -> None:
    split = Split.from_dict(read_json(tiny_run / SPLIT))
    weights = choose_weights(list(pair), split, "best")
    assert weights in weight_grid(2) and weights[0] >= weights[1]  # the trained lstm counts at least as much

    def first_language(part: str) -> Split:
        return dataclasses.replace(
            split, **{part: tuple((n, split.languages[0]) for n, _ in getattr(split, part))}
        )

    assert choose_weights(list(pair), first_language("test"), "best") == weights
    # Validation names all of the first language: the rnn that always answers it is now the one to trust.
    moved = choose_weights(list(pair), first_language("val"), "best")
    assert moved[1] > moved[0]
    assert len(weight_grid(3)) == 36 and all(abs(sum(w) - 1) < 1e-9 and min(w) > 0 for w in weight_grid(3))


def test_a_recipe_describes_its_resolved_settings() -> None:
    teacher = Recipe(
        "t",
        (Member(TrainConfig(model="bilstm", epochs=3), (0, 1)), Member(TrainConfig(model="rnn"))),
        student=TrainConfig(model="bilstm", hidden_size=64, epochs=2, distill_temperature=4.0),
        tau_rule="one-se",
    )
    text = teacher.describe()
    assert "bilstm hidden 128, 3 epochs, batch 64, Adam lr 0.003" in text and "seeds 0,1 averaged" in text
    assert " + rnn hidden 128" in text and "weights chosen on validation" in text
    assert "distilled at T 4 into bilstm hidden 64" in text and "SGD" in text.split(" + ")[1]
    assert teacher.to_dict()["members"][1]["config"]["lr"] == 0.02  # the rnn family's own
    assert Recipe.single(TINY_CONFIG).resolved().tau_rule == "best"  # the lstm family's rule


def test_cross_validation_builds_each_fold_through_the_recipe_build(
    tiny_data: Path, tiny_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trained: list[tuple[str, int]] = []

    def fake_train(config: TrainConfig, split: Split, run_dir: Path) -> Path:
        # Stand-in for training: the tiny run's files, so this test trains nothing.
        trained.append((config.model, split.data["fold"]))
        shutil.copytree(tiny_run, run_dir, dirs_exist_ok=True)
        return run_dir

    monkeypatch.setattr(recipe, "train_run", fake_train)
    two = Recipe(
        "two", (Member(TINY_CONFIG), Member(dataclasses.replace(TINY_CONFIG, seed=1))), tau_rule="best"
    )
    report = cv.cross_validate(two, load_names(tiny_data, progress=False), tmp_path, folds=2, progress=False)
    assert sorted(trained) == [("lstm", 0), ("lstm", 0), ("lstm", 1), ("lstm", 1)]
    for k in (0, 1):
        (ensemble,) = (tmp_path / f"fold-{k}").glob(
            "ensemble-2-*.pt"
        )  # combined in the fold, as when shipped
        assert len(load_checkpoint(ensemble).parts) == 2
    assert report["describe"] == two.describe() and report["settings"] == two.to_dict()


def test_a_finished_run_is_kept_only_for_the_same_settings_and_split(
    tiny_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Path] = []
    monkeypatch.setattr(recipe, "train", lambda config, split, run_dir, **_: calls.append(run_dir))
    run_dir = Path(shutil.copytree(tiny_run, tmp_path / "run"))
    split = Split.from_dict(read_json(run_dir / SPLIT))
    config = Recipe.single(TINY_CONFIG).resolved().members[0].config
    assert recipe.train_run(config, split, run_dir) == run_dir and calls == []
    recipe.train_run(dataclasses.replace(config, epochs=3), split, run_dir)
    recipe.train_run(config, dataclasses.replace(split, test=split.test[1:]), run_dir)  # other data
    assert calls == [run_dir, run_dir]


def test_build_pretrained_skips_families_it_lacks_and_refuses_them_when_asked() -> None:
    script = _script()
    assert script.registered(["lstm", "no-such-family"], asked=False) == ["lstm"]
    with pytest.raises(NamelstmError, match="unknown families no-such-family"):
        script.registered(["lstm", "no-such-family"], asked=True)
    found = script.members(["lstm", "bilstm"], seeds=3, max_epochs=2)
    assert set(found) == {"lstm", "bilstm", "bilstm-64", "bilstm-x3"}
    assert found["bilstm-x3"].seeds == (0, 1, 2) and found["bilstm-64"].config.epochs == 2
    recipes = script.first_stage(found, "lstm+bilstm,ngram+bilstm")
    # ngram is not built here; the several-seed bilstm is an ensemble of its own.
    assert [r.name for r in recipes] == ["lstm", "bilstm", "bilstm-64", "bilstm-x3", "lstm+bilstm"]


def test_the_fastest_candidate_within_the_margin_of_the_best_shippable_one_is_chosen() -> None:
    script = _script()

    def candidate(name: str, score: float, recurrent: int, size: int = 1000) -> dict:
        return {"name": name, "val_score": score, "recurrent_parameters": recurrent, "bytes": size}

    candidates = [
        candidate("teacher", 0.80, 900),  # too slow
        candidate("student", 0.74, 100),
        candidate("small", 0.735, 50),
        candidate("huge", 0.79, 0, size=script.MAX_BYTES + 1),  # too big
        candidate("weak", 0.70, 10),
    ]
    assert script.choose(candidates, budget=100)["name"] == "small"
    assert [c["shippable"] for c in candidates] == [False, True, True, False, True]
    with pytest.raises(NamelstmError, match="no candidate"):
        script.choose(candidates[:1], budget=100)


CARD = json.loads((REPO / "namelstm" / "pretrained" / "card.json").read_text())


def test_the_card_cross_validates_exactly_the_shipped_recipe() -> None:
    assert CARD["cross_validation"]["recipe"] == CARD["recipe"]
    assert CARD["chosen"] in {c["name"] for c in CARD["candidates"]}
    assert all(c["shippable"] for c in CARD["candidates"] if c["name"] == CARD["chosen"])


def test_the_readme_headline_is_the_cards_built_in_one_place() -> None:
    script = _script()
    assert script.readme_headline((REPO / "README.md").read_text()) == script.headline(CARD)


@pytest.mark.slow
def test_a_mini_build_ships_the_recipe_it_cross_validates(tiny_data: Path, tmp_path: Path) -> None:
    script = _script()
    args = ["--data-dir", str(tiny_data), "--work", str(tmp_path / "work"), "--out", str(tmp_path / "out")]
    args += ["--families", "rnn,bilstm", "--ensembles", "rnn+bilstm-64", "--seeds", "1"]
    script.main([*args, "--max-epochs", "1", "--folds", "2", "--jobs", "1"])
    card = json.loads((tmp_path / "out" / "card.json").read_text())
    assert card["recipe"] == card["cross_validation"]["recipe"]
    names = [c["name"] for c in card["candidates"]]
    assert names[:4] == ["rnn", "bilstm", "bilstm-64", "rnn+bilstm-64"] and len(names) == 6  # 2 students
    markdown = (tmp_path / "out" / "MODEL_CARD.md").read_text()
    assert all(f"| {n} |" in markdown for n in names) and card["headline"] in markdown
    shipped = load_checkpoint(tmp_path / "out" / "model.pt")
    split = Split.from_dict(read_json(next((tmp_path / "work").glob("rnn-*")) / SPLIT))
    outputs = infer(shipped.build_model(), Batches(split.test, shipped.languages, 64, split.alphabet))
    assert outputs.accuracy == pytest.approx(card["test_metrics"]["accuracy"])
