"""Exercise 7 (``07_bidirectional``): the references of its graded tasks, their cases and checks.

Chapter 7 prints the bidirectional layer, the BiLSTM character tagger for Chinese word
segmentation with the B/M/E/S tags (ids ``B = 0, M = 1, E = 2, S = 3``, the order of
``course_utils.models.tagger.TAGS``) and ``decode_bmes``, a Viterbi decoder under the
tags' grammar. The exercise puts a linear-chain CRF on top of the tagger's scores and
grades what the chapter does not code:

- ``crf_log_partition(emissions, transitions, start, end)``: the forward algorithm, the log
  of the CRF's partition function, in log space (stable for scores of ±1000, forbidden moves
  scored ``-inf``); enumeration of all ``K^T`` paths (small ``T``) or ``torch.logsumexp``
  (larger ``T``) is the oracle;
- ``crf_nll_and_grads(emissions, transitions, start, end, tags)``: a derivation, the
  negative log-likelihood of a gold tag sequence and its gradients (marginals from
  forward-backward minus the gold counts); autograd in float64 is the oracle; the student's
  ``crf_log_partition`` is a stub while it runs;
- ``context_gain(gold, fwd, bi)`` and ``context_verdict(gains)``: an experiment, the
  accuracy gain of a bidirectional tagger over a left-to-right one at word-initial and at
  word-final characters of multi-character words, and the verdict on it.

The CRF scores a tag sequence ``y`` (``T`` ids in ``0..K-1``) as::

    score(y) = start[y_0] + Σ_t emissions[t, y_t] + Σ_{t≥1} transitions[y_{t-1}, y_t] + end[y_{T-1}]

and ``log Z = log Σ_y exp score(y)``. Shapes: ``emissions`` ``(T, K)`` float64 (``T ≥ 1``),
``transitions`` ``(K, K)`` (``transitions[a, b]``: tag ``a`` followed by tag ``b``),
``start`` and ``end`` ``(K,)``, ``tags`` ``(T,)`` ints; ``gold``, ``fwd`` and ``bi`` ``(N,)``
tag ids over a corpus (sentences concatenated).
"""

from __future__ import annotations

import itertools

import numpy as np

from ..hidden import Task

ASSIGNMENT = "07_bidirectional"
B, M, E, S = range(4)  # course_utils.models.tagger.TAGS == "BMES"
VERDICTS = ("helps_word_starts", "helps_word_ends", "helps_both", "no_gain")
THRESHOLD = 0.02
GRAD_KEYS = ("emissions", "transitions", "start", "end")
NEG = -np.inf

#: the B/M/E/S grammar as CRF scores: 0 where allowed, -inf where forbidden
#: (B, M -> M, E; E, S -> B, S; a sentence starts with B or S and ends with E or S)
BMES_TRANSITIONS = np.array([[NEG, 0.0, 0.0, NEG], [NEG, 0.0, 0.0, NEG],
                             [0.0, NEG, NEG, 0.0], [0.0, NEG, NEG, 0.0]])
BMES_START = np.array([0.0, NEG, NEG, 0.0])
BMES_END = np.array([NEG, NEG, 0.0, 0.0])


# --------------------------------------------------------------------------- references


def _lse(x: np.ndarray, axis: int) -> np.ndarray:
    """``log Σ exp x`` along ``axis``, shifted by the maximum; ``-inf`` where every term is ``-inf``."""
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        return np.squeeze(m, axis=axis) + np.log(np.sum(np.exp(x - m), axis=axis))


def _alphas(emissions, transitions, start) -> np.ndarray:
    """``alpha[t, k]``: log of the summed exp-scores of every prefix ``y_0..y_t`` with ``y_t = k``."""
    T, K = emissions.shape
    alpha = np.empty((T, K))
    alpha[0] = start + emissions[0]
    for t in range(1, T):
        alpha[t] = _lse(alpha[t - 1][:, None] + transitions, axis=0) + emissions[t]
    return alpha


def crf_log_partition(emissions, transitions, start, end) -> float:
    """``log Z = log Σ_y exp score(y)`` by the forward algorithm in log space."""
    emissions, transitions, start, end = (np.asarray(a, dtype=np.float64) for a in (emissions, transitions, start, end))
    alpha = _alphas(emissions, transitions, start)
    return float(_lse(alpha[-1] + end, axis=0))


