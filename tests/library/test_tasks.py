"""The recall task, the character corpus and the recall training protocol."""

import pytest
import torch

from course_utils import tasks


@pytest.mark.parametrize("lag", [1, 2, 7, 60])
def test_recall_task_layout(lag):
    X, y = tasks.recall_task(500, lag, n_symbols=5, seed=3, n_noise=4)
    assert X.shape == (500, lag + 1) and y.shape == (500,)
    assert X.dtype == torch.int64 and y.dtype == torch.int64
    assert torch.equal(y, X[:, 0])
    assert set(y.tolist()) == set(range(5))  # every symbol appears in 500 draws
    assert torch.all(X[:, -1] == 9)  # the query token, id n_symbols + n_noise
    if lag > 1:
        middle = X[:, 1:lag]
        assert middle.min() >= 5 and middle.max() <= 8
    assert int(X.max()) < tasks.recall_vocab_size(5, 4) == 10


def test_recall_task_is_seeded():
    a, b, c = (tasks.recall_task(50, 10, seed=s) for s in (1, 1, 2))
    assert torch.equal(a[0], b[0]) and not torch.equal(a[0], c[0])


def test_recall_task_rejects_bad_arguments():
    with pytest.raises(ValueError, match="lag >= 1"):
        tasks.recall_task(5, 0)
    with pytest.raises(ValueError, match="n_noise >= 1"):
        tasks.recall_task(5, 3, n_noise=0)


def test_only_position_zero_holds_the_answer():
    # the label is independent of everything but the first token
    X, y = tasks.recall_task(4000, 6, n_symbols=4, seed=0)
    for t in range(1, 6):
        agree = (X[:, t] % 4 == y).float().mean()
        assert 0.15 < agree < 0.35


def test_make_recurrent_kinds():
    for kind in tasks.RECURRENT_KINDS:
        layer = tasks.make_recurrent(kind, 3, 5)
        out = layer(torch.randn(2, 4, 3))[0]
        assert out.shape == (2, 4, 5), kind
    with pytest.raises(ValueError, match="kind must be one of"):
        tasks.make_recurrent("transformer", 3, 5)


def test_train_recall_learns_a_short_lag():
    result = tasks.train_recall("rnn", 2, steps=150, hidden_size=16, n_symbols=4, n_noise=2,
                                batch_size=32, lr=1e-2, eval_size=200, record_every=50)
    assert {"kind", "lag", "seed", "steps", "accuracy", "loss", "seconds", "curve"} <= set(result)
    assert result["accuracy"] > 0.9, result
    assert [s for s, _ in result["curve"]] == [50, 100, 150]


def test_train_recall_is_reproducible():
    kwargs = dict(steps=5, hidden_size=8, batch_size=8, eval_size=50)
    a, b = tasks.train_recall("nvsi", 3, **kwargs), tasks.train_recall("nvsi", 3, **kwargs)
    assert a["loss"] == b["loss"] and a["accuracy"] == b["accuracy"]


def test_char_corpus_and_stream_batches():
    train, test = tasks.char_corpus("train"), tasks.char_corpus("test")
    assert len(train) > 3_000_000 and len(test) > 500_000
    articles = tasks.data.load_bbc_news("train").texts
    assert train.startswith(articles[0] + "\n" + articles[1])
    assert len(train) == sum(map(len, articles)) + len(articles) - 1
    ids = torch.arange(103)
    batches = list(tasks.stream_batches(ids, batch_size=4, seq_len=5))
    assert len(batches) == 5  # 25 ids per stream, 5 chunks of 5
    for x, y in batches:
        assert x.shape == y.shape == (4, 5)
        assert torch.equal(y, x + 1)
    # row b of each batch continues row b of the previous one
    assert torch.equal(batches[1][0][:, 0], batches[0][0][:, -1] + 1)
    with pytest.raises(ValueError, match="too few"):
        next(tasks.stream_batches(ids, batch_size=50, seq_len=5))
