"""Rebuild the pretrained model shipped in namelstm/pretrained/ and its model card.

Every candidate is a recipe (namelstm.experiments.recipe), built by the one build path on the split by
name, seed 0: the single model of each family (its defaults),
ensembles across families (weights chosen on validation), and a student distilled from the best ensemble.
Each is scored on the VALIDATION split only (the mean of accuracy and balanced accuracy after its own
validation-fitted tau and temperature). Among the candidates that keep the speed and size limits, the
best ships, or the fastest within MARGIN of it. Then exactly that recipe is cross-validated (--folds)
through the same build path for the card. The test names play no part in any choice.

    python scripts/build_pretrained.py --data-dir ../shared/data/names --jobs 2

A quick check of the whole path, written elsewhere (fewer families, folds and epochs):

    python scripts/build_pretrained.py --data-dir DIR --jobs 2 --families lstm,bilstm --seeds 1 \
        --folds 2 --max-epochs 2 --work /tmp/build --out /tmp/card
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from namelstm.calibration import Calibration
from namelstm.checkpoint import Checkpoint, load_checkpoint, member_parts, save_checkpoint
from namelstm.config import INFERENCE_BATCH_SIZE, TrainConfig
from namelstm.data.names import (
    DATA_URL,
    Batches,
    NamesDataset,
    Split,
    load_names,
    resolve_data_dir,
    split_by_name,
)
from namelstm.data.script import default_scripts
from namelstm.errors import NamelstmError
from namelstm.evaluation.evaluate import Outputs, infer, test_metrics
from namelstm.experiments.cv import cross_validate
from namelstm.experiments.recipe import Member, Recipe, build_all
from namelstm.inference.predict import pretrained_path
from namelstm.metrics import selection_score
from namelstm.models import MODELS, build_model
from namelstm.runs import atomic_write_bytes, write_json
from namelstm.training.calibrate import fit_calibration
from namelstm.training.results import HEADLINE

MARGIN = 0.01  # a candidate within this much of the best shippable validation score is as good as it
MAX_BYTES = 5 * 1024 * 1024  # the shipped file holds at most 5 MB, so the wheel stays small
# Speed (1,000,000 names CSV -> CSV in <= 15 s, a new process in <= 0.6 s): a recurrent net's cost per
# letter grows with its weights, so a candidate's recurrent parts may hold at most the weights of one
# bilstm-64 (23 s for the million with torch on 2 cores; bilstm-128 took about 180 s). The families
# that read no letter after letter cost little beside them.
NON_RECURRENT = frozenset({"ngram", "cnn"})
FAMILIES = ("rnn", "tanhrnn", "lstm", "mylstm", "bilstm", "ngram", "cnn")
SMALL = TrainConfig(model="bilstm", hidden_size=64, epochs=24, balance="sqrt", average_last=12)
# Ensembles by member key (see `members`). The n-gram bag's table (67 MB) is over MAX_BYTES, so its
# ensembles can only teach; cnn + bilstm-64 is the one that could ship itself. A several-seed bilstm
# ("bilstm-x5" with --seeds 5) is left out by default: it would cost its seeds again in every fold.
ENSEMBLES = "ngram+bilstm,ngram+cnn+bilstm,ngram+cnn+bilstm-64,cnn+bilstm-64"
TEMPERATURES = (2.0, 4.0)  # the student's; T 2 and 4 scored best of 2/4/8 in the last build's card
# Every candidate's tau by the one-standard-error rule: over 5 folds the whole recipe scored the same
# under it as under the best-score rule (+0.1 points [-0.3, +0.4]), and it keeps the model as trained.
TAU_RULE = "one-se"


def members(families: Sequence[str], seeds: int, max_epochs: int | None) -> dict[str, Member]:
    """Each family's single model (its defaults), the small
    bilstm and the several-seed bilstm, by key; epochs cut to `max_epochs` for a quick check."""

    def cut(config: TrainConfig) -> TrainConfig:
        if max_epochs is None or config.epochs <= max_epochs:
            return config
        average = None if config.average_last is None else min(config.average_last, max_epochs)
        return dataclasses.replace(config, epochs=max_epochs, average_last=average)

    # Every family at its defaults, as `namelstm cv --model A,B,...` compares them: the same runs then
    # serve the families' comparison, the candidates and the shipped recipe's cross-validation.
    found = {f: Member(cut(TrainConfig(model=f))) for f in families}
    if "bilstm" in families:
        found["bilstm-64"] = Member(cut(SMALL))
        if seeds > 1:
            found[f"bilstm-x{seeds}"] = Member(cut(TrainConfig(model="bilstm")), tuple(range(seeds)))
    return found


def registered(families: Sequence[str], asked: bool) -> list[str]:
    """The families this checkout has; one it lacks is an error when asked for, else skipped, saying so."""
    missing = [f for f in families if f not in MODELS]
    if missing and asked:
        raise NamelstmError(f"unknown families {', '.join(missing)}; this checkout has {', '.join(MODELS)}")
    for f in missing:
        print(f"skipping {f}: no such family in this checkout (namelstm.models.MODELS)", file=sys.stderr)
    return [f for f in families if f in MODELS]


def first_stage(found: dict[str, Member], ensembles: str) -> list[Recipe]:
    """Every member alone (a several-seed one is its seeds averaged), and the ensembles of them whose
    members are all there; the others are skipped, saying so."""
    recipes = [Recipe(key, (m,), tau_rule=TAU_RULE) for key, m in found.items()]
    for spec in filter(None, ensembles.split(",")):
        keys = spec.split("+")
        if any(k not in found for k in keys):
            print(f"skipping the ensemble {spec}: {', '.join(k for k in keys if k not in found)} not built")
            continue
        recipes.append(Recipe(spec, tuple(found[k] for k in keys), tau_rule=TAU_RULE))
    return recipes


def students(teacher: Recipe, small: TrainConfig, temperatures: Sequence[float]) -> list[Recipe]:
    """`small` distilled from `teacher`'s model at each of `temperatures`."""
    return [
        dataclasses.replace(
            teacher,
            name=f"{small.model}-{small.hidden_size} from {teacher.name} T {t:g}",
            student=dataclasses.replace(small, distill_temperature=t),
        )
        for t in temperatures
    ]