def crf_nll_and_grads(emissions, transitions, start, end, tags) -> tuple[float, dict]:
    """``(log Z - score(tags), grads)``: grads of the NLL w.r.t. emissions, transitions, start and
    end, each the expected counts under the CRF minus the gold sequence's counts."""
    emissions, transitions, start, end = (np.asarray(a, dtype=np.float64) for a in (emissions, transitions, start, end))
    y = np.asarray(tags, dtype=np.int64)
    T, K = emissions.shape
    log_z = crf_log_partition(emissions, transitions, start, end)
    alpha = _alphas(emissions, transitions, start)
    beta = np.empty((T, K))  # beta[t, k]: log of the summed exp-scores of every suffix after y_t = k
    beta[-1] = end
    for t in range(T - 2, -1, -1):
        beta[t] = _lse(transitions + (emissions[t + 1] + beta[t + 1])[None, :], axis=1)
    unary = np.exp(alpha + beta - log_z)  # (T, K): P(y_t = k)
    pair = np.exp(alpha[:-1, :, None] + transitions[None] + (emissions[1:] + beta[1:])[:, None, :] - log_z)
    gold = np.zeros((T, K))
    gold[np.arange(T), y] = 1.0
    gold_pairs = np.zeros((K, K))
    np.add.at(gold_pairs, (y[:-1], y[1:]), 1.0)
    score = start[y[0]] + emissions[np.arange(T), y].sum() + transitions[y[:-1], y[1:]].sum() + end[y[-1]]
    grads = {"emissions": unary - gold, "transitions": pair.sum(axis=0) - gold_pairs,
             "start": unary[0] - gold[0], "end": unary[-1] - gold[-1]}
    return float(log_z - score), grads


def context_gain(gold, fwd, bi) -> tuple[float, float]:
    """``(gain at word starts, gain at word ends)``: accuracy of ``bi`` minus accuracy of ``fwd``
    over the characters whose gold tag is B (first of a multi-character word), then E (last)."""
    gold, fwd, bi = (np.asarray(a) for a in (gold, fwd, bi))
    gains = []
    for tag in (B, E):
        where = gold == tag
        gains.append(float(np.mean(bi[where] == tag) - np.mean(fwd[where] == tag)))
    return gains[0], gains[1]


def context_verdict(gains) -> str:
    """``gains = (at starts, at ends)``; a gain counts when it is at least ``THRESHOLD``:
    'helps_both', 'helps_word_starts', 'helps_word_ends' or 'no_gain'."""
    starts, ends = gains[0] >= THRESHOLD, gains[1] >= THRESHOLD
    if starts and ends:
        return "helps_both"
    if starts:
        return "helps_word_starts"
    if ends:
        return "helps_word_ends"
    return "no_gain"


# --------------------------------------------------------------------------- visible cases


def _case(case_id: str, *args, **kwargs) -> dict:
    return {"id": case_id, "args": list(args), "kwargs": kwargs}


def _scores(rng, T, K, scale=1.0):
    """``emissions (T, K), transitions (K, K), start (K,), end (K,)`` standard normal times ``scale``."""
    return [scale * rng.normal(size=(T, K)), scale * rng.normal(size=(K, K)),
            scale * rng.normal(size=K), scale * rng.normal(size=K)]


def _bmes(rng, T, scale=1.0):
    """BMES scores: random emissions, the grammar's -inf plus random scores on allowed moves."""
    return [scale * rng.normal(size=(T, 4)), BMES_TRANSITIONS + 0.5 * rng.normal(size=(4, 4)),
            BMES_START + 0.5 * rng.normal(size=4), BMES_END + 0.5 * rng.normal(size=4)]


def _no_way_into(args, tag):
    """``args`` with the column ``tag`` of the transitions set to -inf: no tag may be followed by it."""
    args = list(args)
    args[1] = args[1].copy()
    args[1][:, tag] = NEG
    return args


def partition_visible() -> list[dict]:
    rng = np.random.default_rng(701)
    return [
        _case("one character (T = 1): no transition is used", *_scores(rng, 1, 4)),
        _case("two characters, transitions not symmetric", *_scores(rng, 2, 3)),
        _case("T = 6, K = 4", *_scores(rng, 6, 4)),
        _case("BMES grammar: forbidden moves score -inf", *_bmes(rng, 7)),
        _case("scores of ±1000 (exp overflows)", *_scores(rng, 5, 4, scale=1000.0)),
        _case("no tag may be followed by M (a column of -inf)", *_no_way_into(_scores(rng, 5, 4), M)),
    ]


def nll_visible() -> list[dict]:
    rng = np.random.default_rng(702)
    return [
        _case("one character (T = 1)", *_scores(rng, 1, 4), np.array([2])),
        _case("T = 5, K = 3", *_scores(rng, 5, 3), rng.integers(0, 3, size=5)),
        _case("BMES grammar with -inf, a well-formed gold sequence", *_bmes(rng, 8),
              np.array([B, E, S, B, M, E, B, E])),
        _case("a transition used three times by the gold sequence (M -> M)", *_scores(rng, 6, 4),
              np.array([B, M, M, M, M, E])),
        _case("scores of ±1000, the gold sequence is not the best one", *_scores(rng, 4, 4, scale=1000.0),
              rng.integers(0, 4, size=4)),
    ]


