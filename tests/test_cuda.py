"""The GPU path: training on CUDA without a host sync per step, and its run predicting. Skipped without a GPU
(scripts/gpu_check.sh runs these on a GPU machine)."""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import TINY_CONFIG

import namelstm.training.train
from namelstm.data.names import load_names, split_by_name
from namelstm.inference.predict import Predictor
from namelstm.training.launch import train

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_training_on_cuda_does_not_sync_the_host_every_step(
    tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    split = split_by_name(load_names(tiny_data))
    config = replace(TINY_CONFIG, device="cuda", batch_size=4, epochs=2)
    steps_per_epoch = -(-len(split.train) // config.batch_size)
    syncs: list[int] = []
    real_epoch = namelstm.training.train.Trainer.train_epoch

    def watched_epoch(*args: Any, **kwargs: Any) -> Any:
        """One training epoch with PyTorch warning at each host-device sync."""
        torch.cuda.set_sync_debug_mode("warn")
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                return real_epoch(*args, **kwargs)
        finally:
            torch.cuda.set_sync_debug_mode("default")
            syncs.append(sum("synchroniz" in str(w.message).lower() for w in caught))

    monkeypatch.setattr(namelstm.training.train.Trainer, "train_epoch", watched_epoch)
    result = train(config, split, tmp_path / "run", progress=False, log=lambda _: None)
    assert len(syncs) == 2 and steps_per_epoch > 20
    # The epoch's totals are read once at its end; the steps themselves never wait for the GPU.
    assert max(syncs) <= 3, f"host syncs per epoch: {syncs}, with {steps_per_epoch} steps each"
    assert result.test_metrics["accuracy"] > 0.3


def test_a_cuda_run_predicts_on_the_cpu(tiny_data: Path, tmp_path: Path) -> None:
    split = split_by_name(load_names(tiny_data))
    result = train(
        replace(TINY_CONFIG, device="cuda"), split, tmp_path / "run", progress=False, log=lambda _: None
    )
    (prediction,) = Predictor.load(result.run_dir).predict(["Bakaki"], top_k=1)
    assert prediction.predictions[0][0] == "Betan"
