"""Plausible wrong answers to exercise 02_word2vec, and the test cells that must catch them.

Each mutant redefines one graded function (``task``) with ``code``. ``check`` runs it
against the notebook's test cells: every cell in ``caught_by`` must then fail, and when
``named_by`` is set, that cell's *visible* test must print ``diagnosis`` (recognised from
the outputs recorded in ``expected.json``). The file lives outside ``solutions/`` because
every file there is released to students; ``expected.json`` holds only each mutant's
outputs on the visible cases and its diagnosis, never this code.
"""

from course_utils.instructor.catalogue import mutant as _mutant

_WINDOWS = '''def cbow_windows(token_ids, window):
    ids = np.asarray(token_ids, dtype=np.int64).reshape(-1)
    n = len(ids)
'''

# the correct CBOW forward pass; mutants replace one line or the end
_CBOW = '''def cbow_ns_loss_and_grads(V_in, U_out, contexts, centers, negatives):
    contexts, centers, negatives = np.asarray(contexts), np.asarray(centers), np.asarray(negatives)
    B = len(centers)
    mask = contexts >= 0
    m = mask.sum(axis=1, keepdims=True)
    h = (V_in[np.where(mask, contexts, 0)] * mask[:, :, None]).sum(axis=1) / m
    u_c, u_n = U_out[centers], U_out[negatives]
    pos = (u_c * h).sum(-1)
    neg = np.einsum("bkd,bd->bk", u_n, h)
    sig = lambda x: np.exp(-np.logaddexp(0, -x))
    loss = float((np.logaddexp(0, -pos).sum() + np.logaddexp(0, neg).sum()) / B)
    g_pos = (sig(pos) - 1) / B
    g_neg = sig(neg) / B
'''
_CBOW_BACK = '''    dh = g_pos[:, None] * u_c + np.einsum("bk,bkd->bd", g_neg, u_n)
    dU = np.zeros_like(U_out)
    np.add.at(dU, centers, g_pos[:, None] * h)
    np.add.at(dU, negatives, g_neg[:, :, None] * h[:, None, :])
    dV = np.zeros_like(V_in)
    rows, cols = np.nonzero(mask)
    np.add.at(dV, contexts[rows, cols], (dh / m)[rows])
    return loss, dV, dU
'''

_HS = '''def hs_loss_and_grads(center, node_vectors, code, point):
    s = 1.0 - 2.0 * np.asarray(code, dtype=float)
    point = np.asarray(point)
    u = node_vectors[point]
    x = s * (u @ center)
    sig = np.exp(-np.logaddexp(0, -x))
'''
_HS_NODES = '''    d_nodes = np.zeros_like(node_vectors)
    np.add.at(d_nodes, point, g[:, None] * center)
'''

_COSINE = '''def frequency_cosine(vectors, counts, k):
    counts = np.asarray(counts)
'''
_UNIT = "    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)\n"
_FREQUENT = '    frequent = np.argsort(-counts, kind="stable")[:k]\n'
_RARE = '''    seen = np.flatnonzero(counts > 0)
    rare = seen[np.argsort(counts[seen], kind="stable")[:k]]
'''
_PAIRS = '''    def mean_pairs(ids):
        c = unit[ids] @ unit[ids].T
        return float(c[np.triu_indices(k, 1)].mean())
'''
_RETURN = "    return mean_pairs(frequent), mean_pairs(rare)\n"

_VERDICT = "def frequency_verdict(measurements):\n    frequent, rare = measurements\n"


