"""The encoder-decoder and its decoders: padding, teacher forcing against step-by-step
decoding, beam search against exhaustive search, and a short training run."""

import itertools
import math

import numpy as np
import pytest
import torch

from course_utils import data, text
from course_utils.models import seq2seq as s2s

LOG = math.log


def toy_model(attention="scaled", seed=0, src_vocab=12, tgt_vocab=9):
    torch.manual_seed(seed)
    return s2s.Seq2Seq(src_vocab, tgt_vocab, embed_dim=8, hidden_size=6, attention=attention).double().eval()


def toy_sources(seed=0, n=5, vocab=12):
    rng = np.random.default_rng(seed)
    return [rng.integers(1, vocab, size=rng.integers(2, 9)).tolist() for _ in range(n)]


def test_target_vocabulary_round_trip():
    vocab = s2s.target_vocabulary(["2024-01-31", "1999-12-01"])
    assert vocab.tokens[:4] == [text.PAD, text.UNK, s2s.BOS, s2s.EOS]
    ids = s2s.encode_target(vocab, "2024-01-31")
    assert ids[0] == vocab.index[s2s.BOS] and ids[-1] == vocab.index[s2s.EOS] and len(ids) == 12
    assert s2s.decode_target(vocab, ids + [5, 6]) == "2024-01-31"
    assert s2s.decode_target(vocab, ids[1:6]) == "2024-"


def test_reverse_padded_reverses_within_each_length():
    x = torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0], [6, 7, 8, 9]])
    lengths = torch.tensor([3, 2, 4])
    assert s2s.reverse_padded(x, lengths).tolist() == [[3, 2, 1, 0], [5, 4, 0, 0], [9, 8, 7, 6]]
    y = torch.randn(3, 4, 5)
    torch.testing.assert_close(s2s.reverse_padded(s2s.reverse_padded(y, lengths), lengths), y)


@pytest.mark.parametrize("attention", s2s.ATTENTION)
def test_padding_does_not_change_the_encoding(attention):
    model = toy_model(attention)
    src, lengths = text.pad_batch(toy_sources())
    padded = torch.cat([src, torch.zeros(len(src), 3, dtype=torch.long)], dim=1)
    a, b = model.encode(src, lengths), model.encode(padded, lengths)
    mask = a.mask.unsqueeze(-1)
    torch.testing.assert_close(a.outputs * mask, b.outputs[:, : src.size(1)] * mask)
    torch.testing.assert_close(a.summary, b.summary)
    # the summary is the forward GRU's last real state and the backward GRU's state at position 0
    H = model.forward_rnn.hidden_size
    for i, n in enumerate(lengths.tolist()):
        emb = model.src_embedding(src[i : i + 1, :n])
        _, h_forward = model.forward_rnn(emb)
        _, h_backward = model.backward_rnn(emb.flip(1))
        torch.testing.assert_close(a.summary[i], torch.cat([h_forward[0, 0], h_backward[0, 0]]))
        torch.testing.assert_close(a.outputs[i, 0, H:], h_backward[0, 0])


@pytest.mark.parametrize("attention", s2s.ATTENTION)
def test_teacher_forcing_equals_step_by_step_decoding(attention):
    model = toy_model(attention, seed=1)
    src, lengths = text.pad_batch(toy_sources(seed=1))
    tgt_in = torch.randint(1, 9, (len(src), 6), generator=torch.Generator().manual_seed(0))
    logits = model(src, lengths, tgt_in)
    assert logits.shape == (len(src), 6, 9)
    memory = model.encode(src, lengths)
    state = memory.state
    for t in range(tgt_in.size(1)):
        log_probs, state, weights = model.step(tgt_in[:, t], state, memory)
        torch.testing.assert_close(log_probs, torch.log_softmax(logits[:, t], -1))
        if attention is None:
            assert torch.all(weights == 0)
        else:
            torch.testing.assert_close(weights.sum(-1), torch.ones(len(src), dtype=weights.dtype))
            assert torch.all(weights[~memory.mask] == 0)