def evaluate_candidate(recipe: Recipe, checkpoint_path: Path, split: Split) -> dict[str, Any]:
    """A candidate's validation figures after its own validation-fitted calibration, its size and
    its recurrent weights (what its speed goes by)."""
    checkpoint = load_checkpoint(checkpoint_path)
    model = checkpoint.build_model()
    val = infer(model, Batches(split.val, checkpoint.languages, INFERENCE_BATCH_SIZE, split.alphabet))
    prior = Calibration.from_dict(checkpoint.calibration).prior  # the training split's shares, as stored
    calibration = fit_calibration(val.log_probs, val.targets, prior, "validation split", TAU_RULE)
    calibrated = Outputs(calibration.apply(val.log_probs), val.targets)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return {
        "name": recipe.name,
        "recipe": recipe,
        "path": checkpoint_path,
        "checkpoint": checkpoint,
        "model": model,
        "calibration": calibration,
        "val_accuracy": calibrated.accuracy,
        "val_balanced_accuracy": calibrated.balanced_accuracy,
        "val_score": selection_score(calibrated.log_probs, val.targets),
        "bytes": len(buffer.getvalue()),
        "parameters": sum(p.numel() for p in model.parameters()),
        "recurrent_parameters": recurrent_parameters(checkpoint),
        "weights": [round(p["weight"], 4) for p in checkpoint.parts] if checkpoint.parts else None,
    }


def recurrent_parameters(checkpoint: Checkpoint) -> int:
    """The weights of the parts that read a name letter after letter (the speed limit's measure)."""
    total = 0
    for part, tensors in member_parts(checkpoint):
        if part["model"] not in NON_RECURRENT:
            total += sum(t.numel() for t in tensors.values())
    return total


def recurrent_budget(languages: int, letters: int) -> int:
    """The recurrent weights of one bilstm-64 reading these letters and languages."""
    model = build_model(SMALL.model, letters, languages, SMALL.hidden_size)
    return sum(p.numel() for p in model.parameters())


