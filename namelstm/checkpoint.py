"""Save and load trained models as plain tensors and data: loading can never run code.

torch is imported where tensors are read or written, not at import: the torch-free predictor
describes its model with the same `Checkpoint` (its fields without the weights)."""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from namelstm.data.alphabet import REPORT
from namelstm.data.script import default_scripts
from namelstm.errors import NamelstmError
from namelstm.runs import atomic_write_bytes

if TYPE_CHECKING:
    import torch

    from namelstm.models import NameClassifier

ALPHABET = REPORT.letters

FORMAT = "namelstm-checkpoint"
VERSION = 1
RESUME_FORMAT = "namelstm-resume-v1"
ENSEMBLE = "ensemble"  # the model_name of a checkpoint whose `parts` list its members


def save_payload(path: Path, payload: dict[str, Any]) -> None:
    """torch.save, written atomically: a reader or a crash sees the old file or the new one."""
    import torch

    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_payload(path: Path, what: str) -> Any:
    """torch.load with `weights_only=True`: tensors and plain data load, anything that could run
    code is refused. Every failure is one NamelstmError naming `what` the file should have been."""
    import torch

    if not Path(path).is_file():
        raise NamelstmError(f"{what} {path} does not exist")
    try:
        with warnings.catch_warnings():  # torch warns about foreign pickles; our message says it all
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for truncated, foreign or unsafe files
        unsafe = "weights only" in str(err).lower()
        reason = "it holds objects other than tensors and plain data (not loaded)" if unsafe else "unreadable"
        raise NamelstmError(f"{path} is not a usable namelstm {what}: {reason}") from None


@dataclass(frozen=True)
class Checkpoint:
    """Everything needed to rebuild and describe a trained model, and nothing executable."""

    model_name: str
    hidden_size: int
    languages: tuple[str, ...]
    state_dict: dict[str, torch.Tensor]
    epoch: int
    alphabet: str = ALPHABET
    config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    members: int = 1  # > 1: an Ensemble of this many models of `model_name`, weights under "members.<k>."
    calibration: dict[str, Any] = field(default_factory=dict)  # see calibrate.Calibration.to_dict
    scripts: dict[str, list[str]] = field(default_factory=dict)  # language -> scripts it is written in
    # A weighted ensemble of any families (model_name ENSEMBLE): one {"model", "hidden_size", "weight"}
    # per member, whose tensors are under "members.<k>."; hidden_size is then the largest member's.
    parts: tuple[dict[str, Any], ...] = ()

    @property
    def n_members(self) -> int:
        """The models whose probabilities this checkpoint averages (1: a single model)."""
        return len(self.parts) or self.members

    def describe(self) -> str:
        """'lstm, hidden 64, test accuracy 71.6%, balanced 54.0%, split by name ...': which model answers."""
        test = self.metrics.get("test")
        score = ""
        if test:
            balanced = f", balanced {test['balanced_accuracy']:.1%}" if "balanced_accuracy" in test else ""
            score = f", test accuracy {test['accuracy']:.1%}{balanced}, {test['split']}"
        members = f", an ensemble of {self.members}" if self.members > 1 else ""
        unfinished = "" if self.finished else f", {self.weights()}"
        if self.parts:
            listed = " + ".join(
                f"{p['model']} hidden {p['hidden_size']} x{p['weight']:.2f}" for p in self.parts
            )
            return f"an ensemble of {listed}{score}"
        return f"{self.model_name}, hidden {self.hidden_size}{members}{score}{unfinished}"

    @property
    def finished(self) -> bool:
        """False for the checkpoint of a run that stopped before its last epoch (it has no test
        scores yet); a checkpoint made outside training (no settings) counts as finished."""
        return "test" in self.metrics or "epochs" not in self.config

    def weights(self) -> str:
        """Which weights these are: 'best epoch 7/20', 'mean of epochs 11–20', or, of an unfinished
        run, 'best epoch 3 so far of an unfinished run of 20 epochs'."""
        if not self.config or "epochs" not in self.config:
            return f"epoch {self.epoch}"
        if not self.finished:
            return f"best epoch {self.epoch} so far of an unfinished run of {self.config['epochs']} epochs"
        from namelstm.config import TrainConfig

        return TrainConfig.from_dict(self.config).kept_weights(self.epoch)

    def build_model(self, device: torch.device | str = "cpu") -> NameClassifier:
        from namelstm.models import build_model
        from namelstm.models.ensemble import Ensemble

        def one(name: str, hidden_size: int) -> NameClassifier:
            return build_model(name, len(self.alphabet), len(self.languages), hidden_size)

        if self.parts:
            members = [one(p["model"], p["hidden_size"]) for p in self.parts]
            model: NameClassifier = Ensemble(members, [p["weight"] for p in self.parts])
        elif self.members > 1:
            model = Ensemble([one(self.model_name, self.hidden_size) for _ in range(self.members)])
        else:
            model = one(self.model_name, self.hidden_size)
        try:
            model.load_state_dict(self.state_dict)
        except RuntimeError:
            raise NamelstmError(
                f"checkpoint weights do not fit a {self.model_name} of hidden size {self.hidden_size}"
            ) from None
        return model.to(device).eval()


