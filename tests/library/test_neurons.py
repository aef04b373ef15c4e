"""The numpy reference models against PyTorch and finite differences."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from gradcheck import check_gradient

from course_utils.models import neurons


def test_sigmoid_matches_torch_and_is_stable():
    z = np.linspace(-1000, 1000, 2001)
    # no overflow, no invalid value (underflow to 0 is fine)
    with np.errstate(all="raise"), np.errstate(under="ignore"):
        ours = neurons.sigmoid(z)
    np.testing.assert_allclose(ours, torch.sigmoid(torch.tensor(z)).numpy(), rtol=1e-12, atol=1e-300)
    assert neurons.sigmoid(np.array([1, 2])).dtype == np.float64
    assert neurons.sigmoid(np.zeros(2, dtype=np.float32)).dtype == np.float32


@pytest.mark.parametrize("shape", [(7,), (4, 5), (2, 3, 6)])
def test_softmax_matches_torch_on_the_last_axis(shape):
    z = np.random.default_rng(0).normal(size=shape) * 30
    np.testing.assert_allclose(neurons.softmax(z), torch.softmax(torch.tensor(z), dim=-1).numpy(), rtol=1e-10)
    big = neurons.softmax(np.array([[1000.0, 999.0]]))
    assert np.all(np.isfinite(big)) and np.isclose(big.sum(), 1)


def test_cross_entropy_matches_torch_and_rejects_bad_labels():
    rng = np.random.default_rng(1)
    logits, y = rng.normal(size=(9, 4)), rng.integers(0, 4, 9)
    expected = F.cross_entropy(torch.tensor(logits), torch.tensor(y)).item()
    assert np.isclose(neurons.cross_entropy(neurons.softmax(logits), y), expected, rtol=1e-12)
    with pytest.raises(ValueError, match="labels must lie in"):
        neurons.cross_entropy(neurons.softmax(logits), np.full(9, 4))
    with pytest.raises(ValueError, match="integer class labels"):
        neurons.cross_entropy(neurons.softmax(logits), y.astype(float))
    with pytest.raises(ValueError, match="y must have shape"):
        neurons.cross_entropy(neurons.softmax(logits), y[:3])


def test_dense_forward_matches_torch_linear_and_checks_shapes():
    rng = np.random.default_rng(2)
    X, W, b = rng.normal(size=(5, 3)), rng.normal(size=(3, 4)), rng.normal(size=4)
    expected = F.linear(torch.tensor(X), torch.tensor(W.T), torch.tensor(b)).numpy()
    np.testing.assert_allclose(neurons.dense_forward(X, W, b), expected, rtol=1e-12)
    with pytest.raises(ValueError, match="shapes do not fit"):
        neurons.dense_forward(X, W.T, b)


def test_mse():
    assert neurons.mse(np.array([1.0, 3.0]), np.array([0.0, 0.0])) == 5.0
    with pytest.raises(ValueError, match="same shape"):
        neurons.mse(np.zeros(2), np.zeros(3))


def test_mlp_gradients_match_autograd():
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(12, 6)), rng.integers(0, 3, 12)
    params = neurons.init_mlp(6, 5, 3, seed=3)
    loss, grads = neurons.mlp_loss_and_grads(X, y, params)
    t = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    h = torch.tanh(torch.tensor(X) @ t["W1"] + t["b1"])
    torch_loss = F.cross_entropy(h @ t["W2"] + t["b2"], torch.tensor(y))
    torch_loss.backward()
    assert np.isclose(loss, torch_loss.item(), rtol=1e-12)
    assert set(grads) == set(params)
    for name in params:
        np.testing.assert_allclose(grads[name], t[name].grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)


def test_mlp_gradients_match_finite_differences():
    rng = np.random.default_rng(4)
    X, y = rng.normal(size=(7, 3)), rng.integers(0, 4, 7)
    params = neurons.init_mlp(3, 4, 4, seed=4)
    _, grads = neurons.mlp_loss_and_grads(X, y, params)
    for name in params:
        check_gradient(lambda: neurons.mlp_loss_and_grads(X, y, params)[0], params[name], grads[name], name)


def test_mlp_learns_a_separable_problem():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(200, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)  # XOR-like: no linear model can fit it
    params = neurons.init_mlp(2, 16, 2, seed=5)
    for _ in range(2000):
        _, grads = neurons.mlp_loss_and_grads(X, y, params)
        for k in params:
            params[k] -= 0.5 * grads[k]
    assert (neurons.mlp_predict(X, params) == y).mean() > 0.95
