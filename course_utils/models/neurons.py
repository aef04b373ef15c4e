"""Neurons, layers and a two-layer perceptron in numpy, with a hand-written backward pass.

Notation (appendix "Notation"): a batch ``X`` has shape ``(N, D)``, one example per row;
a dense layer computes ``X @ W + b`` with ``W`` of shape ``(D_in, D_out)`` and ``b`` of shape
``(D_out,)``; ``C`` is the number of classes and ``y`` holds integer class labels.
"""

from __future__ import annotations

import numpy as np

# --------------------------------------------------------------------------- activations


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Logistic function ``σ(z) = 1 / (1 + exp(-z))``, element-wise.

    Computed from ``exp(-|z|)``, which never overflows, so ``|z|`` of 1000 is fine.

    Args:
        z: any shape.
    Returns:
        same shape as ``z``, values in ``[0, 1]``.
    """
    z = np.asarray(z)
    if z.dtype.kind != "f":
        z = z.astype(np.float64)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def relu(z: np.ndarray) -> np.ndarray:
    """Rectified linear unit ``max(z, 0)``, element-wise (any shape)."""
    return np.maximum(z, 0)



# --------------------------------------------------------------------------- output layers and losses


def softmax(z: np.ndarray) -> np.ndarray:
    """Softmax along the last axis: ``exp(z_i) / Σ_j exp(z_j)``.

    The row maximum is subtracted first; this leaves the result unchanged and keeps
    ``exp`` from overflowing for large logits.

    Args:
        z: logits, ``(..., C)``.
    Returns:
        probabilities, ``(..., C)``, each row summing to 1.
    """
    z = np.asarray(z, dtype=float)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _check_labels(probs: np.ndarray, y: np.ndarray) -> None:
    if probs.ndim != 2:
        raise ValueError(f"probs must have shape (N, C), got {probs.shape}")
    if y.shape != (probs.shape[0],):
        raise ValueError(f"y must have shape ({probs.shape[0]},) to match probs {probs.shape}, got {y.shape}")
    if y.dtype.kind not in "iu":
        raise ValueError(f"y must hold integer class labels, got dtype {y.dtype}")
    if y.size and (y.min() < 0 or y.max() >= probs.shape[1]):
        raise ValueError(f"labels must lie in [0, {probs.shape[1] - 1}], got {y.min()}..{y.max()}")


def cross_entropy(probs: np.ndarray, y: np.ndarray) -> float:
    """Mean negative log-likelihood ``-(1/N) Σ_n log probs[n, y_n]``.

    Args:
        probs: predicted probabilities, ``(N, C)``.
        y: true classes, ``(N,)`` int in ``[0, C)``.
    Returns:
        the loss, a Python float.
    """
    probs, y = np.asarray(probs), np.asarray(y)
    _check_labels(probs, y)
    return float(-np.mean(np.log(probs[np.arange(len(y)), y])))


def mse(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean squared error ``(1/N) Σ (pred - target)^2`` over all entries (same shapes)."""
    pred, target = np.asarray(pred), np.asarray(target)
    if pred.shape != target.shape:
        raise ValueError(f"pred {pred.shape} and target {target.shape} must have the same shape")
    return float(np.mean((pred - target) ** 2))


# --------------------------------------------------------------------------- layers


def dense_forward(X: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dense (fully connected) layer ``X @ W + b``.

    Args:
        X: ``(N, D_in)``; W: ``(D_in, D_out)``; b: ``(D_out,)``.
    Returns:
        ``(N, D_out)``.
    """
    if X.shape[-1] != W.shape[0] or W.shape[1:] != b.shape:
        raise ValueError(f"shapes do not fit X @ W + b: X {X.shape}, W {W.shape}, b {b.shape}")
    return X @ W + b


def init_mlp(d_in: int, d_hidden: int, n_classes: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Parameters of a two-layer perceptron, Glorot-scaled weights and zero biases.

    Returns:
        ``{"W1": (d_in, d_hidden), "b1": (d_hidden,), "W2": (d_hidden, C), "b2": (C,)}``.
    """
    rng = np.random.default_rng(seed)
    return {
        "W1": rng.normal(0, np.sqrt(2 / (d_in + d_hidden)), (d_in, d_hidden)),
        "b1": np.zeros(d_hidden),
        "W2": rng.normal(0, np.sqrt(2 / (d_hidden + n_classes)), (d_hidden, n_classes)),
        "b2": np.zeros(n_classes),
    }


def mlp_forward(X: np.ndarray, params: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Forward pass ``h = tanh(X W1 + b1)``, ``logits = h W2 + b2``.

    Args:
        X: ``(N, D)``; params: as from :func:`init_mlp`.
    Returns:
        ``(h, logits)``: ``(N, H)`` and ``(N, C)``.
    """
    h = np.tanh(dense_forward(X, params["W1"], params["b1"]))
    return h, dense_forward(h, params["W2"], params["b2"])


def mlp_loss_and_grads(
    X: np.ndarray, y: np.ndarray, params: dict[str, np.ndarray]
) -> tuple[float, dict[str, np.ndarray]]:
    """Cross-entropy of a two-layer perceptron and its gradients, by the chain rule.

    Forward: ``h = tanh(X W1 + b1)``, ``p = softmax(h W2 + b2)``, ``L = cross_entropy(p, y)``.
    Backward, with ``Y`` the one-hot labels:
    ``dlogits = (p - Y) / N``; ``dW2 = hᵀ dlogits``; ``db2 = Σ_n dlogits``;
    ``da = (dlogits W2ᵀ) ⊙ (1 - h²)``; ``dW1 = Xᵀ da``; ``db1 = Σ_n da``.

    Args:
        X: ``(N, D)``; y: ``(N,)`` int; params: ``W1 (D, H), b1 (H,), W2 (H, C), b2 (C,)``.
    Returns:
        ``(loss, grads)``: a float and a dict with the keys and shapes of ``params``.
    """
    h, logits = mlp_forward(X, params)
    probs = softmax(logits)
    loss = cross_entropy(probs, y)
    n = X.shape[0]
    dlogits = probs.copy()
    dlogits[np.arange(n), y] -= 1.0
    dlogits /= n
    da = (dlogits @ params["W2"].T) * (1.0 - h**2)
    grads = {
        "W1": X.T @ da,
        "b1": da.sum(axis=0),
        "W2": h.T @ dlogits,
        "b2": dlogits.sum(axis=0),
    }
    return loss, grads


def mlp_predict(X: np.ndarray, params: dict[str, np.ndarray]) -> np.ndarray:
    """Most probable class of each row of ``X`` ``(N, D)`` -> ``(N,)`` int."""
    return mlp_forward(X, params)[1].argmax(axis=-1)