def save_checkpoint(path: Path, checkpoint: Checkpoint) -> None:
    payload = {"format": FORMAT, "version": VERSION, **asdict(checkpoint)}
    payload["languages"] = list(checkpoint.languages)
    payload["parts"] = [dict(p) for p in checkpoint.parts]
    payload["state_dict"] = {k: v.detach().cpu() for k, v in checkpoint.state_dict.items()}
    save_payload(path, payload)


def _check(condition: bool, path: Path, what: str) -> None:
    if not condition:
        raise NamelstmError(f"{path} is not a usable namelstm checkpoint: {what}")


def load_checkpoint(path: Path) -> Checkpoint:
    """Load with `weights_only=True` (tensors and plain data only), then check every field."""
    import torch

    from namelstm.models import MODELS

    path = Path(path)
    raw = load_payload(path, "checkpoint")
    _check(isinstance(raw, dict) and raw.get("format") == FORMAT, path, "no namelstm header")
    _check(raw.get("version") == VERSION, path, f"version {raw.get('version')!r}, expected {VERSION}")
    parts = _checked_parts(raw.get("parts") or [], path)
    known = raw.get("model_name") in MODELS or (raw.get("model_name") == ENSEMBLE and parts)
    _check(known, path, f"unknown model {raw.get('model_name')!r}")
    _check(isinstance(raw.get("hidden_size"), int) and raw["hidden_size"] > 0, path, "bad hidden_size")
    languages = raw.get("languages")
    _check(
        isinstance(languages, list) and len(languages) >= 2 and all(isinstance(x, str) for x in languages),
        path,
        "bad language list",
    )
    alphabet = raw.get(
        "alphabet"
    )  # any alphabet of distinct letters (--alphabet auto), not only the report's
    _check(isinstance(alphabet, str) and 0 < len(set(alphabet)) == len(alphabet), path, "bad alphabet")
    _check(isinstance(raw.get("members", 1), int) and raw.get("members", 1) >= 1, path, "bad member count")
    state = raw.get("state_dict")
    _check(
        isinstance(state, dict) and all(isinstance(v, torch.Tensor) for v in state.values()),
        path,
        "bad weights",
    )
    return Checkpoint(
        model_name=raw["model_name"],
        hidden_size=raw["hidden_size"],
        languages=tuple(languages),
        state_dict=state,
        epoch=int(raw.get("epoch", 0)),
        members=int(raw.get("members", 1)),
        parts=parts,
        alphabet=raw["alphabet"],
        config=dict(raw.get("config") or {}),
        metrics=dict(raw.get("metrics") or {}),
        calibration=dict(raw.get("calibration") or {}),
        # A checkpoint without a script table gets the shipped one when its languages match.
        scripts=dict(raw["scripts"]) if isinstance(raw.get("scripts"), dict) else default_scripts(languages),
    )


