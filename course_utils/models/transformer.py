"""Self-attention and the Transformer (Vaswani et al., 2017), written from the formulas.

Each layer here has the same parameters, with the same names, as its PyTorch counterpart,
so a PyTorch layer's ``state_dict`` loads into ours and the outputs can be compared
(``tests/library/test_transformer.py`` does, in float64):

=================================  ======================================================
ours                                PyTorch (``batch_first=True``, dropout 0)
=================================  ======================================================
:class:`MultiHeadAttention`         ``nn.MultiheadAttention``
:class:`LayerNorm`                  ``nn.LayerNorm``
:class:`EncoderLayer`               ``nn.TransformerEncoderLayer`` (both ``norm_first``)
:class:`DecoderLayer`               ``nn.TransformerDecoderLayer`` (both ``norm_first``)
=================================  ======================================================

Masks follow PyTorch's convention in this module (unlike :mod:`.attention`): a boolean
``attn_mask`` or ``key_padding_mask`` is True where attention is *not* allowed; a float
``attn_mask`` is added to the scores. A query row with every key masked gets zero weights
(PyTorch gives NaN there).

Two models are built from the layers: :class:`TransformerSeq2Seq`, an encoder-decoder for
Chapter 9's dates with the interface of :class:`.seq2seq.Seq2Seq` (so ``train_seq2seq`` and
``greedy_decode`` work on it unchanged), and :class:`TransformerLM`, a decoder-only
character language model. Decoding recomputes the whole prefix at every step.

Shapes: ``B`` batch, ``T`` query length, ``S`` key length, ``E`` model size
(``d_model``), ``h`` heads of size ``d_k = E / h``, ``F`` feed-forward size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from . import attention as attn

# --------------------------------------------------------------------------- masks and positions


def causal_mask(T: int, device=None) -> torch.Tensor:
    """``(T, T)`` bool, True above the diagonal: position ``t`` may not attend to ``s > t``."""
    return torch.ones(T, T, dtype=torch.bool, device=device).triu(1)


def sinusoidal_positions(T: int, E: int) -> torch.Tensor:
    """``(T, E)``: ``P[t, 2i] = sin(t / 10000^(2i/E))``, ``P[t, 2i+1] = cos(t / 10000^(2i/E))``."""
    t = torch.arange(T, dtype=torch.float64)[:, None]
    frequencies = 10000.0 ** (-torch.arange(0, E, 2, dtype=torch.float64) / E)
    P = torch.zeros(T, E, dtype=torch.float64)
    P[:, 0::2] = torch.sin(t * frequencies)
    P[:, 1::2] = torch.cos(t * frequencies)[:, : E // 2]
    return P.to(torch.get_default_dtype())


def _allowed(T: int, S: int, B: int, attn_mask: torch.Tensor | None,
             key_padding_mask: torch.Tensor | None, scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores ``(B, h, T, S)`` with float masks added, and a bool ``keep`` mask broadcastable to them."""
    keep = torch.ones(1, 1, T, S, dtype=torch.bool, device=scores.device)
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            keep = keep & ~(attn_mask.view(B, -1, T, S) if attn_mask.dim() == 3 else attn_mask)
        else:
            scores = scores + (attn_mask.view(B, -1, T, S) if attn_mask.dim() == 3 else attn_mask)
    if key_padding_mask is not None:
        keep = keep & ~key_padding_mask[:, None, None, :]
    return scores, keep


# --------------------------------------------------------------------------- multi-head attention


