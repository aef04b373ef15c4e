"""Word2Vec: skip-gram pairs, negative sampling, hierarchical softmax, a PyTorch model, evaluation.

Notation (appendix "Notation"): ``V`` words in the vocabulary, embeddings of size ``d``.
Each word ``w`` has an *input* (centre) vector ``v_w`` (a row of ``W_in``, ``(V, d)``) and
an *output* (context) vector ``u_w`` (a row of ``W_out``, ``(V, d)``); after training,
``W_in`` holds the word vectors. ``σ`` is the logistic sigmoid. ``K`` negatives are drawn
per (centre, context) pair from the unigram distribution raised to the power 3/4.

The numpy functions work on one example and are what the exercise asks for; the PyTorch
model :class:`SkipGramNS` does the same on mini-batches, and :func:`train_sgns` trains it
on a tokenised corpus the way ``word2vec`` and gensim do (subsampling of frequent words,
a window shrunk at random for each centre, K negatives per pair).
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from ..text import Vocabulary
from ..train import History, linear_decay, set_seed, show_progress
from .neurons import sigmoid

LR_FLOOR = 1e-4  # train_sgns's learning rate never falls below this fraction of its start

# --------------------------------------------------------------------------- training pairs


def skipgram_pairs(token_ids: Sequence[int], window: int) -> np.ndarray:
    """Every (centre, context) pair of a sliding window over one sequence.

    Position ``i`` is paired with every position ``j`` such that ``0 < |i - j| <= window``;
    rows are ordered by ``i``, then by ``j``.

    Args:
        token_ids: ``(T,)`` word ids.
        window: the largest distance between centre and context, ``>= 1``.
    Returns:
        ``(P, 2)`` int64, rows ``(token_ids[i], token_ids[j])``; ``P = 0`` for ``T < 2``.
    """
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    ids = np.asarray(token_ids, dtype=np.int64)
    i, j = np.meshgrid(np.arange(len(ids)), np.arange(-window, window + 1), indexing="ij")
    j = i + j
    keep = (j != i) & (j >= 0) & (j < len(ids))
    return np.stack([ids[i[keep]], ids[j[keep]]], axis=1).reshape(-1, 2)


def unigram_distribution(counts: Sequence[float], power: float = 0.75) -> np.ndarray:
    """Negative-sampling distribution ``P(w) = c_w^power / Σ_v c_v^power``.

    With ``power < 1`` rare words get more than their share of the draws and frequent
    words less; ``power = 1`` is the plain unigram distribution, ``power = 0`` uniform.

    Args:
        counts: ``(V,)`` non-negative word counts.
    Returns:
        ``(V,)`` float64 probabilities summing to 1 (a word with count 0 gets 0).
    """
    weights = np.asarray(counts, dtype=np.float64) ** power
    weights[np.asarray(counts) == 0] = 0.0
    return weights / weights.sum()


def keep_probabilities(counts: Sequence[float], sample: float = 1e-3) -> np.ndarray:
    """Probability of keeping each occurrence of a word when frequent words are subsampled.

    With ``f_w = c_w / Σ c`` the word's frequency, word2vec's C code and gensim keep an
    occurrence with probability ``(sqrt(f_w / sample) + 1) · sample / f_w``, capped at 1:
    words rarer than about ``sample`` are always kept, "the" is mostly dropped.

    Args:
        counts: ``(V,)`` word counts; sample: the threshold ``t`` (``0`` keeps everything).
    Returns:
        ``(V,)`` float64 in ``[0, 1]``.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if sample <= 0:
        return np.ones_like(counts)
    f = counts / counts.sum()
    with np.errstate(divide="ignore"):
        keep = (np.sqrt(f / sample) + 1) * sample / f
    return np.minimum(keep, 1.0)


# --------------------------------------------------------------------------- losses of one pair


