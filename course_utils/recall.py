"""The recall task of the recurrent chapters, and the protocol that trains a cell on it.

The task (Chapter 3, reused by the NVSI, GRU and LSTM chapters) asks a model to
repeat a symbol it saw ``lag`` steps earlier. A sequence has ``T = lag + 1`` tokens:

    position 0             a symbol in ``0 .. n_symbols - 1``: the answer
    positions 1 .. lag-1   noise tokens in ``n_symbols .. n_symbols + n_noise - 1``
    position lag           the query token ``n_symbols + n_noise``

and the label is the symbol at position 0. At the query the answer sits ``lag`` steps
back, behind ``lag - 1`` random distractors; chance accuracy is ``1 / n_symbols``.
:func:`recall_vocab_size` gives the number of token ids, :func:`make_recurrent` builds the
cell under test, and :func:`train_recall` is the standard training protocol (fresh batches
each step, equal steps for every cell). This module is an experiment above
:mod:`course_utils.models`: it imports the models, never the other way round.
"""


from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from course_utils.models.nvsi import NVSI
from course_utils.models.rnn import RNN, LastStateClassifier
from course_utils.train import set_seed

# --------------------------------------------------------------------------- the recall task


def recall_vocab_size(n_symbols: int = 8, n_noise: int = 8) -> int:
    """Number of token ids of :func:`recall_task`: symbols, noise tokens and the query."""
    return n_symbols + n_noise + 1


def recall_task(n: int, lag: int, n_symbols: int = 8, seed: int = 0, *, n_noise: int = 8
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` sequences whose answer sits ``lag`` steps before the query (see the module doc).

    Args:
        n: number of sequences.
        lag: distance from the answer to the query, at least 1; sequences have ``lag + 1`` tokens.
        n_symbols: number of possible answers (chance accuracy is ``1 / n_symbols``).
        seed: the same seed gives the same sequences.
        n_noise: number of distinct distractor tokens (at least 1).
    Returns:
        ``(X, y)``: ``X`` ``(n, lag + 1)`` int64 token ids in ``[0, recall_vocab_size)``,
        ``y`` ``(n,)`` int64 in ``[0, n_symbols)``, with ``y == X[:, 0]``.
    """
    if lag < 1 or n_symbols < 2 or n_noise < 1:
        raise ValueError(f"need lag >= 1, n_symbols >= 2, n_noise >= 1; got {lag}, {n_symbols}, {n_noise}")
    rng = np.random.default_rng(seed)
    X = np.empty((n, lag + 1), dtype=np.int64)
    X[:, 0] = rng.integers(0, n_symbols, size=n)
    X[:, 1:lag] = rng.integers(n_symbols, n_symbols + n_noise, size=(n, lag - 1))
    X[:, lag] = n_symbols + n_noise
    return torch.from_numpy(X), torch.from_numpy(X[:, 0].copy())


RECURRENT_KINDS = ("rnn", "nvsi", "gru", "lstm")


def make_recurrent(kind: str, input_size: int, hidden_size: int, gate_bias: float = 0.0) -> nn.Module:
    """A batch-first recurrent layer: the course's :class:`RNN` or :class:`NVSI`, or
    ``torch.nn.GRU`` / ``torch.nn.LSTM``. Each returns ``(outputs (B, T, H), ...)``.

    ``gate_bias`` is added to the initial bias of the gate that decides how much of the
    past is kept: the LSTM's forget gate and the GRU's update gate ``z`` (PyTorch's GRU keeps
    ``z ⊙ h_{t-1}``), and NVSI's input gate ``i`` (which scales the whole new state). A
    positive value starts the cell closer to remembering; the plain RNN has no gate.
    """
    H = hidden_size
    if kind == "rnn":
        return RNN(input_size, H)
    if kind == "nvsi":
        layer = NVSI(input_size, H)
        with torch.no_grad():
            layer.b_i += gate_bias
        return layer
    if kind in ("gru", "lstm"):
        layer = (nn.GRU if kind == "gru" else nn.LSTM)(input_size, H, batch_first=True)
        with torch.no_grad():  # gate order: GRU (r, z, n), LSTM (i, f, g, o); z and f are second
            layer.bias_ih_l0[H : 2 * H] += gate_bias
        return layer
    raise ValueError(f"kind must be one of {RECURRENT_KINDS}, got {kind!r}")


def train_recall(kind: str, lag: int, *, steps: int = 800, hidden_size: int = 64, n_symbols: int = 8,
                 n_noise: int = 8, batch_size: int = 64, lr: float = 1e-2, clip: float = 1.0,
                 gate_bias: float = 1.0, seed: int = 0, eval_size: int = 1000, record_every: int = 0,
                 keep_model: bool = False) -> dict:
    """Train ``kind`` on the recall task with ``lag`` and report its test accuracy.

    The defaults are the protocol of ``benchmarks/recall.py`` (Chapter 3).

    Protocol: a :class:`~course_utils.models.rnn.LastStateClassifier` (one-hot input,
    read-out of the last output), a fresh batch of ``batch_size`` sequences at every one of
    ``steps`` Adam steps (no example is seen twice), gradient norm clipped to ``clip``, and
    ``eval_size`` unseen sequences for the test accuracy (training batches use the seeds
    ``seed * 10**6 + 1 + step``, the test set ``2**31 - 1 - seed``). ``gate_bias``: see :func:`make_recurrent`.

    Returns:
        ``{"kind", "lag", "seed", "steps", "accuracy", "loss", "seconds"}``, and ``"curve"``
        (``[(step, test accuracy), ...]`` every ``record_every`` steps) when ``record_every``,
        and ``"model"`` (the trained classifier) when ``keep_model``.
    """
    set_seed(seed)
    vocab = recall_vocab_size(n_symbols, n_noise)
    model = LastStateClassifier(make_recurrent(kind, vocab, hidden_size, gate_bias), vocab, n_symbols)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    # never a training seed
    X_test, y_test = recall_task(eval_size, lag, n_symbols, seed=2**31 - 1 - seed, n_noise=n_noise)

    def accuracy() -> float:
        model.eval()
        with torch.no_grad():
            acc = float((model(X_test).argmax(-1) == y_test).float().mean())
        model.train()
        return acc

    curve, losses = [], []
    start = time.perf_counter()
    for step in range(steps):
        X, y = recall_task(batch_size, lag, n_symbols, seed=seed * 10**6 + 1 + step, n_noise=n_noise)
        loss = nn.functional.cross_entropy(model(X), y)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        losses.append(loss.item())
        if record_every and (step + 1) % record_every == 0:
            curve.append((step + 1, accuracy()))
    seconds = time.perf_counter() - start
    result = {"kind": kind, "lag": lag, "seed": seed, "steps": steps, "accuracy": accuracy(),
              "loss": float(np.mean(losses[-max(1, steps // 10):])), "seconds": round(seconds, 2)}
    if record_every:
        result["curve"] = curve
    if keep_model:
        result["model"] = model.eval()
    return result
