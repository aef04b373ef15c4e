"""Plausible wrong answers to exercise 03_rnn, and the test cells that must catch them.

Each mutant redefines one graded function (``task``) with ``code``. ``check`` runs it
against the notebook's test cells: every cell in ``caught_by`` must then fail, and when
``named_by`` is set, that cell's *visible* test must print ``diagnosis`` (recognised from
the outputs recorded in ``expected.json``). The file lives outside ``solutions/`` because
every file there is released to students; ``expected.json`` holds only each mutant's
outputs on the visible cases and its diagnosis, never this code.
"""

from course_utils.instructor.catalogue import mutant as _mutant

_BPTT = '''def rnn_bptt(X, h0, W_xh, W_hh, b_h, dH):
    T = X.shape[1]
    hs = [h0]
    for t in range(T):
        hs.append(np.tanh(X[:, t] @ W_xh + hs[-1] @ W_hh + b_h))
    dW_xh, dW_hh, db = np.zeros_like(W_xh), np.zeros_like(W_hh), np.zeros_like(b_h)
    g = np.zeros_like(h0)
    last = g
    for t in reversed(range(T)):
        g = g + dH[:, t]
        delta = g * (1 - hs[t + 1] ** 2)
        dW_xh += X[:, t].T @ delta
        dW_hh += hs[t].T @ delta
        db += delta.sum(axis=0)
        g = delta @ W_hh.T
    return {"W_xh": dW_xh, "W_hh": dW_hh, "b_h": db, "h0": g}
'''

_PPL = '''def masked_perplexity(logits, targets, mask):
    keep = np.asarray(mask).astype(bool)
    z = logits - logits.max(axis=-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    nll = -np.take_along_axis(logp, targets[..., None], axis=-1)[..., 0]
'''
_PPL_RIGHT = "    return float(np.exp(nll[keep].mean()))\n"

_NORMS = "def sensitivity_norms(W_hh, T):\n"
_VERDICT = "def sensitivity_verdict(norms):\n"


def _bptt(old, new):
    assert old in _BPTT, old
    return _BPTT.replace(old, new)


