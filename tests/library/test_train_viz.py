"""Training loops, seeding and plots."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
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
                              lambda epoch: [((X[i:i + 20],), y[i:i + 20]) for i in range(0, 100, 20)],
                              epochs=10, clip=1.0, progress=False)
    assert history.loss[-1] < history.loss[0]
    assert not model.training


def test_linear_decay_falls_to_its_floor_then_holds():
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=0.5)
    schedule = train.linear_decay(optimizer, steps=8, end_factor=0.25)
    rates = []
    for _ in range(12):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    expected = [0.5 * max(0.25, 1 - 0.75 * k / 8) for k in range(12)]
    assert np.allclose(rates, expected, rtol=0, atol=1e-15)
    assert rates[0] == 0.5 and rates[8:] == [0.125] * 4
    # fractional steps: the floor is reached part-way, as seq2seq's 2% at 98% of the run
    optimizer = torch.optim.SGD([param], lr=1.0)
    schedule = train.linear_decay(optimizer, steps=0.98 * 100, end_factor=0.02)
    for _ in range(50):
        optimizer.step()
        schedule.step()
    assert abs(optimizer.param_groups[0]["lr"] - 0.5) < 1e-12
    for bad in ({"steps": 0, "end_factor": 0.1}, {"steps": 10, "end_factor": 1.5}):
        with pytest.raises(ValueError, match="linear_decay needs"):
            train.linear_decay(optimizer, **bad)


def test_fit_torch_steps_the_schedule_once_per_batch():
    x = torch.randn(40, 3)
    y = x @ torch.tensor([1.0, -2.0, 0.5])
    model = torch.nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    schedule = train.linear_decay(optimizer, steps=100, end_factor=0.0)

    def batches(epoch):
        for i in range(0, 40, 10):  # 4 batches an epoch
            yield (x[i : i + 10],), y[i : i + 10]

    train.fit_torch(model, lambda out, t: ((out.squeeze(1) - t) ** 2).mean(), optimizer, batches,
                    epochs=3, schedule=schedule, progress=False)
    assert abs(optimizer.param_groups[0]["lr"] - 0.1 * (1 - 12 / 100)) < 1e-12


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


def _missing_glyph_warnings(draw) -> list[str]:
    """The 'Glyph ... missing from font(s)' warnings matplotlib gives while drawing."""
    import warnings

    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        draw(ax)
        fig.canvas.draw()
    plt.close(fig)
    return [str(w.message) for w in caught if "missing from font" in str(w.message)]


def test_without_a_cjk_font_only_undrawable_characters_fall_back_to_pinyin(monkeypatch, capsys):
    monkeypatch.setattr(viz, "cjk_font", lambda: None)
    monkeypatch.setattr(viz, "_reported", set())
    viz.use_style()
    assert viz.cjk_label("loss") == "loss"
    # Latin accents are in DejaVu Sans: they stay (the old fallback mangled "août" to "aoU+00FB t").
    assert viz.cjk_label("French: 26 août, 4. März") == "French: 26 août, 4. März"
    assert viz.cjk_label("Chinese: 2047年11月26日") == "Chinese: 2047 nian 11 yue 26 ri"
    assert viz.cjk_label("设施") == "she shi"
    assert "U+" not in viz.cjk_label("设施很好，值得")
    # One note on stderr, naming each character once, in a form the cache extension reads back.
    err = capsys.readouterr().err
    assert err.count(viz.FALLBACK_NOTE) == 3, err  # 年月日, then 设施, then 很好值得 (，: a comma)
    assert viz.characters_in_note(err) == "年月日设施很好，值得"
    viz.cjk_label("设施")
    assert capsys.readouterr().err == "", "a character is reported once"
    # What the fallback gives, matplotlib draws with the Latin font alone, with no empty box.
    assert _missing_glyph_warnings(lambda ax: ax.set_title(viz.cjk_label("Chinese: 2047年11月26日"))) == []
    # Control: the raw characters with that font are empty boxes, and matplotlib says so.
    assert _missing_glyph_warnings(lambda ax: ax.set_title("Chinese: 2047年11月26日"))


def test_cjk_ticks_turn_pinyin_upright_only_when_it_is_used(monkeypatch):
    import matplotlib.pyplot as plt

    monkeypatch.setattr(viz, "cjk_font", lambda: None)
    fig, ax = plt.subplots()
    assert viz.cjk_ticks(ax, list("设施好")) == ["she", "shi", "hao"]
    assert [t.get_rotation() for t in ax.get_xticklabels()] == [90.0] * 3
    assert viz.cjk_ticks(ax, list("abc")) == ["a", "b", "c"]
    assert [t.get_rotation() for t in ax.get_xticklabels()] == [0.0] * 3
    plt.close(fig)


def test_with_a_cjk_font_chinese_labels_are_drawn_as_they_are(monkeypatch):
    if viz.cjk_font() is None:
        import pytest

        pytest.skip("no CJK font installed (Debian: fonts-noto-cjk)")
    monkeypatch.setattr(viz, "_reported", set())
    viz.use_style()
    assert viz.cjk_label("Chinese: 2047年11月26日") == "Chinese: 2047年11月26日"
    assert all(viz.can_draw(c) for c in "设施很好，值得")
    assert _missing_glyph_warnings(lambda ax: ax.set_title("Chinese: 2047年11月26日")) == []


def test_the_no_font_switch_hides_the_cjk_font(monkeypatch):
    viz.cjk_font.cache_clear()
    monkeypatch.setenv("COURSE_UTILS_NO_CJK_FONT", "1")
    try:
        assert viz.cjk_font() is None and viz.font_families() == [viz.LATIN_FONT]
        assert not viz.can_draw("设")
    finally:
        viz.cjk_font.cache_clear()
