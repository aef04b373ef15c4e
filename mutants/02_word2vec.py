"""Plausible wrong answers to exercise 02_word2vec, and the test cells that must catch them.

Each mutant's ``code`` runs in the kernel after the solution notebook, redefining one
function; every test cell named in ``caught_by`` must then fail. This file lives under
``tests/`` because every file in ``solutions/02_word2vec/`` is released to students.
"""

_SGNS_HEAD = '''
def sgns_loss_and_grads(center, context, negatives):
    def sigmoid(x):
        return 1.0 / (1.0 + np.exp(-x))
    pos = context @ center
    neg = negatives @ center
    g_pos = sigmoid(pos) - 1.0
    g_neg = sigmoid(neg)
'''

_LOSS = "    loss = float(-np.log(sigmoid(pos)) - np.sum(np.log(sigmoid(-neg))))\n"


def _sgns(body: str, loss: str = _LOSS) -> str:
    return _SGNS_HEAD + loss + body


_ANALOGY_HEAD = '''
def analogy(vectors, words, a, b, c, topn=1):
    index = {w: i for i, w in enumerate(words)}
'''

MUTANTS = [
    {
        "name": "window that includes the centre itself (|i - j| <= window)",
        "code": '''
def skipgram_pairs(token_ids, window):
    ids = np.asarray(token_ids, dtype=np.int64)
    pairs = [(ids[i], ids[j]) for i in range(len(ids))
             for j in range(max(0, i - window), min(len(ids), i + window + 1))]
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)
''',
        "caught_by": ["test_skipgram_pairs"],
    },
    {
        "name": "window one short (range(i - window + 1, i + window))",
        "code": '''
def skipgram_pairs(token_ids, window):
    ids = np.asarray(token_ids, dtype=np.int64)
    pairs = [(ids[i], ids[j]) for i in range(len(ids))
             for j in range(max(0, i - window + 1), min(len(ids), i + window)) if j != i]
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)
''',
        "caught_by": ["test_skipgram_pairs"],
    },
    {
        "name": "pairs grouped by offset rather than by centre position",
        "code": '''
def skipgram_pairs(token_ids, window):
    ids = np.asarray(token_ids, dtype=np.int64)
    pairs = [(ids[i], ids[i + o]) for o in list(range(-window, 0)) + list(range(1, window + 1))
             for i in range(len(ids)) if 0 <= i + o < len(ids)]
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)
''',
        "caught_by": ["test_skipgram_pairs"],
    },
    {
        "name": "short sequences give an array of shape (0,) instead of (0, 2)",
        "code": '''
def skipgram_pairs(token_ids, window):
    ids = np.asarray(token_ids, dtype=np.int64)
    pairs = [(ids[i], ids[j]) for i in range(len(ids))
             for j in range(max(0, i - window), min(len(ids), i + window + 1)) if j != i]
    return np.array(pairs, dtype=np.int64)
''',
        "caught_by": ["test_skipgram_pairs"],
    },
    {
        "name": "power applied after normalising the counts",
        "code": '''
def unigram_distribution(counts, power=0.75):
    counts = np.asarray(counts, dtype=float)
    return (counts / counts.sum()) ** power
''',
        "caught_by": ["test_unigram_distribution"],
    },
    {
        "name": "the power 3/4 hard-coded (ignores the argument)",
        "code": '''
def unigram_distribution(counts, power=0.75):
    weights = np.asarray(counts, dtype=float) ** 0.75
    return weights / weights.sum()
''',
        "caught_by": ["test_unigram_distribution"],
    },
    {
        "name": "plain frequencies, no power",
        "code": '''
def unigram_distribution(counts, power=0.75):
    counts = np.asarray(counts, dtype=float)
    return counts / counts.sum()
''',
        "caught_by": ["test_unigram_distribution"],
    },
    {
        "name": "sign error on the negative term: log sigmoid(+u_k . v_c)",
        "code": _sgns('''
    return loss, g_pos * context + g_neg @ negatives, g_pos * center, np.outer(g_neg, center)
''', "    loss = float(-np.log(sigmoid(pos)) - np.sum(np.log(sigmoid(neg))))\n"),
        "caught_by": ["test_sgns_loss"],
    },
    {
        "name": "negatives averaged instead of summed in the loss",
        "code": _sgns('''
    return loss, g_pos * context + g_neg @ negatives, g_pos * center, np.outer(g_neg, center)
''', "    loss = float(-np.log(sigmoid(pos)) - np.mean(np.log(sigmoid(-neg))))\n"),
        "caught_by": ["test_sgns_loss"],
    },
    {
        "name": "centre gradient without the negatives' part",
        "code": _sgns('''
    return loss, g_pos * context, g_pos * center, np.outer(g_neg, center)
'''),
        "caught_by": ["test_sgns_grads"],
    },
    {
        "name": "gradients with sigma(x) where sigma(x) - 1 belongs (positive pair)",
        "code": _sgns('''
    g = sigmoid(pos)
    return loss, g * context + g_neg @ negatives, g * center, np.outer(g_neg, center)
'''),
        "caught_by": ["test_sgns_grads"],
    },
    {
        "name": "negative gradients with 1 - sigma(x) (sign of the negative term)",
        "code": _sgns('''
    h = 1.0 - g_neg
    return loss, g_pos * context + h @ negatives, g_pos * center, np.outer(h, center)
'''),
        "caught_by": ["test_sgns_grads"],
    },
    {
        "name": "grad_negatives transposed to (d, K)",
        "code": _sgns('''
    return loss, g_pos * context + g_neg @ negatives, g_pos * center, np.outer(center, g_neg)
'''),
        "caught_by": ["test_sgns_grads"],
    },
    {
        "name": "analogy without excluding the query words",
        "code": _ANALOGY_HEAD + '''
    query = vectors[index[b]] - vectors[index[a]] + vectors[index[c]]
    sims = vectors @ query / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(query))
    return [words[i] for i in np.argsort(-sims)[:topn]]
''',
        "caught_by": ["test_analogy"],
    },
    {
        "name": "analogy by dot product instead of cosine",
        "code": _ANALOGY_HEAD + '''
    query = vectors[index[b]] - vectors[index[a]] + vectors[index[c]]
    sims = vectors @ query
    for w in (a, b, c):
        sims[index[w]] = -np.inf
    return [words[i] for i in np.argsort(-sims)[:topn]]
''',
        "caught_by": ["test_analogy"],
    },
    {
        "name": "analogy with the offset the wrong way round (a - b + c)",
        "code": _ANALOGY_HEAD + '''
    query = vectors[index[a]] - vectors[index[b]] + vectors[index[c]]
    sims = vectors @ query / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(query))
    for w in (a, b, c):
        sims[index[w]] = -np.inf
    return [words[i] for i in np.argsort(-sims)[:topn]]
''',
        "caught_by": ["test_analogy"],
    },
    {
        "name": "analogy that returns the worst words first",
        "code": _ANALOGY_HEAD + '''
    query = vectors[index[b]] - vectors[index[a]] + vectors[index[c]]
    sims = vectors @ query / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(query))
    for w in (a, b, c):
        sims[index[w]] = np.inf
    return [words[i] for i in np.argsort(sims)[:topn]]
''',
        "caught_by": ["test_analogy"],
    },
    {
        "name": "analogy that calls the course's reference",
        "code": "from course_utils.models.word2vec import analogy\n",
        "caught_by": ["test_analogy"],
    },
]
