"""Plausible wrong answers to exercise 09_attention, and the test cells that must catch them.

Each mutant's ``code`` runs in the kernel after the solution notebook, redefining one
function; every test cell named in ``caught_by`` must then fail. This file lives under
``tests/`` because every file in ``solutions/09_attention/`` is released to students.
"""

_DOT = '''
def dot_product_attention(query, keys, values, mask=None):
    scores = (keys @ query.unsqueeze(-1)).squeeze(-1)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=SOFTMAX_DIM)
    if mask is not None:
        weights = weights.masked_fill(~mask, 0.0)
    return (weights.unsqueeze(1) @ values).squeeze(1), weights
'''

_SDPA = '''
def scaled_dot_product_attention(Q, K, V, mask=None):
    scores = Q @ K.transpose(-2, -1) / SCALE
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    if mask is not None:
        weights = weights.masked_fill(~mask, 0.0)
    return weights @ V
'''

_BEAM = '''
def beam_search(step, start_id, end_id, beam_size, max_len):
    live = [([start_id], 0.0)]
    finished = []
    for _ in range(max_len):
        candidates = []
        for prefix, score in live:
            log_probs = step(prefix)
            for token in range(len(log_probs)):
                candidates.append((prefix + [token], COMBINE))
        candidates.sort(key=lambda h: (-h[1], h[0]))
        live = []
        for prefix, score in candidates[:KEEP]:
            if FINISHED:
                finished.append((prefix, score))
            else:
                live.append((prefix, score))
        if not live:
            break
    best = min(finished + live, key=lambda h: (-h[1], h[0]))
    return best[0][1:]
'''


def _beam(combine="score + float(log_probs[token])", keep="beam_size", finished="prefix[-1] == end_id"):
    return _BEAM.replace("COMBINE", combine).replace("KEEP", keep).replace("FINISHED", finished)


MUTANTS = [
    {
        "name": "dot-product softmax over the batch axis",
        "code": _DOT.replace("SOFTMAX_DIM", "0"),
        "caught_by": ["test_dot_product_attention"],
    },
    {
        "name": "dot-product attention that ignores the mask",
        "code": "def dot_product_attention(query, keys, values, mask=None):\n"
                "    weights = torch.softmax((keys @ query.unsqueeze(-1)).squeeze(-1), dim=-1)\n"
                "    return (weights.unsqueeze(1) @ values).squeeze(1), weights\n",
        "caught_by": ["test_dot_product_attention"],
    },
    {
        "name": "dot-product attention returning the weights first",
        "code": _DOT.replace("SOFTMAX_DIM", "-1").replace(
            "return (weights.unsqueeze(1) @ values).squeeze(1), weights",
            "return weights, (weights.unsqueeze(1) @ values).squeeze(1)"),
        "caught_by": ["test_dot_product_attention"],
    },
    {
        "name": "additive attention with W_q and W_k not transposed (query @ W_q)",
        "code": "def additive_attention(query, keys, values, W_q, W_k, v, mask=None):\n"
                "    scores = torch.tanh((query @ W_q).unsqueeze(1) + keys @ W_k) @ v\n"
                "    if mask is not None:\n"
                "        scores = scores.masked_fill(~mask, float('-inf'))\n"
                "    weights = torch.softmax(scores, dim=-1)\n"
                "    return (weights.unsqueeze(1) @ values).squeeze(1), weights\n",
        "caught_by": ["test_additive_attention"],
    },
    {
        "name": "additive attention without the tanh",
        "code": "def additive_attention(query, keys, values, W_q, W_k, v, mask=None):\n"
                "    scores = ((query @ W_q.T).unsqueeze(1) + keys @ W_k.T) @ v\n"
                "    if mask is not None:\n"
                "        scores = scores.masked_fill(~mask, float('-inf'))\n"
                "    weights = torch.softmax(scores, dim=-1).nan_to_num(0.0)\n"
                "    return (weights.unsqueeze(1) @ values).squeeze(1), weights\n",
        "caught_by": ["test_additive_attention"],
    },
    {
        "name": "scaled dot-product without the scaling",
        "code": _SDPA.replace("SCALE", "1.0"),
        "caught_by": ["test_scaled_dot_product_attention", "test_scaled_dot_product_attention_mask"],
    },
    {
        "name": "scaled dot-product divided by d instead of sqrt(d)",
        "code": _SDPA.replace("SCALE", "Q.size(-1)"),
        "caught_by": ["test_scaled_dot_product_attention", "test_scaled_dot_product_attention_mask"],
    },
    {
        "name": "scaled dot-product with the softmax over the queries (axis -2)",
        "code": _SDPA.replace("SCALE", "math.sqrt(Q.size(-1))").replace("dim=-1", "dim=-2"),
        "caught_by": ["test_scaled_dot_product_attention", "test_scaled_dot_product_attention_mask"],
    },
    {
        "name": "scaled dot-product that ignores the mask",
        "code": "def scaled_dot_product_attention(Q, K, V, mask=None):\n"
                "    return torch.softmax(Q @ K.transpose(-2, -1) / math.sqrt(Q.size(-1)), dim=-1) @ V\n",
        "caught_by": ["test_scaled_dot_product_attention_mask"],
    },
    {
        "name": "scaled dot-product whose fully masked rows are NaN",
        "code": "def scaled_dot_product_attention(Q, K, V, mask=None):\n"
                "    scores = Q @ K.transpose(-2, -1) / math.sqrt(Q.size(-1))\n"
                "    if mask is not None:\n"
                "        scores = scores.masked_fill(~mask, float('-inf'))\n"
                "    return torch.softmax(scores, dim=-1) @ V\n",
        "caught_by": ["test_scaled_dot_product_attention_mask"],
    },
    {
        "name": "scaled dot-product through PyTorch's function (a forbidden shortcut)",
        "code": "import torch.nn.functional as F\n"
                "def scaled_dot_product_attention(Q, K, V, mask=None):\n"
                "    return F.scaled_dot_product_attention(Q, K, V, attn_mask=mask)\n",
        "caught_by": ["test_scaled_dot_product_attention", "test_scaled_dot_product_attention_mask"],
    },
    {
        "name": "scaled dot-product that calls the course's reference",
        "code": "from course_utils.models.attention import scaled_dot_product_attention\n",
        "caught_by": ["test_scaled_dot_product_attention", "test_scaled_dot_product_attention_mask"],
    },
    {
        "name": "beam search whose beams are not pruned to beam_size",
        "code": _beam(keep=""),
        "caught_by": ["test_beam_search"],
    },
    {
        "name": "beam search that keeps extending finished beams",
        "code": _beam(finished="False"),
        "caught_by": ["test_beam_search"],
    },
    {
        "name": "beam search that multiplies log-probabilities instead of summing them",
        "code": _beam(combine="score * float(log_probs[token])"),
        "caught_by": ["test_beam_search"],
    },
    {
        "name": "beam search that is greedy whatever the beam size",
        "code": _beam(keep="1"),
        "caught_by": ["test_beam_search"],
    },
    {
        "name": "beam search that breaks ties by the larger ids",
        "code": _beam().replace("candidates.sort(key=lambda h: (-h[1], h[0]))",
                                "candidates.sort(key=lambda h: (-h[1], [-t for t in h[0]]))"),
        "caught_by": ["test_beam_search"],
    },
    {
        "name": "beam search that returns the start id too",
        "code": _beam().replace("return best[0][1:]", "return best[0]"),
        "caught_by": ["test_beam_search"],
    },
]
