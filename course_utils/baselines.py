"""The simple baseline of every classification table: TF-IDF features and a linear model.

Readers must see when a neural model earns its cost: every chapter that classifies text
reports this baseline on the same split.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from .data import LabelledTexts


@dataclass(frozen=True)
class BaselineResult:
    """Test accuracy and wall-clock seconds (fit + predict) of a baseline."""

    name: str
    accuracy: float
    seconds: float


def tfidf_linear(
    train: LabelledTexts, test: LabelledTexts, *, chinese: bool = False, C: float = 10.0
) -> BaselineResult:
    """TF-IDF + logistic regression (scikit-learn), fitted on ``train``, scored on ``test``.

    English is split into words; Chinese (``chinese=True``), which has no spaces, into
    character 1- and 2-grams.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from .data import tokenize

    start = time.perf_counter()
    if chinese:
        vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 2), sublinear_tf=True, min_df=2)
    else:
        vectorizer = TfidfVectorizer(tokenizer=tokenize, token_pattern=None, sublinear_tf=True, min_df=2)
    features = vectorizer.fit_transform(train.texts)
    model = LogisticRegression(C=C, max_iter=2000).fit(features, train.labels)
    accuracy = float(model.score(vectorizer.transform(test.texts), test.labels))
    return BaselineResult("TF-IDF + logistic regression", accuracy, time.perf_counter() - start)
