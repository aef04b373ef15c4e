"""The LSTM reference against torch.nn.LSTMCell and nn.LSTM, in float32 and float64."""

import pytest
import torch
from torch import nn
from torch_cells import TOL, scaled_cell

from course_utils.models import lstm


def _cell(D, H, dtype, seed, bias=True):
    return scaled_cell(nn.LSTMCell, D, H, dtype, seed, bias)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("B,D,H", [(1, 1, 1), (4, 3, 5), (7, 10, 2)])
def test_cell_matches_torch_lstmcell(dtype, B, D, H):
    cell = _cell(D, H, dtype, seed=B + D + H)
    x, h, c = torch.randn(B, D, dtype=dtype), torch.randn(B, H, dtype=dtype), torch.randn(B, H, dtype=dtype)
    with torch.no_grad():
        ours = lstm.lstm_cell_forward(x, h, c, *lstm.module_weights(cell))
        theirs = cell(x, (h, c))
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, **TOL[dtype])
        assert a.shape == (B, H) and a.dtype == dtype


def test_cell_without_bias_and_its_gradients_match_torch():
    cell = _cell(3, 4, torch.float64, seed=1, bias=False)
    x = torch.randn(5, 3, dtype=torch.float64)
    h, c = (torch.randn(5, 4, dtype=torch.float64, requires_grad=True) for _ in range(2))
    ours, theirs = lstm.lstm_cell_forward(x, h, c, *lstm.module_weights(cell)), cell(x, (h, c))
    loss_ours, loss_theirs = (a.sum() + (b ** 2).sum() for a, b in (ours, theirs))
    torch.testing.assert_close(loss_ours, loss_theirs, rtol=1e-12, atol=1e-12)
    for a, b in zip(torch.autograd.grad(loss_ours, [h, c, cell.weight_ih]),
                    torch.autograd.grad(loss_theirs, [h, c, cell.weight_ih]), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sequence_matches_torch_lstm_with_h0_c0(dtype):
    torch.manual_seed(2)
    module = nn.LSTM(3, 6, batch_first=True).to(dtype)
    X = torch.randn(4, 9, 3, dtype=dtype)
    h0, c0 = torch.randn(4, 6, dtype=dtype), torch.randn(4, 6, dtype=dtype)
    with torch.no_grad():
        H_all, (h_T, c_T) = lstm.lstm_forward(X, h0, c0, *lstm.module_weights(module))
        want_all, (want_h, want_c) = module(X, (h0[None], c0[None]))
    torch.testing.assert_close(H_all, want_all, **TOL[dtype])
    torch.testing.assert_close(h_T, want_h[0], **TOL[dtype])
    torch.testing.assert_close(c_T, want_c[0], **TOL[dtype])


def test_peephole_cell():
    cell = _cell(3, 4, torch.float64, seed=3)
    weights = lstm.module_weights(cell)
    x, h, c = torch.randn(5, 3, dtype=torch.float64), *torch.randn(2, 5, 4, dtype=torch.float64)
    zeros = torch.zeros(4, dtype=torch.float64)
    with torch.no_grad():  # zero peepholes: the plain cell
        plain = lstm.lstm_cell_forward(x, h, c, *weights)
        for a, b in zip(lstm.peephole_lstm_cell_forward(x, h, c, *weights, zeros, zeros, zeros), plain, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    # written out gate by gate, independently of the reference
    w_ci, w_cf, w_co = torch.randn(3, 4, dtype=torch.float64)
    W_ih, W_hh, b_ih, b_hh = (t.detach() for t in weights)
    pre = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh
    blocks = {name: pre[:, k * 4:(k + 1) * 4] for k, name in enumerate("ifgo")}
    i = torch.sigmoid(blocks["i"] + w_ci * c)
    f = torch.sigmoid(blocks["f"] + w_cf * c)
    c_new = f * c + i * torch.tanh(blocks["g"])
    h_new = torch.sigmoid(blocks["o"] + w_co * c_new) * torch.tanh(c_new)
    got_h, got_c = lstm.peephole_lstm_cell_forward(x, h, c, W_ih, W_hh, b_ih, b_hh, w_ci, w_cf, w_co)
    torch.testing.assert_close(got_c, c_new, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(got_h, h_new, rtol=1e-12, atol=1e-12)
    # the output peephole reads the new cell state: with c_prev it would differ
    wrong_o = torch.sigmoid(blocks["o"] + w_co * c) * torch.tanh(c_new)
    assert (wrong_o - got_h).abs().max() > 1e-3


CONFIGS = [dict(), dict(num_layers=3), dict(bidirectional=True), dict(proj_size=3),
           dict(num_layers=2, bidirectional=True, proj_size=2), dict(num_layers=2, proj_size=5)]


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("D,H", [(8, 8), (5, 7)])
def test_parameter_shapes_and_count_match_torch(config, D, H):
    module = nn.LSTM(D, H, **config)
    want = {name: tuple(p.shape) for name, p in module.named_parameters()}
    assert lstm.lstm_parameter_shapes(D, H, **config) == want
    assert list(lstm.lstm_parameter_shapes(D, H, **config)) == list(want)  # same order
    assert lstm.lstm_parameter_count(D, H, **config) == sum(p.numel() for p in module.parameters())
    no_bias = nn.LSTM(D, H, bias=False, **config)
    assert lstm.lstm_parameter_shapes(D, H, bias=False, **config) == {n: tuple(p.shape) for n, p in
                                                                      no_bias.named_parameters()}


def test_weight_ih_of_hidden_size_8_has_32_rows():
    assert lstm.lstm_parameter_shapes(10, 8)["weight_ih_l0"] == (32, 10)
    assert lstm.lstm_parameter_count(10, 8) == 4 * 8 * (10 + 8) + 8 * 8
