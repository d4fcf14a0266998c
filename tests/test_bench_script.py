"""scripts/bench.py's timing, process runner and tables (the benchmark itself is run by hand, never
timed in a test): tiny runs of each timing path, checked for the fields the tables read."""

from __future__ import annotations

import importlib.util
import statistics
import sys
import threading
import time
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from conftest import REPO
from torch.utils.benchmark.utils.common import Measurement, TaskSpec

from namelstm.checkpoint import Checkpoint, save_checkpoint
from namelstm.data.alphabet import Alphabet
from namelstm.experiments import docblocks
from namelstm.models import MODELS, build_model


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench", REPO / "scripts" / "bench.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


# 200 KB on each stream: a pipe nobody reads blocks its writer at 64 KB, for ever.
LOUD = "import sys; print('o' * 200_000, flush=True); sys.stderr.write('x' * 200_000); sys.exit({code})"


def test_a_child_that_writes_much_to_stdout_and_stderr_does_not_hang_the_benchmark(bench: ModuleType) -> None:
    done: list[tuple[float, int]] = []
    runner = threading.Thread(
        target=lambda: done.append(bench.run_measured([sys.executable, "-c", LOUD.format(code=0)], "loud")),
        daemon=True,
    )
    runner.start()
    runner.join(timeout=30)
    assert done and done[0][0] > 0 and done[0][1] > 0
    with pytest.raises(SystemExit, match="loud failed: x+$"):
        bench.run_measured([sys.executable, "-c", LOUD.format(code=3)], "loud")


def test_peak_memory_is_the_childs_own_not_its_parents(bench: ModuleType) -> None:
    ballast = torch.ones(64 * 2**20)  # 256 MiB in this process, which Linux counts in a child's peak
    small = bench.run_measured([sys.executable, "-c", "pass"], "small")[1]
    big = bench.run_measured([sys.executable, "-c", "b = b'x' * (200 * 2**20)"], "big")[1]
    del ballast
    assert small < 100 * 2**20 and big >= 200 * 2**20


def test_timer_gives_seconds_per_call_with_median_and_iqr_in_this_process_threads(
    bench: ModuleType,
) -> None:
    threads = torch.get_num_threads()
    seen: set[int] = set()

    def nap() -> None:
        seen.add(torch.get_num_threads())
        time.sleep(0.005)

    torch.set_num_threads(2)
    try:
        timing = bench.measure(nap, max_run_time=1.0)
    finally:
        torch.set_num_threads(threads)
    assert 0.005 <= timing["median_s"] < 0.05  # per call, not per block of calls
    assert 0 < timing["iqr_s"] < timing["median_s"]
    assert timing["iqr_s"] == pytest.approx(_iqr(timing["times"]))
    assert timing["runs"] >= 4  # adaptive_autorange's least
    assert seen == {2}  # not Timer's default of one thread


@pytest.mark.parametrize("seconds", [[1.0, 2.0, 3.0, 4.0, 10.0], [3.0, 5.0], [0.2, 0.9, 0.4, 0.4], [2.0]])
def test_processes_spread_is_computed_as_timers_measurement_computes_it(
    bench: ModuleType, seconds: list[float]
) -> None:
    measurement = Measurement(number_per_run=1, raw_times=seconds, task_spec=TaskSpec(stmt="", setup=""))
    spread = bench.spread(seconds)
    assert spread["median_s"] == pytest.approx(measurement.median)
    assert spread["iqr_s"] == pytest.approx(measurement.iqr)
    assert spread["runs"] == len(seconds)


def _iqr(seconds: list[float]) -> float:
    """The IQR by numpy's default (linear) interpolation, which Timer's Measurement also uses."""
    q1, q3 = np.percentile(seconds, [25, 75])
    return float(q3 - q1)


def test_new_processes_are_timed_several_times(bench: ModuleType) -> None:
    timing = bench.processes([["--help"]] * 3)
    assert timing["runs"] == 3 and len(timing["seconds"]) == 3
    assert timing["median_s"] == statistics.median(timing["seconds"]) > 0
    # The spread of these very runs: a constant, a sign flip or another statistic fails here.
    assert timing["iqr_s"] == pytest.approx(_iqr(timing["seconds"])) and timing["iqr_s"] > 0


CYRILLIC = Alphabet("абвгдежз")  # not one of the report's 57 letters


@pytest.mark.parametrize("model_name", ["lstm", "mylstm"])
def test_the_tutorial_loop_reads_the_alphabet_it_is_given(bench: ModuleType, model_name: str) -> None:
    pairs = [("абв", "X"), ("где", "X"), ("жза", "Y"), ("ба", "Y")]
    timing = bench.tutorial_names_per_second(model_name, pairs, ("X", "Y"), CYRILLIC, 5, max_run_time=0.3)
    assert timing["names"] == 5 and timing["runs"] >= 1
    assert timing["names_per_second"] == pytest.approx(5 / timing["median_s"])
    assert len(timing["times"]) == timing["runs"]
    assert timing["iqr_s"] == pytest.approx(_iqr(timing["times"]), abs=1e-12)


