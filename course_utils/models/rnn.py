"""The plain (Elman) recurrent network in PyTorch: cell, unrolled loop, clipping, sampling.

Notation (appendix "Notation"): a batch of sequences ``X`` has shape ``(B, T, D)``
(batch first), a hidden state ``h`` has shape ``(B, H)``. The course writes a layer as
``x @ W``, so input weights are ``W_xh: (D, H)`` and recurrent weights ``W_hh: (H, H)``:

    h_t = tanh(x_t @ W_xh + h_{t-1} @ W_hh + b_h)

``torch.nn.RNN`` stores the transposes, ``weight_ih_l0: (H, D)`` and ``weight_hh_l0: (H, H)``,
and two biases ``bias_ih_l0 + bias_hh_l0`` whose sum plays the role of ``b_h``;
:meth:`RNN.from_torch` converts between the two layouts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

# --------------------------------------------------------------------------- the cell and the loop


def rnn_cell_forward(x: torch.Tensor, h_prev: torch.Tensor, W_xh: torch.Tensor, W_hh: torch.Tensor,
                     b_h: torch.Tensor) -> torch.Tensor:
    """One step of the RNN: ``h_t = tanh(x_t W_xh + h_{t-1} W_hh + b_h)``.

    Args:
        x: ``(B, D)`` input at step t.
        h_prev: ``(B, H)`` previous state.
        W_xh: ``(D, H)``; W_hh: ``(H, H)``; b_h: ``(H,)``.
    Returns:
        ``(B, H)`` new state.
    """
    return torch.tanh(x @ W_xh + h_prev @ W_hh + b_h)


def rnn_forward(X: torch.Tensor, h0: torch.Tensor, W_xh: torch.Tensor, W_hh: torch.Tensor,
                b_h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Unroll the cell over time: the same weights at every step.

    Args:
        X: ``(B, T, D)`` inputs, batch first.
        h0: ``(B, H)`` initial state.
    Returns:
        ``(H_all, h_T)``: all states ``(B, T, H)`` (``H_all[:, t]`` is ``h_{t+1}``, the state
        after reading ``X[:, t]``) and the last one ``(B, H)``.
    """
    h, states = h0, []
    for t in range(X.shape[1]):
        h = rnn_cell_forward(X[:, t], h, W_xh, W_hh, b_h)
        states.append(h)
    return torch.stack(states, dim=1), h


# --------------------------------------------------------------------------- a vectorised module


def uniform_(tensor: torch.Tensor, hidden_size: int) -> torch.Tensor:
    """PyTorch's initialisation of recurrent layers: ``U(-1/sqrt(H), 1/sqrt(H))``, in place."""
    bound = 1.0 / math.sqrt(hidden_size)
    with torch.no_grad():
        return tensor.uniform_(-bound, bound)


