"""Exercise 2 (``02_word2vec``): the references of its graded tasks, their cases and checks.

Chapter 2 prints skip-gram's pairs, the skip-gram negative-sampling loss and gradients, the
unigram distribution, subsampling, the hierarchical-softmax probability of one word and the
PyTorch skip-gram model. The exercise grades what the chapter states in maths but does not
code:

- ``cbow_windows(token_ids, window)``: the CBOW view of a text, one row of ``2 window``
  context ids per position, ``-1`` where the window runs past the text's edges;
- ``cbow_ns_loss_and_grads(V_in, U_out, contexts, centers, negatives)``: a derivation, the
  loss of CBOW with negative sampling over a batch and its gradients with respect to both
  full tables (autograd is the oracle);
- ``hs_loss_and_grads(center, node_vectors, code, point)``: a derivation, ``-log`` of the
  chapter's ``hs_probability`` and its gradients (autograd is the oracle); code 0 is a left
  turn with probability ``σ(u·v)``, code 1 a right turn with ``σ(-u·v)``;
- ``frequency_cosine(vectors, counts, k)`` and ``frequency_verdict(measurements)``: an
  experiment, the mean pairwise cosine of the ``k`` most frequent and the ``k`` rarest seen
  words, and the verdict on it.

Shapes: ``token_ids`` ``(N,)`` ints; ``contexts`` ``(B, 2w)`` ints (``-1``: padding, every
row has at least one valid id), ``centers`` ``(B,)``, ``negatives`` ``(B, K)``; ``V_in`` and
``U_out`` ``(V, d)``; ``center`` ``(d,)``, ``node_vectors`` ``(V - 1, d)``, ``code`` and
``point`` ``(L,)``; ``vectors`` ``(V, d)``, ``counts`` ``(V,)``.
"""

from __future__ import annotations

import numpy as np

from ..hidden import Task

ASSIGNMENT = "02_word2vec"
VERDICTS = ("frequent_more_similar", "rare_more_similar", "about_equal")
MARGIN = 0.05


# --------------------------------------------------------------------------- references


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -x))


def cbow_windows(token_ids, window: int) -> tuple[np.ndarray, np.ndarray]:
    """``(contexts (N, 2 window), centers (N,))``: the ``window`` ids left of each position,
    then the ``window`` ids right of it, in text order; ``-1`` past the text's edges."""
    ids = np.asarray(token_ids, dtype=np.int64).reshape(-1)
    pad = np.full(window, -1, dtype=np.int64)
    padded = np.concatenate([pad, ids, pad])
    offsets = np.concatenate([np.arange(-window, 0), np.arange(1, window + 1)])
    contexts = padded[window + np.arange(len(ids))[:, None] + offsets]
    return contexts, ids.copy()


def cbow_ns_loss_and_grads(V_in, U_out, contexts, centers, negatives) -> tuple[float, np.ndarray, np.ndarray]:
    """Mean over the batch of ``-log σ(u_c·h) - Σ_k log σ(-u_{n_k}·h)``, ``h`` the mean of the
    valid context rows of ``V_in``; returns ``(loss, dV_in, dU_out)``, full-size gradients."""
    contexts, centers, negatives = (np.asarray(a, dtype=np.int64) for a in (contexts, centers, negatives))
    batch = len(centers)
    mask = contexts >= 0
    n_valid = mask.sum(axis=1, keepdims=True)
    rows, cols = np.nonzero(mask)
    h = np.zeros((batch, V_in.shape[1]))
    np.add.at(h, rows, V_in[contexts[rows, cols]])
    h = h / n_valid
    u_c, u_n = U_out[centers], U_out[negatives]  # (B, d), (B, K, d)
    pos = np.einsum("bd,bd->b", u_c, h)
    neg = np.einsum("bkd,bd->bk", u_n, h)
    loss = (np.logaddexp(0.0, -pos).sum() + np.logaddexp(0.0, neg).sum()) / batch
    g_pos = (_sigmoid(pos) - 1.0) / batch  # dL/d(u_c·h)
    g_neg = _sigmoid(neg) / batch  # dL/d(u_k·h)
    dh = g_pos[:, None] * u_c + np.einsum("bk,bkd->bd", g_neg, u_n)
    dU = np.zeros_like(U_out, dtype=np.float64)
    np.add.at(dU, centers, g_pos[:, None] * h)
    np.add.at(dU, negatives, g_neg[:, :, None] * h[:, None, :])
    dV = np.zeros_like(V_in, dtype=np.float64)
    np.add.at(dV, contexts[rows, cols], (dh / n_valid)[rows])
    return float(loss), dV, dU