MUTANTS = [
    # ---- cbow_windows
    _mutant("cbow_windows", "padding with 0",
            _WINDOWS + "    padded = np.concatenate([np.zeros(window, np.int64), ids, np.zeros(window, np.int64)])\n"
            "    offsets = np.r_[np.arange(-window, 0), np.arange(1, window + 1)]\n"
            "    return padded[window + np.arange(n)[:, None] + offsets], ids\n",
            "Pad with -1, not 0: the id 0 is a real word."),
    _mutant("cbow_windows", "centre kept in the context",
            _WINDOWS + "    padded = np.concatenate([np.full(window, -1), ids, np.full(window, -1)])\n"
            "    offsets = np.arange(-window, window + 1)\n"
            "    return padded[window + np.arange(n)[:, None] + offsets], ids\n",
            "The centre word is not part of its own context: 2·window columns, offset 0 left out."),
    _mutant("cbow_windows", "left context nearest first",
            _WINDOWS + "    padded = np.concatenate([np.full(window, -1), ids, np.full(window, -1)])\n"
            "    offsets = np.r_[np.arange(-1, -window - 1, -1), np.arange(1, window + 1)]\n"
            "    return padded[window + np.arange(n)[:, None] + offsets], ids\n",
            "The left context runs in text order, from position i - window to i - 1."),
    _mutant("cbow_windows", "wrapping around the text",
            _WINDOWS + "    offsets = np.r_[np.arange(-window, 0), np.arange(1, window + 1)]\n"
            "    return ids[(np.arange(n)[:, None] + offsets) % max(n, 1)], ids\n",
            "The window wraps around the text: past its edges the context is -1 (padding)."),
    _mutant("cbow_windows", "only full windows",
            _WINDOWS + "    offsets = np.r_[np.arange(-window, 0), np.arange(1, window + 1)]\n"
            "    centres = np.arange(window, n - window)\n"
            "    return ids[centres[:, None] + offsets].reshape(-1, 2 * window), ids[centres]\n",
            "Every position is a centre, also near the edges: pad the missing context with -1."),
    _mutant("cbow_windows", "right context starts at the centre",
            _WINDOWS + "    padded = np.concatenate([np.full(window, -1), ids, np.full(window, -1)])\n"
            "    offsets = np.r_[np.arange(-window, 0), np.arange(0, window)]\n"
            "    return padded[window + np.arange(n)[:, None] + offsets], ids\n",
            "The right context is positions i + 1 .. i + window: it starts after the centre."),
    # ---- cbow_ns_loss_and_grads
    _mutant("cbow_ns_loss_and_grads", "padding not masked",
            _CBOW.replace("h = (V_in[np.where(mask, contexts, 0)] * mask[:, :, None]).sum(axis=1) / m",
                          "h = V_in[contexts].mean(axis=1)")
            + _CBOW_BACK.replace("    rows, cols = np.nonzero(mask)\n"
                                 "    np.add.at(dV, contexts[rows, cols], (dh / m)[rows])",
                                 "    np.add.at(dV, contexts, (dh / contexts.shape[1])[:, None, :])"),
            "-1 is padding, not V_in[-1] (the last word): average the valid context vectors only."),
    _mutant("cbow_ns_loss_and_grads", "mean over all 2w positions",
            _CBOW.replace("sum(axis=1) / m", "sum(axis=1) / contexts.shape[1]")
            + _CBOW_BACK.replace("(dh / m)[rows]", "(dh / contexts.shape[1])[rows]"),
            "h is the mean over the valid context words: divide by their number, not by 2w."),
    _mutant("cbow_ns_loss_and_grads", "sum of the context vectors",
            _CBOW.replace("sum(axis=1) / m", "sum(axis=1)") + _CBOW_BACK.replace("(dh / m)[rows]", "dh[rows]"),
            "h is the mean of the context vectors, not their sum."),
    _mutant("cbow_ns_loss_and_grads", "context gradient not divided by the count",
            _CBOW + _CBOW_BACK.replace("(dh / m)[rows]", "dh[rows]"),
            "h is a mean: each valid context word receives dL/dh divided by the row's number of them."),
    _mutant("cbow_ns_loss_and_grads", "repeated ids overwritten",
            _CBOW + '''    dh = g_pos[:, None] * u_c + np.einsum("bk,bkd->bd", g_neg, u_n)
    dU = np.zeros_like(U_out)
    dU[centers] += g_pos[:, None] * h
    dU[negatives] += g_neg[:, :, None] * h[:, None, :]
    dV = np.zeros_like(V_in)
    rows, cols = np.nonzero(mask)
    dV[contexts[rows, cols]] += (dh / m)[rows]
    return loss, dV, dU
''',
            "dU[ids] += g keeps one update per repeated id: accumulate with np.add.at."),
    _mutant("cbow_ns_loss_and_grads", "summed over the batch",
            _CBOW.replace("/ B)", ")").replace("/ B\n", "\n") + _CBOW_BACK,
            "The loss is the mean over the batch: divide the loss and every gradient by B."),
    _mutant("cbow_ns_loss_and_grads", "negatives with sigma(x) - 1",
            _CBOW.replace("g_neg = sig(neg) / B", "g_neg = (sig(neg) - 1) / B") + _CBOW_BACK,
            "d/dx[-log σ(-x)] = σ(x): a negative's factor is σ(u_k·h), not σ(u_k·h) - 1."),
    _mutant("cbow_ns_loss_and_grads", "log of the sigmoid (CBOW)",
            _CBOW.replace("loss = float((np.logaddexp(0, -pos).sum() + np.logaddexp(0, neg).sum()) / B)",
                          "loss = float(-(np.log(1 / (1 + np.exp(-pos))).sum()"
                          " + np.log(1 / (1 + np.exp(neg))).sum()) / B)") + _CBOW_BACK,
            "np.log(σ(x)) is -inf once σ underflows: write -log σ(x) as np.logaddexp(0, -x)."),
    # ---- hs_loss_and_grads
    _mutant("hs_loss_and_grads", "sign convention reversed",
            _HS.replace("s = 1.0 - 2.0 *", "s = -1.0 + 2.0 *")
            + "    g = (sig - 1) * s\n" + _HS_NODES + "    return float(np.logaddexp(0, -x).sum()), g @ u, d_nodes\n",
            "Code 0 is a left turn, σ(+u·v), as in hs_probability: the sign is 1 - 2·code."),
    _mutant("hs_loss_and_grads", "node gradient without the sign",
            _HS + "    g = (sig - 1) * s\n" + _HS_NODES.replace("g[:, None]", "(sig - 1)[:, None]")
            + "    return float(np.logaddexp(0, -x).sum()), g @ u, d_nodes\n",
            "x = s·u·v, so dL/du carries the sign s too: (σ(x) - 1)·s·v."),
    _mutant("hs_loss_and_grads", "sigma(x) instead of sigma(x) - 1",
            _HS + "    g = sig * s\n" + _HS_NODES + "    return float(np.logaddexp(0, -x).sum()), g @ u, d_nodes\n",
            "d/dx[-log σ(x)] = σ(x) - 1, not σ(x)."),
    _mutant("hs_loss_and_grads", "only the path's rows",
            _HS + "    g = (sig - 1) * s\n"
            + "    return float(np.logaddexp(0, -x).sum()), g @ u, g[:, None] * center\n",
            "Return d_node_vectors with the shape of node_vectors, zero off the path."),
    _mutant("hs_loss_and_grads", "mean over the path",
            _HS + "    g = (sig - 1) * s / len(s)\n" + _HS_NODES
            + "    return float(np.logaddexp(0, -x).mean()), g @ u, d_nodes\n",
            "p(w | c) is a product over the path: its -log is a sum over the nodes, not a mean."),
    _mutant("hs_loss_and_grads", "log of the sigmoid (path)",
            _HS + "    g = (sig - 1) * s\n" + _HS_NODES
            + "    return float(-np.log(1 / (1 + np.exp(-x))).sum()), g @ u, d_nodes\n",
            "np.log(σ(x)) is -inf once σ underflows: write -log σ(x) as np.logaddexp(0, -x)."),
    # ---- frequency_cosine
    _mutant("frequency_cosine", "self-pairs included",
            _COSINE + _UNIT + _FREQUENT + _RARE
            + "    return float((unit[frequent] @ unit[frequent].T).mean()),"
              " float((unit[rare] @ unit[rare].T).mean())\n",
            "Leave out each word's cosine with itself (always 1): average over the pairs i < j."),
    _mutant("frequency_cosine", "dot products, not cosines",
            _COSINE + "    unit = np.asarray(vectors, dtype=float)\n" + _FREQUENT + _RARE + _PAIRS + _RETURN,
            "Normalise the vectors first: a cosine does not depend on a vector's length."),
    _mutant("frequency_cosine", "columns normalised",
            _COSINE + "    unit = vectors / np.linalg.norm(vectors, axis=0, keepdims=True)\n" + _FREQUENT + _RARE
            + _PAIRS + _RETURN,
            "Normalise each word's vector (a row, axis=1), not each dimension (a column)."),
    _mutant("frequency_cosine", "unseen words counted as rare",
            _COSINE + _UNIT + _FREQUENT + '    rare = np.argsort(counts, kind="stable")[:k]\n' + _PAIRS + _RETURN,
            "A word with count 0 does not occur: take the k rarest among the counts above 0."),
    _mutant("frequency_cosine", "(rare, frequent)",
            _COSINE + _UNIT + _FREQUENT + _RARE + _PAIRS + "    return mean_pairs(rare), mean_pairs(frequent)\n",
            "Return the tuple (frequent, rare), in that order."),
    _mutant("frequency_cosine", "ties to the larger id",
            _COSINE + _UNIT + '    frequent = np.argsort(counts, kind="stable")[::-1][:k]\n' + _RARE + _PAIRS
            + _RETURN,
            "Break ties in the counts by the smaller id: sort -counts with kind='stable'."),
    # ---- frequency_verdict
    _mutant("frequency_verdict", "labels swapped",
            _VERDICT + "    if frequent > rare + 0.05:\n        return 'rare_more_similar'\n"
            "    if rare > frequent + 0.05:\n        return 'frequent_more_similar'\n    return 'about_equal'\n",
            "The labels are swapped: 'frequent_more_similar' means the frequent words' cosine is higher."),
    _mutant("frequency_verdict", "no margin",
            _VERDICT + "    if frequent > rare:\n        return 'frequent_more_similar'\n"
            "    if rare > frequent:\n        return 'rare_more_similar'\n    return 'about_equal'\n",
            "Differences of at most 0.05 are 'about_equal': compare with a margin of 0.05."),
    _mutant("frequency_verdict", "margin of 5 per cent",
            _VERDICT + "    if frequent > rare * 1.05:\n        return 'frequent_more_similar'\n"
            "    if rare > frequent * 1.05:\n        return 'rare_more_similar'\n    return 'about_equal'\n",
            "The margin is a difference of 0.05 in cosine, not a ratio of 5%.", named=False),
]