class RNN(nn.Module):
    """A one-layer tanh RNN, batch first, with the course's weight layout.

    The input projection ``X @ W_xh + b_h`` of all steps is one matrix product; only the
    recurrence ``h_{t-1} @ W_hh`` runs step by step, fused with the addition
    (``torch.addmm``), which makes the loop about twice as fast as writing ``a + h @ W``.
    Initialised like ``torch.nn.RNN``.

    Call: ``X: (B, T, D)``, optional ``h0: (B, H)`` (zeros) -> ``(outputs (B, T, H), h_T (B, H))``.
    """

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.W_xh = nn.Parameter(torch.empty(input_size, hidden_size))
        self.W_hh = nn.Parameter(torch.empty(hidden_size, hidden_size))
        self.b_h = nn.Parameter(torch.empty(hidden_size))
        for p in self.parameters():
            uniform_(p, hidden_size)

    def step(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """One step, ``x: (B, D), h: (B, H) -> (B, H)``."""
        return rnn_cell_forward(x, h, self.W_xh, self.W_hh, self.b_h)

    def forward(self, X: torch.Tensor, h0: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        h = X.new_zeros(X.shape[0], self.hidden_size) if h0 is None else h0
        inputs = (X @ self.W_xh + self.b_h).unbind(1)  # T tensors (B, H), computed at once
        states = []
        for x_t in inputs:
            h = torch.tanh(torch.addmm(x_t, h, self.W_hh))  # x_t + h @ W_hh in one call
            states.append(h)
        return torch.stack(states, dim=1), h

    @classmethod
    def from_torch(cls, module: nn.RNN) -> RNN:
        """Copy the weights of a one-layer, unidirectional, tanh ``torch.nn.RNN``."""
        if module.num_layers != 1 or module.bidirectional or module.nonlinearity != "tanh":
            raise ValueError("from_torch copies a one-layer, unidirectional tanh nn.RNN")
        ours = cls(module.input_size, module.hidden_size).to(module.weight_ih_l0.dtype)
        with torch.no_grad():
            ours.W_xh.copy_(module.weight_ih_l0.T)
            ours.W_hh.copy_(module.weight_hh_l0.T)
            bias = module.bias_ih_l0 + module.bias_hh_l0 if module.bias else torch.zeros(module.hidden_size)
            ours.b_h.copy_(bias)
        return ours


# --------------------------------------------------------------------------- gradients through time


def gradient_norms_through_time(step: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                                X: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """How strongly the last state depends on each earlier state.

    Applies ``h_{t+1} = step(X[:, t], h_t)`` along the sequence from ``h0`` and returns, for
    every state, the norm of ``∂(h_T.sum()) / ∂h_t`` (the Frobenius norm over the batch and
    hidden units). Entry ``t`` belongs to the state after reading ``X[:, t]``, so the last
    entry is ``sqrt(B * H)`` (the gradient of a sum with respect to itself is all ones).

    Args:
        step: ``(x (B, D), h (B, H)) -> (B, H)``.
        X: ``(B, T, D)``; h0: ``(B, H)``.
    Returns:
        ``(T,)`` norms.
    """
    h, states = h0.detach().requires_grad_(), []
    for t in range(X.shape[1]):
        h = step(X[:, t], h)
        states.append(h)
    grads = torch.autograd.grad(h.sum(), [s for s in states if s.requires_grad], allow_unused=True)
    grads = iter(grads)
    return torch.stack([_norm_or_zero(next(grads)) if s.requires_grad else s.new_zeros(()) for s in states])


def _norm_or_zero(g: torch.Tensor | None) -> torch.Tensor:
    return g.norm() if g is not None else torch.zeros(())


def rnn_jacobian(x: torch.Tensor, h_prev: torch.Tensor, W_xh: torch.Tensor, W_hh: torch.Tensor,
                 b_h: torch.Tensor) -> torch.Tensor:
    """``∂h_t/∂h_{t-1} = diag(1 - h_t²) W_hhᵀ`` for each example: entry ``[b, k, j]`` is
    ``∂h_t[b, k] / ∂h_{t-1}[b, j]``.

    Args: as :func:`rnn_cell_forward`. Returns: ``(B, H, H)``.
    """
    h = rnn_cell_forward(x, h_prev, W_xh, W_hh, b_h)
    return (1 - h**2).unsqueeze(-1) * W_hh.T


def clip_grad_norm(grads: Sequence[torch.Tensor], max_norm: float) -> float:
    """Scale ``grads`` in place so that their joint L2 norm is at most ``max_norm``.

    The joint norm is ``sqrt(sum_k ||g_k||^2)`` over all tensors; when it exceeds
    ``max_norm`` every tensor is multiplied by the same factor ``max_norm / norm``, so the
    direction of the update is kept (``torch.nn.utils.clip_grad_norm_`` does the same).

    Returns:
        the joint norm before clipping, a float.
    """
    total = math.sqrt(sum(float((g.detach() ** 2).sum()) for g in grads))
    if total > max_norm:
        scale = max_norm / total
        for g in grads:
            g.mul_(scale)
    return total


# --------------------------------------------------------------------------- generation


def sample_next(logits: torch.Tensor, temperature: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """One token id per row: a draw from ``softmax(logits / temperature)``, or the argmax.

    Temperature below 1 sharpens the distribution, above 1 flattens it; ``temperature == 0``
    is greedy decoding (the most probable token).

    Args:
        logits: ``(B, V)``.
        generator: the random generator to draw from (reproducible sampling).
    Returns:
        ``(B,)`` int64 ids.
    """
    if temperature == 0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits / temperature, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)


# --------------------------------------------------------------------------- models built on a recurrent layer


class LastStateClassifier(nn.Module):
    """Token ids -> one-hot -> recurrent layer -> linear read-out of the last output.

    ``recurrent`` is any batch-first module that returns ``(outputs (B, T, H), ...)``:
    :class:`RNN`, ``NVSI``, ``torch.nn.GRU(batch_first=True)``, ``torch.nn.LSTM(...)``.
    Call: ``ids: (B, T)`` int64 -> logits ``(B, n_classes)``.
    """

    def __init__(self, recurrent: nn.Module, vocab_size: int, n_classes: int):
        super().__init__()
        self.vocab_size = vocab_size
        self.recurrent = recurrent
        self.readout = nn.Linear(recurrent.hidden_size, n_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = nn.functional.one_hot(ids, self.vocab_size).float()
        outputs = self.recurrent(x)[0]
        return self.readout(outputs[:, -1])


class CharLM(nn.Module):
    """Character-level language model: embedding -> ``torch.nn.RNN`` (tanh) -> logits.

    Call: ``ids: (B, T)``, optional ``h0: (num_layers, B, H)`` -> ``(logits (B, T, V), h_n)``;
    ``logits[:, t]`` scores the character that follows ``ids[:, t]``.
    """

    def __init__(self, vocab_size: int, hidden_size: int = 256, embedding_size: int = 32, num_layers: int = 1):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embedding_size)
        self.rnn = nn.RNN(embedding_size, hidden_size, num_layers=num_layers, batch_first=True)
        self.out = nn.Linear(hidden_size, vocab_size)

    def forward(self, ids: torch.Tensor, h0: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        outputs, h_n = self.rnn(self.embed(ids), h0)
        return self.out(outputs), h_n

    @torch.no_grad()
    def generate(self, prompt: Sequence[int], n: int, temperature: float = 1.0,
                 generator: torch.Generator | None = None) -> list[int]:
        """Ids of ``n`` characters that follow ``prompt``, each drawn by :func:`sample_next`."""
        self.eval()
        logits, h = self(torch.tensor([list(prompt)]))
        out = []
        for _ in range(n):
            nxt = sample_next(logits[:, -1], temperature, generator)
            out.append(int(nxt))
            logits, h = self(nxt[:, None], h)
        return out