def hs_loss_and_grads(center, node_vectors, code, point) -> tuple[float, np.ndarray, np.ndarray]:
    """``-log p(w | c) = -Σ_j log σ(s_j u_{n_j}·v)``, ``s_j = 1 - 2 code_j`` (code 0: left,
    +1), as in the chapter's ``hs_probability``; returns ``(loss, d_center, d_node_vectors)``."""
    signs = 1.0 - 2.0 * np.asarray(code, dtype=np.float64)
    point = np.asarray(point, dtype=np.int64)
    u = node_vectors[point]  # (L, d)
    x = signs * (u @ center)
    g = (_sigmoid(x) - 1.0) * signs  # dL/d(u_j·v)
    d_nodes = np.zeros_like(node_vectors, dtype=np.float64)
    np.add.at(d_nodes, point, g[:, None] * center)
    return float(np.logaddexp(0.0, -x).sum()), g @ u, d_nodes


def frequency_cosine(vectors, counts, k: int) -> tuple[float, float]:
    """``(frequent, rare)``: the mean cosine over the ``k(k-1)/2`` pairs of the ``k`` most
    frequent words, and of the ``k`` rarest words with a count above 0 (ties: smaller id first)."""
    counts = np.asarray(counts)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    frequent = np.argsort(-counts, kind="stable")[:k]
    seen = np.flatnonzero(counts > 0)
    rare = seen[np.argsort(counts[seen], kind="stable")[:k]]
    upper = np.triu_indices(k, 1)

    def mean_pair_cosine(ids):
        return float((unit[ids] @ unit[ids].T)[upper].mean())

    return mean_pair_cosine(frequent), mean_pair_cosine(rare)


def frequency_verdict(measurements) -> str:
    """``measurements = (frequent, rare)``: 'frequent_more_similar' if frequent > rare + 0.05,
    'rare_more_similar' if rare > frequent + 0.05, else 'about_equal'."""
    frequent, rare = measurements
    if frequent > rare + MARGIN:
        return "frequent_more_similar"
    if rare > frequent + MARGIN:
        return "rare_more_similar"
    return "about_equal"


# --------------------------------------------------------------------------- visible cases


def _case(case_id: str, *args, **kwargs) -> dict:
    return {"id": case_id, "args": list(args), "kwargs": kwargs}


def windows_visible() -> list[dict]:
    return [
        _case("six words, window 2", np.array([10, 11, 12, 13, 14, 15]), 2),
        _case("window 1, a word repeated", np.array([7, 3, 7, 9]), 1),
        _case("window larger than the text", np.array([4, 5, 6]), 5),
        _case("one word: every context id is padding", np.array([42]), 2),
        _case("an empty text", np.array([], dtype=np.int64), 3),
        _case("a Python list with the id 0", [0, 8, 0, 2, 5], 3),
    ]


