from __future__ import annotations

import io
import pickle
from pathlib import Path

import pytest
import torch

from namelstm.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from namelstm.errors import NamelstmError
from namelstm.models import build_model


def _checkpoint(**changes: object) -> Checkpoint:
    model = build_model("lstm", 57, 3, hidden_size=4)
    fields = dict(
        model_name="lstm", hidden_size=4, languages=("A", "B", "C"), state_dict=model.state_dict(), epoch=2
    )
    return Checkpoint(**{**fields, **changes})  # type: ignore[arg-type]


def test_round_trip_rebuilds_the_same_model(tmp_path: Path) -> None:
    original = _checkpoint()
    save_checkpoint(tmp_path / "c.pt", original)
    loaded = load_checkpoint(tmp_path / "c.pt")
    assert (loaded.model_name, loaded.languages, loaded.epoch) == ("lstm", ("A", "B", "C"), 2)
    for key, value in original.state_dict.items():
        assert torch.equal(loaded.build_model().state_dict()[key], value)
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # the temporary file was renamed away


class _RunsCode:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (exec, ("open('PWNED', 'w').write('ran')",))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "unreadable"),
        (b"just some text\n", "unreadable"),
        (pickle.dumps({"a": _RunsCode()}), "objects other than tensors"),
    ],
    ids=["empty", "text", "pickle-that-runs-code"],
)
def test_foreign_files_are_refused_and_never_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: bytes, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.pt").write_bytes(content)
    with pytest.raises(NamelstmError, match=message):
        load_checkpoint(tmp_path / "bad.pt")
    assert not (tmp_path / "PWNED").exists()


def test_truncated_and_mismatched_checkpoints_are_refused(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "good.pt", _checkpoint())
    data = (tmp_path / "good.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(NamelstmError, match="not a usable namelstm checkpoint"):
        load_checkpoint(tmp_path / "cut.pt")
    save_checkpoint(tmp_path / "alphabet.pt", _checkpoint(alphabet="abca"))  # a letter twice
    with pytest.raises(NamelstmError, match="bad alphabet"):
        load_checkpoint(tmp_path / "alphabet.pt")
    save_checkpoint(
        tmp_path / "other.pt", _checkpoint(alphabet="abc")
    )  # any alphabet loads; the weights must fit it
    with pytest.raises(NamelstmError, match="do not fit"):
        load_checkpoint(tmp_path / "other.pt").build_model()
    save_checkpoint(tmp_path / "shape.pt", _checkpoint(hidden_size=5))
    with pytest.raises(NamelstmError, match="do not fit a lstm of hidden size 5"):
        load_checkpoint(tmp_path / "shape.pt").build_model()
    buffer = io.BytesIO()
    torch.save({"weights": torch.zeros(2)}, buffer)
    (tmp_path / "other.pt").write_bytes(buffer.getvalue())
    with pytest.raises(NamelstmError, match="no namelstm header"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(NamelstmError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
