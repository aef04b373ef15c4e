"""Plausible wrong answers to exercise 01_neurons, and the test cells that must catch them.

Each mutant redefines one graded function (``task``) with ``code``. ``check`` runs it
against the notebook's test cells: every cell in ``caught_by`` must then fail, and when
``named_by`` is set, that cell's *visible* test must print ``diagnosis`` (recognised from
the outputs recorded in ``expected.json``). The file lives outside ``solutions/`` because
every file there is released to students; ``expected.json`` holds only each mutant's
outputs on the visible cases and its diagnosis, never this code.
"""

from course_utils.instructor.catalogue import mutant as _mutant

_LOG_SOFTMAX = "def log_softmax(z):\n    z = np.asarray(z)\n"
_BCE = "def bce_with_logits(z, y):\n    z, y = np.asarray(z, dtype=float), np.asarray(y, dtype=float)\n"
_SMOOTHED = '''def smoothed_cross_entropy(z, y, eps):
    n, c = z.shape
    q = np.full((n, c), eps / c)
    q[np.arange(n), y] += 1.0 - eps
    logp = z - z.max(axis=1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(axis=1, keepdims=True))
'''
_SLOPE = "def mean_sigmoid_slope(X, W, b):\n"
_STABLE_SIGMA = "    e = np.exp(-np.abs(a))\n    s = np.where(a >= 0, 1 / (1 + e), e / (1 + e))\n"
_VERDICT = "def saturation_verdict(slopes):\n"


MUTANTS = [
    _mutant("log_softmax", "log of the softmax",
            _LOG_SOFTMAX + "    e = np.exp(z - z.max(axis=-1, keepdims=True))\n"
            "    return np.log(e / e.sum(axis=-1, keepdims=True))\n",
            "This takes np.log of a softmax: a probability that underflows to 0 gives -inf."),
    _mutant("log_softmax", "no max shift",
            _LOG_SOFTMAX + "    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))\n",
            "Without subtracting the row maximum, exp overflows for large logits."),
    _mutant("log_softmax", "over axis 0",
            _LOG_SOFTMAX + "    m = z.max(axis=0, keepdims=True)\n"
            "    return z - m - np.log(np.exp(z - m).sum(axis=0, keepdims=True))\n",
            "This normalises over axis 0: the classes are on the last axis."),
    _mutant("log_softmax", "maximum not added back",
            _LOG_SOFTMAX + "    m = z.max(axis=-1, keepdims=True)\n"
            "    return z - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))\n",
            "log Σ exp(z) is m + log Σ exp(z - m): the maximum m is missing outside the log."),
    _mutant("log_softmax", "float32 turned into float64",
            _LOG_SOFTMAX + "    z = z.astype(np.float64)\n    m = z.max(axis=-1, keepdims=True)\n"
            "    return z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))\n",
            "The result is float64 for a float32 input: keep the dtype of z."),
    _mutant("bce_with_logits", "log of the sigmoid",
            _BCE + "    p = 1 / (1 + np.exp(-z))\n"
            "    return float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))\n",
            "log(1 - sigmoid(z)) is log(0) = -inf for a large z: use the softplus form."),
    _mutant("bce_with_logits", "sum instead of mean",
            _BCE + "    return float(np.sum(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))))\n",
            "This is the sum over the examples: the loss is their mean."),
    _mutant("bce_with_logits", "targets swapped",
            _BCE + "    return float(np.mean(np.maximum(z, 0) - z * (1 - y) + np.log1p(np.exp(-np.abs(z)))))\n",
            "y and 1 - y are swapped: a large positive logit should be cheap when y = 1."),
    _mutant("smoothed_cross_entropy", "eps / (C - 1) on the other classes",
            _SMOOTHED.replace("q = np.full((n, c), eps / c)\n    q[np.arange(n), y] += 1.0 - eps",
                              "q = np.full((n, c), eps / (c - 1))\n    q[np.arange(n), y] = 1.0 - eps")
            + "    return float(-(q * logp).sum() / n), (np.exp(logp) - q) / n\n",
            "The smoothing puts eps / C on every class, the true one included (PyTorch's definition)."),
    _mutant("smoothed_cross_entropy", "gradient not divided by N",
            _SMOOTHED + "    return float(-(q * logp).sum() / n), np.exp(logp) - q\n",
            "The gradient is not divided by N: the loss is a mean over the batch."),
    _mutant("smoothed_cross_entropy", "gradient ignores the smoothing",
            _SMOOTHED + "    onehot = np.eye(c)[y]\n"
            "    return float(-(q * logp).sum() / n), (np.exp(logp) - onehot) / n\n",
            "The gradient is softmax(z) - q with the smoothed target q, not the one-hot target."),
    _mutant("smoothed_cross_entropy", "gradient with the wrong sign",
            _SMOOTHED + "    return float(-(q * logp).sum() / n), (q - np.exp(logp)) / n\n",
            "The gradient has the wrong sign: raising the true class's logit lowers the loss."),
    _mutant("mean_sigmoid_slope", "bias left out",
            _SLOPE + "    a = X @ W\n" + _STABLE_SIGMA + "    return float(np.mean(s * (1 - s)))\n",
            "The bias b is missing from the pre-activation a = XW + b."),
    _mutant("mean_sigmoid_slope", "mean of the sigmoid, not its slope",
            _SLOPE + "    a = X @ W + b\n" + _STABLE_SIGMA + "    return float(np.mean(s))\n",
            "This is the mean of σ(a), not of its slope σ(a)(1 - σ(a))."),
    _mutant("saturation_verdict", "half tested before the tenth",
            _VERDICT + "    r = slopes[-1] / slopes[0]\n"
            "    return 'shrinking' if r < 0.5 else 'vanishing' if r < 0.1 else 'stable'\n",
            "Test the tenth first: a slope below a tenth of the first is also below a half."),
    _mutant("saturation_verdict", "ratio upside down",
            _VERDICT + "    r = slopes[0] / slopes[-1]\n"
            "    return 'vanishing' if r < 0.1 else 'shrinking' if r < 0.5 else 'stable'\n",
            "The ratio is the last slope over the first, not the first over the last."),
    _mutant("saturation_verdict", "at most instead of below",
            _VERDICT + "    r = slopes[-1] / slopes[0]\n"
            "    return 'vanishing' if r <= 0.1 else 'shrinking' if r <= 0.5 else 'stable'\n",
            "A slope at exactly half of the first is not below a half.", named=False),
]
