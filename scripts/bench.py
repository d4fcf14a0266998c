"""Benchmark: namelstm's batched training and prediction against the tutorial's one-name-at-a-time loop.

Everything is measured in this one run, on this machine, and printed as a Markdown table (also
written as JSON). It takes about one minute on 2 CPU cores.

    python scripts/bench.py --data-dir ../shared/data/names [--out outputs/bench.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from namelstm.data import N_LETTERS, line_to_tensor, load_names, resolve_data_dir, split_by_name
from namelstm.models import MODELS, build_model
from namelstm.predict import Predictor

TUTORIAL_LR = 0.005  # the tutorial's learning rate; it does not change the speed


def tutorial_names_per_second(model_name: str, pairs: list[tuple[str, str]], languages: tuple[str, ...],
                              n: int, seed: int = 0) -> float:
    """The tutorial's training loop: a random language, a random name of it, its one-hot tensor
    built on the spot, the model run letter by letter, then a plain SGD update."""
    rng = random.Random(seed)
    torch.manual_seed(seed)
    names_of: dict[str, list[str]] = {lang: [] for lang in languages}
    for name, language in pairs:
        names_of[language].append(name)
    model = build_model(model_name, N_LETTERS, len(languages))
    criterion = nn.NLLLoss()
    start = time.perf_counter()
    for _ in range(n):
        language = rng.choice(languages)
        line_tensor = line_to_tensor(rng.choice(names_of[language]))
        category_tensor = torch.tensor([languages.index(language)])
        model.zero_grad()
        loss = criterion(model.classify_one_hot(line_tensor), category_tensor)
        loss.backward()
        for p in model.parameters():
            p.data.add_(p.grad.data, alpha=-TUTORIAL_LR)
    return n / (time.perf_counter() - start)


def run_cli(args: list[str], env: dict[str, str] | None = None) -> tuple[float, int]:
    """Run `python -m namelstm ARGS` as a new process: wall seconds and peak resident memory (bytes)."""
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "namelstm", *args],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"namelstm {' '.join(args)} failed: {process.stderr.read().decode()}")  # type: ignore[union-attr]
    return seconds, usage.ru_maxrss * 1024


def default_training(model_name: str, data_dir: Path, runs: Path, *extra: str) -> dict[str, Any]:
    run_dir = runs / "-".join((model_name, *extra))
    wall, peak = run_cli(["train", "--model", model_name, "--data-dir", str(data_dir), "--out", str(run_dir),
                          "-q", "--no-plots", "--device", "cpu", *extra])
    history = json.loads((run_dir / "history.json").read_text())["epochs"]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    n_train = len(json.loads((run_dir / "split.json").read_text())["train"])
    train_seconds = sum(r["train_seconds"] for r in history)
    elapsed, to_78 = 0.0, None
    for r in history:
        elapsed += r["seconds"]
        if to_78 is None and r["val_accuracy"] >= 0.78:
            to_78 = elapsed
    return {
        "run_dir": str(run_dir),
        "epochs": len(history),
        "names_per_second": n_train * len(history) / train_seconds,
        "seconds_per_epoch": statistics.mean(r["seconds"] for r in history),
        "seconds_to_78_val": to_78,
        "test_accuracy": metrics["accuracy"],
        "process_seconds": wall,
        "peak_memory_mb": peak / 2**20,
    }


BUSY_LOOP = "while True: pass"  # the other CPU-bound job of the threads measurement


def threads_report(data_dir: Path, runs: Path, repeats: int, epochs: int = 5) -> list[dict[str, Any]]:
    """Wall seconds of `train --model lstm --epochs 5` with 1 and 2 threads, on the machine as it is
    ("quiet") and with one busy-looping process beside it ("load")."""
    rows = []
    for load in ("quiet", "load"):
        busy = subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) if load == "load" else None
        try:
            for threads in (1, 2):
                seconds = []
                for i in range(repeats):
                    run_dir = runs / f"threads-{load}-{threads}-{i}"
                    seconds.append(run_cli(["train", "--model", "lstm", "--epochs", str(epochs), "--threads",
                                            str(threads), "--data-dir", str(data_dir), "--out", str(run_dir),
                                            "-q", "--no-plots", "--device", "cpu"])[0])
                rows.append({"load": load, "threads": threads, "epochs": epochs, "seconds": seconds,
                             "loadavg_after": os.getloadavg()[0]})
                print(f"threads {threads}, {load}: {', '.join(f'{s:.1f}' for s in seconds)} s", file=sys.stderr)
        finally:
            if busy is not None:
                busy.kill()
                busy.wait()
    return rows


def threads_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| machine load | threads | `train --model lstm --epochs 5`, wall seconds (each run) | median |",
             "| --- | ---: | --- | ---: |"]
    for r in rows:
        load = "quiet" if r["load"] == "quiet" else "one busy-looping process beside it"
        lines.append(f"| {load} | {r['threads']} | {', '.join(f'{s:.1f}' for s in r['seconds'])} "
                     f"| {statistics.median(r['seconds']):.1f} s |")
    return "\n".join(lines)


def prediction(run_dir: str, names: list[str]) -> dict[str, Any]:
    predictor = Predictor.load(run_dir)
    predictor.predict(names[:100])  # warm-up
    best = min(_timed(lambda: predictor.predict(names)) for _ in range(3))
    cold = [run_cli(["predict", "--checkpoint", run_dir, "Smith"])[0] for _ in range(3)]
    helps = [run_cli(["--help"])[0] for _ in range(3)]
    return {
        "batch": len(names),
        "names_per_second": len(names) / best,
        "predict_process_seconds": statistics.median(cold),
        "help_process_seconds": statistics.median(helps),
    }


def _timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads)"


def table(results: dict[str, Any]) -> str:
    t, lstm, mylstm, p = results["training"], results["training"]["lstm"], results["training"]["mylstm"], results["prediction"]
    ok = {True: "met", False: "**missed**"}
    rows = ["| measure | value | target | |", "| --- | ---: | ---: | --- |"]
    for name in MODELS:
        ratio = t[name]["names_per_second"] / results["tutorial"][name]
        rows.append(f"| `{name}` training, names/s: default (batch 64) vs tutorial loop | "
                    f"{t[name]['names_per_second']:,.0f} vs {results['tutorial'][name]:,.0f} = **{ratio:.0f}×** "
                    f"| ≥ 30× | {ok[ratio >= 30]} |")
    for name in MODELS:
        ratio = results["batch_256"][name]["names_per_second"] / results["tutorial"][name]
        rows.append(f"| `{name}` training at `--batch-size 256`, names/s | "
                    f"{results['batch_256'][name]['names_per_second']:,.0f} = **{ratio:.0f}×** | | |")
    for name in MODELS:
        rows.append(f"| `{name}` seconds per epoch (train + validation), test accuracy | "
                    f"{t[name]['seconds_per_epoch']:.2f} s, {t[name]['test_accuracy']:.1%} | | |")
    to_78 = lstm["seconds_to_78_val"]
    rows.append(f"| `lstm` seconds to 78% validation accuracy | "
                f"{'never' if to_78 is None else f'{to_78:.1f} s'} | ≤ 15 s | {ok[to_78 is not None and to_78 <= 15]} |")
    ratio = mylstm["seconds_per_epoch"] / lstm["seconds_per_epoch"]
    gap = abs(mylstm["test_accuracy"] - lstm["test_accuracy"]) * 100
    rows.append(f"| `mylstm` / `lstm` time per epoch; test accuracy gap | {ratio:.2f}×; {gap:.1f} points "
                f"| ≤ 1.5×; ≤ 1 point | {ok[ratio <= 1.5 and gap <= 1]} |")
    rows.append(f"| batched prediction, {p['batch']:,} names | {p['names_per_second']:,.0f} names/s | ≥ 50,000 "
                f"| {ok[p['names_per_second'] >= 50_000]} |")
    rows.append(f"| `namelstm predict Smith`, new process (median of 3) | {p['predict_process_seconds']:.2f} s | < 2 s "
                f"| {ok[p['predict_process_seconds'] < 2]} |")
    rows.append(f"| `namelstm --help`, new process | {p['help_process_seconds']:.2f} s | instant | |")
    peak = max(t[name]["peak_memory_mb"] for name in MODELS)
    rows.append(f"| peak memory of a `namelstm train` process | {peak:.0f} MB | | |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, help="directory of the 18 name files (default: as namelstm finds it)")
    parser.add_argument("--out", type=Path, default=Path("outputs/bench.json"))
    parser.add_argument("--tutorial-names", type=int, default=1000, help="names per timing of the tutorial loop")
    args = parser.parse_args()

    data_dir = resolve_data_dir(args.data_dir)
    dataset = load_names(data_dir)
    split = split_by_name(dataset, seed=0)
    results: dict[str, Any] = {"machine": machine(), "split": split.describe()}
    print(f"machine: {results['machine']}", file=sys.stderr)
    results["tutorial"] = {}
    for name in MODELS:
        # The best of three favours the baseline, so the speed-up we report is a lower bound.
        results["tutorial"][name] = max(
            tutorial_names_per_second(name, list(split.train), dataset.languages, args.tutorial_names, seed)
            for seed in range(3)
        )
        print(f"tutorial loop {name}: {results['tutorial'][name]:,.0f} names/s", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        results["training"] = {}
        for name in MODELS:
            results["training"][name] = default_training(name, data_dir, Path(tmp))
            print(f"default training {name}: {results['training'][name]['names_per_second']:,.0f} names/s",
                  file=sys.stderr)
        # Where the per-batch overhead goes: the same models with 4x larger batches, 3 epochs.
        results["batch_256"] = {
            name: default_training(name, data_dir, Path(tmp), "--batch-size", "256", "--epochs", "3")
            for name in MODELS
        }
        test_names = [n for n, _ in split.test]
        names = (test_names * (10_000 // len(test_names) + 1))[:10_000]
        results["prediction"] = prediction(results["training"]["lstm"]["run_dir"], names)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nMeasured on {results['machine']}; {results['split']}.\n")
    print(table(results))
    print(f"\n(JSON: {args.out})", file=sys.stderr)


if __name__ == "__main__":
    main()
