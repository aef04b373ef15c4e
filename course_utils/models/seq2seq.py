"""A GRU encoder-decoder, with or without attention, and the ways to decode from it.

The encoder reads the source characters in both directions; the decoder is a GRU trained
with teacher forcing. At each output step the decoder state ``s_t`` is combined with a
context vector ``c_t`` (Luong et al., 2015):

    h̃_t = tanh(W_c [s_t; c_t]),    p(y_t | y_<t, x) = softmax(W_o h̃_t).

Without attention ``c_t = c`` is the same fixed summary of the source at every step (the
encoder's last states); with attention it is a weighted average of the encoder's outputs,
recomputed for each ``s_t`` (:mod:`course_utils.models.attention`). The two models are
otherwise identical, so a comparison measures attention and nothing else.

Decoding: :func:`greedy_decode` and :func:`sample_decode` run on batches;
:func:`beam_search` is generic (any ``step(prefix) -> log-probabilities``) and
:func:`beam_decode` applies it to the model through :func:`step_function`.

Shapes: ``B`` batch, ``S`` source length, ``L`` target length, ``H`` encoder hidden size
per direction, ``D = 2H`` decoder hidden size, ``V`` target vocabulary size.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .. import text
from ..train import History, fit_torch, linear_decay
from . import attention as attn
from .bidirectional import reverse_padded

BOS, EOS = "<s>", "</s>"
ATTENTION = (None, "dot", "scaled", "additive")
LR_FLOOR = 0.02  # train_seq2seq's learning rate never falls below this fraction of its start


# --------------------------------------------------------------------------- vocabularies


def target_vocabulary(targets: Sequence[str]) -> text.Vocabulary:
    """Characters of the targets, after ``<pad>, <unk>, <s>, </s>`` (ids 0-3), sorted."""
    return text.Vocabulary([text.PAD, text.UNK, BOS, EOS, *sorted({c for t in targets for c in t})])


def encode_target(vocab: text.Vocabulary, target: str) -> list[int]:
    """``[<s>, characters..., </s>]`` as ids."""
    return [vocab.index[BOS], *vocab.encode(target), vocab.index[EOS]]


def decode_target(vocab: text.Vocabulary, ids: Sequence[int]) -> str:
    """The characters of ``ids`` up to the first ``</s>`` (``<s>`` and padding dropped)."""
    chars = []
    for i in ids:
        token = vocab.tokens[i]
        if token == EOS:
            break
        if token not in (BOS, text.PAD):
            chars.append(token)
    return "".join(chars)


# --------------------------------------------------------------------------- the model


@dataclass
class Memory:
    """What the decoder reads from the encoder for one batch of sources.

    Attributes:
        outputs: ``(B, S, D)`` encoder outputs, forward and backward halves concatenated.
        mask: ``(B, S)`` bool, True at real source characters.
        summary: ``(B, D)`` the fixed vector: last forward state and last backward state.
        state: ``(1, B, D)`` initial decoder state, ``tanh(W_b summary)``.
    """

    outputs: torch.Tensor
    mask: torch.Tensor
    summary: torch.Tensor
    state: torch.Tensor

    def select(self, index: torch.Tensor | list[int]) -> Memory:
        """The memory of the sources at ``index`` (a subset or a repetition of the batch)."""
        return Memory(self.outputs[index], self.mask[index], self.summary[index], self.state[:, index])


class Seq2Seq(nn.Module):
    """GRU encoder-decoder; ``attention`` is None (fixed context) or a scoring function.

    Args:
        src_vocab_size, tgt_vocab_size: numbers of ids (id 0 is padding in both).
        embed_dim: size of the character embeddings.
        hidden_size: ``H``, per direction of the encoder; the decoder has ``D = 2H``.
        attention: None, ``"dot"`` (``s·h``), ``"scaled"`` (``s·h/√D``) or ``"additive"``
            (``v·tanh(W_q s + W_k h)``, attention size ``D``).
    Shapes:
        ``forward(src (B, S), src_lengths (B,), tgt_in (B, L)) -> logits (B, L, V)``.
    """

    def __init__(self, src_vocab_size: int, tgt_vocab_size: int, *, embed_dim: int = 32,
                 hidden_size: int = 64, attention: str | None = "scaled"):
        super().__init__()
        if attention not in ATTENTION:
            raise ValueError(f"attention must be one of {ATTENTION}, got {attention!r}")
        self.attention = attention
        D = 2 * hidden_size
        self.src_embedding = nn.Embedding(src_vocab_size, embed_dim, padding_idx=0)
        self.forward_rnn = nn.GRU(embed_dim, hidden_size, batch_first=True)
        self.backward_rnn = nn.GRU(embed_dim, hidden_size, batch_first=True)
        self.bridge = nn.Linear(D, D)
        self.tgt_embedding = nn.Embedding(tgt_vocab_size, embed_dim, padding_idx=0)
        self.decoder = nn.GRU(embed_dim, D, batch_first=True)
        if attention == "additive":
            self.W_q = nn.Linear(D, D, bias=False)
            self.W_k = nn.Linear(D, D, bias=False)
            self.v = nn.Parameter(torch.randn(D) / math.sqrt(D))
        self.combine = nn.Linear(2 * D, D)  # W_c
        self.output = nn.Linear(D, tgt_vocab_size)  # W_o

    def encode(self, src: torch.Tensor, src_lengths: torch.Tensor) -> Memory:
        """Read the sources ``(B, S)``; padding never affects the real positions."""
        embedded = self.src_embedding(src)
        forward_out, _ = self.forward_rnn(embedded)
        backward_out, _ = self.backward_rnn(reverse_padded(embedded, src_lengths))
        backward_out = reverse_padded(backward_out, src_lengths)
        outputs = torch.cat([forward_out, backward_out], dim=-1)  # (B, S, D)
        H = forward_out.size(-1)
        summary = torch.cat([text.last_state(forward_out, src_lengths), backward_out[:, 0, :H]], dim=-1)
        state = torch.tanh(self.bridge(summary)).unsqueeze(0)
        return Memory(outputs, text.length_mask(src_lengths, src.size(1)), summary, state)

    def attend(self, states: torch.Tensor, memory: Memory) -> tuple[torch.Tensor, torch.Tensor]:
        """Context vectors and attention weights for decoder states ``(B, L, D)``.

        Returns:
            ``(context (B, L, D), weights (B, L, S))``; without attention the context is
            the summary at every step and the weights are zeros.
        """
        B, L, D = states.shape
        S = memory.outputs.size(1)
        if self.attention is None:
            return memory.summary.unsqueeze(1).expand(B, L, D), states.new_zeros(B, L, S)
        if self.attention == "scaled":
            weights = attn.scaled_dot_product_weights(states, memory.outputs, memory.mask.unsqueeze(1))
            return weights @ memory.outputs, weights
        # dot and additive take one query per row: flatten (B, L) into the batch
        keys = memory.outputs.repeat_interleave(L, dim=0)  # (B*L, S, D)
        mask = memory.mask.repeat_interleave(L, dim=0)
        queries = states.reshape(B * L, D)
        if self.attention == "dot":
            context, weights = attn.dot_product_attention(queries, keys, keys, mask)
        else:
            context, weights = attn.additive_attention(queries, keys, keys, self.W_q.weight,
                                                       self.W_k.weight, self.v, mask)
        return context.view(B, L, D), weights.view(B, L, S)

    def decode(self, tgt_in: torch.Tensor, memory: Memory,
               state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Run the decoder over given inputs ``(B, L)`` (teacher forcing, or one step).

        Returns:
            ``(logits (B, L, V), last state (1, B, D), attention weights (B, L, S))``.
        """
        states, last = self.decoder(self.tgt_embedding(tgt_in), memory.state if state is None else state)
        context, weights = self.attend(states, memory)
        logits = self.output(torch.tanh(self.combine(torch.cat([states, context], dim=-1))))
        return logits, last, weights

    def forward(self, src: torch.Tensor, src_lengths: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        return self.decode(tgt_in, self.encode(src, src_lengths))[0]

    def step(self, prev: torch.Tensor, state: torch.Tensor,
             memory: Memory) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One decoding step: previous tokens ``(B,)`` and state ``(1, B, D)`` ->
        ``(log-probabilities (B, V), new state (1, B, D), weights (B, S))``."""
        logits, state, weights = self.decode(prev.unsqueeze(1), memory, state)
        return F.log_softmax(logits[:, 0], dim=-1), state, weights[:, 0]


# --------------------------------------------------------------------------- training


def sequence_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the non-padding targets. logits ``(B, L, V)``, target ``(B, L)``."""
    return F.cross_entropy(logits.flatten(0, 1), target.flatten(), ignore_index=0)


def train_seq2seq(model: Seq2Seq, src_ids: Sequence[Sequence[int]], tgt_ids: Sequence[Sequence[int]], *,
                  epochs: int = 10, batch_size: int = 64, lr: float = 3e-3, seed: int = 0,
                  clip: float | None = 1.0, evaluate: Callable[[], dict[str, float]] | None = None,
                  progress: bool | None = None) -> History:
    """Teacher forcing: the decoder reads ``tgt[:-1]`` (``<s>`` first) and predicts ``tgt[1:]``.

    Adam with the learning rate decayed linearly (slope ``lr / steps``) down to ``LR_FLOOR`` times
    ``lr``, which it reaches at 98% of the run, on batches of sources of similar length
    (``text.batches``). ``tgt_ids`` come from :func:`encode_target`.
    """
    torch.manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * math.ceil(len(src_ids) / batch_size)
    schedule = linear_decay(optimizer, (1 - LR_FLOOR) * steps, LR_FLOOR)  # the floor at 98% of the run
    def batches(epoch: int):
        for src, lengths, index in text.batches(src_ids, np.arange(len(src_ids)), batch_size, seed=seed + epoch):
            tgt, _ = text.pad_batch([tgt_ids[i] for i in index.tolist()])
            yield (src, lengths, tgt[:, :-1]), tgt[:, 1:]

    return fit_torch(model, sequence_loss, optimizer, batches, epochs=epochs, clip=clip, schedule=schedule,
                     evaluate=evaluate, progress=progress)


# --------------------------------------------------------------------------- decoding a batch


def _chunks(n: int, size: int):
    for start in range(0, n, size):
        yield list(range(start, min(start + size, n)))


@torch.no_grad()
def _decode_batches(model: Seq2Seq, src_ids: Sequence[Sequence[int]], choose: Callable, bos: int, eos: int,
                    max_len: int, batch_size: int) -> tuple[list[list[int]], list[torch.Tensor]]:
    model.eval()
    outputs, attention = [], []
    for index in _chunks(len(src_ids), batch_size):
        src, lengths = text.pad_batch([src_ids[i] for i in index])
        memory = model.encode(src, lengths)
        prev = torch.full((len(index),), bos, dtype=torch.long)
        state, tokens, weights = memory.state, [], []
        done = torch.zeros(len(index), dtype=torch.bool)
        for _ in range(max_len):
            log_probs, state, w = model.step(prev, state, memory)
            prev = choose(log_probs)
            tokens.append(prev)
            weights.append(w)
            done |= prev == eos
            if done.all():
                break
        tokens, weights = torch.stack(tokens, 1), torch.stack(weights, 1)  # (B, L), (B, L, S)
        for row, i in enumerate(index):
            seq = tokens[row].tolist()
            seq = seq[: seq.index(eos) + 1] if eos in seq else seq
            outputs.append(seq)
            attention.append(weights[row, : len(seq), : len(src_ids[i])])
    return outputs, attention


def greedy_decode(model: Seq2Seq, src_ids: Sequence[Sequence[int]], bos: int, eos: int, *,
                  max_len: int = 20, batch_size: int = 256) -> tuple[list[list[int]], list[torch.Tensor]]:
    """The most probable next token at every step, for many sources at once.

    Returns:
        ``(outputs, weights)``: per source, the generated ids (ending with ``eos`` if it was
        produced) and the attention weights ``(len(output), len(source))``.
    """
    return _decode_batches(model, src_ids, lambda lp: lp.argmax(-1), bos, eos, max_len, batch_size)


def sample_decode(model: Seq2Seq, src_ids: Sequence[Sequence[int]], bos: int, eos: int, *,
                  temperature: float = 1.0, seed: int = 0, max_len: int = 20,
                  batch_size: int = 256) -> tuple[list[list[int]], list[torch.Tensor]]:
    """Sample each next token from ``softmax(log p / temperature)``; returns like :func:`greedy_decode`.

    ``temperature`` < 1 sharpens the distribution (towards greedy), > 1 flattens it.
    """
    generator = torch.Generator().manual_seed(seed)

    def choose(log_probs):
        return torch.multinomial(torch.softmax(log_probs / temperature, -1), 1, generator=generator)[:, 0]

    return _decode_batches(model, src_ids, choose, bos, eos, max_len, batch_size)


@torch.no_grad()
def sequence_log_probs(model: Seq2Seq, src_ids: Sequence[Sequence[int]], outputs: Sequence[Sequence[int]],
                       bos: int, batch_size: int = 256) -> np.ndarray:
    """``log p(output | source)`` under the model, summed over the output's tokens -> ``(N,)``."""
    model.eval()
    scores = []
    for index in _chunks(len(src_ids), batch_size):
        src, lengths = text.pad_batch([src_ids[i] for i in index])
        tgt, tgt_lengths = text.pad_batch([[bos, *outputs[i]] for i in index])
        log_probs = F.log_softmax(model(src, lengths, tgt[:, :-1]), dim=-1)
        picked = log_probs.gather(-1, tgt[:, 1:, None])[..., 0]  # (B, L)
        picked = picked * text.length_mask(tgt_lengths - 1, picked.size(1))
        scores.append(picked.sum(1))
    return torch.cat(scores).numpy()


# --------------------------------------------------------------------------- beam search


def beam_search(step: Callable[[list[int]], Sequence[float]], start_id: int, end_id: int,
                beam_size: int, max_len: int) -> list[int]:
    """The best output found by a beam of ``beam_size`` hypotheses.

    A hypothesis is a prefix ``[start_id, y_1, ..., y_t]`` with the score
    ``Σ log p(y_i | prefix before y_i)``. At each of at most ``max_len`` steps every live
    hypothesis is extended by every token; the ``beam_size`` best extensions are kept
    (equal scores: the smaller sequence of ids first). A kept extension that ends with
    ``end_id`` is finished and is not extended again; the others stay live. The search
    stops when no hypothesis is live or after ``max_len`` steps, and returns the best of
    the finished hypotheses and those still live (same order).

    Args:
        step: ``step(prefix) -> log-probabilities (V,)`` of the next token; ``prefix`` is a
            list of ids starting with ``start_id``.
        beam_size: the number of hypotheses kept; 1 is greedy decoding.
    Returns:
        the ids after ``start_id``, ending with ``end_id`` if the best hypothesis finished.
    """
    live: list[tuple[list[int], float]] = [([start_id], 0.0)]
    finished: list[tuple[list[int], float]] = []

    def order(hypothesis):
        return (-hypothesis[1], hypothesis[0])

    for _ in range(max_len):
        candidates = [(prefix + [token], score + log_p)
                      for prefix, score in live
                      for token, log_p in enumerate(np.asarray(step(prefix), dtype=float).tolist())]
        live = []
        for prefix, score in sorted(candidates, key=order)[:beam_size]:
            (finished if prefix[-1] == end_id else live).append((prefix, score))
        if not live:
            break
    return min(finished + live, key=order)[0][1:]


def cached_step(state0, advance: Callable) -> Callable[[list[int]], torch.Tensor]:
    """A ``step(prefix)`` for :func:`beam_search` from any recurrent model.

    Args:
        state0: the model's state before it reads ``prefix[0]``.
        advance: ``advance(token, state) -> (log-probabilities (V,), new state)``, one step.
    Returns:
        ``step(prefix) -> log p(next token | prefix)``; states are cached by prefix, so
        extending a prefix already seen costs one call of ``advance``.
    """
    cache: dict[tuple[int, ...], tuple[torch.Tensor, object]] = {}

    def run(prefix: tuple[int, ...]):
        if prefix not in cache:
            state = state0 if len(prefix) == 1 else run(prefix[:-1])[1]
            with torch.no_grad():
                cache[prefix] = advance(prefix[-1], state)
        return cache[prefix]

    return lambda prefix: run(tuple(prefix))[0]


def step_function(model: Seq2Seq, src: Sequence[int]) -> Callable[[list[int]], torch.Tensor]:
    """``step(prefix) -> log p(next token | prefix, src)`` ``(V,)`` for :func:`beam_search`;
    ``prefix`` starts with ``<s>``."""
    model.eval()
    with torch.no_grad():
        memory = model.encode(torch.tensor([list(src)]), torch.tensor([len(src)]))

    def advance(token: int, state: torch.Tensor):
        log_probs, state, _ = model.step(torch.tensor([token]), state, memory)
        return log_probs[0], state

    return cached_step(memory.state, advance)


def beam_decode(model: Seq2Seq, src_ids: Sequence[Sequence[int]], bos: int, eos: int, *,
                beam_size: int = 3, max_len: int = 20, skip_confident: bool = True) -> list[list[int]]:
    """:func:`beam_search` on each source; returns the generated ids (as :func:`greedy_decode`).

    With ``skip_confident``, sources whose greedy output has probability above 1/2 keep it
    without a search, which changes no result: the probabilities of distinct outputs sum to
    at most 1, so no other output, finished or not, can score higher; and every prefix of
    the greedy output then has probability above 1/2 too, so it is the best hypothesis of
    its length and no beam ever drops it.
    """
    if skip_confident:
        greedy, _ = greedy_decode(model, src_ids, bos, eos, max_len=max_len)
        confident = sequence_log_probs(model, src_ids, greedy, bos) > math.log(0.5)
    else:
        greedy, confident = None, np.zeros(len(src_ids), dtype=bool)
    return [greedy[i] if confident[i] else beam_search(step_function(model, src), bos, eos, beam_size, max_len)
            for i, src in enumerate(src_ids)]


def exact_match(predictions: Sequence[str], targets: Sequence[str]) -> float:
    """Fraction of predictions equal to their target, character for character."""
    if len(predictions) != len(targets):
        raise ValueError(f"{len(predictions)} predictions for {len(targets)} targets")
    return float(np.mean([p == t for p, t in zip(predictions, targets, strict=True)]))
