"""The Word2Vec reference against naive loops, finite differences, PyTorch and gensim."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from gradcheck import check_gradient

from course_utils import data
from course_utils.models import word2vec as w2v


def naive_pairs(ids, window):
    return [(ids[i], ids[j]) for i in range(len(ids)) for j in range(len(ids)) if 0 < abs(i - j) <= window]


@pytest.mark.parametrize("length, window", [(0, 2), (1, 1), (2, 1), (7, 1), (7, 3), (5, 9)])
def test_skipgram_pairs_match_a_double_loop(length, window):
    ids = np.random.default_rng(length).integers(0, 50, size=length)
    pairs = w2v.skipgram_pairs(ids, window)
    assert pairs.shape == (len(naive_pairs(ids, window)), 2) and pairs.dtype == np.int64
    assert [tuple(p) for p in pairs] == naive_pairs(list(ids), window)


def test_skipgram_pairs_are_ordered_by_centre_then_context():
    pairs = w2v.skipgram_pairs([10, 11, 12, 13], 2)
    assert pairs.tolist() == [[10, 11], [10, 12], [11, 10], [11, 12], [11, 13],
                              [12, 10], [12, 11], [12, 13], [13, 11], [13, 12]]
    with pytest.raises(ValueError, match="window"):
        w2v.skipgram_pairs([1, 2], 0)


def test_unigram_distribution_powers():
    counts = np.array([1000, 100, 10, 1, 0])
    p = w2v.unigram_distribution(counts)
    assert np.isclose(p.sum(), 1) and p[-1] == 0
    np.testing.assert_allclose(w2v.unigram_distribution(counts, 1.0), counts / counts.sum())
    np.testing.assert_allclose(w2v.unigram_distribution(counts, 0.0)[:4], 0.25)
    # the power lifts rare words: the rarest word's share grows, the most frequent one's shrinks
    assert p[3] > counts[3] / counts.sum() and p[0] < counts[0] / counts.sum()
    np.testing.assert_allclose(p[0] / p[1], 10**0.75)


@pytest.fixture(scope="module")
def tiny_gensim():
    from gensim.models import Word2Vec

    docs = data.load_lee_corpus()
    model = Word2Vec(docs, vector_size=8, min_count=3, sample=1e-3, hs=1, negative=5,
                     workers=1, seed=0, epochs=1)
    return model, docs


def test_unigram_distribution_matches_gensims_cumulative_table(tiny_gensim):
    model, _ = tiny_gensim
    counts = np.array([model.wv.get_vecattr(w, "count") for w in model.wv.index_to_key])
    ours = w2v.unigram_distribution(counts)
    theirs = np.diff(np.concatenate([[0], model.cum_table])) / model.cum_table[-1]
    np.testing.assert_allclose(ours, theirs, atol=2e-9)


def test_keep_probabilities_match_gensim(tiny_gensim):
    model, _ = tiny_gensim
    counts = np.array([model.wv.get_vecattr(w, "count") for w in model.wv.index_to_key])
    theirs = np.array([model.wv.get_vecattr(w, "sample_int") for w in model.wv.index_to_key]) / 2**32
    ours = w2v.keep_probabilities(counts, 1e-3)
    np.testing.assert_allclose(ours, theirs, atol=1e-9)
    assert ours.min() < 0.5 and ours.max() == 1.0
    np.testing.assert_array_equal(w2v.keep_probabilities(counts, 0), 1.0)


def _sgns_case(seed, d=6, k=4, scale=1.0):
    rng = np.random.default_rng(seed)
    return scale * rng.normal(size=d), scale * rng.normal(size=d), scale * rng.normal(size=(k, d))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sgns_loss_and_grads_match_autograd(seed):
    center, context, negatives = _sgns_case(seed)
    loss, g_c, g_o, g_n = w2v.sgns_loss_and_grads(center, context, negatives)
    tc, to, tn = (torch.tensor(x, requires_grad=True) for x in (center, context, negatives))
    t_loss = -F.logsigmoid(to @ tc) - F.logsigmoid(-(tn @ tc)).sum()
    t_loss.backward()
    assert isinstance(loss, float) and np.isclose(loss, t_loss.item(), rtol=1e-12)
    for ours, theirs in ((g_c, tc), (g_o, to), (g_n, tn)):
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_sgns_gradients_match_finite_differences():
    center, context, negatives = _sgns_case(5, d=5, k=3)
    _, *grads = w2v.sgns_loss_and_grads(center, context, negatives)
    for param, grad, name in zip((center, context, negatives), grads, ("center", "context", "negatives"),
                                 strict=True):
        check_gradient(lambda: w2v.sgns_loss_and_grads(center, context, negatives)[0],
                               param, grad, name=name, n_checks=param.size)


def test_sgns_loss_is_stable_for_large_scores():
    center, context, negatives = _sgns_case(3, scale=30.0)
    with np.errstate(all="raise"), np.errstate(under="ignore"):
        loss, *grads = w2v.sgns_loss_and_grads(center, context, negatives)
    assert np.isfinite(loss) and all(np.all(np.isfinite(g)) for g in grads)


def test_softmax_skipgram_loss_matches_torch_cross_entropy():
    rng = np.random.default_rng(4)
    center, out = rng.normal(size=7), rng.normal(size=(30, 7)) * 5
    expected = F.cross_entropy(torch.tensor(out @ center)[None], torch.tensor([12])).item()
    assert np.isclose(w2v.softmax_skipgram_loss(center, out, 12), expected, rtol=1e-12)


def test_huffman_codes_form_a_prefix_code_whose_probabilities_sum_to_one():
    counts = np.random.default_rng(6).integers(1, 1000, size=40)
    codes, points = w2v.huffman_codes(counts)
    strings = ["".join(map(str, c)) for c in codes]
    assert len(set(strings)) == len(strings)
    assert not any(a != b and b.startswith(a) for a in strings for b in strings)
    assert all(len(c) == len(p) and p[0] == len(counts) - 2 for c, p in zip(codes, points, strict=True))
    assert max(p.max() for p in points) == len(counts) - 2
    # Kraft's equality for a full binary tree
    assert np.isclose(sum(2.0 ** -len(c) for c in codes), 1.0)
    # an optimal code never gives a more frequent word a longer code
    lengths = np.array([len(c) for c in codes])
    more_frequent = counts[:, None] > counts[None, :]
    assert np.all(lengths[:, None][more_frequent.any(1)].size) and np.all(
        (lengths[:, None] <= lengths[None, :])[more_frequent])
    rng = np.random.default_rng(7)
    center, nodes = rng.normal(size=5), rng.normal(size=(len(counts) - 1, 5))
    total = sum(w2v.hs_probability(center, nodes, c, p) for c, p in zip(codes, points, strict=True))
    assert np.isclose(total, 1.0, rtol=1e-12)


def test_huffman_code_lengths_are_as_short_as_gensims(tiny_gensim):
    model, _ = tiny_gensim
    words = model.wv.index_to_key
    counts = np.array([model.wv.get_vecattr(w, "count") for w in words])
    codes, _ = w2v.huffman_codes(counts)
    ours = np.dot(counts, [len(c) for c in codes])
    theirs = np.dot(counts, [len(model.wv.get_vecattr(w, "code")) for w in words])
    assert ours == theirs  # both are optimal prefix codes: the same expected length


def test_model_matches_the_numpy_loss_and_gradients():
    torch.manual_seed(0)
    model = w2v.SkipGramNS(20, 6)
    with torch.no_grad():
        model.w_out.weight.normal_()
    center, context = torch.tensor([3, 5, 3]), torch.tensor([4, 0, 9])
    negatives = torch.tensor([[1, 2], [7, 7], [4, 11]])
    losses = model(center, context, negatives)
    assert losses.shape == (3,)
    losses.sum().backward()
    w_in, w_out = model.w_in.weight.detach().double().numpy(), model.w_out.weight.detach().double().numpy()
    g_in, g_out = np.zeros_like(w_in), np.zeros_like(w_out)
    for b in range(3):
        c, o, n = center[b].item(), context[b].item(), negatives[b].numpy()
        loss, gc, go, gn = w2v.sgns_loss_and_grads(w_in[c], w_out[o], w_out[n])
        assert np.isclose(losses[b].item(), loss, rtol=1e-5)
        g_in[c] += gc
        g_out[o] += go
        np.add.at(g_out, n, gn)
    np.testing.assert_allclose(model.w_in.weight.grad.to_dense().numpy(), g_in, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(model.w_out.weight.grad.to_dense().numpy(), g_out, rtol=1e-4, atol=1e-6)


def _toy_documents():
    return [["a", "b", "c", "a", "rare"], ["b", "c", "d"], ["c"], ["a", "b", "c", "d", "a"]]


def test_corpus_drops_rare_words_and_keeps_documents_apart():
    corpus = w2v.Corpus.build(_toy_documents(), min_count=2)
    assert "rare" not in corpus.words and corpus.words[:2] == ["<pad>", "<unk>"]
    assert len(corpus.ids) == 13 and corpus.doc.tolist() == [0] * 4 + [1] * 3 + [2] + [3] * 5
    assert corpus.counts[:2].tolist() == [0, 0] and corpus.counts.sum() == 13


def test_epoch_pairs_without_subsampling_are_the_window_pairs_of_each_document():
    corpus = w2v.Corpus.build(_toy_documents(), min_count=2)
    rng = np.random.default_rng(0)
    docs = [corpus.ids[corpus.doc == k] for k in range(4)]
    expected = sorted(tuple(p) for d in docs for p in w2v.skipgram_pairs(d, 1).tolist())
    assert sorted(map(tuple, w2v.epoch_pairs(corpus, 1, 0.0, rng).tolist())) == expected
    # a shrunk window gives a sub-multiset of the full window's pairs
    full = sorted(tuple(p) for d in docs for p in w2v.skipgram_pairs(d, 3).tolist())
    drawn = sorted(map(tuple, w2v.epoch_pairs(corpus, 3, 0.0, rng).tolist()))
    remaining = list(full)
    for pair in drawn:
        remaining.remove(pair)  # fails if a drawn pair is not among the window pairs
    assert len(expected) <= len(drawn) <= len(full)


def test_training_separates_two_topics():
    rng = np.random.default_rng(0)
    topics = [[f"x{i}" for i in range(10)], [f"y{i}" for i in range(10)]]
    docs = [list(rng.choice(topics[k % 2], size=30)) for k in range(60)]
    corpus = w2v.Corpus.build(docs, min_count=1)
    result = w2v.train_sgns(corpus, dim=10, window=2, negative=3, sample=0, epochs=6,
                            lr=0.05, batch_size=64, progress=False)
    assert result.history.loss[-1] < result.history.loss[0]
    assert result.vectors.shape == (len(corpus.vocab) - 2, 10) and result.words == corpus.words[2:]
    neighbours = [w for w, _ in w2v.nearest(result.vectors, result.words, "x0", topn=5)]
    assert all(w.startswith("x") for w in neighbours), neighbours


@pytest.fixture(scope="module")
def random_vectors():
    rng = np.random.default_rng(8)
    words = [f"w{i}" for i in range(60)]
    return rng.normal(size=(60, 5)), words


def test_nearest_and_analogy_match_brute_force_loops(random_vectors):
    vectors, words = random_vectors

    def cos(x, y):
        return x @ y / np.linalg.norm(x) / np.linalg.norm(y)

    sims = sorted(((cos(vectors[3], vectors[i]), words[i]) for i in range(60) if i != 3), reverse=True)
    assert [w for w, _ in w2v.nearest(vectors, words, "w3", topn=4)] == [w for _, w in sims[:4]]
    query = vectors[1] - vectors[0] + vectors[2]
    sims = sorted(((cos(query, vectors[i]), words[i]) for i in range(3, 60)), reverse=True)
    assert w2v.analogy(vectors, words, "w0", "w1", "w2", topn=5) == [w for _, w in sims[:5]]


def test_analogy_excludes_the_query_words():
    vectors = np.array([[1.0, 0.0], [0.9, 0.1], [1.0, 0.05], [0.0, 1.0]])
    words = ["a", "b", "c", "d"]
    assert w2v.analogy(vectors, words, "a", "b", "c", topn=1) == ["d"]


def test_analogy_on_unit_vectors_is_gensims_most_similar(random_vectors):
    from gensim.models import KeyedVectors

    vectors, words = random_vectors
    kv = KeyedVectors(vectors.shape[1])
    kv.add_vectors(words, vectors)
    for a, b, c in [("w0", "w1", "w2"), ("w10", "w4", "w33")]:
        theirs = [w for w, _ in kv.most_similar(positive=[b, c], negative=[a], topn=3)]
        assert w2v.analogy(w2v.unit_rows(vectors), words, a, b, c, topn=3) == theirs
    assert [w for w, _ in w2v.nearest(vectors, words, "w7", 4)] == [w for w, _ in kv.most_similar("w7", topn=4)]


def test_analogy_accuracy_counts_covered_questions_only(random_vectors):
    vectors, words = random_vectors
    rng = np.random.default_rng(9)
    questions = [tuple(rng.choice(words, size=4, replace=False)) for _ in range(40)]
    unit = w2v.unit_rows(vectors)
    # plant some correct answers so the accuracy is not trivially 0
    questions += [(a, b, c, w2v.analogy(unit, words, a, b, c)[0]) for a, b, c, _ in questions[:15]]
    expected = np.mean([w2v.analogy(unit, words, a, b, c)[0] == d for a, b, c, d in questions])
    accuracy, n = w2v.analogy_accuracy(vectors, words, questions + [("w1", "w2", "w3", "unknown")], batch_size=7)
    assert n == len(questions) and np.isclose(accuracy, expected) and accuracy > 0.25
    assert np.isnan(w2v.analogy_accuracy(vectors, words, [("x", "y", "z", "t")])[0])


def test_wordsim_spearman_matches_gensims_evaluate_word_pairs():
    from gensim.models import KeyedVectors

    pairs = data.load_wordsim353()
    words = sorted({w for a, b, _ in pairs[:200] for w in (a, b)})
    vectors = np.random.default_rng(10).normal(size=(len(words), 6))
    kv = KeyedVectors(6)
    kv.add_vectors(words, vectors)
    path = str(data.package_file("gensim", "test", "test_data", "wordsim353.tsv"))
    _, (rho, _), oov = kv.evaluate_word_pairs(path)
    ours, n = w2v.wordsim_spearman(vectors, words, pairs)
    covered = sum(a in words and b in words for a, b, _ in pairs)
    assert n == covered and 200 <= n < len(pairs) and np.isclose(ours, rho, atol=1e-12)
    assert np.isclose(oov, 100 * (len(pairs) - n) / len(pairs))
