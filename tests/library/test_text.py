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
