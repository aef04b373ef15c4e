"""Plausible wrong answers to exercise 10_transformer, and the test cells that must catch them.

Each mutant is a dict: ``name``; ``task``, the graded function its ``code`` redefines (numpy
is in scope as ``np``); ``caught_by``, the test cells that must fail once the code has run
after the solution notebook; ``named_by``, the test cell whose *visible* test must recognise
it (None when no visible case can tell it apart); ``diagnosis``, the one line that test
prints first. The file lives outside ``solutions/`` because every file there is released to
students; ``expected.json`` holds only each mutant's outputs on the visible cases and its
diagnosis, never this code.
"""

from course_utils.instructor.catalogue import edit as _edit
from course_utils.instructor.catalogue import mutant as _mutant

_LAYERNORM = (
    "def layernorm_backward(x, gamma, eps, dy):\n"
    "    D = x.shape[-1]\n"
    "    mu = x.mean(axis=-1, keepdims=True)\n"
    "    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)\n"
    "    rstd = 1.0 / np.sqrt(var + eps)\n"
    "    xhat = (x - mu) * rstd\n"
    "    g = dy * gamma\n"
    "    dx = rstd * (g - g.mean(axis=-1, keepdims=True) - xhat * (g * xhat).mean(axis=-1, keepdims=True))\n"
    '    return {"x": dx, "gamma": (dy * xhat).reshape(-1, D).sum(axis=0), "beta": dy.reshape(-1, D).sum(axis=0)}\n'
)
_DX = "    dx = rstd * (g - g.mean(axis=-1, keepdims=True) - xhat * (g * xhat).mean(axis=-1, keepdims=True))\n"
_DGAMMA = '"gamma": (dy * xhat).reshape(-1, D).sum(axis=0)'
_DBETA = '"beta": dy.reshape(-1, D).sum(axis=0)'

_KV = (
    "def kv_cache_decode(X, cache, params, n_heads):\n"
    "    B, T_new, D = X.shape\n"
    "    d_h = D // n_heads\n"
    "    def split(M):\n"
    "        return M.reshape(B, T_new, n_heads, d_h).transpose(0, 2, 1, 3)\n"
    '    q = split(X @ params["W_q"].T + params["b_q"])\n'
    '    k = split(X @ params["W_k"].T + params["b_k"])\n'
    '    v = split(X @ params["W_v"].T + params["b_v"])\n'
    '    K = np.concatenate([cache["K"], k], axis=2)\n'
    '    V = np.concatenate([cache["V"], v], axis=2)\n'
    '    T_past = cache["K"].shape[2]\n'
    "    allowed = np.arange(T_past + T_new)[None, :] <= (T_past + np.arange(T_new))[:, None]\n"
    "    scores = np.where(allowed, q @ K.transpose(0, 1, 3, 2) / np.sqrt(d_h), -np.inf)\n"
    "    e = np.exp(scores - scores.max(axis=-1, keepdims=True))\n"
    "    A = e / e.sum(axis=-1, keepdims=True)\n"
    "    Z = (A @ V).transpose(0, 2, 1, 3).reshape(B, T_new, D)\n"
    '    return Z @ params["W_o"].T + params["b_o"], {"K": K, "V": V}\n'
)
_ALLOWED = "    allowed = np.arange(T_past + T_new)[None, :] <= (T_past + np.arange(T_new))[:, None]\n"
_RETURN = '    return Z @ params["W_o"].T + params["b_o"], {"K": K, "V": V}\n'

_MEASURE = (
    "def positions_measure(X, perm, P, W_q, W_k, W_v, causal):\n"
    "    def attend(Z):\n"
    "        Q, K, V = Z @ W_q.T, Z @ W_k.T, Z @ W_v.T\n"
    "        scores = Q @ K.T / np.sqrt(Z.shape[-1])\n"
    "        if causal:\n"
    "            scores = np.where(np.tril(np.ones(scores.shape, dtype=bool)), scores, -np.inf)\n"
    "        e = np.exp(scores - scores.max(axis=-1, keepdims=True))\n"
    "        return (e / e.sum(axis=-1, keepdims=True)) @ V\n"
    "    Y = attend(X + P)\n"
    "    Y_perm = attend(X[perm] + P)\n"
    "    back = np.empty_like(Y_perm)\n"
    "    back[perm] = Y_perm\n"
    "    return float(np.linalg.norm(back - Y) / np.linalg.norm(Y))\n"
)
_TRIL = "np.tril(np.ones(scores.shape, dtype=bool))"

