"""Text classifiers built from PyTorch's recurrent modules, and their training loop.

``SequenceClassifier`` is embedding -> recurrent encoder -> pooling over time -> linear.
Any model whose ``forward(ids, lengths)`` returns logits ``(B, C)`` (a TextCNN, say) can be
trained and scored with :func:`train_classifier`, :func:`predict` and :func:`accuracy`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from .. import text
from ..train import History, fit_torch

CELLS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}
POOLINGS = ("mean", "max", "last")


class SequenceClassifier(nn.Module):
    """Embedding, a recurrent encoder, pooling over the real (unpadded) steps, a linear layer.

    Args:
        vocab_size: number of token ids (id 0 is padding).
        n_classes: C.
        cell: ``"rnn"``, ``"gru"`` or ``"lstm"`` (``torch.nn`` modules, ``batch_first=True``).
        pooling: ``"mean"`` or ``"max"`` over time with the padding masked out, or ``"last"``
            (the output at each sequence's last real step; for a bidirectional encoder the
            backward half of that step has only read one token).
    Shapes:
        ``forward(ids (B, T) int64, lengths (B,) int64) -> logits (B, C)``.
    """

    def __init__(self, vocab_size: int, n_classes: int, *, embed_dim: int = 64, hidden_size: int = 64,
                 cell: str = "lstm", pooling: str = "mean", bidirectional: bool = False,
                 num_layers: int = 1, dropout: float = 0.0):
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}, got {cell!r}")
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        self.pooling = pooling
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.encoder = CELLS[cell](embed_dim, hidden_size, num_layers=num_layers, batch_first=True,
                                   bidirectional=bidirectional, dropout=dropout if num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(hidden_size * (2 if bidirectional else 1), n_classes)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        outputs, _ = self.encoder(self.embedding(ids))  # (B, T, H * directions)
        mask = text.length_mask(lengths, ids.size(1))
        if self.pooling == "mean":
            pooled = text.masked_mean(outputs, mask)
        elif self.pooling == "max":
            pooled = text.masked_max(outputs, mask)
        else:
            pooled = text.last_state(outputs, lengths)
        return self.output(self.dropout(pooled))


def train_classifier(model: nn.Module, ids: Sequence[Sequence[int]], labels: Sequence[int] | np.ndarray, *,
                     epochs: int = 5, batch_size: int = 64, lr: float = 2e-3, seed: int = 0,
                     clip: float | None = 1.0, max_len: int | None = None,
                     val: tuple[Sequence[Sequence[int]], Sequence[int]] | None = None,
                     progress: bool | None = None) -> History:
    """Adam on cross-entropy over padded, length-bucketed batches; records validation accuracy
    per epoch in ``History.metrics["val_accuracy"]`` when ``val=(ids, labels)`` is given."""
    torch.manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    def batches(epoch: int):
        for x, lengths, y in text.batches(ids, labels, batch_size, seed=seed + epoch, max_len=max_len):
            yield (x, lengths), y

    evaluate = (lambda: {"val_accuracy": accuracy(model, *val, max_len=max_len)}) if val else None
    return fit_torch(model, nn.functional.cross_entropy, optimizer, batches, epochs=epochs, clip=clip,
                     evaluate=evaluate, progress=progress)


@torch.no_grad()
def predict(model: nn.Module, ids: Sequence[Sequence[int]], *, batch_size: int = 256,
            max_len: int | None = None) -> np.ndarray:
    """Most probable class of each sequence, ``(N,)`` int64, in the order of ``ids``."""
    model.eval()
    out = np.empty(len(ids), dtype=np.int64)
    for start in range(0, len(ids), batch_size):
        x, lengths = text.pad_batch(ids[start : start + batch_size], max_len)
        out[start : start + len(x)] = model(x, lengths).argmax(-1).numpy()
    return out


def accuracy(model: nn.Module, ids: Sequence[Sequence[int]], labels: Sequence[int] | np.ndarray,
             *, max_len: int | None = None) -> float:
    """Fraction of sequences whose predicted class equals its label."""
    return float((predict(model, ids, max_len=max_len) == np.asarray(labels)).mean())