def test_attention_kinds_use_the_reference_formulas():
    model = toy_model("additive", seed=2)
    src, lengths = text.pad_batch(toy_sources(seed=2, n=2))
    memory = model.encode(src, lengths)
    states = torch.randn(2, 3, model.decoder.hidden_size, dtype=torch.float64)
    context, weights = model.attend(states, memory)
    for b, t in itertools.product(range(2), range(3)):
        n = int(lengths[b])
        keys = memory.outputs[b, :n]
        scores = torch.tanh(model.W_q(states[b, t]) + model.W_k(keys)) @ model.v
        torch.testing.assert_close(weights[b, t, :n], torch.softmax(scores, 0))
        torch.testing.assert_close(context[b, t], torch.softmax(scores, 0) @ keys)
    for kind, scale in (("dot", 1.0), ("scaled", 1 / math.sqrt(states.size(-1)))):
        model.attention = kind
        _, weights = model.attend(states, memory)
        for b in range(2):
            n = int(lengths[b])
            expected = torch.softmax(scale * states[b] @ memory.outputs[b, :n].T, -1)
            torch.testing.assert_close(weights[b, :, :n], expected)


# --------------------------------------------------------------------------- beam search


def table_step(seed, V=4, end_id=0):
    """A deterministic language: each prefix has its own random next-token distribution."""
    def step(prefix):
        rng = np.random.default_rng([seed, *prefix])
        logits = rng.normal(size=V) * 2
        return logits - np.log(np.exp(logits).sum())
    return step


def exhaustive_best(step, start_id, end_id, V, max_len):
    """Every finished sequence up to max_len and every unfinished one of length max_len."""
    best = None
    frontier = [([start_id], 0.0)]
    for t in range(max_len):
        nxt = []
        for prefix, score in frontier:
            for token, lp in enumerate(step(prefix)):
                hyp = (prefix + [token], score + lp)
                if token == end_id or t == max_len - 1:
                    if best is None or (-hyp[1], hyp[0]) < (-best[1], best[0]):
                        best = hyp
                else:
                    nxt.append(hyp)
        frontier = nxt
    return best[0][1:]


@pytest.mark.parametrize("seed", range(6))
def test_a_wide_beam_is_exhaustive_search(seed):
    step = table_step(seed)
    assert s2s.beam_search(step, 9, 0, beam_size=4**4, max_len=4) == exhaustive_best(step, 9, 0, 4, 4)


@pytest.mark.parametrize("seed", range(6))
def test_beam_of_one_is_greedy(seed):
    step = table_step(seed)
    prefix = [9]
    for _ in range(5):
        prefix.append(int(np.argmax(step(prefix))))
        if prefix[-1] == 0:
            break
    assert s2s.beam_search(step, 9, 0, beam_size=1, max_len=5) == prefix[1:]


def test_beam_two_finds_what_greedy_misses():
    # tokens: 0 = end, 1 = "a", 2 = "b". Greedy takes "a" (0.5), then "a" again (a tie with
    # "b", broken by the lower id), then end: 0.5 * 0.35 * 0.4 = 0.07. "b end" has 0.4 * 0.9.
    table = {(5,): [0.1, 0.5, 0.4], (5, 1): [0.3, 0.35, 0.35], (5, 2): [0.9, 0.05, 0.05]}

    def step(prefix):
        return np.log(table.get(tuple(prefix), [0.4, 0.3, 0.3]))

    assert s2s.beam_search(step, 5, 0, beam_size=1, max_len=3) == [1, 1, 0]
    assert s2s.beam_search(step, 5, 0, beam_size=2, max_len=3) == [2, 0]


def test_beam_search_ties_and_max_len():
    uniform = lambda prefix: np.full(3, LOG(1 / 3))  # noqa: E731
    assert s2s.beam_search(uniform, 7, 0, beam_size=3, max_len=4) == [0]  # ties: smallest ids
    never_end = lambda prefix: np.log([1e-9, 0.6, 0.4 - 1e-9])  # noqa: E731
    assert s2s.beam_search(never_end, 7, 0, beam_size=2, max_len=3) == [1, 1, 1]


def test_finished_hypotheses_are_not_extended():
    calls = []

    def step(prefix):
        calls.append(list(prefix))
        return np.log([0.6, 0.4]) if len(prefix) == 1 else np.log([0.5, 0.5])

    assert s2s.beam_search(step, 3, 0, beam_size=2, max_len=5) == [0]
    assert all(0 not in prefix[1:] for prefix in calls)


# --------------------------------------------------------------------------- decoding the model


