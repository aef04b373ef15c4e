"""Plausible wrong answers to exercise 09_attention, and the test cells that must catch them.

Each mutant is a dict: ``name``; ``task``, the graded function its ``code`` redefines (numpy
is in scope as ``np``); ``caught_by``, the test cells that must fail once the code has run
after the solution notebook; ``named_by``, the test cell whose *visible* test must recognise
it (None when no visible case can tell it apart); ``diagnosis``, the one line that test
prints first. The file lives outside ``solutions/`` because every file there is released to
students; ``expected.json`` holds only each mutant's outputs on the visible cases and its
diagnosis, never this code.
"""

from course_utils.instructor.catalogue import mutant as _mutant

_BILINEAR = "def bilinear_scores(S, H, W, mask):\n"

_BACKWARD = "def attention_backward(Q, K, V, mask, dOut):\n"
_SCALE = "    scale = 1.0 / np.sqrt(Q.shape[-1])\n"
_MASKED = "    scores = np.where(mask, Q @ K.transpose(0, 2, 1) * scale, -np.inf)\n"
_SOFTMAX = ("    e = np.exp(scores - scores.max(axis=-1, keepdims=True))\n"
            "    P = e / e.sum(axis=-1, keepdims=True)\n")
_VJP = ("    dP = dOut @ V.transpose(0, 2, 1)\n"
        "    dS = P * (dP - (P * dP).sum(axis=-1, keepdims=True))\n")
_GRADS = ('    return {"Q": dS @ K * scale, "K": dS.transpose(0, 2, 1) @ Q * scale,\n'
          '            "V": P.transpose(0, 2, 1) @ dOut}\n')

_COVERAGE = "def coverage_penalty(A, beta):\n"
_ENTROPY = "def attention_entropy(weights, mask):\n"
_TERMS = ("    valid = mask[:, None, :] & (weights > 0)\n"
          "    terms = np.where(valid, weights * np.log(np.where(valid, weights, 1.0)), 0.0)\n")
_VERDICT = "def entropy_verdict(measurements):\n    entropy, max_entropy = measurements\n"


