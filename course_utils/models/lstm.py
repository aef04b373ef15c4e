"""Long short-term memory (LSTM), gate by gate, in PyTorch's weight layout.

One step of ``torch.nn.LSTMCell`` (Hochreiter and Schmidhuber, 1997, with the forget gate of
Gers et al., 2000)::

    i_t = σ(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)      input gate: what to store
    f_t = σ(W_if x_t + b_if + W_hf h_{t-1} + b_hf)      forget gate: what to keep
    g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)   candidate values
    o_t = σ(W_io x_t + b_io + W_ho h_{t-1} + b_ho)      output gate: what to expose
    c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t                     cell state (additive update)
    h_t = o_t ⊙ tanh(c_t)

Weight layout, as in ``nn.LSTM.weight_ih_l0``: four blocks stacked row-wise in the order
i, f, g, o, so ``weight_ih`` is ``(4H, D)``, ``weight_hh`` is ``(4H, H)`` and both biases are
``(4H,)``. With ``proj_size = P > 0`` the output ``h_t`` is projected to ``P`` values by
``weight_hr`` ``(P, H)``, and ``weight_hh`` becomes ``(4H, P)``.
"""

from __future__ import annotations

import math

import torch

from .gru import module_weights

__all__ = ["lstm_cell_forward", "lstm_forward", "lstm_parameter_count",
           "lstm_parameter_shapes", "module_weights", "peephole_lstm_cell_forward"]

def lstm_cell_forward(x: torch.Tensor, h_prev: torch.Tensor, c_prev: torch.Tensor, weight_ih: torch.Tensor,
                      weight_hh: torch.Tensor, bias_ih: torch.Tensor,
                      bias_hh: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One LSTM step, equal to ``torch.nn.LSTMCell``.

    Args:
        x: ``(B, D)`` input at step t.
        h_prev, c_prev: ``(B, H)`` previous output and cell state.
        weight_ih: ``(4H, D)``, rows ``[W_ii; W_if; W_ig; W_io]``.
        weight_hh: ``(4H, H)``, same order.
        bias_ih, bias_hh: ``(4H,)`` each.
    Returns:
        ``(h, c)``, each ``(B, H)``.
    """
    gates = x @ weight_ih.T + bias_ih + h_prev @ weight_hh.T + bias_hh  # (B, 4H)
    i, f, g, o = gates.chunk(4, dim=-1)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    c = f * c_prev + i * g
    h = o * torch.tanh(c)
    return h, c


def lstm_forward(X: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor, weight_ih: torch.Tensor,
                 weight_hh: torch.Tensor, bias_ih: torch.Tensor, bias_hh: torch.Tensor,
                 ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """Run the cell over a batch of sequences, equal to a one-layer ``nn.LSTM(batch_first=True)``.

    Args:
        X: ``(B, T, D)``; h0, c0: ``(B, H)``.
    Returns:
        ``(H_all, (h_T, c_T))``: every output ``(B, T, H)`` and the last output and cell state.
    """
    h, c, outputs = h0, c0, []
    for t in range(X.shape[1]):
        h, c = lstm_cell_forward(X[:, t], h, c, weight_ih, weight_hh, bias_ih, bias_hh)
        outputs.append(h)
    return torch.stack(outputs, dim=1), (h, c)


def peephole_lstm_cell_forward(x: torch.Tensor, h_prev: torch.Tensor, c_prev: torch.Tensor,
                               weight_ih: torch.Tensor, weight_hh: torch.Tensor, bias_ih: torch.Tensor,
                               bias_hh: torch.Tensor, w_ci: torch.Tensor, w_cf: torch.Tensor,
                               w_co: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One step of the peephole LSTM (Gers and Schmidhuber, 2000): the gates also see the cell.

    The input and forget gates look at the previous cell state, the output gate at the new
    one, each through element-wise ("diagonal") weights::

        i = σ(... + w_ci ⊙ c_{t-1}),   f = σ(... + w_cf ⊙ c_{t-1}),
        c_t = f ⊙ c_{t-1} + i ⊙ g,     o = σ(... + w_co ⊙ c_t),   h_t = o ⊙ tanh(c_t)

    Args:
        as :func:`lstm_cell_forward`, plus w_ci, w_cf, w_co: ``(H,)``.
    Returns:
        ``(h, c)``, each ``(B, H)``. With zero peephole weights this is :func:`lstm_cell_forward`.
    """
    gates = x @ weight_ih.T + bias_ih + h_prev @ weight_hh.T + bias_hh
    i, f, g, o = gates.chunk(4, dim=-1)
    i = torch.sigmoid(i + w_ci * c_prev)
    f = torch.sigmoid(f + w_cf * c_prev)
    c = f * c_prev + i * torch.tanh(g)
    o = torch.sigmoid(o + w_co * c)  # the output gate sees the new cell state
    return o * torch.tanh(c), c


def lstm_parameter_shapes(input_size: int, hidden_size: int, num_layers: int = 1, bidirectional: bool = False,
                          proj_size: int = 0, bias: bool = True) -> dict[str, tuple[int, ...]]:
    """The name and shape of every parameter of ``nn.LSTM(input_size, hidden_size, ...)``,
    in the order of ``named_parameters()``.

    Per layer and direction: ``weight_ih (4H, D_l)``, ``weight_hh (4H, R)``, the two biases
    ``(4H,)``, and with a projection ``weight_hr (P, H)``; ``R`` is ``P`` if ``proj_size = P > 0``
    else ``H``. Layer 0 reads ``D_0 = input_size``; a deeper layer reads the outputs of all
    directions of the layer below, ``D_l = R * directions``.
    """
    directions = 2 if bidirectional else 1
    out = proj_size if proj_size > 0 else hidden_size
    shapes = {}
    for layer in range(num_layers):
        layer_input = input_size if layer == 0 else out * directions
        for suffix in ["", "_reverse"][:directions]:
            name = f"_l{layer}{suffix}"
            shapes["weight_ih" + name] = (4 * hidden_size, layer_input)
            shapes["weight_hh" + name] = (4 * hidden_size, out)
            if bias:
                shapes["bias_ih" + name] = (4 * hidden_size,)
                shapes["bias_hh" + name] = (4 * hidden_size,)
            if proj_size > 0:
                shapes["weight_hr" + name] = (proj_size, hidden_size)
    return shapes


def lstm_parameter_count(input_size: int, hidden_size: int, num_layers: int = 1, bidirectional: bool = False,
                         proj_size: int = 0) -> int:
    """Number of parameters of ``nn.LSTM(input_size, hidden_size, num_layers,
    bidirectional=..., proj_size=...)``: the sum of :func:`lstm_parameter_shapes`.

    For one layer without projection: ``4H(D + H) + 8H`` (two biases per gate, as PyTorch keeps
    ``bias_ih`` and ``bias_hh`` separately although only their sum matters).
    """
    shapes = lstm_parameter_shapes(input_size, hidden_size, num_layers, bidirectional, proj_size)
    return sum(math.prod(shape) for shape in shapes.values())

