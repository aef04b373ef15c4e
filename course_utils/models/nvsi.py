"""NVSI ("Non-Vanishing Sigmoid Input"): a plain RNN whose new state is scaled by a sigmoid gate.

The course's source notes define it; it is not an established name in the literature.
In the course's layout (``x @ W``, batch first; see :mod:`course_utils.models.rnn`):

    i_t = σ(x_t @ W_xi + h_{t-1} @ W_hi + b_i)          input gate, in (0, 1)
    g_t = tanh(x_t @ W_xh + h_{t-1} @ W_hh + b_h)       the plain RNN's candidate
    h_t = i_t ⊙ g_t

Shapes: ``W_xi, W_xh: (D, H)``, ``W_hi, W_hh: (H, H)``, ``b_i, b_h: (H,)``. Unlike the
GRU's update or the LSTM's cell, nothing carries ``h_{t-1}`` to ``h_t`` additively: every
path from one state to the next goes through ``tanh`` or ``σ`` and a weight matrix.
"""

from __future__ import annotations

import torch
from torch import nn

from course_utils.models.rnn import gradient_norms_through_time, uniform_

__all__ = ["NVSI", "PARAM_NAMES", "gradient_norms_through_time", "init_nvsi_params", "nvsi_cell_forward",
           "nvsi_jacobian"]

#: The keys of an NVSI parameter dict, gate first.
PARAM_NAMES = ("W_xi", "W_hi", "b_i", "W_xh", "W_hh", "b_h")


def nvsi_cell_forward(x: torch.Tensor, h_prev: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
    """One NVSI step: ``h_t = σ(x W_xi + h W_hi + b_i) ⊙ tanh(x W_xh + h W_hh + b_h)``.

    Args:
        x: ``(B, D)``; h_prev: ``(B, H)``.
        params: ``W_xi, W_xh: (D, H)``, ``W_hi, W_hh: (H, H)``, ``b_i, b_h: (H,)``.
    Returns:
        ``(B, H)`` new state.
    """
    gate = torch.sigmoid(x @ params["W_xi"] + h_prev @ params["W_hi"] + params["b_i"])
    candidate = torch.tanh(x @ params["W_xh"] + h_prev @ params["W_hh"] + params["b_h"])
    return gate * candidate


def nvsi_jacobian(x: torch.Tensor, h_prev: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
    """``∂h_t/∂h_{t-1}`` of one NVSI step, per example, from the chain rule:

        diag(g ⊙ i ⊙ (1 - i)) W_hiᵀ  +  diag(i ⊙ (1 - g²)) W_hhᵀ

    with ``i`` the gate and ``g`` the candidate. The second term is the plain RNN's
    Jacobian scaled row by row by ``i`` in (0, 1); the first is the path through the gate.

    Args: as :func:`nvsi_cell_forward`. Returns: ``(B, H, H)``, entry ``[b, k, j]`` is
    ``∂h_t[b, k] / ∂h_{t-1}[b, j]``.
    """
    i = torch.sigmoid(x @ params["W_xi"] + h_prev @ params["W_hi"] + params["b_i"])
    g = torch.tanh(x @ params["W_xh"] + h_prev @ params["W_hh"] + params["b_h"])
    through_gate = (g * i * (1 - i)).unsqueeze(-1) * params["W_hi"].T
    through_candidate = (i * (1 - g**2)).unsqueeze(-1) * params["W_hh"].T
    return through_gate + through_candidate


def init_nvsi_params(input_size: int, hidden_size: int, seed: int = 0,
                     dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """Parameters drawn like PyTorch's recurrent layers, ``U(-1/sqrt(H), 1/sqrt(H))``."""
    gen = torch.Generator().manual_seed(seed)
    bound = hidden_size ** -0.5
    shapes = {"W_xi": (input_size, hidden_size), "W_hi": (hidden_size, hidden_size), "b_i": (hidden_size,),
              "W_xh": (input_size, hidden_size), "W_hh": (hidden_size, hidden_size), "b_h": (hidden_size,)}
    return {k: (torch.rand(s, generator=gen, dtype=dtype) * 2 - 1) * bound for k, s in shapes.items()}


class NVSI(nn.Module):
    """A one-layer NVSI, batch first, with the parameters of :func:`nvsi_cell_forward`.

    The input projections of all steps are computed at once; per step, the recurrent
    products are fused with the additions (``torch.addmm``).

    Call: ``X: (B, T, D)``, optional ``h0: (B, H)`` (zeros) -> ``(outputs (B, T, H), h_T (B, H))``.
    """

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        for name in PARAM_NAMES:
            rows = input_size if "x" in name else hidden_size
            shape = (hidden_size,) if name.startswith("b") else (rows, hidden_size)
            self.register_parameter(name, nn.Parameter(uniform_(torch.empty(shape), hidden_size)))

    def params(self) -> dict[str, torch.Tensor]:
        """The parameters as the dict :func:`nvsi_cell_forward` takes."""
        return {name: getattr(self, name) for name in PARAM_NAMES}

    def step(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """One step, ``x: (B, D), h: (B, H) -> (B, H)``."""
        return nvsi_cell_forward(x, h, self.params())

    def forward(self, X: torch.Tensor, h0: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        h = X.new_zeros(X.shape[0], self.hidden_size) if h0 is None else h0
        gate_in = (X @ self.W_xi + self.b_i).unbind(1)  # T tensors (B, H), computed at once
        cand_in = (X @ self.W_xh + self.b_h).unbind(1)
        states = []
        for a_t, c_t in zip(gate_in, cand_in, strict=True):
            h = torch.sigmoid(torch.addmm(a_t, h, self.W_hi)) * torch.tanh(torch.addmm(c_t, h, self.W_hh))
            states.append(h)
        return torch.stack(states, dim=1), h