_VERDICT = "def positions_verdict(changes):\n"


MUTANTS = [
    # ------------------------------------------------------------------ layernorm_backward
    _mutant("layernorm_backward", "mean term of dx missing",
            _edit(_LAYERNORM, ("g - g.mean(axis=-1, keepdims=True) - xhat", "g - xhat")),
            "dx lacks the mean term −mean(g): μ depends on every x of the row (g = γ ⊙ dy)."),
    _mutant("layernorm_backward", "variance term of dx missing",
            _edit(_LAYERNORM, (" - xhat * (g * xhat).mean(axis=-1, keepdims=True))", ")")),
            "dx lacks the term −x̂ mean(g ⊙ x̂): σ² depends on every x of the row."),
    _mutant("layernorm_backward", "mu and sigma treated as constants",
            _edit(_LAYERNORM, (_DX, "    dx = rstd * g\n")),
            "dx = γ ⊙ dy / σ treats μ and σ as constants: they depend on x, add their two terms."),
    _mutant("layernorm_backward", "gamma left out of dx",
            _edit(_LAYERNORM, ("    g = dy * gamma\n", "    g = dy\n")),
            "dx must go through the gain: the gradient reaching x̂ is γ ⊙ dy, not dy."),
    _mutant("layernorm_backward", "unbiased variance",
            _edit(_LAYERNORM, ("    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)\n",
                               "    var = x.var(axis=-1, ddof=1, keepdims=True)\n")),
            "LayerNorm's variance divides by D (biased), not by D − 1."),
    _mutant("layernorm_backward", "eps outside the square root",
            _edit(_LAYERNORM, ("np.sqrt(var + eps)", "(np.sqrt(var) + eps)")),
            "eps goes inside the square root: 1 / √(σ² + ε), not 1 / (σ + ε)."),
    _mutant("layernorm_backward", "eps left out",
            _edit(_LAYERNORM, ("np.sqrt(var + eps)", "np.sqrt(var)")),
            "eps is missing: 1 / √(σ² + ε) keeps a constant row (σ² = 0) finite."),
    _mutant("layernorm_backward", "dgamma without x-hat",
            _edit(_LAYERNORM, (_DGAMMA, '"gamma": dy.reshape(-1, D).sum(axis=0)')),
            "dgamma sums dy ⊙ x̂ (the gain multiplies x̂); this is dbeta."),
    _mutant("layernorm_backward", "dgamma from x, not x-hat",
            _edit(_LAYERNORM, (_DGAMMA, '"gamma": (dy * x).reshape(-1, D).sum(axis=0)')),
            "dgamma sums dy ⊙ x̂, the normalised input, not dy ⊙ x."),
    _mutant("layernorm_backward", "dgamma and dbeta not summed",
            _edit(_LAYERNORM, (_DGAMMA, '"gamma": dy * xhat'), (_DBETA, '"beta": dy')),
            "dgamma and dbeta have shape (D,): sum over every axis but the last."),
    _mutant("layernorm_backward", "dgamma and dbeta summed over axis 0 only",
            _edit(_LAYERNORM, (_DGAMMA, '"gamma": (dy * xhat).sum(axis=0)'), (_DBETA, '"beta": dy.sum(axis=0)')),
            "dgamma and dbeta sum over all leading axes (B and T), not only axis 0."),
    _mutant("layernorm_backward", "statistics over the batch (BatchNorm)",
            _edit(_LAYERNORM, ("    mu = x.mean(axis=-1, keepdims=True)\n"
                               "    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)\n",
                               "    mu = x.mean(axis=0, keepdims=True)\n"
                               "    var = ((x - mu) ** 2).mean(axis=0, keepdims=True)\n")),
            "This normalises over axis 0, the batch (BatchNorm): LayerNorm normalises each row."),
    _mutant("layernorm_backward", "variance term with the wrong sign",
            _edit(_LAYERNORM, ("g.mean(axis=-1, keepdims=True) - xhat", "g.mean(axis=-1, keepdims=True) + xhat")),
            "The variance term of dx is −x̂ mean(g ⊙ x̂): its sign is flipped."),
    # ------------------------------------------------------------------ kv_cache_decode
    _mutant("kv_cache_decode", "no causal mask",
            _edit(_KV, (_ALLOWED, "    allowed = np.ones((T_new, T_past + T_new), dtype=bool)\n")),
            "New tokens see later new tokens: apply the causal mask inside the chunk."),
    _mutant("kv_cache_decode", "mask not shifted by the cache length",
            _edit(_KV, (_ALLOWED, "    allowed = np.tril(np.ones((T_new, T_past + T_new), dtype=bool))\n")),
            "New token i is at position T_past + i: shift the causal mask by the cache's length."),
    _mutant("kv_cache_decode", "a token does not see itself",
            _edit(_KV, ("[None, :] <= (T_past", "[None, :] < (T_past")),
            "A token attends to itself too: allow keys up to and including its own position."),
    _mutant("kv_cache_decode", "mask reversed",
            _edit(_KV, ("[None, :] <= (T_past", "[None, :] >= (T_past")),
            "The mask is reversed: a token sees the positions before it, not after it."),
    _mutant("kv_cache_decode", "cache not updated",
            _edit(_KV, (_RETURN, '    return Z @ params["W_o"].T + params["b_o"], cache\n')),
            "The returned cache must hold the new keys and values too (T_past + T_new positions)."),
    _mutant("kv_cache_decode", "cache holds the new positions only",
            _edit(_KV, (_RETURN, '    return Z @ params["W_o"].T + params["b_o"], {"K": k, "V": v}\n')),
            "The returned cache keeps the past: append the new keys and values to it."),
    _mutant("kv_cache_decode", "new keys put before the cached ones",
            _edit(_KV, ('[cache["K"], k]', '[k, cache["K"]]'), ('[cache["V"], v]', '[v, cache["V"]]')),
            "New keys and values go after the cached ones (axis 2 is time)."),
    _mutant("kv_cache_decode", "scaled by d_h, not its square root",
            _edit(_KV, ("/ np.sqrt(d_h)", "/ d_h")),
            "The scores are divided by √d_h, not by d_h."),
    _mutant("kv_cache_decode", "scaled by sqrt(d_model)",
            _edit(_KV, ("/ np.sqrt(d_h)", "/ np.sqrt(D)")),
            "Each head's scores are divided by √d_h, the head's width, not by √d_model."),
    _mutant("kv_cache_decode", "heads interleaved",
            _edit(_KV, ("M.reshape(B, T_new, n_heads, d_h).transpose(0, 2, 1, 3)",
                        "M.reshape(B, T_new, d_h, n_heads).transpose(0, 3, 1, 2)")),
            "Head h is the contiguous slice [h·d_h, (h+1)·d_h) of d_model, not every n_heads-th column."),
    _mutant("kv_cache_decode", "output projection missing",
            _edit(_KV, (_RETURN, '    return Z, {"K": K, "V": V}\n')),
            "The heads' outputs, concatenated, go through the output projection W_o, b_o."),
    _mutant("kv_cache_decode", "weights not transposed",
            _edit(_KV, *((f'params["W_{n}"].T', f'params["W_{n}"]') for n in "qkvo")),
            "A projection is X @ W.T + b (torch.nn.Linear's convention), not X @ W."),
    _mutant("kv_cache_decode", "key bias left out",
            _edit(_KV, (' + params["b_k"]', "")),
            "The keys carry their bias b_k; the outputs do not show it (softmax), the cache does."),
    _mutant("kv_cache_decode", "softmax over the queries",
            _edit(_KV, ("    A = e / e.sum(axis=-1, keepdims=True)\n", "    A = e / e.sum(axis=-2, keepdims=True)\n")),
            "The softmax normalises over the keys (last axis), not over the queries."),
    # ------------------------------------------------------------------ positions_measure
    _mutant("positions_measure", "outputs not put back in order",
            _edit(_MEASURE, ("    back = np.empty_like(Y_perm)\n    back[perm] = Y_perm\n", "    back = Y_perm\n")),
            "Put each output back in its token's row before comparing: row i holds token perm[i]."),
    _mutant("positions_measure", "put back with perm, not its inverse",
            _edit(_MEASURE, ("    back = np.empty_like(Y_perm)\n    back[perm] = Y_perm\n",
                             "    back = Y_perm[perm]\n")),
            "Y_perm[perm] permutes twice: undo the permutation with its inverse (back[perm] = Y_perm)."),
    _mutant("positions_measure", "positions travel with the tokens",
            _edit(_MEASURE, ("attend(X[perm] + P)", "attend(X[perm] + P[perm])")),
            "Positions stay in place: row i of the permuted input gets P[i], not P[perm[i]]."),
    _mutant("positions_measure", "positions added twice",
            _edit(_MEASURE, ("attend(X + P)", "attend(X + 2 * P)"), ("attend(X[perm] + P)", "attend(X[perm] + 2 * P)")),
            "The positions are added once, to the input: X + P."),
    _mutant("positions_measure", "scaled by D, not its square root",
            _edit(_MEASURE, ("/ np.sqrt(Z.shape[-1])", "/ Z.shape[-1]")),
            "The scores are divided by √D, not by D."),
    _mutant("positions_measure", "causal mask ignored",
            _edit(_MEASURE, ("        if causal:\n", "        if False:\n")),
            "With causal=True a token attends only to itself and the tokens before it."),
    _mutant("positions_measure", "causal mask reversed",
            _edit(_MEASURE, (_TRIL, "np.triu(np.ones(scores.shape, dtype=bool))")),
            "The causal mask is lower triangular (query i sees keys 0..i): this one is reversed."),
    _mutant("positions_measure", "absolute change, not relative",
            _edit(_MEASURE, (" / np.linalg.norm(Y))", ")")),
            "Divide the change by ‖Y‖_F: the measure is relative."),
    _mutant("positions_measure", "softmax over the queries (measure)",
            _edit(_MEASURE, ("(e / e.sum(axis=-1, keepdims=True))", "(e / e.sum(axis=0, keepdims=True))")),
            "The softmax normalises over the keys (last axis), not over the queries."),
    # ------------------------------------------------------------------ positions_verdict
    _mutant("positions_verdict", "words swapped",
            _VERDICT + "    return 'order-aware' if max(changes) < 1e-8 else 'order-blind'\n",
            "A change of rounding size means the layer did not see the order: that is 'order-blind'.",
            named=False),
    _mutant("positions_verdict", "mean of the changes",
            _VERDICT + "    return 'order-blind' if sum(changes) / len(changes) < 1e-8 else 'order-aware'\n",
            "One permutation that changes the output is enough: compare the largest change, not the mean."),
    _mutant("positions_verdict", "smallest change",
            _VERDICT + "    return 'order-blind' if min(changes) < 1e-8 else 'order-aware'\n",
            "One permutation that changes the output is enough: compare the largest change, not the smallest.",
            named=False),
    _mutant("positions_verdict", "first change only",
            _VERDICT + "    return 'order-blind' if changes[0] < 1e-8 else 'order-aware'\n",
            "Look at every permutation's change, not only the first."),
    _mutant("positions_verdict", "threshold 1e-3",
            _VERDICT + "    return 'order-blind' if max(changes) < 1e-3 else 'order-aware'\n",
            "Only rounding (below 1e-8) is order-blind: a change of 1e-4 is real.", named=False),
    _mutant("positions_verdict", "exactly zero",
            _VERDICT + "    return 'order-blind' if max(changes) == 0 else 'order-aware'\n",
            "Rounding leaves changes of about 1e-16: compare the largest with 1e-8, not with 0."),
    _mutant("positions_verdict", "at most instead of below",
            _VERDICT + "    return 'order-blind' if max(changes) <= 1e-8 else 'order-aware'\n",
            "A change of exactly 1e-8 is 'order-aware': the rule is strictly below."),
]