def choose(candidates: list[dict[str, Any]], budget: int) -> dict[str, Any]:
    """Of the candidates within the size and speed limits, the one of fewest recurrent weights (then
    fewest bytes) within MARGIN of their best validation score."""
    for c in candidates:
        c["shippable"] = c["bytes"] <= MAX_BYTES and c["recurrent_parameters"] <= budget
    fitting = [c for c in candidates if c["shippable"]]
    if not fitting:
        raise NamelstmError("no candidate keeps the size and speed limits; nothing to ship")
    best = max(c["val_score"] for c in fitting)
    near = [c for c in fitting if c["val_score"] >= best - MARGIN]
    return min(near, key=lambda c: (c["recurrent_parameters"], c["bytes"], -c["val_score"]))


def train_candidates(
    split: Split, work: Path, jobs: int, found: dict[str, Member], ensembles: str
) -> list[dict[str, Any]]:
    """Every member alone and the ensembles of them, then students of the best ensemble (they need it),
    all built by recipe.build_all and scored on validation."""
    stage = first_stage(found, ensembles)
    paths = build_all(stage, split, work, jobs)
    candidates = [evaluate_candidate(r, p, split) for r, p in zip(stage, paths, strict=True)]
    teachers = [c for c in candidates if len(c["recipe"].members) > 1 or c["recipe"].members[0].seeds]
    teachers = teachers or candidates
    best = max(teachers, key=lambda c: c["val_score"])["recipe"]
    stage = students(best, found["bilstm-64"].config, TEMPERATURES) if "bilstm-64" in found else []
    paths = build_all(stage, split, work, jobs)
    candidates += [evaluate_candidate(r, p, split) for r, p in zip(stage, paths, strict=True)]
    for c in candidates:
        print(
            f"{c['name']}: validation accuracy {c['val_accuracy']:.1%}, balanced "
            f"{c['val_balanced_accuracy']:.1%}, score {c['val_score']:.4f}, {c['bytes'] / 1024:.0f} KB, "
            f"{c['parameters']:,} parameters ({c['recurrent_parameters']:,} recurrent)"
        )
    return candidates


def pct_interval(point: dict[str, Any], key: str) -> str:
    low, high = point["intervals"][key]
    return f"{point[key]:.1%} [{low:.1%}, {high:.1%}]"


README = Path(__file__).resolve().parents[1] / "README.md"
HEADLINE_BLOCK = re.compile(r"(<!-- headline -->)(.*?)(<!-- /headline -->)", re.DOTALL)


def headline(card: dict[str, Any]) -> str:
    """The sentence the README quotes: the cross-validated figures of the shipped recipe, and its test."""
    m, cv = card["test_metrics"], card["cross_validation"]
    held_out = (
        f"on the {m['n']:,} test names of the seed-0 split {m['accuracy']:.1%} and "
        f"{m['balanced_accuracy']:.1%} (top-3 {m['top3_accuracy']:.1%}, "
        f"expected calibration error {m['ece']:.3f})"
    )
    if not cv:
        return f"Not cross-validated; {held_out}."
    pooled = cv["pooled"]

    def figure(key: str, what: str) -> str:
        low, high = pooled["intervals"][key]
        return f"{pooled[key]:.1%} {what} [{low * 100:.1f}, {high * 100:.1f}]"

    return (
        f"Cross-validated over {cv['folds_count']} folds by name it scores "
        f"**{figure('accuracy', 'accuracy')} and {figure('balanced_accuracy', 'balanced accuracy')}**; "
        f"{held_out}."
    )


def readme_headline(readme: str) -> str:
    """The README's headline sentence (between its headline marks), on one line."""
    found = HEADLINE_BLOCK.search(readme)
    return " ".join(found.group(2).split()) if found else ""


def write_readme_headline(card: dict[str, Any], readme: Path = README) -> None:
    """Put the card's headline between the README's headline marks, so its figures come from the card."""
    text = readme.read_text(encoding="utf-8")
    if HEADLINE_BLOCK.search(text):
        new = HEADLINE_BLOCK.sub(lambda m: m.group(1) + card["headline"] + m.group(3), text, count=1)
        atomic_write_bytes(readme, new.encode())


