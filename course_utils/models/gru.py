"""The gated recurrent unit (GRU), gate by gate, in PyTorch's weight layout.

One step of ``torch.nn.GRUCell`` (Cho et al., 2014, in the form cuDNN and PyTorch use)::

    r_t = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)          reset gate
    z_t = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)          update gate
    n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t-1} + b_hn))   candidate state
    h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}

Weight layout, as in ``nn.GRU.weight_ih_l0`` and friends: the three input matrices are
stacked row-wise in the order r, z, n, so ``weight_ih`` is ``(3H, D)`` and ``weight_hh`` is
``(3H, H)``; ``bias_ih`` and ``bias_hh`` are ``(3H,)``. PyTorch multiplies by the transposes,
``x @ weight_ih.T``. The reset gate multiplies ``W_hn h + b_hn`` (after the matrix product,
bias included); the original paper applies it to ``h`` before the product
(:func:`gru_cell_forward_reset_before`).

Some textbooks (Chung et al., 2014; many blog posts) write ``h_t = (1 - z_t) ⊙ h_{t-1} +
z_t ⊙ n_t``: the same family of models with ``z`` renamed ``1 - z``.
"""

from __future__ import annotations

import torch
from torch import nn


def gru_cell_gates(x: torch.Tensor, h_prev: torch.Tensor, weight_ih: torch.Tensor, weight_hh: torch.Tensor,
                   bias_ih: torch.Tensor, bias_hh: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The reset gate, the update gate and the candidate state of one GRU step.

    Args:
        x: ``(B, D)`` input at step t.
        h_prev: ``(B, H)`` previous state.
        weight_ih: ``(3H, D)``, rows ``[W_ir; W_iz; W_in]``.
        weight_hh: ``(3H, H)``, rows ``[W_hr; W_hz; W_hn]``.
        bias_ih, bias_hh: ``(3H,)`` each, same order.
    Returns:
        ``(r, z, n)``, each ``(B, H)``.
    """
    i_r, i_z, i_n = (x @ weight_ih.T + bias_ih).chunk(3, dim=-1)
    h_r, h_z, h_n = (h_prev @ weight_hh.T + bias_hh).chunk(3, dim=-1)
    r = torch.sigmoid(i_r + h_r)
    z = torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + r * h_n)  # the reset gate scales W_hn h + b_hn
    return r, z, n


def gru_cell_forward(x: torch.Tensor, h_prev: torch.Tensor, weight_ih: torch.Tensor, weight_hh: torch.Tensor,
                     bias_ih: torch.Tensor, bias_hh: torch.Tensor) -> torch.Tensor:
    """One GRU step, equal to ``torch.nn.GRUCell``: ``h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}``.

    Shapes as in :func:`gru_cell_gates`; returns ``(B, H)``.
    """
    r, z, n = gru_cell_gates(x, h_prev, weight_ih, weight_hh, bias_ih, bias_hh)
    return (1 - z) * n + z * h_prev


def gru_forward(X: torch.Tensor, h0: torch.Tensor, weight_ih: torch.Tensor, weight_hh: torch.Tensor,
                bias_ih: torch.Tensor, bias_hh: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the cell over a batch of sequences, equal to a one-layer ``nn.GRU(batch_first=True)``.

    Args:
        X: ``(B, T, D)`` inputs, batch first.
        h0: ``(B, H)`` initial state.
    Returns:
        ``(H_all, h_T)``: every state ``(B, T, H)`` (``H_all[:, t]`` follows ``X[:, t]``) and
        the last one ``(B, H)``.
    """
    h, states = h0, []
    for t in range(X.shape[1]):
        h = gru_cell_forward(X[:, t], h, weight_ih, weight_hh, bias_ih, bias_hh)
        states.append(h)
    return torch.stack(states, dim=1), h


def gru_cell_forward_reset_before(x: torch.Tensor, h_prev: torch.Tensor, weight_ih: torch.Tensor,
                                  weight_hh: torch.Tensor, bias_ih: torch.Tensor,
                                  bias_hh: torch.Tensor) -> torch.Tensor:
    """The original paper's GRU (Keras' ``reset_after=False``): the reset gate scales ``h``
    before the product, ``n = tanh(W_in x + b_in + W_hn (r ⊙ h) + b_hn)``. Not PyTorch's
    cell: the two agree only when ``r = 1``. Shapes as in :func:`gru_cell_forward`."""
    r, z, _ = gru_cell_gates(x, h_prev, weight_ih, weight_hh, bias_ih, bias_hh)
    H = h_prev.shape[-1]
    n = torch.tanh(x @ weight_ih[2 * H:].T + bias_ih[2 * H:] + (r * h_prev) @ weight_hh[2 * H:].T + bias_hh[2 * H:])
    return (1 - z) * n + z * h_prev


def module_weights(module: nn.Module, layer: int = 0, reverse: bool = False,
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(weight_ih, weight_hh, bias_ih, bias_hh)`` of a ``torch.nn`` GRU, LSTM or RNN module.

    Works for the cells (``nn.GRUCell``) and for one layer/direction of the sequence modules
    (``nn.GRU``: ``weight_ih_l{layer}``, with the suffix ``_reverse`` for the backward
    direction). A module built with ``bias=False`` gets zero biases. The tensors are the
    module's own parameters (not copies).
    """
    suffix = "" if isinstance(module, nn.RNNCellBase) else f"_l{layer}" + ("_reverse" if reverse else "")
    weight_ih = getattr(module, "weight_ih" + suffix)
    weight_hh = getattr(module, "weight_hh" + suffix)
    zeros = weight_ih.new_zeros(weight_ih.shape[0])
    bias_ih = getattr(module, "bias_ih" + suffix) if module.bias else zeros
    bias_hh = getattr(module, "bias_hh" + suffix) if module.bias else zeros
    return weight_ih, weight_hh, bias_ih, bias_hh