def _checked_parts(parts: Any, path: Path) -> tuple[dict[str, Any], ...]:
    from namelstm.models import MODELS  # torch: an ensemble's parts are checked only when it loads

    def fits(part: Any) -> bool:
        return (
            isinstance(part, dict)
            and part.get("model") in MODELS
            and isinstance(part.get("hidden_size"), int)
            and part["hidden_size"] > 0
            and isinstance(part.get("weight"), float | int)
            and part["weight"] >= 0
        )

    _check(isinstance(parts, list) and all(fits(p) for p in parts), path, "bad ensemble members")
    _check(not parts or sum(p["weight"] for p in parts) > 0, path, "ensemble weights sum to 0")
    return tuple(
        {"model": p["model"], "hidden_size": p["hidden_size"], "weight": float(p["weight"])} for p in parts
    )


def member_parts(checkpoint: Checkpoint) -> list[tuple[dict[str, Any], dict[str, torch.Tensor]]]:
    """Each model inside `checkpoint` (itself, or an ensemble's members) with its share of the
    checkpoint's probability and its own tensors."""
    c = checkpoint
    if not c.parts and c.members == 1:
        return [({"model": c.model_name, "hidden_size": c.hidden_size, "weight": 1.0}, c.state_dict)]
    equal = {"model": c.model_name, "hidden_size": c.hidden_size, "weight": 1 / c.members}
    parts = c.parts or (equal,) * c.members
    return [
        (
            dict(part),
            {key.split(".", 2)[2]: v for key, v in c.state_dict.items() if key.startswith(f"members.{k}.")},
        )
        for k, part in enumerate(parts)
    ]


def weighted_ensemble(checkpoints: Sequence[Checkpoint], weights: Sequence[float]) -> Checkpoint:
    """One checkpoint whose model is `checkpoints`' mean probability with `weights` (normalised; an
    ensemble among them is flattened into its members), with the first one's languages, letters,
    scripts and calibration; every member must answer the same languages in the same order."""
    first = checkpoints[0]
    for c in checkpoints:
        if c.languages != first.languages or c.alphabet != first.alphabet:
            raise NamelstmError("an ensemble's members must know the same languages, in order, and letters")
    total = sum(weights)
    if len(weights) != len(checkpoints) or min(weights) < 0 or total <= 0:
        raise NamelstmError(f"an ensemble needs one non-negative weight per member, not {list(weights)}")
    parts: list[dict[str, Any]] = []
    state: dict[str, torch.Tensor] = {}
    for checkpoint, weight in zip(checkpoints, weights, strict=True):
        for part, tensors in member_parts(checkpoint):
            state.update({f"members.{len(parts)}.{key}": v for key, v in tensors.items()})
            parts.append({**part, "weight": part["weight"] * weight / total})
    return Checkpoint(
        model_name=ENSEMBLE,
        hidden_size=max(p["hidden_size"] for p in parts),
        languages=first.languages,
        state_dict=state,
        epoch=0,
        alphabet=first.alphabet,
        calibration=first.calibration,
        scripts=first.scripts,
        parts=tuple(parts),
    )


def load_resume_state(path: Path) -> dict[str, Any]:
    """The training state saved after an epoch (see train.py), loaded as safely as a checkpoint."""
    state = load_payload(path, "resume state")
    if not isinstance(state, dict) or state.get("format") != RESUME_FORMAT:
        raise NamelstmError(f"{path} is not a namelstm resume state")
    return state


def load_averaged(paths: Sequence[Path]) -> tuple[NameClassifier, list[Checkpoint]]:
    """The models saved at `paths` (checkpoint files), their probabilities averaged when there are
    several (an ensemble, a distillation teacher, a cross-validation fold), and their checkpoints."""
    from namelstm.models.ensemble import Ensemble

    checkpoints = [load_checkpoint(Path(path)) for path in paths]
    models = [c.build_model() for c in checkpoints]
    return (models[0] if len(models) == 1 else Ensemble(models).eval()), checkpoints
