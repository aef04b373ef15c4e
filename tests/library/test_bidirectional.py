"""The bidirectional reference against torch.nn.LSTM(bidirectional=True) on packed batches."""

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from course_utils.models import bidirectional as bd


def _packed_lstm(lstm, X, lengths):
    packed = pack_padded_sequence(X, lengths, batch_first=True, enforce_sorted=False)
    out, (h_n, c_n) = lstm(packed)
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=X.size(1))
    return out, h_n, c_n


def _batch(seed, B=4, T=7, D=5):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, T + 1, (B,), generator=g)
    lengths[0] = T
    return torch.randn(B, T, D, generator=g), lengths


def test_reverse_padded_reverses_each_row_within_its_length():
    X, lengths = _batch(0)
    out = bd.reverse_padded(X, lengths)
    for b, L in enumerate(lengths.tolist()):
        torch.testing.assert_close(out[b, :L], X[b, :L].flip(0))
        torch.testing.assert_close(out[b, L:], X[b, L:])  # padding stays at the end, untouched
    torch.testing.assert_close(bd.reverse_padded(out, lengths), X)  # an involution
    ids = torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0]])
    assert bd.reverse_padded(ids, torch.tensor([3, 2])).tolist() == [[3, 2, 1, 0], [5, 4, 0, 0]]


def _copy_direction(lstm, suffix):
    single = nn.LSTM(lstm.input_size, lstm.hidden_size, batch_first=True)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(single, f"{name}_l0").copy_(getattr(lstm, f"{name}_l0{suffix}"))
    return single


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bidirectional_outputs_equal_a_packed_bidirectional_lstm(seed):
    torch.manual_seed(seed)
    lstm = nn.LSTM(5, 3, batch_first=True, bidirectional=True)
    X, lengths = _batch(seed)
    want, _, _ = _packed_lstm(lstm, X, lengths)
    out_fwd, _ = _copy_direction(lstm, "")(X)
    out_bwd, _ = _copy_direction(lstm, "_reverse")(bd.reverse_padded(X, lengths))
    got = bd.bidirectional_outputs(out_fwd, out_bwd, lengths)
    assert got.shape == (4, 7, 6)
    torch.testing.assert_close(got, want)
    # Without re-reversing, the backward half is wrong wherever a sequence has 2+ steps.
    wrong = torch.cat([out_fwd, out_bwd], -1) * (want != 0)
    assert not torch.allclose(wrong, want, atol=1e-4)


@pytest.mark.parametrize("num_layers", [1, 2, 3])
def test_stacked_bidirectional_lstm_equals_torch(num_layers):
    torch.manual_seed(num_layers)
    lstm = nn.LSTM(5, 4, num_layers=num_layers, batch_first=True, bidirectional=True)
    X, lengths = _batch(10 + num_layers)
    want_out, want_h, want_c = _packed_lstm(lstm, X, lengths)
    layers = bd.split_directions(lstm)
    assert len(layers) == num_layers
    assert layers[-1][1].weight_ih_l0.shape == ((4 * 4, 5) if num_layers == 1 else (4 * 4, 2 * 4))
    out, h_n, c_n = bd.bidirectional_lstm(X, lengths, layers)
    assert out.shape == (4, 7, 8) and h_n.shape == c_n.shape == (2 * num_layers, 4, 4)
    torch.testing.assert_close(out, want_out)
    torch.testing.assert_close(h_n, want_h)
    torch.testing.assert_close(c_n, want_c)


def test_h_n_layout_matches_slices_of_output():
    """h_n[-2] (top layer, forward) is the output at each last real step, first half;
    h_n[-1] (top layer, backward) is the output at step 0, second half."""
    torch.manual_seed(3)
    lstm = nn.LSTM(5, 4, num_layers=2, batch_first=True, bidirectional=True)
    X, lengths = _batch(3)
    out, h_n, _ = _packed_lstm(lstm, X, lengths)
    rows = torch.arange(4)
    torch.testing.assert_close(h_n.view(2, 2, 4, 4)[1, 0], out[rows, lengths - 1, :4])
    torch.testing.assert_close(h_n.view(2, 2, 4, 4)[1, 1], out[:, 0, 4:])
    assert not torch.allclose(h_n[-1], out[rows, lengths - 1, 4:])


def test_unpacked_padding_changes_torchs_backward_direction():
    """Why the course reverses within lengths: nn.LSTM on a padded batch reads the padding
    first in its backward direction, so a sentence's outputs depend on its batch."""
    torch.manual_seed(4)
    lstm = nn.LSTM(5, 4, batch_first=True, bidirectional=True)
    X = torch.randn(1, 3, 5)
    padded = torch.cat([X, torch.zeros(1, 4, 5)], dim=1)
    alone, _ = lstm(X)
    naive, _ = lstm(padded)
    torch.testing.assert_close(naive[:, :3, :4], alone[:, :, :4])  # forward half unaffected
    assert not torch.allclose(naive[:, :3, 4:], alone[:, :, 4:], atol=1e-4)
    fwd, bwd = bd.split_directions(lstm)[0]
    exact, _, _ = bd.bidirectional_lstm(padded, torch.tensor([3]), [(fwd, bwd)])
    torch.testing.assert_close(exact[:, :3], alone)


def test_split_directions_rejects_a_unidirectional_lstm():
    with pytest.raises(ValueError, match="bidirectional=True"):
        bd.split_directions(nn.LSTM(3, 2, batch_first=True))