def test_gpu_prediction_encodes_with_the_checkpoints_alphabet(bench: ModuleType, tmp_path: Path) -> None:
    model = build_model("lstm", len(CYRILLIC), 2, 8)
    checkpoint = Checkpoint("lstm", 8, ("X", "Y"), model.state_dict(), 1, alphabet=CYRILLIC.letters)
    save_checkpoint(tmp_path / "checkpoint.pt", checkpoint)
    result = bench.gpu_prediction(
        tmp_path, ["абв", "жз", "д"] * 10, torch.device("cpu"), batch=8, max_run_time=0.3
    )
    assert result["names"] == 30 and result["batch"] == 8
    assert result["names_per_second"] == pytest.approx(30 / result["median_s"])


def _timing(median: float, iqr: float, runs: int) -> dict[str, float]:
    return {"median_s": median, "iqr_s": iqr, "runs": runs}


def test_the_tables_print_median_and_iqr(bench: ModuleType) -> None:
    training = {
        "names_per_second": 20_000.0,
        "seconds_per_epoch": 0.7,
        "seconds_to_78_val": 5.0,
        "test_accuracy": 0.72,
        "peak_memory_mb": 400.0,
    }
    results = {
        "tutorial": {m: {"names_per_second": 1_000.0, **_timing(1.0, 0.05, 5)} for m in MODELS},
        "training": {m: dict(training) for m in MODELS},
        "batch_256": {m: {"names_per_second": 30_000.0} for m in MODELS},
        "prediction": {
            "batch": 10_000,
            "names_per_second": 50_000.0,
            **_timing(0.2, 0.01, 6),
            "predict_process": _timing(1.5, 0.04, 3),
            "help_process": _timing(0.17, 0.01, 3),
        },
    }
    table = bench.table(results)
    assert "1,000 (median of 5 runs, IQR 5%) = **20×**" in table
    assert "50,000 names/s (median of 6 runs, IQR 5%)" in table
    assert "new process (median of 3) | 1.50 s (IQR 0.04 s) | < 2 s | met |" in table
    row = {"load": "quiet", "threads": 1, "loadavg_before": 1.0, "loadavg_after": 1.1, "seconds": [8.0, 9.0]}
    threads = bench.threads_table([{**row, **bench.spread(row["seconds"])}])
    assert threads.endswith("| 8.0, 9.0 | 8.5 s (0.5 s) |")


def test_the_gpu_report_predicts_with_a_model_it_trained_whatever_the_batches(
    bench: ModuleType, tiny_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--gpu-batches 64,256` crashed after training: prediction read runs/gpu-1024 (issue 26)."""
    trained: list[Path] = []
    monkeypatch.setattr(
        bench, "gpu_training", lambda split, d, b, e, r, runs: trained.append(runs / f"gpu-{b}")
    )
    monkeypatch.setattr(bench, "gpu_prediction", lambda run_dir, names, device: {"run": run_dir})
    results = bench.gpu_report(tiny_data, "cpu", 1, {}, predict_names=10, batches=(64, 256))
    assert results["prediction"]["run"] in trained and results["prediction"]["run"].name == "gpu-256"


def test_the_scale_pages_prediction_table_is_the_one_bench_wrote(bench: ModuleType) -> None:
    """docs/scale.md's prediction-paths table is written by `bench.py --only-paths --docs docs`
    from docs/bench-paths.json; a figure typed into the page by hand fails here."""
    import json

    results = json.loads((REPO / "docs" / "bench-paths.json").read_text(encoding="utf-8"))
    block = docblocks.read_block(REPO / "docs" / "scale.md", "bench:paths")
    assert block == bench.paths_page(results)
    assert {r["model"] for r in results["paths"]} >= set(MODELS)  # every family has its row


def test_the_scale_pages_cpu_and_threads_tables_are_the_ones_bench_wrote(bench: ModuleType) -> None:
    """docs/scale.md's CPU and threads tables are written by `bench.py --docs docs` from
    docs/bench-cpu.json."""
    import json

    results = json.loads((REPO / "docs" / "bench-cpu.json").read_text(encoding="utf-8"))
    page = REPO / "docs" / "scale.md"
    assert docblocks.read_block(page, "bench:cpu") == bench.cpu_page(results)
    assert docblocks.read_block(page, "bench:threads") == bench.threads_table(results["threads"])
    assert set(results["training"]) >= set(MODELS)  # every family has its rows
