"""Chinese word segmentation as character tagging, with a (bi)directional LSTM.

Each character gets one of four tags, its position in its word: ``B`` (begins a word),
``M`` (middle), ``E`` (ends it) or ``S`` (a single-character word). ``迈向充满希望`` tagged
``BEBEBE`` reads as the words ``迈向 / 充满 / 希望``; :func:`course_utils.data.words_from_bmes`
turns tags back into words (:func:`bmes_to_words` is the same function).

A segmentation is scored by words, not by tags: a predicted word counts as correct when
its *character span* (start, end) is also a span of a gold word, so a word is right only
if both of its boundaries are. Precision is the fraction of predicted words that are
correct, recall the fraction of gold words found, F1 their harmonic mean.

The tagger reads characters with a one-directional LSTM or with a bidirectional one made
of two unidirectional LSTMs and :func:`~course_utils.models.bidirectional.reverse_padded`,
which keeps padded batches exact without ``pack_padded_sequence`` (much slower on a CPU).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from .. import text
from ..data import words_from_bmes as bmes_to_words
from ..train import History, fit_torch, linear_decay
from .bidirectional import bidirectional_outputs, reverse_padded

TAGS = "BMES"
IGNORE = -100  # target of padded positions: nn.functional.cross_entropy skips them
RECURRENT = {"lstm": nn.LSTM, "gru": nn.GRU}  # the cells a CharTagger can be built from

__all__ = ["TAGS", "CharTagger", "bmes_to_words", "word_spans", "segmentation_prf", "encode_tags",
           "epoch_sentences", "train_tagger", "decode_bmes", "predict_tags", "is_well_formed", "segment",
           "evaluate_segmenter", "segmentation_report"]


# --------------------------------------------------------------------------- scoring


def word_spans(words: Sequence[str]) -> set[tuple[int, int]]:
    """Character spans ``(start, end)`` (end exclusive) of consecutive words:
    ``["迈向", "充满"]`` -> ``{(0, 2), (2, 4)}``."""
    spans, start = set(), 0
    for word in words:
        spans.add((start, start + len(word)))
        start += len(word)
    return spans


def segmentation_prf(gold_words: Sequence[Sequence[str]], pred_words: Sequence[Sequence[str]],
                     ) -> tuple[float, float, float]:
    """Word-level precision, recall and F1 over a list of sentences.

    Args:
        gold_words, pred_words: one list of words per sentence; the words of a sentence
            concatenate to the same characters in both.
    Returns:
        ``(precision, recall, f1)``, micro-averaged: counts are summed over all sentences;
        a predicted word is correct when its span is a gold span. 0.0 where a ratio is 0/0.
    """
    if len(gold_words) != len(pred_words):
        raise ValueError(f"{len(gold_words)} gold sentences but {len(pred_words)} predicted")
    correct = n_gold = n_pred = 0
    for gold, pred in zip(gold_words, pred_words, strict=True):
        if "".join(gold) != "".join(pred):
            raise ValueError(f"gold and predicted words spell different sentences: {''.join(gold)!r}")
        gold_spans, pred_spans = word_spans(gold), word_spans(pred)
        correct += len(gold_spans & pred_spans)
        n_gold += len(gold_spans)
        n_pred += len(pred_spans)
    precision = correct / n_pred if n_pred else 0.0
    recall = correct / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


# --------------------------------------------------------------------------- the model


class CharTagger(nn.Module):
    """Characters -> embeddings -> (bi)LSTM or GRU layers -> a linear layer scoring the 4 tags.

    Args:
        vocab_size: number of character ids (0 is padding).
        cell: ``"lstm"`` (``nn.LSTM``) or ``"gru"`` (``nn.GRU``), the recurrent module of
            every layer and direction.
        bidirectional: two LSTMs per layer, one over each sequence reversed within its
            length; their outputs are concatenated (``2H`` features per character).
        num_layers: stacked layers; layer ``k > 0`` reads the output of layer ``k - 1``.
    Shapes:
        ``forward(ids (B, T), lengths (B,)) -> logits (B, T, 4)``; a sentence's logits do not
        depend on how much padding its batch adds.
    """

    def __init__(self, vocab_size: int, *, embed_dim: int = 64, hidden_size: int = 64,
                 bidirectional: bool = True, num_layers: int = 1, dropout: float = 0.0,
                 n_tags: int = len(TAGS), cell: str = "lstm"):
        super().__init__()
        if cell not in RECURRENT:
            raise ValueError(f"cell must be one of {sorted(RECURRENT)}, got {cell!r}")
        self.bidirectional = bidirectional
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        directions = 2 if bidirectional else 1
        self.layers = nn.ModuleList()
        for k in range(num_layers):
            size_in = embed_dim if k == 0 else directions * hidden_size
            self.layers.append(nn.ModuleList(
                RECURRENT[cell](size_in, hidden_size, batch_first=True) for _ in range(directions)))
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(directions * hidden_size, n_tags)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        h = self.embedding(ids)  # (B, T, E)
        for layer in self.layers:
            out_fwd, _ = layer[0](h)  # right padding never reaches a real step going forwards
            if self.bidirectional:
                out_bwd, _ = layer[1](reverse_padded(h, lengths))
                h = bidirectional_outputs(out_fwd, out_bwd, lengths)  # (B, T, 2H)
            else:
                h = out_fwd
            h = self.dropout(h)
        return self.output(h)  # (B, T, n_tags)


# --------------------------------------------------------------------------- data and training


def encode_tags(tags: str) -> list[int]:
    """``"BES"`` -> ``[0, 2, 3]``."""
    return [TAGS.index(t) for t in tags]


def tag_batches(ids: Sequence[Sequence[int]], tags: Sequence[Sequence[int]], batch_size: int,
                order: Sequence[int], *, seed: int = 0,
                ) -> Iterator[tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor]]:
    """Length-bucketed batches ``((ids (B, T), lengths (B,)), tags (B, T))`` of the sentences
    ``order`` (indices), in a random order; padded tags are set to ``IGNORE``."""
    for group in text.length_buckets(np.asarray(order), [len(s) for s in ids], batch_size, seed):
        x, lengths = text.pad_batch([ids[i] for i in group])
        y, _ = text.pad_batch([tags[i] for i in group])
        y[~text.length_mask(lengths, x.size(1))] = IGNORE
        yield (x, lengths), y


def epoch_sentences(n: int, per_epoch: int, epoch: int, seed: int = 0) -> np.ndarray:
    """Indices of the sentences of ``epoch`` when epochs of ``per_epoch`` sentences take
    consecutive slices of a stream of shuffled passes over the ``n`` sentences (pass ``p``
    shuffled with ``seed + p``): four epochs of ``n / 4`` cover every sentence once."""
    taken: list[int] = []
    start = epoch * per_epoch
    while len(taken) < per_epoch:
        pass_index, offset = divmod(start + len(taken), n)
        shuffled = np.random.default_rng(seed + pass_index).permutation(n)
        taken.extend(shuffled[offset : offset + per_epoch - len(taken)].tolist())
    return np.array(taken)


def tagging_loss(logits: torch.Tensor, tags: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the real characters: logits ``(B, T, K)``, tags ``(B, T)``."""
    return nn.functional.cross_entropy(logits.flatten(0, 1), tags.flatten(), ignore_index=IGNORE)


