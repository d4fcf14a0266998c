"""Rebuild the pretrained model shipped in namelstm/pretrained/ and its model card.

Trains (or reuses) the report's three models with the default settings on the split by name,
seed 0, keeps the one with the lowest validation loss (the test part plays no part in the
choice), and copies its checkpoint next to a model card with its test metrics.

    python scripts/build_pretrained.py --data-dir ../shared/data/names
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from namelstm.compare import train_or_reuse
from namelstm.config import TrainConfig
from namelstm.data import DATA_URL, NAMES_SHA256, load_names, resolve_data_dir, verify_names
from namelstm.errors import NamelstmError
from namelstm.models import MODELS
from namelstm.predict import Predictor, pretrained_path
from namelstm.runs import CHECKPOINT, HISTORY, METRICS, atomic_write_bytes, read_json, write_json


def card_markdown(card: dict[str, Any]) -> str:
    m = card["test_metrics"]
    lines = [
        "# namelstm pretrained model",
        "",
        f"**Model:** `{card['model']}` (hidden size {card['settings']['hidden_size']}), "
        f"{card['parameters']:,} parameters, epoch {card['epoch']} of {card['settings']['epochs']}.",
        "",
        "**Data:** the 18 files `names/<Language>.txt` of the PyTorch tutorial archive "
        f"({card['data']['url']}), {'checked against the official SHA-256 sums' if card['data']['official'] else 'NOT the official files'}; "
        f"{card['data']['pairs']:,} distinct (name, language) pairs after removing repeated lines.",
        "",
        f"**Split:** {card['split']} (no name in two parts, each language divided alike).",
        "",
        "**Settings:** " + ", ".join(f"{k} {v}" for k, v in card["settings"].items() if k not in ("split",)) + ".",
        "",
        "**Selection:** the lowest validation loss among the three models trained the same way "
        "(the test names were not used to choose):",
        "",
        "| model | best validation loss | validation accuracy |",
        "| --- | ---: | ---: |",
        *[f"| `{c['model']}` | {c['val_loss']:.4f} | {c['val_accuracy']:.1%} |" for c in card["candidates"]],
        "",
        f"**Test metrics** ({m['n']} held-out (name, language) pairs): accuracy {m['accuracy']:.1%}, "
        f"top-3 accuracy {m['top3_accuracy']:.1%}, balanced accuracy {m['balanced_accuracy']:.1%}, "
        f"macro-F1 {m['macro_f1']:.1%}.",
        "",
        "| language | precision | recall | F1 | test names |",
        "| --- | ---: | ---: | ---: | ---: |",
        *[f"| {lang} | {r['precision']:.1%} | {r['recall']:.1%} | {r['f1']:.1%} | {r['support']} |"
          for lang, r in m["per_language"].items()],
        "",
        "**Limits:** Russian is half of the names and English a fifth, so small languages (Arabic, "
        "Korean, Portuguese, Scottish, Vietnamese) are often predicted as English, Russian or "
        "Chinese. 464 names are listed under several languages (Schmidt is both English and German). "
        "A name in another script is transliterated to Latin letters before the model reads it.",
        "",
        "Rebuild with `python scripts/build_pretrained.py --data-dir DIR`.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--work", type=Path, default=Path("outputs/pretrained-build"), help="where the runs go")
    args = parser.parse_args()

    data_dir = resolve_data_dir(args.data_dir)
    try:
        verify_names(data_dir)
        official = True
    except NamelstmError:
        official = False
    defaults = TrainConfig()
    run_dirs = train_or_reuse(list(MODELS), [defaults.seed], defaults.epochs, args.work, data_dir)
    candidates = []
    for run_dir in run_dirs:
        metrics = read_json(run_dir / METRICS)
        history = read_json(run_dir / HISTORY)
        best = min(history["epochs"], key=lambda r: r["val_loss"])
        candidates.append({"model": history["config"]["model"], "run": run_dir, "val_loss": best["val_loss"],
                           "val_accuracy": best["val_accuracy"], "metrics": metrics, "config": history["config"]})
    chosen = min(candidates, key=lambda c: c["val_loss"])

    target = pretrained_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(target, (chosen["run"] / CHECKPOINT).read_bytes())
    predictor = Predictor.load(target)
    test = {k: v for k, v in chosen["metrics"].items() if k not in ("run",)}
    card = {
        "model": chosen["model"],
        "epoch": chosen["metrics"]["epoch"],
        "parameters": sum(p.numel() for p in predictor.model.parameters()),
        "data": {"url": DATA_URL, "official": official, "files": sorted(NAMES_SHA256),
                 "pairs": len(load_names(data_dir).pairs)},
        "split": chosen["metrics"]["split"],
        "settings": {k: v for k, v in chosen["config"].items() if k in
                     ("model", "epochs", "batch_size", "lr", "momentum", "hidden_size", "clip", "seed", "fractions")},
        "candidates": [{k: c[k] for k in ("model", "val_loss", "val_accuracy")} for c in candidates],
        "test_metrics": test,
    }
    write_json(target.parent / "card.json", card)
    atomic_write_bytes(target.parent / "MODEL_CARD.md", card_markdown(card).encode())
    print(f"chose {chosen['model']} (validation loss {chosen['val_loss']:.4f}); test accuracy "
          f"{test['accuracy']:.1%}; wrote {target} ({target.stat().st_size / 1024:.0f} KB), card.json, MODEL_CARD.md")


if __name__ == "__main__":
    main()
