"""NVSI against an oracle built from torch.nn pieces, its Jacobian against autograd, and its
limits (gate fully open: a plain RNN; gate shut: zero)."""

import pytest
import torch

from course_utils.models import nvsi, rnn


def _params(D, H, seed=0):
    return nvsi.init_nvsi_params(D, H, seed=seed, dtype=torch.float64)


def _oracle_step(x, h, p):
    """σ(Linear) ⊙ RNNCell, with PyTorch's (out, in) weight layout."""
    H = h.shape[1]
    cell = torch.nn.RNNCell(x.shape[1], H).double()
    with torch.no_grad():
        cell.weight_ih.copy_(p["W_xh"].T)
        cell.weight_hh.copy_(p["W_hh"].T)
        cell.bias_ih.copy_(p["b_h"])
        cell.bias_hh.zero_()
    W_gate = torch.cat([p["W_xi"], p["W_hi"]]).T
    gate = torch.sigmoid(torch.nn.functional.linear(torch.cat([x, h], 1), W_gate, p["b_i"]))
    return gate * cell(x, h)


@pytest.mark.parametrize("B,D,H", [(1, 1, 1), (4, 3, 5), (7, 6, 2)])
def test_cell_matches_an_oracle_from_torch_modules(B, D, H):
    p = _params(D, H, seed=B)
    x, h = torch.randn(B, D, dtype=torch.float64), torch.randn(B, H, dtype=torch.float64)
    got = nvsi.nvsi_cell_forward(x, h, p)
    assert got.shape == (B, H)
    torch.testing.assert_close(got, _oracle_step(x, h, p))


def test_gate_limits():
    torch.manual_seed(1)
    p = _params(3, 4)
    x, h = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 4, dtype=torch.float64)
    plain = rnn.rnn_cell_forward(x, h, p["W_xh"], p["W_hh"], p["b_h"])
    open_gate = {**p, "b_i": torch.full((4,), 60.0, dtype=torch.float64)}
    shut_gate = {**p, "b_i": torch.full((4,), -60.0, dtype=torch.float64)}
    torch.testing.assert_close(nvsi.nvsi_cell_forward(x, h, open_gate), plain)
    assert nvsi.nvsi_cell_forward(x, h, shut_gate).abs().max() < 1e-20
    # the gate is applied outside the tanh: |h| <= gate, not tanh(gate * ...)
    out = nvsi.nvsi_cell_forward(x, h, p)
    gate = torch.sigmoid(x @ p["W_xi"] + h @ p["W_hi"] + p["b_i"])
    assert torch.all(out.abs() <= gate)


def test_module_matches_the_cell_unrolled():
    torch.manual_seed(2)
    model = nvsi.NVSI(3, 6).double()
    X, h0 = torch.randn(4, 9, 3, dtype=torch.float64), torch.randn(4, 6, dtype=torch.float64)
    outputs, h_T = model(X, h0)
    h, want = h0, []
    for t in range(9):
        h = nvsi.nvsi_cell_forward(X[:, t], h, model.params())
        want.append(h)
    torch.testing.assert_close(outputs, torch.stack(want, 1))
    torch.testing.assert_close(h_T, want[-1])
    torch.testing.assert_close(model.step(X[:, 0], h0), want[0])


def test_module_gradients_pass_finite_differences():
    torch.manual_seed(3)
    model = nvsi.NVSI(2, 3).double()
    X = torch.randn(2, 4, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda X: model(X)[0], (X,))
    params = tuple(model.parameters())
    assert torch.autograd.gradcheck(lambda *ps: nvsi.nvsi_cell_forward(X[:, 0], X[:, 1, :1].expand(2, 3),
                                                                       dict(zip(nvsi.PARAM_NAMES, ps, strict=True))),
                                    tuple(p.detach().clone().requires_grad_() for p in params))


def test_jacobian_matches_autograd():
    p = _params(3, 5, seed=4)
    x, h = torch.randn(2, 3, dtype=torch.float64), torch.randn(2, 5, dtype=torch.float64)
    ours = nvsi.nvsi_jacobian(x, h, p)
    for i in range(2):
        want = torch.autograd.functional.jacobian(
            lambda hh, i=i: nvsi.nvsi_cell_forward(x[i:i + 1], hh[None], p)[0], h[i])
        torch.testing.assert_close(ours[i], want)


def test_jacobian_without_gate_weights_is_the_rnn_one_scaled_by_the_gate():
    p = {**_params(3, 4, seed=5), "W_hi": torch.zeros(4, 4, dtype=torch.float64)}
    x, h = torch.randn(2, 3, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64)
    gate = torch.sigmoid(x @ p["W_xi"] + p["b_i"])
    want = gate.unsqueeze(-1) * rnn.rnn_jacobian(x, h, p["W_xh"], p["W_hh"], p["b_h"])
    torch.testing.assert_close(nvsi.nvsi_jacobian(x, h, p), want)


def test_initialisation_and_parameter_names():
    model = nvsi.NVSI(4, 16)
    assert tuple(name for name, _ in model.named_parameters()) == nvsi.PARAM_NAMES
    shapes = {k: tuple(v.shape) for k, v in model.params().items()}
    assert shapes == {"W_xi": (4, 16), "W_hi": (16, 16), "b_i": (16,), "W_xh": (4, 16), "W_hh": (16, 16), "b_h": (16,)}
    assert all(p.abs().max() <= 0.25 for p in model.parameters())
    a, b = nvsi.init_nvsi_params(2, 3, seed=7), nvsi.init_nvsi_params(2, 3, seed=7)
    assert all(torch.equal(a[k], b[k]) for k in nvsi.PARAM_NAMES)


def test_gradient_norms_through_time_is_shared_with_the_rnn_module():
    assert nvsi.gradient_norms_through_time is rnn.gradient_norms_through_time
    model = nvsi.NVSI(2, 4)
    norms = nvsi.gradient_norms_through_time(model.step, torch.randn(3, 6, 2), torch.zeros(3, 4))
    assert norms.shape == (6,) and torch.all(norms > 0)