@pytest.mark.parametrize("attention", [None, "scaled"])
def test_greedy_beam_and_sampling_agree_where_they_must(attention):
    model = toy_model(attention, seed=3)
    sources = toy_sources(seed=3, n=4)
    greedy, weights = s2s.greedy_decode(model, sources, bos=2, eos=3, max_len=7, batch_size=3)
    assert s2s.beam_decode(model, sources, 2, 3, beam_size=1, max_len=7, skip_confident=False) == greedy
    cold, _ = s2s.sample_decode(model, sources, 2, 3, temperature=1e-4, max_len=7)
    assert cold == greedy
    for out, w, src in zip(greedy, weights, sources, strict=True):
        assert w.shape == (len(out), len(src))
        assert len(out) == 7 or out[-1] == 3
    # beam search maximises the same score that sequence_log_probs computes
    beam = s2s.beam_decode(model, sources, 2, 3, beam_size=4, max_len=7)
    g_scores = s2s.sequence_log_probs(model, sources, greedy, bos=2)
    b_scores = s2s.sequence_log_probs(model, sources, beam, bos=2)
    assert np.all(b_scores >= g_scores - 1e-9)
    for src, out, score in zip(sources, greedy, g_scores, strict=True):
        step = s2s.step_function(model, src)
        prefix, total = [2], 0.0
        for token in out:
            total += float(step(prefix)[token])
            prefix.append(token)
        assert np.isclose(total, score)


def test_skipping_confident_sources_changes_no_result():
    torch.manual_seed(6)
    model = s2s.Seq2Seq(12, 5, embed_dim=8, hidden_size=6, attention="scaled").double().eval()
    with torch.no_grad():  # sharper distributions: some sources are confident, some not
        model.output.weight.mul_(14)
        model.output.bias.mul_(14)
    sources = toy_sources(seed=6, n=30)
    greedy, _ = s2s.greedy_decode(model, sources, 2, 3, max_len=4)
    p = np.exp(s2s.sequence_log_probs(model, sources, greedy, 2))
    assert (p > 0.5).sum() >= 3 and (p <= 0.5).sum() >= 3, p
    for k in (2, 3):
        full = s2s.beam_decode(model, sources, 2, 3, beam_size=k, max_len=4, skip_confident=False)
        assert s2s.beam_decode(model, sources, 2, 3, beam_size=k, max_len=4) == full
        assert full != greedy  # the search does change some outputs


def test_cached_step_runs_each_prefix_once():
    calls = []

    def advance(token, state):
        calls.append(token)
        new = state * 10 + token
        return torch.tensor([float(new), 0.0]), new

    step = s2s.cached_step(0, advance)
    assert step([3]).tolist() == [3.0, 0.0]
    assert step([3, 1, 4]).tolist() == [314.0, 0.0]  # runs [3, 1] on the way
    assert step([3, 1]).tolist() == [31.0, 0.0] and step([3, 1, 5]).tolist() == [315.0, 0.0]
    assert calls == [3, 1, 4, 5]


def test_sampling_is_seeded_and_temperature_spreads_it():
    model = toy_model("scaled", seed=4)
    sources = toy_sources(seed=4, n=40)
    hot_a, _ = s2s.sample_decode(model, sources, 2, 3, temperature=2.0, seed=1, max_len=6)
    hot_b, _ = s2s.sample_decode(model, sources, 2, 3, temperature=2.0, seed=1, max_len=6)
    hot_c, _ = s2s.sample_decode(model, sources, 2, 3, temperature=2.0, seed=2, max_len=6)
    assert hot_a == hot_b and hot_a != hot_c


@pytest.fixture
def one_thread():
    """Small models train faster on one thread, and much faster on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_training_learns_a_little_date_set(one_thread):
    pairs = data.load_dates(300, seed=5)
    src_vocab = text.Vocabulary.build([s for s, _ in pairs])
    tgt_vocab = s2s.target_vocabulary([t for _, t in pairs])
    src = [src_vocab.encode(s) for s, _ in pairs]
    tgt = [s2s.encode_target(tgt_vocab, t) for _, t in pairs]
    torch.manual_seed(0)
    model = s2s.Seq2Seq(len(src_vocab), len(tgt_vocab), embed_dim=16, hidden_size=32, attention="scaled")
    history = s2s.train_seq2seq(model, src, tgt, epochs=6, batch_size=32, lr=1e-2, progress=False)
    assert history.loss[-1] < 0.6 * history.loss[0]
    out, _ = s2s.greedy_decode(model, src[:50], tgt_vocab.index[s2s.BOS], tgt_vocab.index[s2s.EOS])
    predictions = [s2s.decode_target(tgt_vocab, o) for o in out]
    # year digits and dashes are the easy part: most predictions at least look like dates
    assert np.mean([len(p) == 10 and p[4] == p[7] == "-" for p in predictions]) > 0.8


def test_exact_match():
    assert s2s.exact_match(["a", "b", "c"], ["a", "x", "c"]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        s2s.exact_match(["a"], [])

