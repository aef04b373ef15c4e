"""Vocabulary, padding, masks and pooling over time."""

import numpy as np
import pytest
import torch

from course_utils import text


def test_vocabulary_orders_by_frequency_and_maps_unknowns():
    vocab = text.Vocabulary.build([["a", "b", "a"], ["c", "a", "b"]], min_count=2)
    assert vocab.tokens == ["<pad>", "<unk>", "a", "b"]
    assert vocab.encode(["b", "z"]) == [3, 1]
    assert vocab.decode([2, 0, 3]) == ["a", "b"]
    assert len(text.Vocabulary.build([list("aabbc")], max_size=3)) == 3
    with pytest.raises(ValueError, match="starts with"):
        text.Vocabulary(["a"])


def test_pad_batch_and_mask():
    ids, lengths = text.pad_batch([[5, 6, 7], [8], []])
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0], [0, 0, 0]]
    assert lengths.tolist() == [3, 1, 0]
    assert text.length_mask(lengths, 3).tolist() == [[True] * 3, [True, False, False], [False] * 3]
    assert text.pad_batch([[1, 2, 3]], max_len=2)[0].tolist() == [[1, 2]]


def test_pooling_ignores_padding():
    out = torch.tensor([[[1.0], [3.0], [100.0]], [[-2.0], [-50.0], [-60.0]]])
    lengths = torch.tensor([2, 1])
    mask = text.length_mask(lengths, 3)
    assert text.masked_mean(out, mask).flatten().tolist() == [2.0, -2.0]
    assert text.masked_max(out, mask).flatten().tolist() == [3.0, -2.0]
    assert text.last_state(out, lengths).flatten().tolist() == [3.0, -2.0]


def test_batches_cover_every_example_once_with_its_label():
    ids = [[i] * (i % 7 + 1) for i in range(103)]
    labels = np.arange(103) % 3
    seen = []
    for x, lengths, y in text.batches(ids, labels, 10, seed=1):
        for row, length, label in zip(x, lengths, y, strict=True):
            i = int(row[0])
            assert int(length) == len(ids[i]) and int(label) == labels[i]
            seen.append(i)
    assert sorted(seen) == list(range(103))


def test_stream_batches_continue_each_stream():
    ids = torch.arange(103)
    batches = list(text.stream_batches(ids, batch_size=4, seq_len=5))
    assert len(batches) == 5  # 25 ids per stream, 5 chunks of 5
    for x, y in batches:
        assert x.shape == y.shape == (4, 5)
        assert torch.equal(y, x + 1)
    # row b of each batch continues row b of the previous one
    assert torch.equal(batches[1][0][:, 0], batches[0][0][:, -1] + 1)
    with pytest.raises(ValueError, match="too few"):
        next(text.stream_batches(ids, batch_size=50, seq_len=5))


def test_length_buckets_group_similar_lengths_and_keep_every_index():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 200, size=1000).tolist()
    order = rng.permutation(1000)
    fixed = text.length_buckets(order, lengths, 4)
    assert sorted(i for g in fixed for i in g) == list(range(1000))
    assert [len(g) for g in fixed[:50]] == [4] * 50
    # within a chunk of 50 batches the lengths never decrease (stable sort of the chunk)
    first_chunk = [lengths[i] for g in fixed[:50] for i in g]
    assert first_chunk == sorted(first_chunk)
    shuffled = text.length_buckets(order, lengths, 4, seed=3)
    assert sorted(map(tuple, shuffled)) == sorted(map(tuple, fixed))  # the same batches
    assert shuffled != fixed  # in another order
    assert shuffled == text.length_buckets(order, lengths, 4, seed=3)