def cv_markdown(cv: dict[str, Any] | None) -> list[str]:
    """The card's cross-validation paragraph: pooled out-of-fold figures with 95% intervals."""
    if not cv:
        return []
    pooled, plain = cv["pooled"], cv["as_trained"]
    taus = ", ".join(f"{fold['tau']:g}" for fold in cv["folds"])
    return [
        f"**Cross-validated** ({cv['folds_count']} folds by name, the shipped recipe rebuilt on each by the "
        f"same code; {pooled['n']:,} out-of-fold names, 95% bootstrap intervals): accuracy "
        f"{pct_interval(pooled, 'accuracy')}, balanced accuracy {pct_interval(pooled, 'balanced_accuracy')}, "
        f"macro-F1 {pct_interval(pooled, 'macro_f1')}; as trained (tau 0) {pct_interval(plain, 'accuracy')} "
        f"and {pct_interval(plain, 'balanced_accuracy')}. Taus per fold: {taus}.",
        "",
    ]


def candidates_markdown(card: dict[str, Any]) -> list[str]:
    limits = card["limits"]
    return [
        "**Selection:** each candidate's validation score (mean of accuracy and balanced accuracy, after its "
        f"own validation-fitted calibration). Shippable: at most {kb(limits['max_bytes'])} and at most "
        f"{limits['recurrent_parameters']:,} recurrent weights (one bilstm-64's: the speed limit); of "
        f"those, the one of fewest recurrent weights within {card['margin']:g} of their best score. "
        f"Chosen: **{card['chosen']}**. The test names were not used:",
        "",
        "| candidate | validation accuracy | validation balanced accuracy | validation score | size "
        "| parameters (recurrent) | weights | shippable |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |",
        *[
            f"| {c['name']} | {c['val_accuracy']:.1%} | {c['val_balanced_accuracy']:.1%} "
            f"| {c['val_score']:.4f} | {kb(c['bytes'])} "
            f"| {c['parameters']:,} ({c['recurrent_parameters']:,}) "
            f"| {', '.join(f'{w:.2f}' for w in c['weights']) if c['weights'] else ''} "
            f"| {'yes' if c['shippable'] else 'no'} |"
            for c in card["candidates"]
        ],
        "",
    ]


def kb(size: int) -> str:
    return f"{size / 1024:.0f} KB"


def test_markdown(card: dict[str, Any]) -> list[str]:
    m = card["test_metrics"]

    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.1%}"

    return [
        f"**Test metrics, split seed 0** ({m['n']} held-out (name, language) pairs): accuracy "
        f"{m['accuracy']:.1%}, balanced accuracy {m['balanced_accuracy']:.1%} at tau "
        f"{card['calibration']['tau']:g}; as trained (tau 0) {m['as_trained']['accuracy']:.1%} and "
        f"{m['as_trained']['balanced_accuracy']:.1%}; macro-F1 {m['macro_f1']:.1%}, top-3 accuracy "
        f"{m['top3_accuracy']:.1%}, ECE {m['ece']:.3f} (15 bins; {m['ece_uncalibrated']:.3f} before "
        "temperature scaling).",
        "",
        "| language | precision | recall | F1 | test names |",
        "| --- | ---: | ---: | ---: | ---: |",
        *[
            f"| {lang} | {pct(r['precision'])} | {r['recall']:.1%} | {r['f1']:.1%} | {r['support']} |"
            for lang, r in m["per_language"].items()
        ],
        "",
    ]


