"""The plain RNN reference against torch.nn.RNN / RNNCell, clipping against PyTorch's, sampling
against the softmax it should draw from, and gradient norms against a closed form."""

import math

import pytest
import torch

from course_utils.models import rnn


def _torch_rnn(D, H, seed=0):
    torch.manual_seed(seed)
    return torch.nn.RNN(D, H, batch_first=True).double()


def _our_weights(module):
    """nn.RNN stores (H, D) and (H, H) and two biases; the course stores the transposes and one bias."""
    return module.weight_ih_l0.T, module.weight_hh_l0.T, module.bias_ih_l0 + module.bias_hh_l0


def test_cell_matches_torch_rnncell():
    torch.manual_seed(1)
    cell = torch.nn.RNNCell(5, 7).double()
    x, h = torch.randn(4, 5, dtype=torch.float64), torch.randn(4, 7, dtype=torch.float64)
    W_xh, W_hh, b = cell.weight_ih.T, cell.weight_hh.T, cell.bias_ih + cell.bias_hh
    torch.testing.assert_close(rnn.rnn_cell_forward(x, h, W_xh, W_hh, b), cell(x, h))


def test_cell_would_catch_a_transposed_recurrent_weight():
    torch.manual_seed(2)
    x, h = torch.randn(3, 4), torch.randn(3, 6)
    W_xh, W_hh, b = torch.randn(4, 6), torch.randn(6, 6), torch.randn(6)
    right = rnn.rnn_cell_forward(x, h, W_xh, W_hh, b)
    assert not torch.allclose(right, rnn.rnn_cell_forward(x, h, W_xh, W_hh.T, b))


@pytest.mark.parametrize("B,T,D,H", [(1, 1, 1, 1), (3, 9, 4, 5), (8, 20, 2, 16)])
def test_unrolled_loop_matches_torch_rnn(B, T, D, H):
    module = _torch_rnn(D, H)
    X, h0 = torch.randn(B, T, D, dtype=torch.float64), torch.randn(B, H, dtype=torch.float64)
    want_all, want_last = module(X, h0[None])
    got_all, got_last = rnn.rnn_forward(X, h0, *_our_weights(module))
    assert got_all.shape == (B, T, H) and got_last.shape == (B, H)
    torch.testing.assert_close(got_all, want_all)
    torch.testing.assert_close(got_last, want_last[0])
    torch.testing.assert_close(got_all[:, -1], got_last)


def test_module_from_torch_matches_outputs_and_gradients():
    module = _torch_rnn(3, 6, seed=3)
    ours = rnn.RNN.from_torch(module).double()
    X = torch.randn(4, 11, 3, dtype=torch.float64)
    want, want_h = module(X)
    got, got_h = ours(X)
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(got_h, want_h[0])
    want.pow(2).sum().backward()
    got.pow(2).sum().backward()
    torch.testing.assert_close(ours.W_hh.grad, module.weight_hh_l0.grad.T)
    torch.testing.assert_close(ours.W_xh.grad, module.weight_ih_l0.grad.T)
    torch.testing.assert_close(ours.b_h.grad, module.bias_hh_l0.grad)


def test_module_gradients_pass_finite_differences():
    torch.manual_seed(4)
    model = rnn.RNN(2, 3).double()
    X = torch.randn(2, 5, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda X: model(X)[0], (X,))


def test_module_initialisation_is_pytorchs():
    model = rnn.RNN(10, 100)
    bound = 1 / math.sqrt(100)
    for p in model.parameters():
        assert p.abs().max() <= bound and p.abs().max() > 0.9 * bound


def test_from_torch_rejects_what_it_cannot_copy():
    with pytest.raises(ValueError, match="one-layer"):
        rnn.RNN.from_torch(torch.nn.RNN(2, 3, num_layers=2))


def test_rnn_jacobian_matches_autograd():
    torch.manual_seed(5)
    x, h = torch.randn(3, 4, dtype=torch.float64), torch.randn(3, 5, dtype=torch.float64)
    W_xh, W_hh, b = (torch.randn(4, 5, dtype=torch.float64), torch.randn(5, 5, dtype=torch.float64),
                     torch.randn(5, dtype=torch.float64))
    ours = rnn.rnn_jacobian(x, h, W_xh, W_hh, b)
    for i in range(3):
        want = torch.autograd.functional.jacobian(
            lambda hh, i=i: rnn.rnn_cell_forward(x[i:i + 1], hh[None], W_xh, W_hh, b)[0], h[i])
        torch.testing.assert_close(ours[i], want)


def test_gradient_norms_of_a_linear_step_follow_powers_of_the_matrix():
    # h_{t+1} = h_t A: d(sum h_T)/dh_t = 1 (A^T)^(T-1-t), one row per example.
    torch.manual_seed(6)
    B, T, H = 3, 7, 4
    A = torch.randn(H, H, dtype=torch.float64) * 0.6
    X, h0 = torch.zeros(B, T, 1, dtype=torch.float64), torch.randn(B, H, dtype=torch.float64)
    got = rnn.gradient_norms_through_time(lambda x, h: h @ A, X, h0)
    want = torch.stack([(torch.ones(B, H, dtype=torch.float64) @ torch.linalg.matrix_power(A.T, T - 1 - t)).norm()
                        for t in range(T)])
    assert got.shape == (T,)
    torch.testing.assert_close(got, want)
    assert math.isclose(float(got[-1]), math.sqrt(B * H))


