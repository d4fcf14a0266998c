from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from namelstm.data.names import N_LETTERS, encode, line_to_tensor
from namelstm.errors import NamelstmError
from namelstm.models import MODELS, MyLSTM, build_model

NAMES = ["Dostoevsky", "Li", "O'Neill", "Nakamura", "A"]

STRUCTURE = {
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
    "tanhrnn": """TanhRNN(
  (rnn): RNN(57, 146)
  (out): Linear(in_features=146, out_features=18, bias=True)
  (softmax): LogSoftmax(dim=-1)
)""",
    "irnn": """IRNN(
  (rnn): RNN(57, 146)
  (out): Linear(in_features=146, out_features=18, bias=True)
  (softmax): LogSoftmax(dim=-1)
)""",
    "bilstm": """BiLSTM(
  (embedding): Embedding(57, 48)
  (rnn): LSTM(48, 128, batch_first=True, bidirectional=True)
  (dropout): Dropout(p=0.3, inplace=False)
  (out): Linear(in_features=256, out_features=18, bias=True)
  (softmax): LogSoftmax(dim=-1)
)""",
    "ngram": """NGram(
  (embedding): Embedding(262144, 64, sparse=True)
  (dropout): Dropout(p=0.0, inplace=False)
  (out): Linear(in_features=64, out_features=18, bias=True)
  (softmax): LogSoftmax(dim=-1)
)""",
    "cnn": """CNN(
  (embedding): Embedding(57, 32)
  (convs): ModuleList(
    (0): Conv1d(32, 64, kernel_size=(2,), stride=(1,), padding=(1,))
    (1): Conv1d(32, 64, kernel_size=(3,), stride=(1,), padding=(2,))
    (2): Conv1d(32, 64, kernel_size=(4,), stride=(1,), padding=(3,))
    (3): Conv1d(32, 64, kernel_size=(5,), stride=(1,), padding=(4,))
  )
  (dropout): Dropout(p=0.3, inplace=False)
  (out): Linear(in_features=256, out_features=18, bias=True)
  (softmax): LogSoftmax(dim=-1)
)""",
}
LSTM_LIKE = ["lstm", "mylstm", "bilstm"]


def n_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", list(MODELS))
def test_default_models_print_their_structure(name: str) -> None:
    assert str(build_model(name, 57, 18)) == STRUCTURE[name]


def test_mylstm_without_a_forget_gate_prints_as_mylstm_minus_w_f() -> None:
    without = STRUCTURE["mylstm"].replace(
        "  (W_f): Linear(in_features=121, out_features=64, bias=True)\n", ""
    )
    assert str(build_model("mylstm", 57, 18, forget_gate=False)) == without


def test_report_families_come_first_in_the_registry() -> None:
    assert list(MODELS)[:3] == ["rnn", "lstm", "mylstm"]


@pytest.mark.parametrize("name", list(MODELS))
def test_batched_path_equals_the_reports_letter_by_letter_loop(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name, 57, 18).eval()
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
    with pytest.raises(
        NamelstmError,
        match="unknown model 'gru'; choose one of rnn, lstm, mylstm, tanhrnn, irnn, bilstm, ngram, cnn",
    ):
        build_model("gru", 57, 18)


@pytest.mark.parametrize("name", list(MODELS))
def test_padding_never_changes_a_names_output(name: str) -> None:
    torch.manual_seed(3)
    model = build_model(name, 57, 18, hidden_size=16).eval()
    alone = torch.cat([model.classify(*encode([n])) for n in NAMES])
    letters, lengths = encode(NAMES)
    padding = torch.arange(letters.shape[1]) >= lengths.unsqueeze(1)
    noisy = torch.where(padding, torch.randint(0, N_LETTERS, letters.shape), letters)
    for padded in (letters, noisy, torch.cat([noisy, noisy.flip(1)], dim=1)):  # any value, any width
        torch.testing.assert_close(model.classify(padded, lengths), alone, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ["tanhrnn", "irnn"])
def test_the_tanh_and_relu_rnns_have_about_the_lstms_parameter_count(name: str) -> None:
    lstm, rnn = n_parameters(build_model("lstm", 57, 18)), n_parameters(build_model(name, 57, 18))
    assert abs(rnn - lstm) / lstm < 0.15