def _tags(rng, lengths):
    """Gold B/M/E/S ids of a text made of words of the given lengths."""
    out = []
    for n in lengths:
        out += [S] if n == 1 else [B] + [M] * (n - 2) + [E]
    return np.array(out)


def _predictions(rng, gold, p_start, p_end, p_other):
    """``gold`` with each tag kept with probability ``p_start`` at B, ``p_end`` at E, ``p_other``
    elsewhere, else replaced by a random other tag."""
    keep = np.select([gold == B, gold == E], [p_start, p_end], p_other)
    wrong = (gold + rng.integers(1, 4, size=gold.size)) % 4
    return np.where(rng.uniform(size=gold.size) < keep, gold, wrong)


def gain_visible() -> list[dict]:
    rng = np.random.default_rng(703)
    #            B  E  S  B  M  E  B  E  S
    gold = np.array([0, 2, 3, 0, 1, 2, 0, 2, 3])
    fwd = np.array([3, 2, 0, 0, 2, 2, 3, 1, 3])
    bi = np.array([0, 2, 3, 0, 2, 2, 0, 1, 0])
    singles = np.array([3, 3, 0, 2, 3, 0, 1, 2, 3, 3])
    long_gold = _tags(rng, rng.choice([1, 2, 2, 2, 3, 4], size=120))
    return [
        _case("nine characters: bi fixes two word starts", gold, fwd, bi),
        _case("single-character words (S) are neither starts nor ends", singles,
              np.array([0, 0, 0, 2, 3, 0, 1, 2, 0, 0]), np.array([3, 3, 0, 2, 3, 0, 1, 2, 3, 3])),
        _case("the same predictions: no gain", gold, fwd, fwd.copy()),
        _case("bi worse at word ends: a negative gain", gold, np.array([0, 2, 3, 0, 1, 2, 3, 2, 3]),
              np.array([0, 1, 3, 0, 1, 2, 0, 1, 3])),
        _case("a text of 120 words, noisy taggers", long_gold,
              _predictions(rng, long_gold, 0.7, 0.8, 0.8), _predictions(rng, long_gold, 0.9, 0.8, 0.85)),
    ]


def verdict_visible() -> list[dict]:
    return [
        _case("only the starts gain", (0.08, 0.0)),
        _case("only the ends gain", (0.01, 0.05)),
        _case("both gain", (0.03, 0.12)),
        _case("small gains on both sides", (0.015, 0.01)),
        _case("just above and just below 0.02", (0.021, 0.019)),
        _case("large losses are not gains", (-0.3, -0.05)),
    ]


# --------------------------------------------------------------------------- hidden cases (seeded, never released)


def partition_hidden() -> list[dict]:
    rng = np.random.default_rng(9701)
    return [
        _case("hidden: T = 1, K = 3", *_scores(rng, 1, 3)),
        _case("hidden: one tag (K = 1)", *_scores(rng, 4, 1)),
        _case("hidden: T = 7, K = 4", *_scores(rng, 7, 4, scale=2.0)),
        _case("hidden: BMES grammar, T = 6", *_bmes(rng, 6, scale=3.0)),
        _case("hidden: scores of ±3000", *_scores(rng, 6, 3, scale=3000.0)),
        _case("hidden: BMES with no way into E", *_no_way_into(_bmes(rng, 7), E)),
        _case("hidden: a long sentence (T = 60), BMES", *_bmes(rng, 60, scale=2.0)),
        _case("hidden: T = 40, K = 6", *_scores(rng, 40, 6)),
    ]


def nll_hidden() -> list[dict]:
    rng = np.random.default_rng(9702)
    long_gold = _tags(rng, [2, 1, 3, 2, 2, 4, 1, 2, 3, 2])
    return [
        _case("hidden: T = 1, K = 5", *_scores(rng, 1, 5), np.array([4])),
        _case("hidden: T = 7, K = 3", *_scores(rng, 7, 3), rng.integers(0, 3, size=7)),
        _case("hidden: two tags, one repeated", *_scores(rng, 5, 2), np.array([1, 1, 1, 0, 1])),
        _case("hidden: BMES, 22 characters", *_bmes(rng, long_gold.size, scale=2.0), long_gold),
        _case("hidden: scores of ±2000", *_scores(rng, 6, 4, scale=2000.0), rng.integers(0, 4, size=6)),
        _case("hidden: T = 30, K = 4", *_scores(rng, 30, 4), rng.integers(0, 4, size=30)),
    ]


