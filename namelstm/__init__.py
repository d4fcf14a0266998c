"""namelstm: train, evaluate and compare character-level RNN/LSTM models on the names dataset.

Importing the package is cheap; the heavy parts (torch, matplotlib) load in the modules that
need them: `namelstm.data`, `namelstm.models`, `namelstm.train`, `namelstm.predict`, ...
"""

__version__ = "0.1.0"