def card_markdown(card: dict[str, Any]) -> str:
    weak = [lang for lang, r in card["test_metrics"]["per_language"].items() if r["recall"] < 0.5]
    checked = (
        "checked against the official SHA-256 sums" if card["data"]["official"] else "NOT the official files"
    )
    lines = [
        "# namelstm pretrained model",
        "",
        f"**Model:** {card['description']}; {card['parameters']:,} parameters, {kb(card['bytes'])}.",
        "",
        f"**Recipe:** {card['recipe']}.",
        "",
        "**Data:** the 18 files `names/<Language>.txt` of the PyTorch tutorial archive "
        f"({card['data']['url']}), {checked}; "
        f"{card['data']['pairs']:,} distinct (name, language) pairs after removing repeated lines.",
        "",
        f"**Split:** {card['split']} (no name in two parts, each language divided alike).",
        "",
        f"**Calibration:** logit adjustment tau = {card['calibration']['tau']:g} (the smallest tau "
        "within one bootstrap standard error of the best validation score) and temperature "
        f"{card['calibration']['temperature']:.3f}, both fitted on the validation split.",
        "",
        *candidates_markdown(card),
        *cv_markdown(card.get("cross_validation")),
        f"**In short:** {headline(card)}",
        "",
        *test_markdown(card),
        "**What it is not good for:**",
        f"- Languages with recall under 50% on the test names: {', '.join(weak) or 'none'}. Several have "
        "under 15 test names, so their recall moves by 7 to 14 points per name.",
        "- Telling apart languages that share names: 464 names are listed under several languages "
        "(Schmidt is both English and German), and English, Scottish and Irish surnames overlap heavily.",
        "- Languages outside these 18: it always answers one of them.",
        "- A person's nationality or ethnicity: it guesses where a spelling comes from, nothing more.",
        "- Names in Latin letters are read as they are; names in Cyrillic, Greek, Hangul, Kana, Han or "
        "Arabic script are transliterated, and only the languages written in that script can be predicted.",
        "",
        "Rebuild with `python scripts/build_pretrained.py --data-dir DIR --jobs 2`.",
    ]
    return "\n".join(lines) + "\n"


def shipped_checkpoint(
    chosen: dict[str, Any], split: Split, metrics: dict[str, Any], recipe_text: str
) -> Checkpoint:
    """The chosen model as it ships: its validation-fitted calibration, its recipe in words, its test
    headline; the paths of its teachers or runs mean nothing in the package and are left out."""
    checkpoint: Checkpoint = chosen["checkpoint"]
    config = {k: v for k, v in checkpoint.config.items() if k not in ("teachers", "runs")}
    return dataclasses.replace(
        checkpoint,
        config={**config, "split": split.describe(), "split_detail": split.detail(), "recipe": recipe_text},
        metrics={
            "test": {k: metrics[k] for k in HEADLINE},
            "validation": {k: chosen[k] for k in ("val_accuracy", "val_balanced_accuracy", "val_score")},
        },
        calibration=chosen["calibration"].to_dict(),
        scripts=default_scripts(split.languages),
    )


def write_runtime_forms(checkpoint_path: Path) -> None:
    """The shipped model's ONNX form (model.onnx and predictor.json), written beside it from the
    checkpoint just saved, so the default predictor runs it in onnxruntime without torch."""
    from namelstm.inference.export import export_model

    export_model(checkpoint_path)


def description(checkpoint: Checkpoint) -> str:
    """The shipped model in words: '`bilstm` (hidden size 64)', or its members with their weights."""
    if not checkpoint.parts:
        return f"`{checkpoint.model_name}` (hidden size {checkpoint.hidden_size})"
    members = (
        f"`{p['model']}` (hidden size {p['hidden_size']}, weight {p['weight']:.2f})" for p in checkpoint.parts
    )
    return "an ensemble of " + " + ".join(members)


def card_of(
    chosen: dict[str, Any],
    candidates: list[dict[str, Any]],
    target: Path,
    dataset: NamesDataset,
    cv: dict[str, Any] | None,
    budget: int,
) -> dict[str, Any]:
    checkpoint: Checkpoint = load_checkpoint(target)
    recipe: Recipe = chosen["recipe"].resolved()
    scored = recipe.student or recipe.members[0].configs()[0]
    listed = [
        {
            k: c[k]
            for k in ("name", "val_accuracy", "val_balanced_accuracy", "val_score", "bytes", "parameters")
        }
        | {k: c[k] for k in ("recurrent_parameters", "weights", "shippable")}
        | {"recipe": c["recipe"].describe()}
        for c in candidates
    ]
    cv_keys = ("folds_count", "folds", "pooled", "as_trained", "best_rule", "rule_difference")
    return {
        "description": description(checkpoint),
        "recipe": recipe.describe(),
        "model": checkpoint.model_name,
        "members": checkpoint.n_members,
        "epoch": checkpoint.epoch,
        # The scored model's settings: `evaluate --checkpoint pretrained` remakes the split from them.
        "settings": dataclasses.replace(scored, teachers=()).to_dict(),
        "recipe_settings": recipe.to_dict(),
        "split": checkpoint.config["split"],
        "parameters": chosen["parameters"],
        "bytes": target.stat().st_size,
        "data": {"url": DATA_URL, "official": dataset.official, "pairs": len(dataset.pairs)},
        "calibration": checkpoint.calibration,
        "candidates": listed,
        "chosen": chosen["name"],
        "margin": MARGIN,
        "limits": {"max_bytes": MAX_BYTES, "recurrent_parameters": budget},
        "test_metrics": None,
        "cross_validation": None if cv is None else {"recipe": cv["describe"], **{k: cv[k] for k in cv_keys}},
    }