def gain_hidden() -> list[dict]:
    rng = np.random.default_rng(9703)
    out = []
    for i, (p_fwd, p_bi) in enumerate([((0.7, 0.9), (0.95, 0.9)), ((0.8, 0.6), (0.8, 0.85)),
                                       ((0.9, 0.9), (0.85, 0.95)), ((0.5, 0.5), (0.5, 0.5))]):
        gold = _tags(rng, rng.choice([1, 1, 2, 2, 2, 3, 4, 5], size=200 + 50 * i))
        out.append(_case(f"hidden: {gold.size} characters, setting {i}", gold,
                         _predictions(rng, gold, *p_fwd, 0.8), _predictions(rng, gold, *p_bi, 0.8)))
    gold = _tags(rng, [2, 3])
    out.append(_case("hidden: two words", gold, np.array([3, 2, 0, 1, 1]), np.array([0, 1, 0, 1, 2])))
    return out


def verdict_hidden() -> list[dict]:
    return [
        _case("hidden: exactly 0.02 at the starts", (0.02, 0.0)),
        _case("hidden: exactly 0.02 at the ends", (-0.01, 0.02)),
        _case("hidden: both just above", (0.0201, 0.0201)),
        _case("hidden: both just below", (0.0199, 0.0199)),
        _case("hidden: a list", [0.2, 0.3]),
        _case("hidden: a loss at the starts, a gain at the ends", (-0.1, 0.04)),
        _case("hidden: a gain at the starts, a loss at the ends", (0.11, -0.2)),
    ]


# --------------------------------------------------------------------------- oracles beyond the reference


def _torch_score_parts(emissions, transitions, start, end):
    import torch

    return [torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)
            for a in (emissions, transitions, start, end)]


def _torch_log_z(em, tr, st, en):
    import torch

    alpha = st + em[0]
    for t in range(1, em.shape[0]):
        alpha = torch.logsumexp(alpha[:, None] + tr, dim=0) + em[t]
    return torch.logsumexp(alpha + en, dim=0)


def brute_log_partition(emissions, transitions, start, end) -> float:
    """``log Z`` by enumerating all ``K^T`` tag sequences (small ``T`` only)."""
    emissions, transitions, start, end = (np.asarray(a, dtype=np.float64) for a in (emissions, transitions, start, end))
    T, K = emissions.shape
    paths = np.array(list(itertools.product(range(K), repeat=T)))  # (K^T, T)
    scores = start[paths[:, 0]] + emissions[np.arange(T), paths].sum(axis=1) + end[paths[:, -1]]
    if T > 1:
        scores = scores + transitions[paths[:, :-1], paths[:, 1:]].sum(axis=1)
    return float(_lse(scores, axis=0))


def oracle_log_partition(emissions, transitions, start, end) -> float:
    """Enumeration when there are at most 20 000 paths, else the forward algorithm with ``torch.logsumexp``."""
    T, K = np.shape(emissions)
    if K ** T <= 20_000:
        return brute_log_partition(emissions, transitions, start, end)
    import torch

    with torch.no_grad():
        return float(_torch_log_z(*_torch_score_parts(emissions, transitions, start, end)))


def torch_nll_and_grads(emissions, transitions, start, end, tags) -> tuple[float, dict]:
    """The oracle of the derivation: the same NLL in torch (float64), differentiated by autograd."""
    import torch

    em, tr, st, en = _torch_score_parts(emissions, transitions, start, end)
    y = torch.as_tensor(np.asarray(tags, dtype=np.int64))
    score = st[y[0]] + em[torch.arange(len(y)), y].sum() + tr[y[:-1], y[1:]].sum() + en[y[-1]]
    nll = _torch_log_z(em, tr, st, en) - score
    grads = torch.autograd.grad(nll, [em, tr, st, en])
    return float(nll.detach()), {k: g.numpy() for k, g in zip(GRAD_KEYS, grads, strict=True)}


TASKS = {
    "crf_log_partition": Task("crf_log_partition", crf_log_partition, partition_visible, partition_hidden,
                              oracle=oracle_log_partition),
    "crf_nll_and_grads": Task("crf_nll_and_grads", crf_nll_and_grads, nll_visible, nll_hidden,
                              oracle=torch_nll_and_grads, helpers={"crf_log_partition": crf_log_partition},
                              derivation=True),
    "context_gain": Task("context_gain", context_gain, gain_visible, gain_hidden),
    "context_verdict": Task("context_verdict", context_verdict, verdict_visible, verdict_hidden),
}
