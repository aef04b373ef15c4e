"""The shared recurrent text classifier learns a task that needs the whole sequence."""

import numpy as np
import pytest
import torch

from course_utils.models.classifier import SequenceClassifier, accuracy, predict, train_classifier


def _task(n, seed):
    """Label 1 when token 3 occurs anywhere in a random sequence of 4..12 tokens from {2..9}."""
    rng = np.random.default_rng(seed)
    ids = [list(rng.integers(2, 10, rng.integers(4, 13))) for _ in range(n)]
    return ids, np.array([int(3 in s) for s in ids])


@pytest.mark.parametrize("cell,pooling", [("gru", "max"), ("lstm", "mean"), ("rnn", "last")])
def test_learns_token_presence(cell, pooling):
    ids, labels = _task(400, 0)
    test_ids, test_labels = _task(200, 1)
    model = SequenceClassifier(10, 2, embed_dim=16, hidden_size=16, cell=cell, pooling=pooling)
    before = accuracy(model, test_ids, test_labels)
    history = train_classifier(model, ids, labels, epochs=12, batch_size=32, lr=1e-2, progress=False,
                               val=(test_ids, test_labels))
    assert history.loss[-1] < history.loss[0]
    assert history.metrics["val_accuracy"][-1] > max(0.85, before)


def test_padding_does_not_change_predictions():
    model = SequenceClassifier(10, 3, embed_dim=8, hidden_size=8, cell="gru", pooling="max").eval()
    short = [[2, 3, 4]]
    with torch.no_grad():
        alone = model(torch.tensor(short), torch.tensor([3]))
        padded = model(torch.tensor([[2, 3, 4, 0, 0, 0]]), torch.tensor([3]))
    torch.testing.assert_close(alone, padded)
    assert alone.shape == (1, 3)
    assert predict(model, short + [[5, 6]]).shape == (2,)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="cell must be one of"):
        SequenceClassifier(10, 2, cell="transformer")
    with pytest.raises(ValueError, match="pooling must be one of"):
        SequenceClassifier(10, 2, pooling="first")