def write_pretrained(
    chosen: dict[str, Any],
    candidates: list[dict[str, Any]],
    split: Split,
    dataset: NamesDataset,
    cv: dict[str, Any] | None,
    out: Path,
    budget: int,
) -> None:
    """The shipped checkpoint, its other forms, card.json and MODEL_CARD.md, into `out`."""
    calibration: Calibration = chosen["calibration"]
    metrics = test_metrics(chosen["model"], split, split.languages, "cpu", calibration)
    out.mkdir(parents=True, exist_ok=True)
    target = out / pretrained_path().name
    save_checkpoint(target, shipped_checkpoint(chosen, split, metrics, chosen["recipe"].describe()))
    write_runtime_forms(target)
    card = card_of(chosen, candidates, target, dataset, cv, budget)
    card["test_metrics"] = {k: v for k, v in metrics.items() if k not in ("reliability", "risk_coverage")}
    card["headline"] = headline(card)
    write_json(out / "card.json", card)
    atomic_write_bytes(out / "MODEL_CARD.md", card_markdown(card).encode())
    if out == pretrained_path().parent:  # the package's model: the README quotes it
        write_readme_headline(card)
    print(
        f"chose {chosen['name']} (validation score {chosen['val_score']:.4f}); "
        f"test accuracy {metrics['accuracy']:.1%}, balanced {metrics['balanced_accuracy']:.1%}, "
        f"ECE {metrics['ece']:.3f}; wrote {target} ({target.stat().st_size / 1024:.0f} KB), "
        f"card.json, MODEL_CARD.md; headline: {card['headline']}"
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument(
        "--work", type=Path, default=Path("outputs/pretrained-build"), help="where the runs go"
    )
    parser.add_argument(
        "--out", type=Path, default=pretrained_path().parent, help="where the model and its card go"
    )
    parser.add_argument("--jobs", type=int, default=1, help="trainings at once, one process and thread each")
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds for the card; 0: none")
    parser.add_argument("--families", help=f"comma-separated; default {','.join(FAMILIES)} (those there are)")
    parser.add_argument("--ensembles", default=ENSEMBLES, help=f"'+'-joined member keys; default {ENSEMBLES}")
    parser.add_argument(
        "--seeds", type=int, default=1, help="seeds of a several-seed bilstm member (bilstm-xN)"
    )
    parser.add_argument("--max-epochs", type=int, help="cut every run to this many epochs (a quick check)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    families = registered(args.families.split(",") if args.families else FAMILIES, bool(args.families))
    found = members(families, args.seeds, args.max_epochs)
    dataset = load_names(resolve_data_dir(args.data_dir))
    split = split_by_name(dataset, seed=0)
    candidates = train_candidates(split, args.work, args.jobs, found, args.ensembles)
    budget = recurrent_budget(len(split.languages), len(split.alphabet.letters))
    chosen = choose(candidates, budget)
    cv = None
    if args.folds:
        cv = cross_validate(chosen["recipe"], dataset, args.work / "cv", args.folds, seed=0, jobs=args.jobs)
    write_pretrained(chosen, candidates, split, dataset, cv, args.out, budget)


if __name__ == "__main__":
    try:
        main()
    except NamelstmError as err:
        sys.exit(f"error: {err}")
