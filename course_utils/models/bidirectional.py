"""Bidirectional and stacked recurrent networks, built from unidirectional ones.

A bidirectional layer runs two recurrent networks over a batch of padded sequences
``X: (B, T, D)`` with lengths ``(B,)``: the forward one reads ``x_1 .. x_L``, the backward
one reads ``x_L .. x_1``. Each sequence is reversed *within its own length* (padding stays
at the end), the backward network runs forward over the reversed batch, and its outputs are
reversed back so that position ``t`` of both halves describes the same token:

    output[b, t] = [ h_fwd(t) ; h_bwd(t) ],   h_fwd(t) summarises x_1..x_t, h_bwd(t) x_t..x_L.

``torch.nn.LSTM(bidirectional=True, num_layers=N)`` names the parameters of layer ``k`` and
direction ``d`` ``weight_ih_l{k}``, ``weight_hh_l{k}``, ``bias_ih_l{k}``, ``bias_hh_l{k}``,
with the suffix ``_reverse`` for the backward direction; the input of layer ``k > 0`` is
the ``(B, T, 2H)`` output of layer ``k - 1``, so ``weight_ih_l1`` has shape ``(4H, 2H)``.
``h_n`` and ``c_n`` have shape ``(N * 2, B, H)``, ordered layer by layer and, within a layer,
forward then backward: ``h_n.view(N, 2, B, H)[k, d]``.

On a padded (not packed) batch, ``nn.LSTM``'s backward direction starts on the padding;
the functions here give what it computes on a *packed* batch, where padded positions of
``output`` are zero.
"""

from __future__ import annotations

import torch
from torch import nn

from .. import text


def reverse_padded(X: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each sequence within its own length; padding stays where it is.

    Args:
        X: ``(B, T, D)`` padded batch (or ``(B, T)``).
        lengths: ``(B,)`` int64, each at most ``T``.
    Returns:
        same shape as ``X``: ``out[b, t] = X[b, lengths[b] - 1 - t]`` for ``t < lengths[b]``,
        ``out[b, t] = X[b, t]`` otherwise.
    """
    T = X.size(1)
    steps = torch.arange(T, device=X.device)[None, :]  # (1, T)
    lengths = lengths.to(X.device)[:, None]  # (B, 1)
    index = torch.where(steps < lengths, lengths - 1 - steps, steps)  # (B, T)
    index = index.view(*index.shape, *([1] * (X.dim() - 2))).expand_as(X)
    return X.gather(1, index)


def bidirectional_outputs(out_fwd: torch.Tensor, out_bwd_on_reversed: torch.Tensor,
                          lengths: torch.Tensor) -> torch.Tensor:
    """Combine the two directions into the output of a bidirectional layer.

    Args:
        out_fwd: ``(B, T, H)`` outputs of the forward network on the padded batch.
        out_bwd_on_reversed: ``(B, T, H)`` outputs of the backward network run forwards
            over ``reverse_padded(X, lengths)``.
        lengths: ``(B,)``.
    Returns:
        ``(B, T, 2H)``: ``[out_fwd[b, t] ; out_bwd_on_reversed[b, L_b - 1 - t]]`` at real
        steps and zero at padded ones, as ``nn.LSTM(bidirectional=True)`` gives on a packed batch.
    """
    both = torch.cat([out_fwd, reverse_padded(out_bwd_on_reversed, lengths)], dim=-1)
    mask = text.length_mask(lengths.to(both.device), both.size(1))  # (B, T)
    return both * mask.unsqueeze(-1).to(both.dtype)


def split_directions(lstm: nn.LSTM) -> list[tuple[nn.LSTM, nn.LSTM]]:
    """Copy a bidirectional ``nn.LSTM`` into unidirectional one-layer LSTMs.

    Returns:
        one ``(forward, backward)`` pair per layer; layer ``k``'s pair holds the parameters
        ``*_l{k}`` and ``*_l{k}_reverse`` of ``lstm`` (input size ``D`` for ``k = 0``, ``2H`` after).
    """
    if not (lstm.bidirectional and lstm.batch_first and lstm.proj_size == 0):
        raise ValueError("split_directions expects nn.LSTM(batch_first=True, bidirectional=True) without proj_size")
    pairs = []
    for k in range(lstm.num_layers):
        directions = []
        for suffix in ("", "_reverse"):
            size_in = lstm.input_size if k == 0 else 2 * lstm.hidden_size
            single = nn.LSTM(size_in, lstm.hidden_size, batch_first=True, bias=lstm.bias)
            state = {name: getattr(lstm, f"{name[:-3]}_l{k}{suffix}")
                     for name in single.state_dict()}  # e.g. weight_ih_l0 <- weight_ih_l1_reverse
            single.load_state_dict({n: p.detach().clone() for n, p in state.items()})
            directions.append(single)
        pairs.append(tuple(directions))
    return pairs


def run_direction(net: nn.LSTM, X: torch.Tensor, lengths: torch.Tensor,
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Run a one-layer, unidirectional LSTM over a padded batch, one step at a time.

    Args:
        net: ``nn.LSTM(D, H, batch_first=True)``; X: ``(B, T, D)``; lengths: ``(B,)``.
    Returns:
        ``(output (B, T, H), h_last (B, H), c_last (B, H))``: the states after each
        sequence's last real step ``lengths[b] - 1``, not after the padding.
    """
    B, T, _ = X.shape
    state = (X.new_zeros(1, B, net.hidden_size), X.new_zeros(1, B, net.hidden_size))
    outputs, h_last, c_last = [], X.new_zeros(B, net.hidden_size), X.new_zeros(B, net.hidden_size)
    for t in range(T):
        out, state = net(X[:, t : t + 1], state)
        outputs.append(out)
        is_last = (lengths.to(X.device) - 1 == t)[:, None]
        h_last = torch.where(is_last, state[0][0], h_last)
        c_last = torch.where(is_last, state[1][0], c_last)
    return torch.cat(outputs, dim=1), h_last, c_last


def bidirectional_lstm(X: torch.Tensor, lengths: torch.Tensor, layers: list[tuple[nn.LSTM, nn.LSTM]],
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A deep bidirectional LSTM from unidirectional ones: each layer reads the one below.

    Args:
        X: ``(B, T, D)`` padded inputs; lengths: ``(B,)``.
        layers: ``(forward, backward)`` one-layer ``nn.LSTM`` pairs (see :func:`split_directions`).
    Returns:
        ``(output, h_n, c_n)`` laid out like ``nn.LSTM``'s on a packed batch: output
        ``(B, T, 2H)`` of the top layer (zero at padding); ``h_n``, ``c_n`` ``(2N, B, H)``,
        index ``2k`` the forward and ``2k + 1`` the backward direction of layer ``k``.
    """
    h_n, c_n = [], []
    inputs = X
    for forward, backward in layers:
        out_fwd, h_fwd, c_fwd = run_direction(forward, inputs, lengths)
        out_bwd, h_bwd, c_bwd = run_direction(backward, reverse_padded(inputs, lengths), lengths)
        h_n += [h_fwd, h_bwd]
        c_n += [c_fwd, c_bwd]
        inputs = bidirectional_outputs(out_fwd, out_bwd, lengths)
    return inputs, torch.stack(h_n), torch.stack(c_n)
