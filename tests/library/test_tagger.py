"""The segmentation scorer and the character tagger: spans, padding, direction, learning."""

import numpy as np
import pytest
import torch

from course_utils import data, text
from course_utils.models import tagger


def test_bmes_to_words_is_the_data_modules_function():
    assert tagger.bmes_to_words is data.words_from_bmes
    assert tagger.bmes_to_words("迈向充满希望的", "BEBEBES") == ["迈向", "充满", "希望", "的"]
    assert tagger.bmes_to_words("abcd", "MMSE") == ["ab", "c", "d"]  # malformed, still words


def test_word_spans():
    assert tagger.word_spans(["迈向", "充满", "的"]) == {(0, 2), (2, 4), (4, 5)}
    assert tagger.word_spans([]) == set()


def test_prf_by_hand():
    gold = [["中国", "人民", "好"], ["a", "bc"]]
    pred = [["中国", "人", "民", "好"], ["a", "bc"]]
    p, r, f = tagger.segmentation_prf(gold, pred)
    assert (p, r) == pytest.approx((4 / 6, 4 / 5))
    assert f == pytest.approx(2 * p * r / (p + r))
    assert tagger.segmentation_prf(gold, gold) == (1.0, 1.0, 1.0)


def test_prf_counts_spans_not_matching_strings():
    # the same strings at other positions are not correct words
    p, r, f = tagger.segmentation_prf([["ab", "a", "b"]], [["a", "b", "ab"]])
    assert (p, r, f) == (0.0, 0.0, 0.0)


def test_prf_checks_its_inputs():
    with pytest.raises(ValueError, match="different sentences"):
        tagger.segmentation_prf([["ab"]], [["ac"]])
    with pytest.raises(ValueError, match="1 gold sentences but 2"):
        tagger.segmentation_prf([["a"]], [["a"], ["b"]])
    assert tagger.segmentation_prf([], []) == (0.0, 0.0, 0.0)


def test_bidirectional_tagger_ignores_padding_and_sees_the_future():
    torch.manual_seed(0)
    bi = tagger.CharTagger(20, embed_dim=8, hidden_size=6, bidirectional=True, num_layers=2).eval()
    uni = tagger.CharTagger(20, embed_dim=8, hidden_size=6, bidirectional=False).eval()
    with torch.no_grad():
        for model in (bi, uni):
            alone = model(torch.tensor([[3, 4, 5]]), torch.tensor([3]))
            padded = model(torch.tensor([[3, 4, 5, 0, 0], [6, 7, 8, 9, 2]]), torch.tensor([3, 5]))
            assert alone.shape == (1, 3, 4)
            torch.testing.assert_close(padded[:1, :3], alone)
        changed = [m(torch.tensor([[3, 4, 5, 6]]), torch.tensor([4]))
                   - m(torch.tensor([[3, 4, 5, 7]]), torch.tensor([4]))
                   for m in (bi, uni)]
    assert changed[0][0, 0].abs().max() > 1e-6  # the first character's tag depends on the last
    assert changed[1][0, :3].abs().max() == 0  # a left-to-right LSTM cannot look ahead


def test_gru_tagger_ignores_padding_and_rejects_unknown_cells():
    torch.manual_seed(0)
    model = tagger.CharTagger(20, embed_dim=8, hidden_size=6, bidirectional=True, num_layers=2, cell="gru").eval()
    assert all(isinstance(m, torch.nn.GRU) for layer in model.layers for m in layer) and len(model.layers) == 2
    with torch.no_grad():
        alone = model(torch.tensor([[3, 4, 5]]), torch.tensor([3]))
        padded = model(torch.tensor([[3, 4, 5, 0, 0], [6, 7, 8, 9, 2]]), torch.tensor([3, 5]))
    torch.testing.assert_close(padded[:1, :3], alone)
    lstm = tagger.CharTagger(20, embed_dim=8, hidden_size=6, bidirectional=True, num_layers=2)
    n = lambda m: sum(p.numel() for p in m.layers.parameters())  # noqa: E731
    assert 4 * n(model) == 3 * n(lstm)  # three gate blocks, not four
    with pytest.raises(ValueError, match="cell must be one of"):
        tagger.CharTagger(20, cell="rnn")


def _toy_corpus(n, seed):
    """Sentences made of words from an unambiguous lexicon where the tag of 'a', 'b' and 'd'
    depends on the next character: 'a', 'ab' and 'abc' are words, 'd' and 'de' too."""
    lexicon = ["a", "ab", "abc", "d", "de"]
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(n):
        words = [lexicon[i] for i in rng.integers(0, len(lexicon), rng.integers(3, 9))]
        tags = "".join("S" if len(w) == 1 else "B" + "M" * (len(w) - 2) + "E" for w in words)
        pairs.append(("".join(words), tags))
    return pairs


