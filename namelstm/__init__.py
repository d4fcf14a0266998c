"""namelstm: train, evaluate and compare character-level RNN/LSTM models on the names dataset.

    >>> from namelstm import Predictor
    >>> Predictor.load("pretrained").predict(["Dostoevsky"], top_k=1)[0].predictions[0][0]
    'Russian'

Importing the package is cheap, and so is predicting: `Predictor` runs a model that has an ONNX
form (the shipped one has) in onnxruntime without importing torch; torch loads only for a model
without one, or for training, so the command line starts at once.
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["Predictor", "Prediction", "__version__"]


def __getattr__(name: str) -> Any:
    if name in ("Predictor", "Prediction"):
        from namelstm.inference import predict

        return getattr(predict, name)
    raise AttributeError(f"module 'namelstm' has no attribute {name!r}")