def train_tagger(model: nn.Module, ids: Sequence[Sequence[int]], tags: Sequence[Sequence[int]], *,
                 epochs: int = 1, batch_size: int = 32, lr: float = 1e-2, lr_end: float | None = None,
                 seed: int = 0, sentences_per_epoch: int | None = None, clip: float | None = 1.0,
                 evaluate: Callable[[], dict[str, float]] | None = None,
                 progress: bool | None = None) -> History:
    """Adam on the per-character cross-entropy over shuffled, length-bucketed batches.

    Args:
        lr, lr_end: the learning rate decays linearly from ``lr`` to ``lr_end`` (default:
            constant) over all the training steps.
        sentences_per_epoch: an epoch is that many sentences (default: all), taken in turn
            from shuffled passes over the data (see :func:`epoch_sentences`), so that
            ``evaluate`` can follow training more often than once per pass.
        evaluate: called after each epoch; its numbers go to ``History.metrics``.
    """
    torch.manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    per_epoch = sentences_per_epoch or len(ids)
    total = epochs * -(-per_epoch // batch_size)  # batches in the whole run, about
    end = lr if lr_end is None else lr_end
    schedule = linear_decay(optimizer, total, end / lr)
    def batches(epoch: int):
        order = epoch_sentences(len(ids), per_epoch, epoch, seed)
        yield from tag_batches(ids, tags, batch_size, order, seed=seed + epoch)

    return fit_torch(model, tagging_loss, optimizer, batches, epochs=epochs, clip=clip, schedule=schedule,
                     evaluate=evaluate, progress=progress)


# --------------------------------------------------------------------------- prediction

#: ``ALLOWED[a, b]``: tag ``b`` may follow tag ``a`` (B -> M/E, M -> M/E, E -> B/S, S -> B/S).
ALLOWED = torch.tensor([[0, 1, 1, 0], [0, 1, 1, 0], [1, 0, 0, 1], [1, 0, 0, 1]], dtype=torch.bool)
CAN_START = torch.tensor([1, 0, 0, 1], dtype=torch.bool)  # a sentence starts with B or S
CAN_END = torch.tensor([0, 0, 1, 1], dtype=torch.bool)  # and ends with E or S


def decode_bmes(logits: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """The most probable *well-formed* tag sequence of each sentence (Viterbi algorithm).

    Per-character argmax can produce tag sequences that break the scheme (``S M``,
    ``B B``); this finds ``argmax_y sum_t log p(y_t | x)`` over the sequences allowed by
    :data:`ALLOWED`, :data:`CAN_START` and :data:`CAN_END`, by dynamic programming over time.

    Args:
        logits: ``(B, T, 4)`` tag scores; lengths: ``(B,)``.
    Returns:
        ``(B, T)`` int64 tag ids (padded positions repeat the last real tag).
    """
    B, T, K = logits.shape
    log_p = logits.log_softmax(-1)
    forbid = torch.full((K, K), float("-inf")).masked_fill(ALLOWED, 0.0)  # (from, to)
    best = log_p[:, 0] + torch.full((K,), float("-inf")).masked_fill(CAN_START, 0.0)  # (B, K)
    stay = torch.arange(K).expand(B, K)
    pointers = []
    for t in range(1, T):
        score, previous = (best[:, :, None] + forbid).max(dim=1)  # (B, K): best previous tag for each tag
        real = (t < lengths)[:, None]
        best = torch.where(real, score + log_p[:, t], best)
        pointers.append(torch.where(real, previous, stay))  # padded steps point to themselves
    tag = (best + torch.full((K,), float("-inf")).masked_fill(CAN_END, 0.0)).argmax(-1)  # (B,)
    path = [tag]
    for previous in reversed(pointers):
        tag = previous.gather(1, tag[:, None]).squeeze(1)
        path.append(tag)
    return torch.stack(path[::-1], dim=1)


@torch.no_grad()
def _tag_in_batches(model: nn.Module, ids: Sequence[Sequence[int]], batch_size: int,
                    decoders: dict[str, object]) -> dict[str, list[str]]:
    """Run the tagger once over sentences sorted by length (little padding, same results) and
    decode its logits ``(B, T, 4)`` with each of ``decoders``: name -> ``f(logits, lengths)``."""
    model.eval()
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    out = {name: [""] * len(ids) for name in decoders}
    for start in range(0, len(order), batch_size):
        group = order[start : start + batch_size]
        x, lengths = text.pad_batch([ids[i] for i in group])
        logits = model(x, lengths)
        for name, decode in decoders.items():
            best = decode(logits, lengths)
            for row, i in enumerate(group):
                out[name][i] = "".join(TAGS[t] for t in best[row, : lengths[row]].tolist())
    return out


def _greedy(logits: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    return logits.argmax(-1)


def predict_tags(model: nn.Module, ids: Sequence[Sequence[int]], *, batch_size: int = 256,
                 well_formed: bool = False) -> list[str]:
    """The most probable tag of every character, one ``"BMES"`` string per sentence; with
    ``well_formed``, the most probable sequence that respects the B/M/E/S scheme instead
    (:func:`decode_bmes`)."""
    decode = decode_bmes if well_formed else _greedy
    return _tag_in_batches(model, ids, batch_size, {"tags": decode})["tags"]


def is_well_formed(tags: str) -> bool:
    """Whether a B/M/E/S sequence describes a segmentation: starts with B or S, ends with E
    or S, and every pair of neighbours is allowed by :data:`ALLOWED`."""
    if not tags:
        return True
    index = [TAGS.index(t) for t in tags]
    return (bool(CAN_START[index[0]]) and bool(CAN_END[index[-1]])
            and all(bool(ALLOWED[a, b]) for a, b in zip(index, index[1:], strict=False)))


def segment(model: nn.Module, vocab: text.Vocabulary, sentences: Sequence[str], *,
            well_formed: bool = False) -> list[list[str]]:
    """Split each sentence into words with the tagger: ``["迈向充满希望"]`` -> ``[["迈向", "充满", "希望"]]``."""
    tags = predict_tags(model, [vocab.encode(s) for s in sentences], well_formed=well_formed)
    return [bmes_to_words(s, t) for s, t in zip(sentences, tags, strict=True)]


def evaluate_segmenter(model: nn.Module, vocab: text.Vocabulary, pairs: Sequence[tuple[str, str]], *,
                       well_formed: bool = False) -> tuple[float, float, float]:
    """Word-level ``(precision, recall, f1)`` of the tagger on ``(sentence, gold tags)`` pairs."""
    gold = [bmes_to_words(s, t) for s, t in pairs]
    return segmentation_prf(gold, segment(model, vocab, [s for s, _ in pairs], well_formed=well_formed))


def segmentation_report(model: nn.Module, vocab: text.Vocabulary, pairs: Sequence[tuple[str, str]],
                        ) -> dict[str, object]:
    """Both decodings from one run of the tagger over ``(sentence, gold tags)`` pairs.

    Returns:
        ``{"greedy": (p, r, f1), "well_formed": (p, r, f1), "ill_formed": share of sentences
        whose greedy tags break the scheme}``.
    """
    sentences = [s for s, _ in pairs]
    gold = [bmes_to_words(s, t) for s, t in pairs]
    tags = _tag_in_batches(model, [vocab.encode(s) for s in sentences], 256,
                           {"greedy": _greedy, "well_formed": decode_bmes})
    report: dict[str, object] = {
        name: segmentation_prf(gold, [bmes_to_words(s, t) for s, t in zip(sentences, found, strict=True)])
        for name, found in tags.items()}
    report["ill_formed"] = sum(not is_well_formed(t) for t in tags["greedy"]) / max(len(pairs), 1)
    return report