def test_irnn_recurrent_matrix_is_the_identity_at_initialisation() -> None:
    torch.manual_seed(8)
    rnn = build_model("irnn", 57, 18, hidden_size=16).rnn
    assert torch.equal(rnn.weight_hh_l0, torch.eye(16))
    assert torch.all(rnn.bias_hh_l0 == 0) and torch.all(rnn.bias_ih_l0 == 0)
    assert 0 < rnn.weight_ih_l0.abs().max() < 0.01  # small input weights, not zero


def test_default_optimizers() -> None:
    assert {name: cls.default_optimizer for name, cls in MODELS.items()} == {
        "rnn": "sgd",
        "lstm": "sgd",
        "mylstm": "sgd",
        "tanhrnn": "sgd",
        "irnn": "sgd",
        "bilstm": "adam",
        "ngram": "adam",
        "cnn": "adam",
    }


def test_bilstm_dropout_acts_only_in_train_mode() -> None:
    torch.manual_seed(4)
    model = build_model("bilstm", 57, 18, hidden_size=16)
    letters, lengths = encode(NAMES)
    assert not torch.equal(model.classify(letters, lengths), model.classify(letters, lengths))
    model.eval()
    assert torch.equal(model.classify(letters, lengths), model.classify(letters, lengths))


def test_bilstm_backward_direction_reads_the_whole_name() -> None:
    torch.manual_seed(5)
    model = build_model("bilstm", 57, 18, hidden_size=16).eval()
    with torch.no_grad():  # keep only the backward direction's final state in the output
        model.out.weight[:, : model.rnn.hidden_size] = 0
    # The two names differ only in their first letter, which the backward direction reads last.
    out = model.classify(*encode(["Nakamura", "Bakamura", "Li"]))
    assert not torch.allclose(out[0], out[1])


# ngram hashes the letters it reads: no gradient reaches a one-hot input, and none should.
@pytest.mark.parametrize("name", [name for name in MODELS if name != "ngram"])
def test_one_hot_inputs_get_gradients(name: str) -> None:
    torch.manual_seed(6)
    model = build_model(name, 57, 18, hidden_size=16).eval()
    letters = line_to_tensor("Dostoevsky").requires_grad_()
    (grad,) = torch.autograd.grad(model.classify_one_hot(letters)[0, 3], letters)
    assert grad[0].abs().sum() > 0  # the first letter reaches the output


@pytest.mark.parametrize("name", ["lstm", "bilstm"])
def test_forget_bias_sets_both_bias_vectors_of_nn_lstm(name: str) -> None:
    model = build_model(name, 57, 18, hidden_size=8)
    model.init_forget_bias(1.0)
    biases = {n: b for n, b in model.rnn.named_parameters() if n.startswith("bias")}
    assert len(biases) == (4 if name == "bilstm" else 2)  # ih and hh, per direction
    for n, bias in biases.items():
        forget, others = bias[8:16], torch.cat([bias[:8], bias[16:]])
        assert torch.all(forget == (1.0 if n.startswith("bias_ih") else 0.0)), n
        assert not torch.all(others == 0), n  # the other gates keep their initialisation


def test_forget_bias_sets_mylstms_forget_gate() -> None:
    model = build_model("mylstm", 57, 18, hidden_size=8)
    before = model.W_i.bias.clone()
    model.init_forget_bias(1.5)
    assert torch.all(model.W_f.bias == 1.5)
    assert torch.equal(model.W_i.bias, before)


@pytest.mark.parametrize("name", ["rnn", "tanhrnn", "irnn"])
def test_forget_bias_on_a_family_without_one_is_a_clear_error(name: str) -> None:
    with pytest.raises(NamelstmError, match=f"^{name} has no forget gate$"):
        build_model(name, 57, 18, hidden_size=8).init_forget_bias(1.0)
    with pytest.raises(NamelstmError, match=f"^{name} has no forget gate$"):
        build_model(name, 57, 18, hidden_size=8).init_chrono(20)


