"""TextCNN pieces against torch.nn.functional.conv1d and explicit loops; the model learns."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_utils import text
from course_utils.models import textcnn
from course_utils.models.classifier import accuracy, train_classifier


@pytest.mark.parametrize("B,T,E,C,k", [(2, 7, 5, 3, 3), (1, 4, 2, 6, 1), (3, 5, 4, 2, 5), (4, 10, 8, 8, 2)])
def test_conv1d_text_equals_torch_conv1d(B, T, E, C, k):
    g = torch.Generator().manual_seed(B * 100 + k)
    X, W, b = torch.randn(B, T, E, generator=g), torch.randn(C, E, k, generator=g), torch.randn(C, generator=g)
    got = textcnn.conv1d_text(X, W, b)
    assert got.shape == (B, C, T - k + 1)
    torch.testing.assert_close(got, F.conv1d(X.transpose(1, 2), W, b))
    if k > 1:  # a flipped kernel (a true convolution) is a different operation
        assert not torch.allclose(got, F.conv1d(X.transpose(1, 2), W.flip(-1), b), atol=1e-4)


def test_conv1d_text_by_the_formula():
    X, W, b = torch.randn(1, 4, 2), torch.randn(1, 2, 3), torch.randn(1)
    t = 1
    want = sum(W[0, e, j] * X[0, t + j, e] for e in range(2) for j in range(3)) + b[0]
    torch.testing.assert_close(textcnn.conv1d_text(X, W, b)[0, 0, t], want)
    with pytest.raises(ValueError, match="shorter than the kernel width 3"):
        textcnn.conv1d_text(torch.randn(1, 2, 2), W, b)


def test_max_over_time_uses_only_windows_inside_the_sentence():
    k = 3
    lengths = torch.tensor([6, 4, 2, 1])
    maps = torch.randn(4, 5, 6 - k + 1)
    for b, L in enumerate(lengths.tolist()):
        maps[b, :, max(L - k + 1, 1) :] = 1e6  # windows that reach into the padding
    got = textcnn.max_over_time(maps, lengths, k)
    for b, L in enumerate(lengths.tolist()):
        torch.testing.assert_close(got[b], maps[b, :, : max(L - k + 1, 1)].amax(-1))
    assert got.max() < 1e6


def test_textcnn_shapes_padding_and_short_sentences():
    torch.manual_seed(0)
    model = textcnn.TextCNN(30, 8, 3, kernel_sizes=(2, 3, 5), num_filters=4).eval()
    assert [c.weight.shape for c in model.convs] == [(4, 8, 2), (4, 8, 3), (4, 8, 5)]
    assert model.output.in_features == 12
    with torch.no_grad():
        short = model(torch.tensor([[5]]), torch.tensor([1]))  # shorter than every kernel
        assert short.shape == (1, 3) and torch.isfinite(short).all()
        alone = model(torch.tensor([[5, 6, 7, 8]]), torch.tensor([4]))
        padded = model(torch.tensor([[5, 6, 7, 8, 0, 0, 0], [1, 2, 3, 4, 5, 6, 7]]), torch.tensor([4, 7]))
    torch.testing.assert_close(padded[:1], alone)


def test_textcnn_features_from_the_reference_pieces():
    torch.manual_seed(1)
    model = textcnn.TextCNN(20, 6, 2, kernel_sizes=(2, 3), num_filters=5, dropout=0.0).eval()
    ids, lengths = torch.tensor([[3, 4, 5, 6, 0], [7, 8, 9, 10, 11]]), torch.tensor([4, 5])
    X = model.embedding(ids)
    pooled = [textcnn.max_over_time(torch.relu(textcnn.conv1d_text(X, c.weight, c.bias)), lengths, k)
              for c, k in zip(model.convs, (2, 3), strict=True)]
    torch.testing.assert_close(model(ids, lengths), model.output(torch.cat(pooled, 1)))


def _bigram_task(n, seed):
    """Label 1 when the bigram (3, 4) occurs; the tokens 3 and 4 also occur apart."""
    rng = np.random.default_rng(seed)
    ids = [list(rng.integers(2, 10, rng.integers(3, 15))) for _ in range(n)]
    labels = np.array([int(any(a == 3 and b == 4 for a, b in zip(s, s[1:], strict=False))) for s in ids])
    return ids, labels


def test_textcnn_learns_an_ngram_and_finds_it():
    ids, labels = _bigram_task(1500, 0)
    test_ids, test_labels = _bigram_task(300, 1)
    torch.manual_seed(0)
    model = textcnn.TextCNN(10, 8, 2, kernel_sizes=(2,), num_filters=8, dropout=0.0)
    history = train_classifier(model, ids, labels, epochs=8, batch_size=32, lr=1e-2, progress=False)
    assert history.loss[-1] < history.loss[0]
    assert accuracy(model, test_ids, test_labels) > 0.97
    vocab = text.Vocabulary(["<pad>", "<unk>", *map(str, range(2, 10))])
    # the filter that weighs most towards class 1 fires most on "3 4"
    weights = model.output.weight[1] - model.output.weight[0]
    best = int(weights.argmax())
    found = textcnn.strongest_ngrams(model, test_ids, vocab, filters=[best], top=3)
    assert found[best][0][0] == "3 4", found
    assert [v for _, v in found[best]] == sorted((v for _, v in found[best]), reverse=True)