def test_gradient_norms_of_a_step_that_forgets_are_zero():
    X, h0 = torch.randn(2, 4, 3), torch.randn(2, 5)
    W = torch.randn(3, 5, requires_grad=True)
    got = rnn.gradient_norms_through_time(lambda x, h: torch.tanh(x @ W), X, h0)
    assert torch.equal(got[:-1], torch.zeros(3)) and got[-1] > 0


def test_clip_grad_norm_matches_pytorch():
    torch.manual_seed(7)
    params = [torch.nn.Parameter(torch.randn(s)) for s in [(3, 4), (5,), (2, 2)]]
    for p in params:
        p.grad = torch.randn_like(p) * 3
    grads = [p.grad.clone() for p in params]
    want_norm = torch.nn.utils.clip_grad_norm_(params, 2.0)
    got_norm = rnn.clip_grad_norm(grads, 2.0)
    assert isinstance(got_norm, float) and math.isclose(got_norm, float(want_norm), rel_tol=1e-6)
    for g, p in zip(grads, params, strict=True):
        torch.testing.assert_close(g, p.grad, rtol=1e-5, atol=1e-7)
    assert math.isclose(math.sqrt(sum(float((g**2).sum()) for g in grads)), 2.0, rel_tol=1e-5)


def test_clip_grad_norm_scales_jointly_and_leaves_small_gradients_alone():
    big, small = torch.tensor([30.0, 40.0]), torch.tensor([0.0, 0.5])
    norm = rnn.clip_grad_norm([big, small], 5.0)
    assert math.isclose(norm, math.sqrt(2500.25))
    ratio = 5.0 / norm
    torch.testing.assert_close(big, torch.tensor([30.0, 40.0]) * ratio)
    torch.testing.assert_close(small, torch.tensor([0.0, 0.5]) * ratio)  # not clipped on its own
    g = torch.tensor([0.3, 0.4])
    assert math.isclose(rnn.clip_grad_norm([g], 1.0), 0.5, rel_tol=1e-6)
    torch.testing.assert_close(g, torch.tensor([0.3, 0.4]))


def test_greedy_sampling_is_the_argmax():
    logits = torch.tensor([[0.1, 2.0, -1.0], [5.0, 4.0, 4.9]])
    assert torch.equal(rnn.sample_next(logits, 0, torch.Generator().manual_seed(0)), torch.tensor([1, 0]))


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_sampling_frequencies_follow_the_tempered_softmax(temperature):
    logits = torch.tensor([[1.0, 0.0, -1.0, 0.5]]).repeat(40_000, 1)
    ids = rnn.sample_next(logits, temperature, torch.Generator().manual_seed(1))
    assert ids.shape == (40_000,) and ids.dtype == torch.int64
    freq = torch.bincount(ids, minlength=4).double() / len(ids)
    want = torch.softmax(logits[0].double() / temperature, -1)
    assert (freq - want).abs().max() < 0.015, (freq, want)
    if temperature != 1.0:  # the temperature multiplied instead of divided would give this
        wrong = torch.softmax(logits[0].double() * temperature, -1)
        assert (freq - wrong).abs().max() > 0.05


def test_sampling_is_reproducible_with_a_generator():
    logits = torch.randn(50, 7)
    a = rnn.sample_next(logits, 1.0, torch.Generator().manual_seed(3))
    b = rnn.sample_next(logits, 1.0, torch.Generator().manual_seed(3))
    c = rnn.sample_next(logits, 1.0, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_char_lm_shapes_and_generation():
    torch.manual_seed(8)
    model = rnn.CharLM(vocab_size=12, hidden_size=16, embedding_size=4)
    logits, h = model(torch.randint(0, 12, (3, 9)))
    assert logits.shape == (3, 9, 12) and h.shape == (1, 3, 16)
    a = model.generate([1, 2, 3], 20, temperature=1.0, generator=torch.Generator().manual_seed(0))
    b = model.generate([1, 2, 3], 20, temperature=1.0, generator=torch.Generator().manual_seed(0))
    assert len(a) == 20 and a == b and all(0 <= i < 12 for i in a)
    greedy = model.generate([1, 2, 3], 5, temperature=0)
    assert greedy == model.generate([1, 2, 3], 5, temperature=0)


def test_char_lm_state_carries_over():
    # reading a sequence in two halves with the state carried equals reading it whole
    torch.manual_seed(9)
    model = rnn.CharLM(vocab_size=10, hidden_size=8, embedding_size=3)
    ids = torch.randint(0, 10, (2, 12))
    whole, _ = model(ids)
    first, h = model(ids[:, :5])
    second, _ = model(ids[:, 5:], h)
    torch.testing.assert_close(torch.cat([first, second], 1), whole)


@pytest.mark.parametrize("recurrent", [rnn.RNN(5, 4), torch.nn.GRU(5, 4, batch_first=True),
                                       torch.nn.LSTM(5, 4, batch_first=True)])
def test_last_state_classifier_accepts_any_batch_first_layer(recurrent):
    model = rnn.LastStateClassifier(recurrent, vocab_size=5, n_classes=3)
    ids = torch.randint(0, 5, (6, 8))
    assert model(ids).shape == (6, 3)
    # only the last step matters through the last output: changing nothing else keeps it
    out = recurrent(torch.nn.functional.one_hot(ids, 5).float())[0][:, -1]
    torch.testing.assert_close(model(ids), model.readout(out))