MUTANTS = [
    # ------------------------------------------------------------------ bilinear_scores
    _mutant("bilinear_scores", "scores not masked",
            _BILINEAR + '    return np.einsum("bi,ij,btj->bt", S, W, H)\n',
            "Padded positions must score -inf: the mask is not applied."),
    _mutant("bilinear_scores", "padding scored 0",
            _BILINEAR + '    return np.einsum("bi,ij,btj->bt", S, W, H) * mask\n',
            "Multiplying by the mask gives padding a score of 0, which softmax still weights: use -inf."),
    _mutant("bilinear_scores", "padding scored -1e9",
            _BILINEAR + '    return np.where(mask, np.einsum("bi,ij,btj->bt", S, W, H), -1e9)\n',
            "Padding gets -1e9: the chapter's masked_softmax convention is -inf."),
    _mutant("bilinear_scores", "mask inverted",
            _BILINEAR + '    return np.where(mask, -np.inf, np.einsum("bi,ij,btj->bt", S, W, H))\n',
            "The mask is True at real tokens (keep) and False at padding: it is used inverted."),
    _mutant("bilinear_scores", "W transposed",
            _BILINEAR + '    return np.where(mask, np.einsum("bj,ij,bti->bt", S, W, H), -np.inf)\n',
            "W is (H_d, H_e) and the score is sᵀ W h: W is used transposed."),
    _mutant("bilinear_scores", "W left out (dot product)",
            _BILINEAR + '    return np.where(mask, np.einsum("bi,bti->bt", S, H), -np.inf)\n',
            "This is the dot-product score sᵀh: the bilinear score is sᵀ W h."),
    # ------------------------------------------------------------------ attention_backward
    _mutant("attention_backward", "no 1/sqrt(d)",
            _BACKWARD + "    scale = 1.0\n" + _MASKED + _SOFTMAX + _VJP + _GRADS,
            "The scores are Q Kᵀ / √d: the scaling by 1/√d is missing."),
    _mutant("attention_backward", "1/sqrt(d) missing in dQ and dK",
            _BACKWARD + _SCALE + _MASKED + _SOFTMAX + _VJP
            + '    return {"Q": dS @ K, "K": dS.transpose(0, 2, 1) @ Q, "V": P.transpose(0, 2, 1) @ dOut}\n',
            "dQ and dK lack the factor 1/√d that the scores carry (the chain rule through Q Kᵀ / √d)."),
    _mutant("attention_backward", "softmax Jacobian without the row sum",
            _BACKWARD + _SCALE + _MASKED + _SOFTMAX
            + "    dS = P * (dOut @ V.transpose(0, 2, 1))\n" + _GRADS,
            "The softmax's gradient is P ⊙ (dP − Σ_k P dP): the row sum Σ_k P_k dP_k is missing."),
    _mutant("attention_backward", "Jacobian with the wrong sign",
            _BACKWARD + _SCALE + _MASKED + _SOFTMAX
            + "    dP = dOut @ V.transpose(0, 2, 1)\n"
            + "    dS = P * ((P * dP).sum(axis=-1, keepdims=True) - dP)\n" + _GRADS,
            "dQ and dK have the wrong sign: the softmax's gradient is P ⊙ (dP − Σ_k P_k dP_k)."),
    _mutant("attention_backward", "mask ignored",
            _BACKWARD + _SCALE + "    scores = Q @ K.transpose(0, 2, 1) * scale\n" + _SOFTMAX + _VJP + _GRADS,
            "Masked keys receive attention: set their scores to -inf before the softmax."),
    _mutant("attention_backward", "masked scores set to 0",
            _BACKWARD + _SCALE + "    scores = Q @ K.transpose(0, 2, 1) * scale * mask\n" + _SOFTMAX + _VJP + _GRADS,
            "Masked scores are set to 0, which softmax still weights: use -inf."),
    _mutant("attention_backward", "weights zeroed after the softmax",
            _BACKWARD + _SCALE + "    scores = Q @ K.transpose(0, 2, 1) * scale\n" + _SOFTMAX
            + "    P = P * mask\n" + _VJP + _GRADS,
            "Zeroing masked weights after the softmax leaves rows that do not sum to 1: mask the scores."),
    _mutant("attention_backward", "no max shift",
            _BACKWARD + _SCALE + _MASKED
            + "    e = np.exp(scores)\n    P = e / e.sum(axis=-1, keepdims=True)\n" + _VJP + _GRADS,
            "exp overflows for scores near 1000: subtract each row's maximum before exp."),
    _mutant("attention_backward", "softmax over the queries",
            _BACKWARD + _SCALE + _MASKED
            + "    e = np.exp(scores - scores.max(axis=-1, keepdims=True))\n"
            + "    P = e / e.sum(axis=1, keepdims=True)\n" + _VJP + _GRADS,
            "The softmax normalises over the keys (last axis), not over the queries."),
    _mutant("attention_backward", "dK from the weights, not dS",
            _BACKWARD + _SCALE + _MASKED + _SOFTMAX + _VJP
            + '    return {"Q": dS @ K * scale, "K": P.transpose(0, 2, 1) @ Q * scale,\n'
            + '            "V": P.transpose(0, 2, 1) @ dOut}\n',
            "dK is dSᵀ Q / √d, with dS the gradient of the scores, not the weights P."),
    # ------------------------------------------------------------------ coverage_penalty
    _mutant("coverage_penalty", "sum over the source words",
            _COVERAGE + "    return float(beta * np.log(np.clip(A.sum(axis=1), 1e-10, 1.0)).sum())\n",
            "The coverage of source word j sums column j (over the outputs i), not a row."),
    _mutant("coverage_penalty", "no cap at 1",
            _COVERAGE + "    return float(beta * np.log(np.maximum(A.sum(axis=0), 1e-10)).sum())\n",
            "Coverage above 1 must be capped at 1: over-attending a word earns no bonus."),
    _mutant("coverage_penalty", "log of zero coverage",
            _COVERAGE + "    return float(beta * np.log(np.minimum(A.sum(axis=0), 1.0)).sum())\n",
            "A source word with no attention gives log 0 = -inf: clip its coverage at 1e-10."),
    _mutant("coverage_penalty", "beta left out",
            _COVERAGE + "    return float(np.log(np.clip(A.sum(axis=0), 1e-10, 1.0)).sum())\n",
            "The sum of logs is multiplied by beta."),
    _mutant("coverage_penalty", "mean over the source words",
            _COVERAGE + "    return float(beta * np.log(np.clip(A.sum(axis=0), 1e-10, 1.0)).mean())\n",
            "The penalty sums over the source words; it does not average."),
    _mutant("coverage_penalty", "penalty with the wrong sign",
            _COVERAGE + "    return float(-beta * np.log(np.clip(A.sum(axis=0), 1e-10, 1.0)).sum())\n",
            "The penalty is β Σ log(...) ≤ 0, added to the score: the sign is flipped."),
    # ------------------------------------------------------------------ attention_entropy
    _mutant("attention_entropy", "bits instead of nats",
            _ENTROPY + "    valid = mask[:, None, :] & (weights > 0)\n"
            "    terms = np.where(valid, weights * np.log2(np.where(valid, weights, 1.0)), 0.0)\n"
            "    return float(-terms.sum(-1).mean()), float(np.log2(mask.sum(-1)).mean())\n",
            "This is in bits (log2): the entropy is asked in nats (natural log)."),
    _mutant("attention_entropy", "0 log 0 gives nan",
            _ENTROPY + "    terms = np.where(mask[:, None, :], weights * np.log(weights), 0.0)\n"
            "    return float(-terms.sum(-1).mean()), float(np.log(mask.sum(-1)).mean())\n",
            "A zero weight gives 0 · log 0 = nan in numpy: count it as 0."),
    _mutant("attention_entropy", "maximum ignores the mask",
            _ENTROPY + _TERMS
            + "    return float(-terms.sum(-1).mean()), float(np.log(mask.shape[-1]))\n",
            "The maximum entropy is log of the number of valid keys of each example, not of all keys."),
    _mutant("attention_entropy", "log of the mean number of keys",
            _ENTROPY + _TERMS
            + "    return float(-terms.sum(-1).mean()), float(np.log(mask.sum(-1).mean()))\n",
            "The maximum averages log n_b over the queries; this is the log of the average n_b."),
    _mutant("attention_entropy", "summed over the queries",
            _ENTROPY + _TERMS
            + "    return float(-terms.sum()), float(np.log(mask.sum(-1)).mean())\n",
            "The entropy is the mean over the queries, not their sum."),
    _mutant("attention_entropy", "mean over the keys",
            _ENTROPY + _TERMS
            + "    return float(-terms.mean(-1).mean()), float(np.log(mask.sum(-1)).mean())\n",
            "A query's entropy sums -a log a over its keys; it does not average them."),
    _mutant("attention_entropy", "negative entropy",
            _ENTROPY + _TERMS
            + "    return float(terms.sum(-1).mean()), float(np.log(mask.sum(-1)).mean())\n",
            "Entropy is -Σ a log a ≥ 0: the minus sign is missing."),
    _mutant("attention_entropy", "tuple in the wrong order",
            _ENTROPY + _TERMS
            + "    return float(np.log(mask.sum(-1)).mean()), float(-terms.sum(-1).mean())\n",
            "Return (entropy, max_entropy) in this order."),
    # ------------------------------------------------------------------ entropy_verdict
    _mutant("entropy_verdict", "sharp and diffuse swapped",
            _VERDICT + "    if entropy < 0.25 * max_entropy:\n        return 'diffuse'\n"
            "    if entropy > 0.75 * max_entropy:\n        return 'sharp'\n    return 'mixed'\n",
            "Low entropy means the weight sits on few keys: that is 'sharp', high is 'diffuse'."),
    _mutant("entropy_verdict", "thresholds not relative to the maximum",
            _VERDICT + "    if entropy < 0.25:\n        return 'sharp'\n"
            "    if entropy > 0.75:\n        return 'diffuse'\n    return 'mixed'\n",
            "The thresholds are 0.25 and 0.75 times max_entropy, not absolute numbers of nats."),
    _mutant("entropy_verdict", "at most instead of below",
            _VERDICT + "    if entropy <= 0.25 * max_entropy:\n        return 'sharp'\n"
            "    if entropy >= 0.75 * max_entropy:\n        return 'diffuse'\n    return 'mixed'\n",
            "An entropy of exactly a quarter (or three quarters) of the maximum is 'mixed'.", named=False),
]