MUTANTS = [
    # ---------------------------------------------------------------- rnn_bptt
    _mutant("rnn_bptt", "tanh slope left out",
            _bptt("delta = g * (1 - hs[t + 1] ** 2)", "delta = g"),
            "The gradient goes through tanh: multiply it by the slope 1 - h_t² before the weights."),
    _mutant("rnn_bptt", "slope evaluated at h instead of a",
            _bptt("delta = g * (1 - hs[t + 1] ** 2)", "delta = g * (1 - np.tanh(hs[t + 1]) ** 2)"),
            "tanh'(a_t) = 1 - tanh(a_t)² = 1 - h_t²: this applies tanh to h_t once more."),
    _mutant("rnn_bptt", "no gradient through time",
            _bptt("g = g + dH[:, t]", "g = dH[:, t]"),
            "The gradient on h_t is dH_t plus what comes back from h_{t+1}: δ_{t+1} W_hhᵀ is dropped."),
    _mutant("rnn_bptt", "slope applied to the recurrent part only",
            _bptt("g = g + dH[:, t]\n        delta = g * (1 - hs[t + 1] ** 2)",
                  "delta = dH[:, t] + g * (1 - hs[t + 1] ** 2)"),
            "dH_t is a gradient on h_t: it too goes through the tanh slope 1 - h_t²."),
    _mutant("rnn_bptt", "W_hh not transposed going back",
            _bptt("g = delta @ W_hh.T", "g = delta @ W_hh"),
            "a_t = h_{t-1} W_hh sends δ_t back as δ_t W_hhᵀ (transposed), not δ_t W_hh."),
    _mutant("rnn_bptt", "W_hh gradient from h_t",
            _bptt("dW_hh += hs[t].T @ delta", "dW_hh += hs[t + 1].T @ delta"),
            "W_hh multiplies the previous state: its gradient is Σ h_{t-1}ᵀ δ_t, not Σ h_tᵀ δ_t."),
    _mutant("rnn_bptt", "h0 gradient is delta_1",
            _bptt("g = delta @ W_hh.T", "g, last = delta @ W_hh.T, delta")
            .replace('"h0": g}', '"h0": last}'),
            "∂L/∂h_0 is δ_1 W_hhᵀ: h_0 enters a_1 through W_hh."),
    _mutant("rnn_bptt", "bias gradient averaged over the batch",
            _bptt("db += delta.sum(axis=0)", "db += delta.mean(axis=0)"),
            "The bias is added to every example: sum δ_t over the batch, do not average."),
    _mutant("rnn_bptt", "dH read in reverse time order",
            _bptt("g = g + dH[:, t]", "g = g + dH[:, T - 1 - t]"),
            "dH[:, t] belongs to the state after X[:, t]: take it at the same t as you go back."),
    _mutant("rnn_bptt", "forward pass from zeros",
            _bptt("hs = [h0]", "hs = [np.zeros_like(h0)]"),
            "The forward pass must start from the given h0, not from zeros."),
    # ---------------------------------------------------------------- masked_perplexity
    _mutant("masked_perplexity", "no max shift",
            _PPL.replace("z = logits - logits.max(axis=-1, keepdims=True)", "z = logits") + _PPL_RIGHT,
            "Subtract each position's largest logit before exp: exp(1000) overflows."),
    _mutant("masked_perplexity", "padding counted",
            _PPL + "    return float(np.exp(nll.mean()))\n",
            "The mean runs over every position, padding included: average over the real tokens only."),
    _mutant("masked_perplexity", "padding in the denominator only",
            _PPL + "    return float(np.exp((nll * keep).sum() / keep.size))\n",
            "Divide by the number of real tokens (mask.sum()), not by B * T."),
    _mutant("masked_perplexity", "mean of the row means",
            _PPL + "    rows = (nll * keep).sum(axis=1) / keep.sum(axis=1)\n    return float(np.exp(rows.mean()))\n",
            "This averages per-row means: an empty row gives 0/0. Average over all real tokens at once."),
    _mutant("masked_perplexity", "mean NLL without exp",
            _PPL + "    return float(nll[keep].mean())\n",
            "This is the mean negative log-likelihood: the perplexity is its exp."),
    _mutant("masked_perplexity", "mean of per-token perplexities",
            _PPL + "    return float(np.exp(nll[keep]).mean())\n",
            "Take exp of the mean NLL, not the mean of exp(NLL) per token."),
    _mutant("masked_perplexity", "softmax over time",
            _PPL.replace("axis=-1, keepdims", "axis=1, keepdims") + _PPL_RIGHT,
            "The log-softmax runs over the vocabulary (the last axis), not over time."),
    _mutant("masked_perplexity", "mask used as an index",
            _PPL.replace("keep = np.asarray(mask).astype(bool)", "keep = mask") + _PPL_RIGHT,
            "A 0/1 mask of ints or floats is not a boolean index: convert it with mask.astype(bool)."),
    # ---------------------------------------------------------------- sensitivity_norms
    _mutant("sensitivity_norms", "Frobenius norm",
            _NORMS + "    P = np.eye(len(W_hh))\n    out = []\n    for _ in range(T):\n"
            "        P = P @ W_hh\n        out.append(float(np.linalg.norm(P)))\n    return out\n",
            "np.linalg.norm(P) is the Frobenius norm; the spectral norm is np.linalg.norm(P, 2)."),
    _mutant("sensitivity_norms", "spectral radius to the power t",
            _NORMS + "    rho = float(np.abs(np.linalg.eigvals(W_hh)).max())\n"
            "    return [rho ** t for t in range(1, T + 1)]\n",
            "ρ^t is only where ‖W^t‖ heads in the long run: compute the norm of the power itself."),
    _mutant("sensitivity_norms", "largest singular value to the power t",
            _NORMS + "    s = float(np.linalg.norm(W_hh, 2))\n    return [s ** t for t in range(1, T + 1)]\n",
            "σ_max^t is an upper bound on ‖W^t‖₂, not its value: take the norm of the matrix power."),
    _mutant("sensitivity_norms", "powers from t = 0",
            _NORMS + "    P = np.eye(len(W_hh))\n    out = []\n    for _ in range(T):\n"
            "        out.append(float(np.linalg.norm(P, 2)))\n        P = P @ W_hh\n    return out\n",
            "The list starts at t = 1 (‖W‖₂), not at t = 0 (the identity, norm 1)."),
    _mutant("sensitivity_norms", "elementwise power",
            _NORMS + "    return [float(np.linalg.norm(W_hh ** t, 2)) for t in range(1, T + 1)]\n",
            "W_hh ** t raises each entry to a power: the matrix power is W_hh @ W_hh @ ... (t times)."),
    _mutant("sensitivity_norms", "smallest singular value",
            _NORMS + "    P = np.eye(len(W_hh))\n    out = []\n    for _ in range(T):\n        P = P @ W_hh\n"
            "        out.append(float(np.linalg.svd(P, compute_uv=False)[-1]))\n    return out\n",
            "np.linalg.svd sorts singular values in decreasing order: the largest is the first."),
    # ---------------------------------------------------------------- sensitivity_verdict
    _mutant("sensitivity_verdict", "largest norm instead of the last",
            _VERDICT + "    x = max(norms)\n"
            "    return 'vanishing' if x < 1e-2 else 'exploding' if x > 1e2 else 'stable'\n",
            "The verdict reads the last norm, the sensitivity after T steps, not the largest one."),
    _mutant("sensitivity_verdict", "first norm instead of the last",
            _VERDICT + "    x = norms[0]\n"
            "    return 'vanishing' if x < 1e-2 else 'exploding' if x > 1e2 else 'stable'\n",
            "The verdict reads the last norm (t = T), not the first (t = 1)."),
    _mutant("sensitivity_verdict", "labels swapped",
            _VERDICT + "    x = norms[-1]\n"
            "    return 'exploding' if x < 1e-2 else 'vanishing' if x > 1e2 else 'stable'\n",
            "A norm below 1e-2 is 'vanishing' and one above 1e2 'exploding': the labels are swapped."),
    _mutant("sensitivity_verdict", "trend instead of level",
            _VERDICT + "    first, last = norms[0], norms[-1]\n"
            "    return 'vanishing' if last < first else 'exploding' if last > first else 'stable'\n",
            "The verdict is on the level of the last norm (below 1e-2, above 1e2), not on its trend."),
    _mutant("sensitivity_verdict", "at most instead of below",
            _VERDICT + "    x = norms[-1]\n"
            "    return 'vanishing' if x <= 1e-2 else 'exploding' if x >= 1e2 else 'stable'\n",
            "A last norm of exactly 1e-2 or 1e2 is 'stable': the thresholds are strict (below, above)."),
]
