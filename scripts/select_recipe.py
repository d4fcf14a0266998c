"""Choose recipes on the validation split: train each setting, report validation scores only.

This is how the families' `default_balance` and the shipped model's recipe were chosen: the
setting with the best validation `selection_score` (the mean of accuracy and balanced accuracy,
after the validation-fitted logit adjustment and temperature). Test scores are printed for the
record but never used to choose.

    python scripts/select_recipe.py --data-dir ../shared/data/names --models lstm,mylstm \\
        --balances none,sqrt,inverse --out outputs/select.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from pathlib import Path

import torch

from namelstm.config import TrainConfig
from namelstm.data import load_names, resolve_data_dir, split_by_name
from namelstm.train import train


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--models", default="rnn,lstm,mylstm")
    parser.add_argument("--balances", default="none,sqrt,inverse")
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument("--seeds", default="0", help="initialisation seeds; the split stays seed 0")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("outputs/select.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    split = split_by_name(load_names(resolve_data_dir(args.data_dir)), seed=0)
    rows = []
    for model in args.models.split(","):
        for balance in args.balances.split(","):
            for seed in map(int, args.seeds.split(",")):
                config = TrainConfig(model=model, balance=balance, epochs=args.epochs, device="cpu")
                with tempfile.TemporaryDirectory() as tmp:
                    result = train(
                        dataclasses.replace(config, seed=seed),
                        split,
                        Path(tmp) / "run",
                        progress=False,
                        log=lambda _: None,
                    )
                val, test = result.test_metrics["validation"], result.test_metrics
                row = {
                    "model": model,
                    "balance": balance,
                    "seed": seed,
                    "recipe": result.config.describe(),
                    "val_accuracy": val["accuracy"],
                    "val_balanced_accuracy": val["balanced_accuracy"],
                    "val_score": val["selection_score"],
                    "tau": test["calibration"]["tau"],
                    "temperature": test["calibration"]["temperature"],
                    "seconds": result.seconds,
                    "test_accuracy": test["accuracy"],
                    "test_balanced_accuracy": test["balanced_accuracy"],
                    "test_ece": test["ece"],
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
