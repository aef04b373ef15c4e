"""The recall task and the protocol that trains a cell on it."""

import pytest
import torch

from course_utils import recall


@pytest.mark.parametrize("lag", [1, 2, 7, 60])
def test_recall_task_layout(lag):
    X, y = recall.recall_task(500, lag, n_symbols=5, seed=3, n_noise=4)
    assert X.shape == (500, lag + 1) and y.shape == (500,)
    assert X.dtype == torch.int64 and y.dtype == torch.int64
    assert torch.equal(y, X[:, 0])
    assert set(y.tolist()) == set(range(5))  # every symbol appears in 500 draws
    assert torch.all(X[:, -1] == 9)  # the query token, id n_symbols + n_noise
    if lag > 1:
        middle = X[:, 1:lag]
        assert middle.min() >= 5 and middle.max() <= 8
    assert int(X.max()) < recall.recall_vocab_size(5, 4) == 10


def test_recall_task_is_seeded():
    a, b, c = (recall.recall_task(50, 10, seed=s) for s in (1, 1, 2))
    assert torch.equal(a[0], b[0]) and not torch.equal(a[0], c[0])


def test_recall_task_rejects_bad_arguments():
    with pytest.raises(ValueError, match="lag >= 1"):
        recall.recall_task(5, 0)
    with pytest.raises(ValueError, match="n_noise >= 1"):
        recall.recall_task(5, 3, n_noise=0)


def test_only_position_zero_holds_the_answer():
    # the label is independent of everything but the first token
    X, y = recall.recall_task(4000, 6, n_symbols=4, seed=0)
    for t in range(1, 6):
        agree = (X[:, t] % 4 == y).float().mean()
        assert 0.15 < agree < 0.35


def test_make_recurrent_kinds():
    for kind in recall.RECURRENT_KINDS:
        layer = recall.make_recurrent(kind, 3, 5)
        out = layer(torch.randn(2, 4, 3))[0]
        assert out.shape == (2, 4, 5), kind
    with pytest.raises(ValueError, match="kind must be one of"):
        recall.make_recurrent("transformer", 3, 5)


def test_train_recall_learns_a_short_lag():
    result = recall.train_recall("rnn", 2, steps=150, hidden_size=16, n_symbols=4, n_noise=2,
                                batch_size=32, lr=1e-2, eval_size=200, record_every=50)
    assert {"kind", "lag", "seed", "steps", "accuracy", "loss", "seconds", "curve"} <= set(result)
    assert result["accuracy"] > 0.9, result
    assert [s for s, _ in result["curve"]] == [50, 100, 150]


def test_train_recall_is_reproducible():
    kwargs = dict(steps=5, hidden_size=8, batch_size=8, eval_size=50)
    a, b = recall.train_recall("nvsi", 3, **kwargs), recall.train_recall("nvsi", 3, **kwargs)
    assert a["loss"] == b["loss"] and a["accuracy"] == b["accuracy"]