def test_bidirectional_tagger_learns_what_a_unidirectional_one_cannot():
    train, test = _toy_corpus(600, 0), _toy_corpus(200, 1)
    vocab = text.Vocabulary.build(s for s, _ in train)
    ids = [vocab.encode(s) for s, _ in train]
    tags = [tagger.encode_tags(t) for _, t in train]
    scores = {}
    for bidirectional in (True, False):
        torch.manual_seed(0)
        model = tagger.CharTagger(len(vocab), embed_dim=8, hidden_size=16, bidirectional=bidirectional)
        history = tagger.train_tagger(model, ids, tags, epochs=8, batch_size=16, lr=1e-2, progress=False)
        assert history.loss[-1] < history.loss[0]
        scores[bidirectional] = tagger.evaluate_segmenter(model, vocab, test)[2]
    assert scores[True] > 0.97, scores
    assert scores[True] - scores[False] > 0.1, scores


def test_predict_tags_and_segment_keep_the_order():
    torch.manual_seed(0)
    vocab = text.Vocabulary.build(["abcde"])
    model = tagger.CharTagger(len(vocab), embed_dim=4, hidden_size=4)
    sentences = ["abcde", "a", "cab"]
    tags = tagger.predict_tags(model, [vocab.encode(s) for s in sentences], batch_size=2)
    assert [len(t) for t in tags] == [5, 1, 3] and set("".join(tags)) <= set("BMES")
    words = tagger.segment(model, vocab, sentences)
    assert ["".join(w) for w in words] == sentences


def test_epochs_of_part_of_the_data_cover_it_in_turn():
    parts = [tagger.epoch_sentences(10, 4, e, seed=3) for e in range(5)]
    assert all(len(p) == 4 for p in parts)
    first_pass = np.concatenate(parts)[:10]
    assert sorted(first_pass.tolist()) == list(range(10))  # every sentence once per pass
    second_pass = np.concatenate(parts)[10:20]
    assert sorted(second_pass.tolist()) == list(range(10)) and not np.array_equal(first_pass, second_pass)


def _well_formed(tags):
    if not tags:
        return True
    ok_pairs = {"BM", "BE", "MM", "ME", "EB", "ES", "SB", "SS"}
    return tags[0] in "BS" and tags[-1] in "ES" and all(a + b in ok_pairs for a, b in zip(tags, tags[1:], strict=False))


def test_decode_bmes_finds_the_best_well_formed_sequence_by_brute_force():
    import itertools

    g = torch.Generator().manual_seed(0)
    lengths = torch.tensor([5, 1, 3, 4])
    logits = 3 * torch.randn(4, 5, 4, generator=g)
    decoded = tagger.decode_bmes(logits, lengths)
    log_p = logits.log_softmax(-1)
    for b, L in enumerate(lengths.tolist()):
        candidates = ["".join(c) for c in itertools.product("BMES", repeat=L) if _well_formed("".join(c))]
        best = max(candidates, key=lambda tags, b=b: sum(float(log_p[b, t, "BMES".index(c)])
                                                         for t, c in enumerate(tags)))
        got = "".join("BMES"[i] for i in decoded[b, :L].tolist())
        assert got == best, (b, got, best)
    greedy = ["".join("BMES"[i] for i in logits[b, :L].argmax(-1).tolist()) for b, L in enumerate(lengths.tolist())]
    assert not all(_well_formed(t) for t in greedy)  # the test would be empty otherwise


def test_well_formed_prediction_changes_only_ill_formed_sequences():
    torch.manual_seed(1)
    vocab = text.Vocabulary.build(["abcdefg"])
    model = tagger.CharTagger(len(vocab), embed_dim=4, hidden_size=4)
    ids = [vocab.encode(s) for s in ["abcdefg", "ab", "gfedcba", "c"]]
    plain = tagger.predict_tags(model, ids)
    fixed = tagger.predict_tags(model, ids, well_formed=True)
    assert all(_well_formed(t) for t in fixed)
    for p, f in zip(plain, fixed, strict=True):
        if _well_formed(p):
            assert p == f


def test_is_well_formed_and_the_report():
    for tags in ["", "S", "BE", "BME", "SBEBMMES"]:
        assert tagger.is_well_formed(tags) and _well_formed(tags)
    for tags in ["B", "M", "E", "SM", "BB", "BS", "EE", "BMS", "SE"]:
        assert not tagger.is_well_formed(tags) and not _well_formed(tags)
    torch.manual_seed(2)
    pairs = _toy_corpus(30, 5)
    vocab = text.Vocabulary.build(s for s, _ in pairs)
    model = tagger.CharTagger(len(vocab), embed_dim=4, hidden_size=4)
    report = tagger.segmentation_report(model, vocab, pairs)
    assert report["greedy"] == tagger.evaluate_segmenter(model, vocab, pairs)
    assert report["well_formed"] == tagger.evaluate_segmenter(model, vocab, pairs, well_formed=True)
    tags = tagger.predict_tags(model, [vocab.encode(s) for s, _ in pairs])
    assert report["ill_formed"] == sum(not _well_formed(t) for t in tags) / len(pairs)
