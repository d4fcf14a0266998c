from __future__ import annotations

import pytest
import torch
from torch import nn

from namelstm.data import encode, line_to_tensor
from namelstm.errors import NamelstmError
from namelstm.models import MODELS, MyLSTM, build_model

NAMES = ["Dostoevsky", "Li", "O'Neill", "Nakamura", "A"]

REPORT_STRUCTURE = {
    "rnn": """RNN(
  (i2h): Linear(in_features=185, out_features=128, bias=True)
  (i2o): Linear(in_features=185, out_features=18, bias=True)
  (softmax): LogSoftmax(dim=1)
)""",
    "lstm": """LSTM(
  (rnn): LSTM(57, 64)
  (out): Linear(in_features=64, out_features=18, bias=True)
  (softmax): LogSoftmax(dim=-1)
)""",
    "mylstm": """MyLSTM(
  (W_f): Linear(in_features=121, out_features=64, bias=True)
  (W_i): Linear(in_features=121, out_features=64, bias=True)
  (W_C): Linear(in_features=121, out_features=64, bias=True)
  (W_o): Linear(in_features=121, out_features=64, bias=True)
  (out): Linear(in_features=64, out_features=18, bias=True)
  (softmax): LogSoftmax(dim=-1)
)""",
}


@pytest.mark.parametrize("name", list(MODELS))
def test_default_models_print_the_reports_structure(name: str) -> None:
    assert str(build_model(name, 57, 18)) == REPORT_STRUCTURE[name]


@pytest.mark.parametrize("name", list(MODELS))
def test_batched_path_equals_the_reports_letter_by_letter_loop(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name, 57, 18)
    letters, lengths = encode(NAMES)  # mixed lengths: padding must not leak into any output
    batched = model.classify(letters, lengths)
    one_by_one = torch.cat([model.classify_one_hot(line_to_tensor(n)) for n in NAMES])
    assert batched.shape == (len(NAMES), 18)
    torch.testing.assert_close(batched, one_by_one, atol=1e-5, rtol=1e-5)
    assert torch.allclose(batched.exp().sum(1), torch.ones(len(NAMES)), atol=1e-5)


@pytest.mark.parametrize("name", list(MODELS))
def test_hidden_size_overrides_the_default(name: str) -> None:
    model = build_model(name, 57, 5, hidden_size=7)
    assert model.hidden_size == 7
    letters, lengths = encode(["Abc", "De"])
    assert model.classify(letters, lengths).shape == (2, 5)


def test_unknown_model_is_a_clear_error() -> None:
    with pytest.raises(NamelstmError, match="unknown model 'gru'; choose one of rnn, lstm, mylstm"):
        build_model("gru", 57, 18)


def _copy_lstm_into_mylstm(reference: nn.LSTM, mine: MyLSTM) -> None:
    """nn.LSTM stacks its gates as (input, forget, cell, output) and splits x and h weights."""
    H = reference.hidden_size
    gates = {"W_i": 0, "W_f": 1, "W_C": 2, "W_o": 3}
    with torch.no_grad():
        for layer, k in gates.items():
            rows = slice(k * H, (k + 1) * H)
            linear = getattr(mine, layer)
            linear.weight.copy_(torch.cat([reference.weight_ih_l0[rows], reference.weight_hh_l0[rows]], dim=1))
            linear.bias.copy_(reference.bias_ih_l0[rows] + reference.bias_hh_l0[rows])


def test_mylstm_equals_nn_lstm_in_outputs_and_gradients() -> None:
    torch.manual_seed(1)
    reference = build_model("lstm", 57, 18)
    mine = build_model("mylstm", 57, 18)
    _copy_lstm_into_mylstm(reference.rnn, mine)
    with torch.no_grad():
        mine.out.load_state_dict(reference.out.state_dict())
    letters, lengths = encode(NAMES)
    targets = torch.tensor([14, 1, 8, 10, 0])
    out_ref, out_mine = reference.classify(letters, lengths), mine.classify(letters, lengths)
    torch.testing.assert_close(out_mine, out_ref, atol=1e-5, rtol=1e-5)
    nn.functional.nll_loss(out_ref, targets).backward()
    nn.functional.nll_loss(out_mine, targets).backward()
    H = 64
    for layer, k in {"W_i": 0, "W_f": 1, "W_C": 2, "W_o": 3}.items():
        rows = slice(k * H, (k + 1) * H)
        expected = torch.cat([reference.rnn.weight_ih_l0.grad[rows], reference.rnn.weight_hh_l0.grad[rows]], dim=1)
        torch.testing.assert_close(getattr(mine, layer).weight.grad, expected, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(getattr(mine, layer).bias.grad, reference.rnn.bias_ih_l0.grad[rows], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(mine.out.weight.grad, reference.out.weight.grad, atol=1e-5, rtol=1e-4)


def test_mylstm_step_is_the_reports_cell() -> None:
    torch.manual_seed(2)
    cell = build_model("mylstm", 57, 18, hidden_size=8)
    x, h, C = line_to_tensor("a")[0], torch.randn(1, 8), torch.randn(1, 8)
    combined = torch.cat((x, h), 1)
    f, i = torch.sigmoid(cell.W_f(combined)), torch.sigmoid(cell.W_i(combined))
    expected_C = f * C + i * torch.tanh(cell.W_C(combined))
    expected_h = torch.sigmoid(cell.W_o(combined)) * torch.tanh(expected_C)
    output, h2, C2 = cell(x, h, C)
    torch.testing.assert_close(C2, expected_C)
    torch.testing.assert_close(h2, expected_h)
    torch.testing.assert_close(output, torch.log_softmax(cell.out(expected_h), -1))
