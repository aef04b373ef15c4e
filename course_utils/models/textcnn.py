"""Convolutional networks for text: the TextCNN of Kim (2014).

A sentence of ``T`` tokens is embedded as ``X: (B, T, E)``. A filter of width ``k`` is a
weight ``(E, k)`` slid along time: at position ``t`` it scores the n-gram
``x_t .. x_{t+k-1}``,

    z[b, c, t] = sum_{e, j} W[c, e, j] * X[b, t + j, e] + b[c],    t = 0 .. T - k,

so ``C`` filters give feature maps ``(B, C, T - k + 1)``. This is a cross-correlation (the
kernel is not flipped), the layout and the operation of ``torch.nn.Conv1d``, whose input
is channels-first ``(B, E, T)`` and whose ``weight`` has shape ``(C, E, k)``. A ReLU and a
maximum over time keep, for each filter, its strongest n-gram anywhere in the sentence;
several widths (3, 4, 5) give n-gram detectors of several lengths, concatenated into one
vector of ``C * len(kernel_sizes)`` features for a linear classifier.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .. import text


def conv1d_text(X: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """1-D convolution over time of an embedded batch, without padding or stride.

    Args:
        X: ``(B, T, E)`` embeddings, batch first, time second.
        W: ``(C, E, k)`` filters (the layout of ``nn.Conv1d.weight``); b: ``(C,)``.
    Returns:
        ``(B, C, T - k + 1)``: ``out[b, c, t] = sum_{e,j} W[c, e, j] X[b, t + j, e] + b[c]``,
        equal to ``F.conv1d(X.transpose(1, 2), W, b)``.
    """
    k = W.size(-1)
    n_windows = X.size(1) - k + 1
    if n_windows < 1:
        raise ValueError(f"a sequence of {X.size(1)} steps is shorter than the kernel width {k}")
    windows = torch.stack([X[:, j : j + n_windows] for j in range(k)], dim=-1)  # (B, T', E, k)
    return torch.einsum("btej,cej->bct", windows, W) + b[None, :, None]


def valid_windows(lengths: torch.Tensor, k: int, n_windows: int) -> torch.Tensor:
    """``(B, n_windows)`` bool: window ``t`` lies inside the sentence, ``t + k <= length``.
    A sentence shorter than ``k`` keeps its first window, which covers it all (plus padding)."""
    return text.length_mask((lengths - k + 1).clamp(min=1), n_windows)


def max_over_time(feature_maps: torch.Tensor, lengths: torch.Tensor, k: int) -> torch.Tensor:
    """Max-over-time pooling over the valid windows only.

    Args:
        feature_maps: ``(B, C, T')`` outputs of a width-``k`` convolution over a padded batch.
        lengths: ``(B,)`` sentence lengths in tokens.
    Returns:
        ``(B, C)``: ``max_t feature_maps[b, c, t]`` over ``t < max(lengths[b] - k + 1, 1)``.
    """
    mask = valid_windows(lengths.to(feature_maps.device), k, feature_maps.size(-1))  # (B, T')
    return feature_maps.masked_fill(~mask[:, None, :], float("-inf")).amax(dim=-1)


class TextCNN(nn.Module):
    """Embedding -> parallel ``Conv1d`` of several widths -> ReLU -> max over time -> dropout -> linear.

    Attributes (their names matter to Exercise 8): ``embedding`` (padding id 0), ``convs``
    (an ``nn.ModuleList`` of ``nn.Conv1d(embed_dim, num_filters, k)``, one per width in
    ``kernel_sizes``), ``dropout`` and ``output`` (``nn.Linear(num_filters * len(kernel_sizes),
    num_classes)``).
    Shapes:
        ``forward(ids (B, T) int64, lengths (B,)) -> logits (B, num_classes)``; a batch
        shorter than the widest kernel is padded to its width.
    """

    def __init__(self, vocab_size: int, embed_dim: int, num_classes: int,
                 kernel_sizes: Sequence[int] = (3, 4, 5), num_filters: int = 100, dropout: float = 0.5):
        super().__init__()
        self.kernel_sizes = tuple(kernel_sizes)
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.convs = nn.ModuleList(nn.Conv1d(embed_dim, num_filters, k) for k in self.kernel_sizes)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(num_filters * len(self.kernel_sizes), num_classes)

    def feature_maps(self, ids: torch.Tensor) -> list[torch.Tensor]:
        """ReLU feature maps ``(B, C, T - k + 1)`` of each width, ``ids`` padded to the widest kernel."""
        width = max(self.kernel_sizes)
        if ids.size(1) < width:
            ids = nn.functional.pad(ids, (0, width - ids.size(1)))
        x = self.embedding(ids).transpose(1, 2)  # (B, E, T): Conv1d wants channels first
        return [torch.relu(conv(x)) for conv in self.convs]

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        maps = self.feature_maps(ids)
        pooled = [max_over_time(m, lengths, k) for m, k in zip(maps, self.kernel_sizes, strict=True)]
        return self.output(self.dropout(torch.cat(pooled, dim=1)))  # (B, num_classes)


@torch.no_grad()
def strongest_ngrams(model: TextCNN, ids: Sequence[Sequence[int]], vocab: text.Vocabulary, *,
                     width_index: int = 0, filters: Sequence[int] = (0,), top: int = 5,
                     max_len: int | None = None, batch_size: int = 128) -> dict[int, list[tuple[str, float]]]:
    """For each of ``filters`` of the convolution ``model.convs[width_index]``, the distinct
    n-grams of the corpus ``ids`` on which it fires most (the values max-over-time keeps).

    Returns:
        ``{filter: [(n-gram, activation), ...]}``, ``top`` per filter, strongest first;
        n-grams are the tokens joined by spaces (write ``"".join`` for characters yourself).
    """
    model.eval()
    k = model.kernel_sizes[width_index]
    best: dict[int, dict[str, float]] = {f: {} for f in filters}
    for start in range(0, len(ids), batch_size):
        x, lengths = text.pad_batch(ids[start : start + batch_size], max_len)
        maps = model.feature_maps(x)[width_index][:, list(filters)]  # (B, F, T')
        maps = maps.masked_fill(~valid_windows(lengths, k, maps.size(-1))[:, None], float("-inf"))
        values, where = maps.topk(min(top, maps.size(-1)), dim=-1)  # (B, F, top)
        for row in range(x.size(0)):
            for i, f in enumerate(filters):
                for value, t in zip(values[row, i].tolist(), where[row, i].tolist(), strict=True):
                    if value == float("-inf"):
                        continue
                    gram = " ".join(vocab.tokens[j] for j in x[row, t : t + k].tolist() if j != 0)
                    best[f][gram] = max(value, best[f].get(gram, float("-inf")))
    return {f: sorted(found.items(), key=lambda kv: -kv[1])[:top] for f, found in best.items()}
