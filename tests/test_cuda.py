"""The GPU path: training on CUDA without a host sync per step, and its run predicting. Skipped without a GPU
(scripts/gpu_check.sh runs these on a GPU machine)."""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from conftest import TINY_CONFIG

from namelstm.data import load_names, split_by_name
from namelstm.predict import Predictor
from namelstm.train import train

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_training_on_cuda_does_not_sync_the_host_every_step(tiny_data: Path, tmp_path: Path) -> None:
    split = split_by_name(load_names(tiny_data))
    config = replace(TINY_CONFIG, device="cuda", batch_size=4, epochs=2)
    steps = 2 * -(-len(split.train) // config.batch_size)
    train(replace(config, epochs=1), split, tmp_path / "warm", progress=False, log=lambda _: None)  # CUDA init
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = train(config, split, tmp_path / "run", progress=False, log=lambda _: None)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    syncs = [w for w in caught if "synchroniz" in str(w.message).lower()]
    # Validation, scoring and the epoch-end totals sync a fixed number of times; a step must not.
    assert len(syncs) < steps / 2, f"{len(syncs)} host syncs in {steps} steps: {syncs[:3]}"
    assert result.test_metrics["accuracy"] > 0.5


def test_a_cuda_run_predicts_on_the_cpu(tiny_data: Path, tmp_path: Path) -> None:
    split = split_by_name(load_names(tiny_data))
    result = train(replace(TINY_CONFIG, device="cuda"), split, tmp_path / "run", progress=False, log=lambda _: None)
    (prediction,) = Predictor.load(result.run_dir).predict(["Bakaki"], top_k=1)
    assert prediction.predictions[0][0] == "Betan"