def sgns_loss_and_grads(
    center: np.ndarray, context: np.ndarray, negatives: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """Skip-gram negative-sampling loss of one pair and its gradients.

    ``L = -log σ(u_o·v_c) - Σ_k log σ(-u_k·v_c)``, with ``v_c`` the centre's input vector,
    ``u_o`` the context's output vector and ``u_k`` the output vectors of K negatives.
    Since ``d/dx [-log σ(x)] = σ(x) - 1``:
    ``∂L/∂u_o = (σ(u_o·v_c) - 1) v_c``, ``∂L/∂u_k = σ(u_k·v_c) v_c`` and
    ``∂L/∂v_c = (σ(u_o·v_c) - 1) u_o + Σ_k σ(u_k·v_c) u_k``.

    Args:
        center: ``(d,)``; context: ``(d,)``; negatives: ``(K, d)``.
    Returns:
        ``(loss, grad_center (d,), grad_context (d,), grad_negatives (K, d))``, loss a float.
    """
    pos = float(context @ center)
    neg = negatives @ center  # (K,)
    # -log σ(x) = log(1 + e^{-x}), computed without overflow by np.logaddexp(0, -x)
    loss = float(np.logaddexp(0.0, -pos) + np.logaddexp(0.0, neg).sum())
    g_pos = float(sigmoid(pos)) - 1.0
    g_neg = sigmoid(neg)  # (K,)
    grad_center = g_pos * context + g_neg @ negatives
    grad_context = g_pos * center
    grad_negatives = np.outer(g_neg, center)
    return loss, grad_center, grad_context, grad_negatives


def softmax_skipgram_loss(center: np.ndarray, output_vectors: np.ndarray, context: int) -> float:
    """Full-softmax skip-gram loss ``-log p(o | c)``, ``p(o | c) = exp(u_o·v_c) / Σ_w exp(u_w·v_c)``.

    Its cost is ``O(V d)``: every word's output vector enters the normaliser.

    Args:
        center: ``(d,)``; output_vectors: ``(V, d)``; context: the id ``o`` of the true context.
    Returns:
        the loss, a float.
    """
    scores = output_vectors @ center  # (V,)
    top = scores.max()
    return float(top + np.log(np.exp(scores - top).sum()) - scores[context])


# --------------------------------------------------------------------------- hierarchical softmax


def huffman_codes(counts: Sequence[int]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Huffman tree over the vocabulary, as word2vec builds it for hierarchical softmax.

    The ``V`` words are the leaves; the ``V - 1`` inner nodes each own an output vector.
    Frequent words get short paths. Ties are broken by the order of creation.

    Args:
        counts: ``(V,)`` word counts, ``V >= 2``.
    Returns:
        ``(codes, points)``: for word ``w``, ``codes[w]`` is ``(L_w,)`` int8, the turns
        (0 = left, 1 = right) from the root to the leaf, and ``points[w]`` is ``(L_w,)``
        int64, the inner nodes on that path (ids ``0 .. V-2``, the root is ``V-2``).
    """
    counts = list(counts)
    n = len(counts)
    if n < 2:
        raise ValueError("a Huffman tree needs at least two words")
    heap = [(c, i) for i, c in enumerate(counts)]
    heapq.heapify(heap)
    parent, turn = {}, {}
    next_id = n  # node ids: leaves 0..n-1, inner nodes n..2n-2
    while len(heap) > 1:
        c1, a = heapq.heappop(heap)
        c2, b = heapq.heappop(heap)
        parent[a], turn[a] = next_id, 0
        parent[b], turn[b] = next_id, 1
        heapq.heappush(heap, (c1 + c2, next_id))
        next_id += 1
    codes, points = [], []
    for leaf in range(n):
        code, path, node = [], [], leaf
        while node in parent:
            code.append(turn[node])
            path.append(parent[node] - n)
            node = parent[node]
        codes.append(np.array(code[::-1], dtype=np.int8))
        points.append(np.array(path[::-1], dtype=np.int64))
    return codes, points


def hs_probability(center: np.ndarray, node_vectors: np.ndarray, code: np.ndarray, point: np.ndarray) -> float:
    """Hierarchical-softmax probability of one word: the product of the turns on its path.

    ``p(w | c) = Π_j σ(s_j · u_{n_j}·v_c)`` with ``s_j = +1`` for a left turn (code 0) and
    ``-1`` for a right turn (code 1). The probabilities of all leaves sum to 1; the cost is
    the path length, about ``log2 V``, instead of ``V``.

    Args:
        center: ``(d,)``; node_vectors: ``(V - 1, d)``; code, point: one word's path from
            :func:`huffman_codes`.
    """
    signs = 1.0 - 2.0 * np.asarray(code, dtype=np.float64)
    return float(np.prod(sigmoid(signs * (node_vectors[point] @ center))))


# --------------------------------------------------------------------------- the PyTorch model


class SkipGramNS(nn.Module):
    """Skip-gram with negative sampling: two embedding tables and a logistic loss.

    ``W_in`` starts uniform in ``±0.5/d`` and ``W_out`` at zero, as in word2vec. Both are
    sparse ``nn.Embedding`` tables: a batch touches few rows, so the gradient is sparse.

    Args:
        vocab_size: ``V``; dim: ``d``.
    """

    def __init__(self, vocab_size: int, dim: int):
        super().__init__()
        self.w_in = nn.Embedding(vocab_size, dim, sparse=True)
        self.w_out = nn.Embedding(vocab_size, dim, sparse=True)
        nn.init.uniform_(self.w_in.weight, -0.5 / dim, 0.5 / dim)
        nn.init.zeros_(self.w_out.weight)

    def forward(self, center: torch.Tensor, context: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
        """Per-pair loss ``-log σ(u_o·v_c) - Σ_k log σ(-u_k·v_c)``.

        Args:
            center: ``(B,)`` ids; context: ``(B,)`` ids; negatives: ``(B, K)`` ids.
        Returns:
            ``(B,)`` losses.
        """
        v = self.w_in(center)  # (B, d)
        u = self.w_out(torch.cat([context.unsqueeze(1), negatives], dim=1))  # (B, 1 + K, d)
        scores = torch.bmm(u, v.unsqueeze(-1)).squeeze(-1)  # (B, 1 + K): u_o·v_c, then u_k·v_c
        sign = torch.ones_like(scores)
        sign[:, 1:] = -1.0
        return -nn.functional.logsigmoid(sign * scores).sum(-1)

    def vectors(self) -> np.ndarray:
        """The word vectors, the rows of ``W_in``: ``(V, d)`` float32."""
        return self.w_in.weight.detach().numpy().copy()


# --------------------------------------------------------------------------- corpus -> training pairs


@dataclass
class Corpus:
    """A tokenised corpus encoded with a vocabulary.

    Attributes:
        vocab: a :class:`course_utils.text.Vocabulary` (ids 0 and 1, padding and unknown,
            never occur in ``ids``).
        ids: ``(N,)`` int64, the kept tokens of all documents, concatenated.
        doc: ``(N,)`` int64, the document of each token; windows never cross documents.
        counts: ``(V,)`` int64, occurrences of each id in ``ids``.
    """

    vocab: Vocabulary
    ids: np.ndarray
    doc: np.ndarray
    counts: np.ndarray

    @classmethod
    def build(cls, documents: Sequence[Sequence[str]], min_count: int = 5) -> Corpus:
        """Keep the words seen at least ``min_count`` times; drop the other tokens."""
        vocab = Vocabulary.build(documents, min_count=min_count)
        encoded = [np.array([i for i in vocab.encode(d) if i > 1], dtype=np.int64) for d in documents]
        ids = np.concatenate(encoded)
        doc = np.repeat(np.arange(len(encoded)), [len(e) for e in encoded])
        return cls(vocab, ids, doc, np.bincount(ids, minlength=len(vocab)))

    @property
    def words(self) -> list[str]:
        return self.vocab.tokens


def epoch_pairs(corpus: Corpus, window: int, sample: float, rng: np.random.Generator) -> np.ndarray:
    """The skip-gram pairs of one epoch, drawn the way word2vec draws them.

    Each token is kept with :func:`keep_probabilities`; each kept centre gets its own window
    ``b`` uniform in ``1..window`` (near contexts are used more often than far ones); pairs
    never cross a document boundary. The rows are shuffled.

    Returns:
        ``(P, 2)`` int64 (centre id, context id).
    """
    keep = rng.random(len(corpus.ids)) < keep_probabilities(corpus.counts, sample)[corpus.ids]
    ids, doc = corpus.ids[keep], corpus.doc[keep]
    reach = rng.integers(1, window + 1, size=len(ids))
    parts = []
    for offset in range(1, window + 1):
        for i, j in ((np.arange(len(ids) - offset), np.arange(offset, len(ids))),
                     (np.arange(offset, len(ids)), np.arange(len(ids) - offset))):
            ok = (doc[i] == doc[j]) & (reach[i] >= offset)
            parts.append(np.stack([ids[i[ok]], ids[j[ok]]], axis=1))
    pairs = np.concatenate(parts)
    return pairs[rng.permutation(len(pairs))]


@dataclass
class SGNSResult:
    """A trained :class:`SkipGramNS`: the model, the loss history, and the word vectors
    ``(V, d)`` with their ``V`` words (the corpus's vocabulary without padding and unknown)."""

    model: SkipGramNS
    vectors: np.ndarray
    words: list[str]
    history: History


def train_sgns(
    corpus: Corpus,
    *,
    dim: int = 100,
    window: int = 5,
    negative: int = 5,
    sample: float = 1e-3,
    epochs: int = 5,
    lr: float = 0.05,
    batch_size: int = 4096,
    seed: int = 0,
    threads: int | None = 1,
    progress: bool | None = None,
) -> SGNSResult:
    """Train :class:`SkipGramNS` on ``corpus`` with SGD, the learning rate decaying linearly towards
    0 over the run (held at ``LR_FLOOR`` times ``lr`` at the very end, like word2vec's ``min_alpha``).

    The loss is summed over a mini-batch, so each pair moves the vectors it touches by
    ``lr`` times its own gradient, as in word2vec's per-pair updates.

    ``threads`` PyTorch threads are used during training (``None``: PyTorch's setting).
    The default is one: each step is a few small gathers and scatters, which gain nothing
    from a second thread, and on a busy 2-core machine threaded small operations were
    measured up to 20 times slower than on one thread.

    Returns:
        an :class:`SGNSResult`; ``history.loss`` is the mean loss per pair of each epoch.
    """
    saved_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return _train_sgns(corpus, dim, window, negative, sample, epochs, lr, batch_size, seed, progress)
    finally:
        torch.set_num_threads(saved_threads)


def _train_sgns(corpus, dim, window, negative, sample, epochs, lr, batch_size, seed, progress) -> SGNSResult:
    set_seed(seed)
    rng = np.random.default_rng(seed)
    model = SkipGramNS(len(corpus.vocab), dim)
    # inverse-CDF sampling from the noise distribution: the same draws' distribution as
    # torch.multinomial(noise, n, replacement=True), in half its time
    noise_cdf = torch.as_tensor(np.cumsum(unigram_distribution(corpus.counts)), dtype=torch.float64)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    epoch_data = [epoch_pairs(corpus, window, sample, rng) for _ in range(epochs)]
    total_steps = sum(-(-len(p) // batch_size) for p in epoch_data)
    schedule = linear_decay(optimizer, (1 - LR_FLOOR) * total_steps, LR_FLOOR)  # slope lr / total_steps
    history = History()
    start = time.perf_counter()
    bar = tqdm(total=total_steps, desc="SGNS", disable=not show_progress(progress), leave=False)
    for pairs in epoch_data:
        pairs = torch.as_tensor(pairs)
        uniform = torch.rand(len(pairs) * negative, dtype=torch.float64) * noise_cdf[-1]
        negatives = torch.searchsorted(noise_cdf, uniform, right=True).clamp_(max=len(noise_cdf) - 1)
        negatives = negatives.view(-1, negative)
        total = 0.0
        for begin in range(0, len(pairs), batch_size):
            batch = pairs[begin : begin + batch_size]
            loss = model(batch[:, 0], batch[:, 1], negatives[begin : begin + batch_size]).sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item()
            bar.update()
        history.record(total / len(pairs))
        bar.set_postfix(loss=f"{history.loss[-1]:.3f}")
    bar.close()
    history.seconds = time.perf_counter() - start
    # rows 0 and 1 (padding, unknown) never occur in the corpus: leave them out
    return SGNSResult(model, model.vectors()[2:], corpus.words[2:], history)


# --------------------------------------------------------------------------- using and evaluating vectors


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Each row divided by its length (zero rows stay zero): ``(V, d)`` -> ``(V, d)``."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def nearest(vectors: np.ndarray, words: Sequence[str], word: str, topn: int = 5) -> list[tuple[str, float]]:
    """The ``topn`` words closest to ``word`` by cosine similarity, with their cosines.

    Args:
        vectors: ``(V, d)``; words: the ``V`` words, in row order.
    """
    index = {w: i for i, w in enumerate(words)}
    unit = unit_rows(vectors)
    sims = unit @ unit[index[word]]
    sims[index[word]] = -np.inf
    best = np.argsort(-sims, kind="stable")[:topn]
    return [(words[i], float(sims[i])) for i in best]


def analogy(vectors: np.ndarray, words: Sequence[str], a: str, b: str, c: str, topn: int = 1) -> list[str]:
    """``a : b :: c : ?``: the ``topn`` words closest by cosine to ``v_b - v_a + v_c``.

    The query words ``a``, ``b`` and ``c`` are never returned. Mikolov's 3CosAdd, as
    gensim's ``most_similar(positive=[b, c], negative=[a])``, is this function applied to
    :func:`unit_rows` of the vectors.

    Args:
        vectors: ``(V, d)``; words: the ``V`` words, in row order.
    Returns:
        ``topn`` words, best first (ties: lower row first).
    """
    index = {w: i for i, w in enumerate(words)}
    query = vectors[index[b]] - vectors[index[a]] + vectors[index[c]]
    sims = unit_rows(vectors) @ (query / np.linalg.norm(query))
    sims[[index[a], index[b], index[c]]] = -np.inf
    return [words[i] for i in np.argsort(-sims, kind="stable")[:topn]]


def wordsim_spearman(vectors: np.ndarray, words: Sequence[str],
                     pairs: Sequence[tuple[str, str, float]]) -> tuple[float, int]:
    """Spearman correlation between human scores and cosine similarities (WordSim-353, ...).

    Only the pairs whose two words are both in ``words`` are scored.

    Args:
        vectors: ``(V, d)``; pairs: ``(word1, word2, human score)``.
    Returns:
        ``(rho, n_covered)``.
    """
    from scipy.stats import spearmanr

    index = {w: i for i, w in enumerate(words)}
    covered = [(index[a], index[b], s) for a, b, s in pairs if a in index and b in index]
    if len(covered) < 2:
        return float("nan"), len(covered)
    unit = unit_rows(vectors)
    cosines = [float(unit[i] @ unit[j]) for i, j, _ in covered]
    return float(spearmanr([s for *_, s in covered], cosines).statistic), len(covered)


def analogy_accuracy(vectors: np.ndarray, words: Sequence[str],
                     questions: Sequence[tuple[str, str, str, str]],
                     batch_size: int = 512) -> tuple[float, int]:
    """Share of the questions ``a : b :: c : d`` whose :func:`analogy` answer (on unit
    vectors, i.e. 3CosAdd) is ``d``, among the questions whose four words are all in ``words``.

    Returns:
        ``(accuracy, n_covered)``; accuracy is nan when no question is covered.
    """
    index = {w: i for i, w in enumerate(words)}
    covered = np.array([[index[w] for w in q] for q in questions if all(w in index for w in q)],
                       dtype=np.int64).reshape(-1, 4)
    if len(covered) == 0:
        return float("nan"), 0
    unit = unit_rows(vectors)
    correct = 0
    for begin in range(0, len(covered), batch_size):
        q = covered[begin : begin + batch_size]
        query = unit_rows(unit[q[:, 1]] - unit[q[:, 0]] + unit[q[:, 2]])
        sims = query @ unit.T  # (Q, V)
        rows = np.arange(len(q))[:, None]
        sims[rows, q[:, :3]] = -np.inf
        correct += int((sims.argmax(axis=1) == q[:, 3]).sum())
    return correct / len(covered), len(covered)
