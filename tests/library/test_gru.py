"""The GRU reference against torch.nn.GRUCell and nn.GRU, in float32 and float64."""

import pytest
import torch
from torch import nn
from torch_cells import TOL, scaled_cell

from course_utils.models import gru


def _cell(D, H, dtype, seed, bias=True):
    return scaled_cell(nn.GRUCell, D, H, dtype, seed, bias)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("B,D,H", [(1, 1, 1), (4, 3, 5), (7, 10, 2)])
def test_cell_matches_torch_grucell(dtype, B, D, H):
    cell = _cell(D, H, dtype, seed=B + D + H)
    x, h = torch.randn(B, D, dtype=dtype), torch.randn(B, H, dtype=dtype)
    with torch.no_grad():
        ours = gru.gru_cell_forward(x, h, *gru.module_weights(cell))
        torch.testing.assert_close(ours, cell(x, h), **TOL[dtype])
    assert ours.shape == (B, H) and ours.dtype == dtype


def test_cell_without_bias_and_its_gradients_match_torch():
    cell = _cell(3, 4, torch.float64, seed=1, bias=False)
    x, h = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    ours = gru.gru_cell_forward(x, h, *gru.module_weights(cell))
    theirs = cell(x, h)
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)
    g_ours = torch.autograd.grad(ours.sum(), [h, cell.weight_hh])
    g_theirs = torch.autograd.grad(theirs.sum(), [h, cell.weight_hh])
    for a, b in zip(g_ours, g_theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sequence_matches_torch_gru_with_h0(dtype):
    torch.manual_seed(2)
    module = nn.GRU(3, 6, batch_first=True).to(dtype)
    X, h0 = torch.randn(4, 9, 3, dtype=dtype), torch.randn(4, 6, dtype=dtype)
    with torch.no_grad():
        H_all, h_T = gru.gru_forward(X, h0, *gru.module_weights(module))
        want_all, want_T = module(X, h0[None])
    torch.testing.assert_close(H_all, want_all, **TOL[dtype])
    torch.testing.assert_close(h_T, want_T[0], **TOL[dtype])
    assert H_all.shape == (4, 9, 6)


def test_module_weights_reads_other_layers_and_directions():
    torch.manual_seed(3)
    module = nn.GRU(3, 4, num_layers=2, bidirectional=True, batch_first=True).double()
    X = torch.randn(2, 5, 3, dtype=torch.float64)
    with torch.no_grad():
        want, _ = module(X)
        forward, _ = gru.gru_forward(X, torch.zeros(2, 4, dtype=torch.float64), *gru.module_weights(module, 0))
        backward, _ = gru.gru_forward(X.flip(1), torch.zeros(2, 4, dtype=torch.float64),
                                      *gru.module_weights(module, 0, reverse=True))
        layer0 = torch.cat([forward, backward.flip(1)], dim=-1)
        top, _ = gru.gru_forward(layer0, torch.zeros(2, 4, dtype=torch.float64), *gru.module_weights(module, 1))
    torch.testing.assert_close(top, want[..., :4], rtol=1e-12, atol=1e-12)


def test_the_reset_gate_multiplies_the_product_not_h():
    """The two placements differ in general and agree when the reset gate is open (r = 1)."""
    cell = _cell(3, 4, torch.float64, seed=4)
    x, h = torch.randn(6, 3, dtype=torch.float64), torch.randn(6, 4, dtype=torch.float64)
    weights = list(gru.module_weights(cell))
    with torch.no_grad():
        pytorch, before = gru.gru_cell_forward(x, h, *weights), gru.gru_cell_forward_reset_before(x, h, *weights)
        assert (pytorch - before).abs().max() > 1e-2
        weights[2] = weights[2].clone()
        weights[2][:4] = 50.0  # reset gate saturates at 1
        torch.testing.assert_close(gru.gru_cell_forward(x, h, *weights),
                                   gru.gru_cell_forward_reset_before(x, h, *weights), rtol=1e-12, atol=1e-12)


def test_gate_limits():
    """z -> 1 copies the state; z -> 0 and r -> 0 make the state a function of x alone."""
    cell = _cell(3, 4, torch.float64, seed=5)
    x, h = torch.randn(6, 3, dtype=torch.float64), torch.randn(6, 4, dtype=torch.float64)
    w_ih, w_hh, b_ih, b_hh = (t.detach().clone() for t in gru.module_weights(cell))
    keep = b_ih.clone()
    keep[4:8] = 60.0
    torch.testing.assert_close(gru.gru_cell_forward(x, h, w_ih, w_hh, keep, b_hh), h, rtol=0, atol=1e-12)
    forget = b_ih.clone()
    forget[:4], forget[4:8] = -60.0, -60.0
    out = gru.gru_cell_forward(x, h, w_ih, w_hh, forget, b_hh)
    torch.testing.assert_close(out, gru.gru_cell_forward(x, torch.zeros_like(h), w_ih, w_hh, forget, b_hh),
                               rtol=0, atol=1e-12)
    torch.testing.assert_close(out, torch.tanh(x @ w_ih[8:].T + b_ih[8:]), rtol=0, atol=1e-12)
