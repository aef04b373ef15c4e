"""Plausible wrong answers to exercise 01_neurons, and the test cells that must catch them.

Each mutant's ``code`` runs in the kernel after the solution notebook, redefining one
function; every test cell named in ``caught_by`` must then fail. This file lives under
``tests/`` because every file in ``solutions/01_neurons/`` is released to students.
"""

_MLP_HEAD = '''
def mlp_loss_and_grads(X, y, params):
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    h = np.tanh(X @ W1 + b1)
    probs = softmax(h @ W2 + b2)
    loss = cross_entropy(probs, y)
    n = X.shape[0]
    dlogits = probs.copy()
    dlogits[np.arange(n), y] -= 1.0
    dlogits /= n
'''


def _mlp(backward: str, head: str = _MLP_HEAD) -> str:
    return head + backward


_CORRECT_BACKWARD = '''
    da = (dlogits @ W2.T) * (1.0 - h**2)
    return loss, {"W1": X.T @ da, "b1": da.sum(axis=0), "W2": h.T @ dlogits, "b2": dlogits.sum(axis=0)}
'''

MUTANTS = [
    {
        "name": "sigmoid by the direct formula (overflows for z = -1000)",
        "code": "def sigmoid(z):\n    return 1.0 / (1.0 + np.exp(-z))\n",
        "caught_by": ["test_sigmoid"],
    },
    {
        "name": "sigmoid through scipy.special.expit (a forbidden shortcut)",
        "code": "from scipy.special import expit\ndef sigmoid(z):\n    return expit(z)\n",
        "caught_by": ["test_sigmoid"],
    },
    {
        "name": "softmax without subtracting the maximum",
        "code": "def softmax(z):\n    e = np.exp(z)\n    return e / e.sum(axis=-1, keepdims=True)\n",
        "caught_by": ["test_softmax"],
    },
    {
        "name": "softmax over the first axis",
        "code": "def softmax(z):\n    e = np.exp(z - z.max(axis=0, keepdims=True))\n    return e / e.sum(axis=0, keepdims=True)\n",
        "caught_by": ["test_softmax"],
    },
    {
        "name": "softmax normalised over the whole array",
        "code": "def softmax(z):\n    e = np.exp(z - z.max())\n    return e / e.sum()\n",
        "caught_by": ["test_softmax"],
    },
    {
        "name": "softmax that calls the course's reference",
        "code": "from course_utils.models.neurons import softmax\n",
        "caught_by": ["test_softmax"],
    },
    {
        "name": "cross-entropy summed instead of averaged",
        "code": "def cross_entropy(probs, y):\n    return float(-np.sum(np.log(probs[np.arange(len(y)), y])))\n",
        "caught_by": ["test_cross_entropy"],
    },
    {
        "name": "cross-entropy indexed with probs[:, y]",
        "code": "def cross_entropy(probs, y):\n    return float(-np.mean(np.log(probs[:, y])))\n",
        "caught_by": ["test_cross_entropy"],
    },
    {
        "name": "dense layer without its bias",
        "code": "def dense_forward(X, W, b):\n    return X @ W\n",
        "caught_by": ["test_dense_forward"],
    },
    {
        "name": "dense layer with the transposed weights",
        "code": "def dense_forward(X, W, b):\n    return X @ W.T + b\n",
        "caught_by": ["test_dense_forward"],
    },
    {
        "name": "weight gradient without the transpose (dW2 = dlogits.T @ h)",
        "code": _mlp('''
    da = (dlogits @ W2.T) * (1.0 - h**2)
    return loss, {"W1": X.T @ da, "b1": da.sum(axis=0), "W2": dlogits.T @ h, "b2": dlogits.sum(axis=0)}
'''),
        "caught_by": ["test_mlp_grads"],
    },
    {
        "name": "bias gradient summed over the wrong axis",
        "code": _mlp('''
    da = (dlogits @ W2.T) * (1.0 - h**2)
    return loss, {"W1": X.T @ da, "b1": da.sum(axis=1), "W2": h.T @ dlogits, "b2": dlogits.sum(axis=0)}
'''),
        "caught_by": ["test_mlp_grads"],
    },
    {
        "name": "tanh derivative written as 1 - h",
        "code": _mlp('''
    da = (dlogits @ W2.T) * (1.0 - h)
    return loss, {"W1": X.T @ da, "b1": da.sum(axis=0), "W2": h.T @ dlogits, "b2": dlogits.sum(axis=0)}
'''),
        "caught_by": ["test_mlp_grads"],
    },
    {
        "name": "gradient without the 1/N of the mean",
        "code": _mlp(_CORRECT_BACKWARD, _MLP_HEAD.replace("    dlogits /= n\n", "")),
        "caught_by": ["test_mlp_grads"],
    },
    {
        "name": "ReLU in the hidden layer instead of tanh",
        "code": _mlp('''
    da = (dlogits @ W2.T) * (h > 0)
    return loss, {"W1": X.T @ da, "b1": da.sum(axis=0), "W2": h.T @ dlogits, "b2": dlogits.sum(axis=0)}
''', _MLP_HEAD.replace("np.tanh(X @ W1 + b1)", "np.maximum(X @ W1 + b1, 0)")),
        "caught_by": ["test_mlp_loss", "test_mlp_grads"],
    },
    {
        "name": "mlp that returns the reference's answer",
        "code": "from course_utils.models.neurons import mlp_loss_and_grads\n",
        "caught_by": ["test_mlp_loss", "test_mlp_grads"],
    },
]