def _tables(rng, vocab: int, dim: int, scale: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    return scale * rng.normal(size=(vocab, dim)), scale * rng.normal(size=(vocab, dim))


def cbow_visible() -> list[dict]:
    rng = np.random.default_rng(201)
    cases = []
    V_in, U_out = _tables(rng, 5, 3)
    cases.append(_case("one example, two context words", V_in, U_out, np.array([[1, 3]]), np.array([2]),
                       np.array([[0, 4]])))
    V_in, U_out = _tables(rng, 7, 4)
    contexts = np.array([[-1, -1, 3, 5], [-1, 2, 5, 1], [4, 2, 1, -1], [2, 5, -1, -1]])
    cases.append(_case("padding at the edges (-1 is not a word)", V_in, U_out, contexts, np.array([2, 3, 5, 1]),
                       np.array([[0, 6], [4, 0], [6, 3], [0, 4]])))
    V_in, U_out = _tables(rng, 6, 3)
    contexts = np.array([[1, 1, 4, -1], [-1, 2, 1, 1], [-1, -1, -1, 3]])
    cases.append(_case("repeated ids, a negative equal to the centre, one valid context", V_in, U_out, contexts,
                       np.array([2, 4, 2]), np.array([[2, 5, 5], [0, 4, 2], [1, 1, 5]])))
    V_in, U_out = _tables(rng, 12, 5)
    cases.append(_case("a batch of 8, window 2, K = 3", V_in, U_out, rng.integers(0, 12, size=(8, 4)),
                       rng.integers(0, 12, size=8), rng.integers(0, 12, size=(8, 3))))
    V_in, U_out = _tables(rng, 4, 2, scale=20.0)
    V_in[1], U_out[2], U_out[3] = [20.0, 20.0], [-20.0, -20.0], [20.0, 20.0]
    cases.append(_case("scores of ±800 (the loss stays finite)", V_in, U_out, np.array([[1, -1]]), np.array([2]),
                       np.array([[3, 3]])))
    return cases


#: the Huffman tree of the counts [50, 20, 10, 8, 5, 3, 2, 1] (``huffman_codes`` of Chapter 2)
_CODES = {0: [1], 3: [0, 1, 1, 0], 6: [0, 1, 0, 1, 1, 1]}
_POINTS = {0: [6], 3: [6, 5, 4, 3], 6: [6, 5, 4, 2, 1, 0]}


def _path(word: int) -> tuple[np.ndarray, np.ndarray]:
    return np.array(_CODES[word], dtype=np.int8), np.array(_POINTS[word], dtype=np.int64)


def hs_visible() -> list[dict]:
    rng = np.random.default_rng(202)
    nodes1 = rng.normal(size=(1, 3))
    v = rng.normal(size=3)
    nodes = rng.normal(size=(7, 4))
    return [
        _case("two words: one node, a left turn (code 0)", v, nodes1, np.array([0], dtype=np.int8),
              np.array([0])),
        _case("two words: one node, a right turn (code 1)", v, nodes1, np.array([1], dtype=np.int8),
              np.array([0])),
        _case("a frequent word: path of length 1 in a tree of 7 nodes", rng.normal(size=4), nodes, *_path(0)),
        _case("a path of 4 nodes, mixed turns", rng.normal(size=4), nodes, *_path(3)),
        _case("a rare word: path of 6 nodes", rng.normal(size=4), nodes, *_path(6)),
        _case("scores of ±900 (the loss stays finite)", np.array([30.0, -30.0]),
              np.array([[15.0, -15.0], [-15.0, 15.0], [1.0, 2.0]]), np.array([1, 0, 0], dtype=np.int8),
              np.array([0, 1, 2])),
    ]


def cosine_visible() -> list[dict]:
    rng = np.random.default_rng(203)
    angles = np.array([0.0, 0.1, 0.2, 1.5, 3.0, 4.5])
    circle = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    scaled = circle * np.array([[1.0], [5.0], [0.2], [3.0], [0.5], [8.0]])
    counts = np.array([40, 30, 20, 3, 2, 1])
    with_zeros = rng.normal(size=(8, 3))
    return [
        _case("six words on a circle, k = 3", circle, counts, 3),
        _case("vectors of different lengths (cosine, not dot product)", scaled, counts, 3),
        _case("unseen words (count 0) are not rare", with_zeros, np.array([9, 0, 7, 1, 0, 3, 2, 0]), 3),
        _case("ties in the counts go to the smaller id", rng.normal(size=(7, 4)), np.array([5, 9, 5, 5, 1, 9, 1]),
              3),
        _case("k = 2: a single pair each", rng.normal(size=(5, 3)), np.array([3, 8, 1, 6, 2]), 2),
        _case("30 words, d = 8, k = 6", rng.normal(size=(30, 8)), rng.integers(0, 50, size=30), 6),
    ]


def verdict_visible() -> list[dict]:
    return [
        _case("frequent words far more alike", (0.62, 0.31)),
        _case("rare words far more alike", (0.43, 0.88)),
        _case("nearly the same", (0.40, 0.42)),
        _case("frequent ahead by 0.06", (0.56, 0.50)),
        _case("rare ahead by 0.04", (-0.10, -0.06)),
        _case("rare ahead by 0.06, negative cosines", (-0.12, -0.06)),
    ]


# --------------------------------------------------------------------------- hidden cases (seeded, never released)


def windows_hidden() -> list[dict]:
    rng = np.random.default_rng(9201)
    return [
        _case("hidden: 20 words, window 3", rng.integers(0, 30, size=20), 3),
        _case("hidden: window 4 on 4 words", rng.integers(0, 9, size=4), 4),
        _case("hidden: one word, window 1", np.array([0]), 1),
        _case("hidden: two words, window 2", np.array([5, 0]), 2),
        _case("hidden: empty, window 1", np.array([], dtype=np.int64), 1),
        _case("hidden: list, window 5", [int(i) for i in rng.integers(0, 4, size=9)], 5),
    ]


def _cbow_batch(rng, vocab: int, dim: int, batch: int, window: int, k: int, scale: float = 0.5) -> tuple:
    V_in, U_out = _tables(rng, vocab, dim, scale)
    text = rng.integers(0, vocab, size=batch)
    contexts, centers = cbow_windows(text, window)
    return V_in, U_out, contexts, centers, rng.integers(0, vocab, size=(batch, k))


def cbow_hidden() -> list[dict]:
    rng = np.random.default_rng(9202)
    return [
        _case("hidden: a text of 9 words, window 2", *_cbow_batch(rng, 6, 4, 9, 2, 3)),
        _case("hidden: a text of 3 words, window 4", *_cbow_batch(rng, 5, 3, 3, 4, 2)),
        _case("hidden: vocabulary 3, many repeats", *_cbow_batch(rng, 3, 2, 12, 3, 5)),
        _case("hidden: 30 words, d = 10", *_cbow_batch(rng, 40, 10, 30, 5, 5)),
        _case("hidden: large scores", *_cbow_batch(rng, 5, 4, 6, 1, 2, scale=40.0)),
    ]


def hs_hidden() -> list[dict]:
    from course_utils.models.word2vec import huffman_codes

    rng = np.random.default_rng(9203)
    counts = rng.integers(1, 1000, size=40)
    codes, points = huffman_codes(counts)
    nodes = rng.normal(size=(39, 6))
    cases = [_case(f"hidden: word {w} of 40", rng.normal(size=6), nodes, codes[w], points[w])
             for w in (int(np.argmax(counts)), int(np.argmin(counts)), 17)]
    cases.append(_case("hidden: one node, code 1, d = 5", rng.normal(size=5), rng.normal(size=(1, 5)),
                       np.array([1], dtype=np.int8), np.array([0])))
    cases.append(_case("hidden: large scores", 20 * rng.normal(size=6), 20 * nodes, codes[3], points[3]))
    return cases


def cosine_hidden() -> list[dict]:
    rng = np.random.default_rng(9204)
    counts = rng.integers(0, 6, size=25)
    return [
        _case("hidden: 50 words, k = 10", rng.normal(size=(50, 12)), rng.integers(1, 500, size=50), 10),
        _case("hidden: many ties and zeros", rng.normal(size=(25, 5)), counts, 4),
        _case("hidden: scaled vectors", rng.normal(size=(12, 3)) * rng.uniform(0.1, 10, size=(12, 1)),
              rng.integers(1, 20, size=12), 5),
        _case("hidden: overlapping sets", rng.normal(size=(6, 4)), np.array([4, 0, 7, 2, 9, 3]), 4),
        _case("hidden: a shared direction in the frequent words",
              np.vstack([np.ones((5, 4)) + 0.3 * rng.normal(size=(5, 4)), rng.normal(size=(15, 4))]),
              np.concatenate([np.arange(100, 95, -1), rng.integers(1, 20, size=15)]), 5),
    ]


def verdict_hidden() -> list[dict]:
    return [
        _case("hidden: frequent ahead by 0.051", (0.351, 0.30)),
        _case("hidden: frequent ahead by 0.049", (0.349, 0.30)),
        _case("hidden: rare ahead by 0.051", (0.20, 0.251)),
        _case("hidden: rare ahead by 0.049", (0.20, 0.249)),
        _case("hidden: far apart", (0.9, 0.1)),
        _case("hidden: equal", (0.5, 0.5)),
    ]


# --------------------------------------------------------------------------- oracles beyond the reference


def torch_cbow(V_in, U_out, contexts, centers, negatives) -> tuple[float, np.ndarray, np.ndarray]:
    """The oracle of the derivation: the CBOW loss written in torch, differentiated by autograd."""
    import torch
    import torch.nn.functional as F

    V = torch.tensor(V_in, dtype=torch.float64, requires_grad=True)
    U = torch.tensor(U_out, dtype=torch.float64, requires_grad=True)
    ctx = torch.as_tensor(np.asarray(contexts, dtype=np.int64))
    mask = (ctx >= 0).to(torch.float64)
    h = (F.embedding(ctx.clamp(min=0), V) * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
    u_c = F.embedding(torch.as_tensor(np.asarray(centers, dtype=np.int64)), U)
    u_n = F.embedding(torch.as_tensor(np.asarray(negatives, dtype=np.int64)), U)
    pos = (u_c * h).sum(-1)
    neg = torch.bmm(u_n, h[:, :, None]).squeeze(-1)
    loss = (-F.logsigmoid(pos) - F.logsigmoid(-neg).sum(-1)).mean()
    dV, dU = torch.autograd.grad(loss, (V, U))
    return float(loss.detach()), dV.numpy(), dU.numpy()


def torch_hs(center, node_vectors, code, point) -> tuple[float, np.ndarray, np.ndarray]:
    """The oracle of the derivation: ``-log`` of the path probability in torch, and autograd."""
    import torch
    import torch.nn.functional as F

    v = torch.tensor(center, dtype=torch.float64, requires_grad=True)
    nodes = torch.tensor(node_vectors, dtype=torch.float64, requires_grad=True)
    signs = 1.0 - 2.0 * torch.as_tensor(np.asarray(code, dtype=np.float64))
    scores = nodes[torch.as_tensor(np.asarray(point, dtype=np.int64))] @ v
    loss = -F.logsigmoid(signs * scores).sum()
    dv, dnodes = torch.autograd.grad(loss, (v, nodes))
    return float(loss.detach()), dv.numpy(), dnodes.numpy()


TASKS = {
    "cbow_windows": Task("cbow_windows", cbow_windows, windows_visible, windows_hidden),
    "cbow_ns_loss_and_grads": Task("cbow_ns_loss_and_grads", cbow_ns_loss_and_grads, cbow_visible, cbow_hidden,
                                   oracle=torch_cbow, derivation=True),
    "hs_loss_and_grads": Task("hs_loss_and_grads", hs_loss_and_grads, hs_visible, hs_hidden, oracle=torch_hs,
                              derivation=True),
    "frequency_cosine": Task("frequency_cosine", frequency_cosine, cosine_visible, cosine_hidden),
    "frequency_verdict": Task("frequency_verdict", frequency_verdict, verdict_visible, verdict_hidden),
}