def _gate_biases(model: nn.Module) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(forget, input) effective biases of every layer and direction."""
    if isinstance(model, MyLSTM):
        return [(model.W_f.bias, model.W_i.bias)]
    H, params = model.rnn.hidden_size, dict(model.rnn.named_parameters())
    pairs = []
    for suffix in {n.removeprefix("bias_ih") for n in params if n.startswith("bias_ih")}:
        bias = params["bias_ih" + suffix] + params["bias_hh" + suffix]
        pairs.append((bias[H : 2 * H], bias[:H]))
    return pairs


@pytest.mark.parametrize("name", LSTM_LIKE)
def test_chrono_init_draws_forget_biases_up_to_log_tmax_and_negates_them_at_the_input_gate(name: str) -> None:
    torch.manual_seed(9)
    model = build_model(name, 57, 18, hidden_size=200)
    model.init_chrono(30)
    for forget, input_gate in _gate_biases(model):
        assert torch.all(forget >= 0) and torch.all(forget <= math.log(30 - 1))
        assert forget.std() > 0.3  # drawn per unit, not one value
        torch.testing.assert_close(input_gate, -forget)
    with pytest.raises(NamelstmError, match="T_max > 2"):
        model.init_chrono(2)


def test_mylstm_without_a_forget_gate_keeps_c_when_its_input_gate_is_closed() -> None:
    torch.manual_seed(10)
    cell = build_model("mylstm", 57, 18, hidden_size=8, forget_gate=False)
    with torch.no_grad():
        cell.W_i.bias.fill_(-1e4)  # i = sigmoid(-1e4) = 0
    x, h, C = line_to_tensor("a")[0], torch.randn(1, 8), torch.randn(1, 8) * 5
    _, _, C2 = cell(x, h, C)
    assert torch.equal(C2, C)  # f = 1: nothing is forgotten, and nothing written
    with torch.no_grad():
        cell.W_i.bias.zero_()
    assert not torch.equal(cell(x, h, C)[2], C)
    with pytest.raises(NamelstmError, match="no forget bias"):
        cell.init_forget_bias(1.0)


def test_mylstm_without_a_forget_gate_batched_equals_its_loop() -> None:
    torch.manual_seed(11)
    model = build_model("mylstm", 57, 18, hidden_size=16, forget_gate=False).eval()
    letters, lengths = encode(NAMES)
    one_by_one = torch.cat([model.classify_one_hot(line_to_tensor(n)) for n in NAMES])
    torch.testing.assert_close(model.classify(letters, lengths), one_by_one, atol=1e-5, rtol=1e-5)


def _copy_lstm_into_mylstm(reference: nn.LSTM, mine: MyLSTM) -> None:
    """nn.LSTM stacks its gates as (input, forget, cell, output) and splits x and h weights."""
    H = reference.hidden_size
    gates = {"W_i": 0, "W_f": 1, "W_C": 2, "W_o": 3}
    with torch.no_grad():
        for layer, k in gates.items():
            rows = slice(k * H, (k + 1) * H)
            linear = getattr(mine, layer)
            linear.weight.copy_(
                torch.cat([reference.weight_ih_l0[rows], reference.weight_hh_l0[rows]], dim=1)
            )
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
        expected = torch.cat(
            [reference.rnn.weight_ih_l0.grad[rows], reference.rnn.weight_hh_l0.grad[rows]], dim=1
        )
        torch.testing.assert_close(getattr(mine, layer).weight.grad, expected, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(
            getattr(mine, layer).bias.grad, reference.rnn.bias_ih_l0.grad[rows], atol=1e-5, rtol=1e-4
        )
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


def test_lstm_and_mylstm_with_the_same_forget_bias_still_agree() -> None:
    torch.manual_seed(7)
    reference = build_model("lstm", 57, 18)
    mine = build_model("mylstm", 57, 18)
    _copy_lstm_into_mylstm(reference.rnn, mine)
    with torch.no_grad():
        mine.out.load_state_dict(reference.out.state_dict())
    reference.init_forget_bias(2.0)
    mine.init_forget_bias(2.0)
    letters, lengths = encode(NAMES)
    torch.testing.assert_close(
        mine.classify(letters, lengths), reference.classify(letters, lengths), atol=1e-5, rtol=1e-5
    )
