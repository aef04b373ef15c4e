"""course_utils.models.transformer against PyTorch's modules, in float64 (dropout 0, batch_first,
eval mode), comparing only positions whose attention row has at least one allowed key."""

import math

import pytest
import torch
from torch import nn

from course_utils.models import seq2seq as s2s
from course_utils.models import transformer as tf

TOL = dict(rtol=0, atol=1e-10)
B, T, S, E, H, FF = 3, 5, 7, 12, 3, 20


@pytest.fixture(autouse=True)
def float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def _scaled(module, factor=2.0, seed=0):
    """Seeded weights, scaled up so that softmaxes are far from uniform and LayerNorm's
    affine parameters are not the identity."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * factor / math.sqrt(p.shape[-1]))
    return module.eval()


def _padding(lengths, n):
    """PyTorch convention: True at padding."""
    return torch.arange(n)[None, :] >= torch.tensor(lengths)[:, None]


@pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask")
def test_multi_head_attention_matches_pytorch_with_padding_and_masks():
    ref = _scaled(nn.MultiheadAttention(E, H, dropout=0.0, batch_first=True))
    ours = tf.MultiHeadAttention(E, H)
    ours.load_state_dict(ref.state_dict())
    torch.manual_seed(1)
    q, k, v = torch.randn(B, T, E), torch.randn(B, S, E), torch.randn(B, S, E)
    padding = _padding([7, 4, 2], S)
    bool_mask = torch.rand(T, S) < 0.3
    bool_mask[:, 0] = False  # every query keeps key 0, which no row pads: no fully masked row
    float_mask = torch.randn(T, S)
    per_head = torch.rand(B * H, T, S) < 0.3
    per_head[..., 0] = False
    cases = [dict(), dict(key_padding_mask=padding), dict(attn_mask=bool_mask),
             dict(attn_mask=float_mask, key_padding_mask=padding),
             dict(attn_mask=bool_mask, key_padding_mask=padding), dict(attn_mask=per_head)]
    for kwargs in cases:
        for average in (True, False):
            out_ref, w_ref = ref(q, k, v, average_attn_weights=average, **kwargs)
            out, w = ours(q, k, v, average_attn_weights=average, **kwargs)
            torch.testing.assert_close(out, out_ref, **TOL)
            torch.testing.assert_close(w, w_ref, **TOL)
    # the masked keys really get no weight, and the rows sum to 1
    _, w = ours(q, k, v, key_padding_mask=padding, attn_mask=bool_mask, average_attn_weights=False)
    assert (w[padding[:, None, None, :].expand_as(w)] == 0).all()
    assert (w[bool_mask.expand_as(w)] == 0).all()
    torch.testing.assert_close(w.sum(-1), torch.ones(B, H, T), **TOL)


def test_fully_masked_row_gives_zeros_not_nan():
    ours = _scaled(tf.MultiHeadAttention(E, H))
    x = torch.randn(1, 3, E)
    out, w = ours(x, x, x, key_padding_mask=torch.tensor([[True, True, True]]))
    assert not out.isnan().any() and (w == 0).all()


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_layer_matches_pytorch(norm_first):
    ref = _scaled(nn.TransformerEncoderLayer(E, H, FF, dropout=0.0, batch_first=True, norm_first=norm_first))
    ours = tf.EncoderLayer(E, H, FF, norm_first=norm_first)
    ours.load_state_dict(ref.state_dict())
    ours.eval()
    torch.manual_seed(2)
    x = torch.randn(B, T, E)
    padding = _padding([5, 3, 1], T)
    defined = ~padding  # compare real positions only
    for kwargs_ref, kwargs in [(dict(), dict()),
                               (dict(src_key_padding_mask=padding), dict(key_padding_mask=padding)),
                               (dict(src_mask=tf.causal_mask(T), is_causal=True), dict(mask=tf.causal_mask(T)))]:
        out_ref, out = ref(x, **kwargs_ref), ours(x, **kwargs)
        torch.testing.assert_close(out[defined], out_ref[defined], **TOL)
    # inside a stack without the nested-tensor fast path
    stack = nn.TransformerEncoder(ref, num_layers=1, enable_nested_tensor=False).eval()
    torch.testing.assert_close(ours(x, key_padding_mask=padding)[defined],
                               stack(x, src_key_padding_mask=padding)[defined], **TOL)


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_matches_pytorch(norm_first):
    ref = _scaled(nn.TransformerDecoderLayer(E, H, FF, dropout=0.0, batch_first=True, norm_first=norm_first))
    ours = tf.DecoderLayer(E, H, FF, norm_first=norm_first)
    ours.load_state_dict(ref.state_dict())
    ours.eval()
    torch.manual_seed(3)
    y, memory = torch.randn(B, T, E), torch.randn(B, S, E)
    tgt_padding, memory_padding = _padding([5, 4, 2], T), _padding([7, 3, 1], S)
    causal = tf.causal_mask(T)
    out_ref = ref(y, memory, tgt_mask=causal, tgt_is_causal=True, tgt_key_padding_mask=tgt_padding,
                  memory_key_padding_mask=memory_padding)
    out = ours(y, memory, tgt_mask=causal, tgt_key_padding_mask=tgt_padding, memory_key_padding_mask=memory_padding)
    defined = ~tgt_padding  # a causal row keeps position 0, which is never padding
    torch.testing.assert_close(out[defined], out_ref[defined], **TOL)
    # cross-attention weights never reach padded memory
    assert (ours.cross_weights[memory_padding[:, None, None, :].expand_as(ours.cross_weights)] == 0).all()
    torch.testing.assert_close(ours(y, memory), ref(y, memory), **TOL)


def test_causal_mask_and_the_lm_do_not_look_ahead():
    mask = tf.causal_mask(4)
    assert mask.tolist() == [[False, True, True, True], [False, False, True, True],
                             [False, False, False, True], [False, False, False, False]]
    torch.manual_seed(4)
    lm = tf.TransformerLM(11, d_model=16, num_heads=2, num_layers=2, dim_feedforward=32, max_len=10).eval()
    ids = torch.randint(0, 11, (2, 10))
    changed = ids.clone()
    changed[:, 6:] = (changed[:, 6:] + 1) % 11
    a, b = lm(ids), lm(changed)
    torch.testing.assert_close(a[:, :6], b[:, :6], **TOL)
    assert (a[:, 6:] - b[:, 6:]).abs().max() > 1e-3  # and the future positions do change


def test_sinusoidal_positions():
    P = tf.sinusoidal_positions(50, 8)
    assert P.shape == (50, 8)
    torch.testing.assert_close(P[:, 0], torch.sin(torch.arange(50.0)), **TOL)
    torch.testing.assert_close(P[:, 7], torch.cos(torch.arange(50.0) / 10000 ** (6 / 8)), **TOL)
    # P[t+k] is a fixed rotation of P[t] in each (sin, cos) pair: the dot product depends on k only
    torch.testing.assert_close(P[3] @ P[10], P[20] @ P[27], **TOL)


def test_seq2seq_padding_invariance_and_stepwise_decoding_equal_teacher_forcing():
    torch.manual_seed(5)
    model = tf.TransformerSeq2Seq(9, 8, d_model=16, num_heads=2, num_layers=2, dim_feedforward=32).eval()
    src = torch.tensor([[3, 4, 5, 6, 0, 0], [7, 8, 3, 4, 5, 6]])
    lengths = torch.tensor([4, 6])
    tgt = torch.tensor([[2, 5, 6, 7], [2, 4, 4, 5]])
    logits = model(src, lengths, tgt)
    alone = model(src[:1, :4], lengths[:1], tgt[:1])  # no padding at all
    torch.testing.assert_close(logits[:1], alone, **TOL)
    memory = model.encode(src, lengths)
    state = memory.state
    for t in range(tgt.size(1)):
        log_probs, state, weights = model.step(tgt[:, t], state, memory)
        torch.testing.assert_close(log_probs, torch.log_softmax(logits[:, t], -1), **TOL)
        assert (weights[0, 4:] == 0).all()
        torch.testing.assert_close(weights.sum(-1), torch.ones(2), **TOL)
    # greedy decoding of seq2seq works on it
    outputs, attention = s2s.greedy_decode(model, [[3, 4, 5], [6, 7]], bos=2, eos=3, max_len=5)
    assert len(outputs) == 2 and attention[1].shape[1] == 2


def test_positions_matter_only_with_them():
    """Without positions the encoder is permutation-equivariant; with them it is not."""
    torch.manual_seed(6)
    src = torch.tensor([[3, 4, 5, 6, 7]])
    perm = torch.tensor([4, 2, 0, 1, 3])
    for positions, equivariant in [(None, True), ("sinusoidal", False), ("learned", False)]:
        model = tf.TransformerSeq2Seq(9, 8, d_model=16, num_heads=2, positions=positions).eval()
        a = model.encode(src, torch.tensor([5])).outputs
        b = model.encode(src[:, perm], torch.tensor([5])).outputs
        assert torch.allclose(a[:, perm], b, atol=1e-10) == equivariant
