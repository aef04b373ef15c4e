"""Training loops, seeding and plots."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import torch

from course_utils import train, viz
from course_utils.models import neurons


def _blobs(seed=0):
    rng = np.random.default_rng(seed)
    X = np.concatenate([rng.normal(-1, 0.5, (50, 2)), rng.normal(1, 0.5, (50, 2))])
    return X, np.repeat([0, 1], 50)


def test_fit_numpy_lowers_the_loss_and_is_reproducible():
    X, y = _blobs()
    runs = []
    for _ in range(2):
        params = neurons.init_mlp(2, 8, 2, seed=1)
        history = train.fit_numpy(neurons.mlp_loss_and_grads, params, X, y, lr=0.3, epochs=15,
                                  batch_size=10, seed=2, progress=False,
                                  evaluate=lambda p=params: {"acc": float((neurons.mlp_predict(X, p) == y).mean())})
        runs.append(history)
    assert runs[0].loss[-1] < 0.5 * runs[0].loss[0]
    assert runs[0].loss == runs[1].loss
    assert len(runs[0].metrics["acc"]) == 15 and runs[0].metrics["acc"][-1] > 0.95
    assert runs[0].seconds > 0


def test_fit_torch_trains_a_linear_model():
    train.set_seed(0)
    X, y = (torch.tensor(a) for a in _blobs())
    model = torch.nn.Linear(2, 2).double()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    history = train.fit_torch(model, torch.nn.functional.cross_entropy, optimizer,
                              lambda: [((X[i:i + 20],), y[i:i + 20]) for i in range(0, 100, 20)],
                              epochs=10, clip=1.0, progress=False)
    assert history.loss[-1] < history.loss[0]
    assert not model.training


def test_minibatches_cover_every_index_once():
    batches = list(train.minibatches(10, 4, np.random.default_rng(0)))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(np.concatenate(batches).tolist()) == list(range(10))


def test_progress_bars_are_off_under_nbgrader(monkeypatch):
    assert train.show_progress(None) is True
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert train.show_progress(True) is False


def test_set_seed_makes_torch_and_numpy_repeat():
    train.set_seed(7)
    a = (np.random.rand(), torch.rand(1).item())
    train.set_seed(7)
    assert (np.random.rand(), torch.rand(1).item()) == a


def test_plot_loss_draws_one_line_per_history():
    viz.use_style()
    ax = viz.plot_loss({"a": [3, 2, 1], "b": [4, 3]}, log=True, title="t")
    assert [line.get_label() for line in ax.get_lines()] == ["a", "b"]
    assert ax.get_yscale() == "log" and ax.get_title() == "t"
    assert viz.plot_loss([1.0, 0.5]).get_lines()[0].get_ydata().tolist() == [1.0, 0.5]


def test_cjk_labels_never_become_empty_boxes(monkeypatch):
    assert viz.cjk_label("loss") == "loss"
    monkeypatch.setattr(viz, "cjk_font", lambda: None)
    assert viz.cjk_label("中文") == "U+4E2D U+6587"
    monkeypatch.setattr(viz, "cjk_font", lambda: "Noto Sans CJK SC")
    assert viz.cjk_label("中文") == "中文"