class MultiHeadAttention(nn.Module):
    """``MultiHead(Q, K, V) = Concat(head_1, ..., head_h) W_O``, with
    ``head_i = softmax(Q W_Q^i (K W_K^i)ᵀ / √d_k + M) V W_V^i``.

    The three input projections are stacked in ``in_proj_weight`` ``(3E, E)`` (rows
    ``W_Q; W_K; W_V``) and ``in_proj_bias`` ``(3E,)``, the output projection is ``out_proj``,
    as in ``nn.MultiheadAttention``.

    Call: ``query (B, T, E), key (B, S, E), value (B, S, E)``, optional ``key_padding_mask
    (B, S)`` and ``attn_mask`` ``(T, S)`` or ``(B*h, T, S)`` ->
    ``(output (B, T, E), weights)``: ``weights`` is ``(B, T, S)`` averaged over the heads,
    ``(B, h, T, S)`` with ``average_attn_weights=False``, None with ``need_weights=False``.
    """

    def __init__(self, embed_dim: int, num_heads: int):
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim {embed_dim} is not divisible by num_heads {num_heads}")
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * embed_dim, embed_dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * embed_dim))
        self.out_proj = nn.Linear(embed_dim, embed_dim)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, query, key, value, key_padding_mask=None, attn_mask=None, need_weights=True,
                average_attn_weights=True):
        B, T, E = query.shape
        S, h = key.size(1), self.num_heads
        W_q, W_k, W_v = self.in_proj_weight.chunk(3)
        b_q, b_k, b_v = self.in_proj_bias.chunk(3)

        def heads(x, W, b):  # (B, n, E) -> (B, h, n, d_k)
            return F.linear(x, W, b).view(B, -1, h, E // h).transpose(1, 2)

        q, k, v = heads(query, W_q, b_q), heads(key, W_k, b_k), heads(value, W_v, b_v)
        scores = q @ k.transpose(-2, -1) / math.sqrt(E // h)  # (B, h, T, S)
        scores, keep = _allowed(T, S, B, attn_mask, key_padding_mask, scores)
        weights = attn.masked_softmax(scores, keep)  # (B, h, T, S)
        output = self.out_proj((weights @ v).transpose(1, 2).reshape(B, T, E))
        if not need_weights:
            return output, None
        return output, weights.mean(1) if average_attn_weights else weights


# --------------------------------------------------------------------------- the layers


class LayerNorm(nn.Module):
    """``LN(x) = γ ⊙ (x - μ) / √(σ² + ε) + β`` over the last axis (``σ²`` the biased variance).

    Call: ``x (..., E) -> (..., E)``; parameters ``weight`` (``γ``) and ``bias`` (``β``).
    """

    def __init__(self, E: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(E))
        self.bias = nn.Parameter(torch.zeros(E))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu = x.mean(-1, keepdim=True)
        var = ((x - mu) ** 2).mean(-1, keepdim=True)
        return self.weight * (x - mu) / torch.sqrt(var + self.eps) + self.bias


class EncoderLayer(nn.Module):
    """Self-attention, then a position-wise feed-forward network, each in a residual branch.

    Post-norm (``norm_first=False``, the 2017 paper):
    ``x = LN_1(x + SA(x))``, ``x = LN_2(x + FFN(x))``.
    Pre-norm (``norm_first=True``):
    ``x = x + SA(LN_1(x))``, ``x = x + FFN(LN_2(x))``.

    Call: ``x (B, T, E)``, optional ``mask`` (an ``attn_mask``, e.g. :func:`causal_mask`)
    and ``key_padding_mask (B, T)`` -> ``(B, T, E)``. The last self-attention weights
    ``(B, h, T, T)`` are kept in ``self.weights``.
    """

    def __init__(self, E: int, num_heads: int, F_: int, norm_first: bool = False, eps: float = 1e-5):
        super().__init__()
        self.norm_first = norm_first
        self.self_attn = MultiHeadAttention(E, num_heads)
        self.linear1, self.linear2 = nn.Linear(E, F_), nn.Linear(F_, E)
        self.norm1, self.norm2 = LayerNorm(E, eps), LayerNorm(E, eps)
        self.weights = None

    def _sa(self, x, mask, key_padding_mask):
        out, self.weights = self.self_attn(x, x, x, key_padding_mask=key_padding_mask, attn_mask=mask,
                                           average_attn_weights=False)
        return out

    def _ff(self, x):
        return self.linear2(torch.relu(self.linear1(x)))

    def forward(self, x, mask=None, key_padding_mask=None):
        if self.norm_first:
            x = x + self._sa(self.norm1(x), mask, key_padding_mask)
            return x + self._ff(self.norm2(x))
        x = self.norm1(x + self._sa(x, mask, key_padding_mask))
        return self.norm2(x + self._ff(x))


class DecoderLayer(nn.Module):
    """Masked self-attention, attention to the encoder's outputs (the *memory*), and a
    feed-forward network, each in a residual branch with its LayerNorm (``norm1``-``norm3``),
    after (post-norm) or before (pre-norm) the branch as in :class:`EncoderLayer`.

    Call: ``x (B, T, E), memory (B, S, E)``, optional ``tgt_mask`` (``(T, T)``, e.g.
    :func:`causal_mask`), ``tgt_key_padding_mask (B, T)``, ``memory_key_padding_mask (B, S)``
    -> ``(B, T, E)``. The last cross-attention weights ``(B, h, T, S)`` are kept in
    ``self.cross_weights``.
    """

    def __init__(self, E: int, num_heads: int, F_: int, norm_first: bool = False, eps: float = 1e-5):
        super().__init__()
        self.norm_first = norm_first
        self.self_attn = MultiHeadAttention(E, num_heads)
        self.multihead_attn = MultiHeadAttention(E, num_heads)
        self.linear1, self.linear2 = nn.Linear(E, F_), nn.Linear(F_, E)
        self.norm1, self.norm2, self.norm3 = LayerNorm(E, eps), LayerNorm(E, eps), LayerNorm(E, eps)
        self.cross_weights = None

    def _sa(self, x, mask, padding):
        return self.self_attn(x, x, x, key_padding_mask=padding, attn_mask=mask, need_weights=False)[0]

    def _ca(self, x, memory, padding):
        out, self.cross_weights = self.multihead_attn(x, memory, memory, key_padding_mask=padding,
                                                      average_attn_weights=False)
        return out

    def _ff(self, x):
        return self.linear2(torch.relu(self.linear1(x)))

    def forward(self, x, memory, tgt_mask=None, tgt_key_padding_mask=None, memory_key_padding_mask=None):
        if self.norm_first:
            x = x + self._sa(self.norm1(x), tgt_mask, tgt_key_padding_mask)
            x = x + self._ca(self.norm2(x), memory, memory_key_padding_mask)
            return x + self._ff(self.norm3(x))
        x = self.norm1(x + self._sa(x, tgt_mask, tgt_key_padding_mask))
        x = self.norm2(x + self._ca(x, memory, memory_key_padding_mask))
        return self.norm3(x + self._ff(x))


# --------------------------------------------------------------------------- an encoder-decoder


@dataclass
class Memory:
    """What the decoder reads: encoder outputs ``(B, S, E)``, ``mask`` ``(B, S)`` True at real
    source characters, and ``state``: the target prefix generated so far ``(B, t)`` (empty at
    the start; the decoder recomputes the whole prefix at every step)."""

    outputs: torch.Tensor
    mask: torch.Tensor
    state: torch.Tensor

    def select(self, index) -> Memory:
        return Memory(self.outputs[index], self.mask[index], self.state[index])


class TransformerSeq2Seq(nn.Module):
    """Encoder-decoder Transformer (pre-norm, a final LayerNorm on each side).

    Args:
        positions: ``"sinusoidal"``, ``"learned"`` or None: what the *encoder* adds to its
            character embeddings. The decoder always adds learned positions.
        max_len: the longest source or target (learned positions).
    Shapes:
        ``forward(src (B, S), src_lengths (B,), tgt_in (B, L)) -> logits (B, L, V)``, as
        :class:`.seq2seq.Seq2Seq`; ``encode``/``step`` as there, so
        :func:`.seq2seq.greedy_decode` and :func:`.seq2seq.train_seq2seq` apply.
    """

    def __init__(self, src_vocab_size: int, tgt_vocab_size: int, *, d_model: int = 64, num_heads: int = 4,
                 num_layers: int = 2, dim_feedforward: int = 128, positions: str | None = "sinusoidal",
                 max_len: int = 64):
        super().__init__()
        if positions not in ("sinusoidal", "learned", None):
            raise ValueError(f"positions must be 'sinusoidal', 'learned' or None, got {positions!r}")
        self.positions, self.d_model = positions, d_model
        self.src_embedding = nn.Embedding(src_vocab_size, d_model, padding_idx=0)
        self.tgt_embedding = nn.Embedding(tgt_vocab_size, d_model, padding_idx=0)
        if positions == "learned":
            self.src_positions = nn.Parameter(torch.randn(max_len, d_model) * 0.1)
        elif positions == "sinusoidal":
            self.register_buffer("src_positions", sinusoidal_positions(max_len, d_model), persistent=False)
        self.tgt_positions = nn.Parameter(torch.randn(max_len, d_model) * 0.1)
        self.encoder = nn.ModuleList(EncoderLayer(d_model, num_heads, dim_feedforward, norm_first=True)
                                     for _ in range(num_layers))
        self.decoder = nn.ModuleList(DecoderLayer(d_model, num_heads, dim_feedforward, norm_first=True)
                                     for _ in range(num_layers))
        self.encoder_norm, self.decoder_norm = LayerNorm(d_model), LayerNorm(d_model)
        self.output = nn.Linear(d_model, tgt_vocab_size)

    def encode(self, src: torch.Tensor, src_lengths: torch.Tensor) -> Memory:
        x = self.src_embedding(src)
        if self.positions is not None:
            x = x + self.src_positions[: src.size(1)]
        keep = torch.arange(src.size(1))[None, :] < src_lengths[:, None]
        for layer in self.encoder:
            x = layer(x, key_padding_mask=~keep)
        return Memory(self.encoder_norm(x), keep, src.new_zeros(src.size(0), 0))

    def decode(self, tgt_in: torch.Tensor, memory: Memory) -> torch.Tensor:
        """Logits ``(B, L, V)`` for target inputs ``(B, L)`` (teacher forcing, causal mask)."""
        L = tgt_in.size(1)
        y = self.tgt_embedding(tgt_in) + self.tgt_positions[:L]
        for layer in self.decoder:
            y = layer(y, memory.outputs, tgt_mask=causal_mask(L), memory_key_padding_mask=~memory.mask)
        return self.output(self.decoder_norm(y))

    def forward(self, src, src_lengths, tgt_in):
        return self.decode(tgt_in, self.encode(src, src_lengths))

    def step(self, prev: torch.Tensor, state: torch.Tensor, memory: Memory):
        """Previous tokens ``(B,)`` and the prefix before them ``(B, t)`` ->
        ``(log-probabilities (B, V), prefix (B, t+1), cross-attention weights of the last
        layer, averaged over heads, for the new position (B, S))``."""
        prefix = torch.cat([state, prev[:, None]], dim=1)
        logits = self.decode(prefix, memory)
        weights = self.decoder[-1].cross_weights[:, :, -1].mean(1)
        return F.log_softmax(logits[:, -1], dim=-1), prefix, weights


# --------------------------------------------------------------------------- a decoder-only language model


class TransformerLM(nn.Module):
    """Decoder-only character language model: embeddings plus learned positions, pre-norm
    :class:`EncoderLayer` s with a :func:`causal_mask`, a final LayerNorm, logits.

    Call: ``ids (B, T)`` with ``T <= max_len`` -> ``logits (B, T, V)``; ``logits[:, t]``
    scores the character after ``ids[:, t]`` from ``ids[:, :t+1]`` only.
    """

    def __init__(self, vocab_size: int, *, d_model: int = 96, num_heads: int = 4, num_layers: int = 3,
                 dim_feedforward: int = 384, max_len: int = 64):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, d_model)
        self.positions = nn.Parameter(torch.randn(max_len, d_model) * 0.1)
        self.layers = nn.ModuleList(EncoderLayer(d_model, num_heads, dim_feedforward, norm_first=True)
                                    for _ in range(num_layers))
        self.norm = LayerNorm(d_model)
        self.out = nn.Linear(d_model, vocab_size)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        T = ids.size(1)
        x = self.embed(ids) + self.positions[:T]
        for layer in self.layers:
            x = layer(x, mask=causal_mask(T))
        return self.out(self.norm(x))


class GRULM(nn.Module):
    """The recurrent counterpart of :class:`TransformerLM`: embedding -> ``nn.GRU`` -> logits.

    Call: ``ids (B, T)`` -> ``logits (B, T, V)``.
    """

    def __init__(self, vocab_size: int, *, hidden_size: int = 256, embedding_size: int = 32):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embedding_size)
        self.rnn = nn.GRU(embedding_size, hidden_size, batch_first=True)
        self.out = nn.Linear(hidden_size, vocab_size)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.out(self.rnn(self.embed(ids))[0])
