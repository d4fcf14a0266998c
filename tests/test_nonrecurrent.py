"""The families without recurrence (`ngram`, `cnn`): the hash, sparse training, and the commands."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from click.testing import CliRunner, Result

from namelstm.cli import cli
from namelstm.config import TrainConfig
from namelstm.data.names import encode
from namelstm.errors import NamelstmError
from namelstm.models import build_model
from namelstm.models.ngram import NGram, ngram_ids
from namelstm.training.optim import JointOptimizer, build_optimizer, clip_gradients

NAMES = ["Dostoevsky", "Li", "O'Neill", "A"]


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def test_ngram_ids_are_in_range_deterministic_and_count_each_names_ngrams() -> None:
    letters, lengths = encode(NAMES)
    ids, mask = ngram_ids(letters, lengths, 57, 5, 2**18)
    again, _ = ngram_ids(letters.clone(), lengths.clone(), 57, 5, 2**18)
    assert torch.equal(ids, again)
    assert ids.dtype == torch.int64 and int(ids.min()) >= 0 and int(ids.max()) < 2**18
    # A name of L letters with its two marks holds L + 2 - n + 1 n-grams for each n it is long enough for.
    expected = [sum(max(n + 2 - k + 1, 0) for k in range(1, 6)) for n in lengths.tolist()]
    assert mask.sum(1).tolist() == expected


def test_ngram_ids_tell_a_names_start_from_its_end() -> None:
    ids, mask = ngram_ids(*encode(["ab", "ba"]), 57, 2, 2**18)
    first, second = (set(row[m].tolist()) for row, m in zip(ids, mask, strict=True))
    assert first != second  # same letters and unigrams, other bigrams with the marks


def test_clipping_sparse_gradients_scales_them_as_dense_clipping_would() -> None:
    torch.manual_seed(0)
    sparse = torch.nn.Embedding(50, 4, sparse=True)
    dense = torch.nn.Embedding(50, 4)
    dense.load_state_dict(sparse.state_dict())
    index = torch.tensor([[1, 2, 2, 7]])
    for model in (sparse, dense):
        (model(index).sum() * 10).backward()
    clip_gradients(sparse.parameters(), 1.0)
    torch.nn.utils.clip_grad_norm_(dense.parameters(), 1.0)
    torch.testing.assert_close(sparse.weight.grad.to_dense(), dense.weight.grad)


def test_adam_hands_the_sparse_table_to_sparse_adam_and_refuses_weight_decay() -> None:
    model = NGram(57, 18, 8)
    optimizer = build_optimizer(model, TrainConfig(model="ngram", optimizer="adam", lr=1e-3))
    assert isinstance(optimizer, JointOptimizer)
    kinds = [type(o).__name__ for o in optimizer.optimizers]
    assert kinds == ["Adam", "SparseAdam"] and len(optimizer.param_groups) == 2
    with pytest.raises(NamelstmError, match="SparseAdam, which has no weight decay"):
        build_optimizer(model, TrainConfig(model="ngram", optimizer="adam", lr=1e-3, weight_decay=1e-4))


def test_cnn_reads_a_name_shorter_than_its_widest_window() -> None:
    torch.manual_seed(1)
    model = build_model("cnn", 57, 18, hidden_size=8).eval()
    out = model.classify(*encode(["A", "Bo"]))
    assert out.shape == (2, 18) and torch.isfinite(out).all()


@pytest.fixture(scope="module")
def runs(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One tiny ngram and one tiny cnn run, trained through the CLI, the cnn resumed for one more epoch."""
    root = tmp_path_factory.mktemp("nonrecurrent")
    made = {}
    for model in ("ngram", "cnn"):
        out = root / model
        args = ["train", "--data-dir", str(tiny_data), "--model", model, "--epochs", "2"]
        result = run(*args, "--hidden-size", "8", "--batch-size", "16", "-q", "--no-plots", "--out", str(out))
        assert result.exit_code == 0, result.output
        made[model] = out
    resumed = run("train", "--resume", str(made["ngram"]), "--epochs", "3", "-q", "--no-plots")
    assert resumed.exit_code == 0, resumed.output
    return made


@pytest.mark.slow
@pytest.mark.parametrize("model", ["ngram", "cnn"])
def test_a_tiny_run_predicts_and_evaluates_through_the_cli(runs: dict[str, Path], model: str) -> None:
    from namelstm.runs import read_json

    history = read_json(runs[model] / "history.json")
    assert history["config"]["model"] == model
    predicted = run("predict", "--checkpoint", str(runs[model] / "checkpoint.pt"), "Bakiaki", "McDurin")
    assert predicted.exit_code == 0, predicted.output
    assert "Bakiaki" in predicted.output
    evaluated = run("evaluate", "--checkpoint", str(runs[model]))
    assert evaluated.exit_code == 0, evaluated.output
    assert "accuracy" in evaluated.output


@pytest.mark.slow
def test_a_resumed_ngram_run_continues_to_its_new_total(runs: dict[str, Path]) -> None:
    from namelstm.runs import read_json

    history = read_json(runs["ngram"] / "history.json")
    assert [e["epoch"] for e in history["epochs"]] == [1, 2, 3]


@pytest.mark.slow
def test_gradients_through_time_skip_a_family_without_time_steps(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    result = run("analyze", "gradients", str(runs["cnn"]), "--out", str(tmp_path))
    assert result.exit_code != 0
    assert "cnn has no time steps to send gradients back through" in result.output


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ngram", "cnn"])
def test_classify_exports_to_onnx_and_onnxruntime_agrees(name: str, tmp_path: Path) -> None:
    import warnings

    import onnxruntime

    class Classify(torch.nn.Module):
        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, letters: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
            return self.model.classify(letters, lengths)

    torch.manual_seed(2)
    wrapper = Classify(build_model(name, 57, 18, hidden_size=8)).eval()  # eval: dropout off in the graph
    path = tmp_path / f"{name}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper,
            encode(NAMES),
            path,
            dynamo=False,
            input_names=["letters", "lengths"],
            dynamic_axes={"letters": {0: "batch", 1: "time"}, "lengths": {0: "batch"}},
        )
    session = onnxruntime.InferenceSession(str(path))
    for names in (NAMES, ["Nakamura", "Bo", "Abernathy Smith"]):  # other batch and width than exported
        letters, lengths = encode(names)
        (got,) = session.run(None, {"letters": letters.numpy(), "lengths": lengths.numpy()})
        torch.testing.assert_close(torch.from_numpy(got), wrapper(letters, lengths), atol=1e-5, rtol=1e-5)


def test_dense_gradients_leave_adam_alone_with_the_table() -> None:
    from namelstm.training.optim import dense_gradients

    model = NGram(57, 18, 8)
    dense_gradients(model)
    optimizer = build_optimizer(model, TrainConfig(model="ngram", optimizer="adam", lr=1e-3))
    assert isinstance(optimizer, torch.optim.Adam)
    model.classify(*encode(NAMES)).sum().backward()
    assert not model.embedding.weight.grad.is_sparse
