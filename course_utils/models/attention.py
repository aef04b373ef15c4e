"""Attention: dot-product, additive (Bahdanau) and scaled dot-product, with masks.

Every function takes a ``mask`` that is True at the positions that may be attended to
(real tokens) and False at padding, the convention of ``course_utils.text.length_mask``
and of ``torch.nn.functional.scaled_dot_product_attention`` with a boolean mask.
A row whose mask is all False has nothing to attend to: its weights and its context are
zeros, never NaN.

Notation (appendix "Notation"): a query ``q`` of size ``H`` is compared with ``S`` keys
``k_j``; the scores ``e_j`` become weights ``α = softmax(e)``; the context is the weighted
sum of the values, ``c = Σ_j α_j v_j``.
"""

from __future__ import annotations

import math

import torch


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Softmax over the last axis, restricted to the positions where ``mask`` is True.

    Masked positions get weight 0; a row with no True position gets all zeros (a plain
    softmax of ``-inf`` everywhere would give NaN).

    Args:
        scores: ``(..., S)``.
        mask: bool, broadcastable to ``scores``; True = keep. None keeps everything.
    Returns:
        weights ``(..., S)``: each row sums to 1, or to 0 if it is fully masked.
    """
    if mask is None:
        return torch.softmax(scores, dim=-1)
    weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
    return weights.masked_fill(~mask, 0.0)  # also turns the NaN of all-masked rows into 0


def dot_product_attention(query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                          mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Dot-product attention (Luong et al., 2015): ``e_j = q · k_j``.

    Args:
        query: ``(B, H)``.
        keys: ``(B, S, H)``.
        values: ``(B, S, V)``.
        mask: ``(B, S)`` bool, True = may be attended to.
    Returns:
        ``(context (B, V), weights (B, S))``.
    """
    scores = (keys @ query.unsqueeze(-1)).squeeze(-1)  # (B, S)
    weights = masked_softmax(scores, mask)
    context = (weights.unsqueeze(1) @ values).squeeze(1)  # (B, 1, S) @ (B, S, V) -> (B, V)
    return context, weights


def additive_attention(query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                       W_q: torch.Tensor, W_k: torch.Tensor, v: torch.Tensor,
                       mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Additive attention (Bahdanau et al., 2015): ``e_j = v · tanh(W_q q + W_k k_j)``.

    The weight matrices use PyTorch's layout ``(out, in)``, like ``nn.Linear.weight``.

    Args:
        query: ``(B, H)``.
        keys: ``(B, S, H_k)``.
        values: ``(B, S, V)``.
        W_q: ``(A, H)``; W_k: ``(A, H_k)``; v: ``(A,)``, with ``A`` the attention size.
        mask: ``(B, S)`` bool, True = may be attended to.
    Returns:
        ``(context (B, V), weights (B, S))``.
    """
    hidden = torch.tanh((query @ W_q.T).unsqueeze(1) + keys @ W_k.T)  # (B, 1, A) + (B, S, A)
    scores = hidden @ v  # (B, S)
    weights = masked_softmax(scores, mask)
    context = (weights.unsqueeze(1) @ values).squeeze(1)
    return context, weights


def scaled_dot_product_weights(Q: torch.Tensor, K: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Attention weights ``softmax(Q Kᵀ / √d)`` (Vaswani et al., 2017).

    Dividing by ``√d`` keeps the scores' variance near 1 when the entries of ``Q`` and
    ``K`` have variance 1; unscaled, it grows like ``d`` and the softmax saturates.

    Args:
        Q: ``(B, L, d)``; K: ``(B, S, d)``.
        mask: ``(B, L, S)`` bool (or broadcastable), True = may be attended to.
    Returns:
        weights ``(B, L, S)``.
    """
    scores = Q @ K.transpose(-2, -1) / math.sqrt(Q.size(-1))
    return masked_softmax(scores, mask)


def scaled_dot_product_attention(Q: torch.Tensor, K: torch.Tensor, V: torch.Tensor,
                                 mask: torch.Tensor | None = None) -> torch.Tensor:
    """``softmax(Q Kᵀ / √d) V``; equal to ``torch.nn.functional.scaled_dot_product_attention``
    with a boolean ``attn_mask``.

    Args:
        Q: ``(B, L, d)``; K: ``(B, S, d)``; V: ``(B, S, v)``.
        mask: ``(B, L, S)`` bool, True = may be attended to; a row with no True gives zeros.
    Returns:
        ``(B, L, v)``.
    """
    return scaled_dot_product_weights(Q, K, mask) @ V
