"""TextCNN against the LSTM of Chapter 6, by text length, on Chapter 8's Chinese reviews.

    python -m benchmarks.cnn_length --resume                  # the committed result
    python -m benchmarks.cnn_length --seeds 0 --epochs 1 --train 300 --out /tmp/c.json

Chapter 8 claims to test "CNNs extract local features; RNNs suit variable-length text". Its
BBC articles are all cut to 128 words, so only the Chinese reviews (2 to over 1,000
characters, the models reading at most 150) vary in length. Each run trains one model with
Chapter 8's settings (characters, vocabulary of the characters seen twice, embeddings of 64
initialised from N(0, 0.1²), Adam at 5e-3, batches of 32, ``--epochs`` passes) on the fixed,
de-duplicated training split, and scores it on the test split, overall and in each bucket of
the review's length in characters (:data:`BUCKETS`). Models (``--models``):

- ``textcnn``: Chapter 8's TextCNN, widths 2, 3, 4 with 64 filters each;
- ``textcnn_matched``: the same with :data:`MATCHED_FILTERS` filters per width, so that its
  parameters outside the embedding table equal the LSTM's within 1%;
- ``lstm``: Chapter 6's ``SequenceClassifier(cell="lstm", pooling="max")``, 64 hidden units.

The TF-IDF + logistic regression baseline is scored once per bucket (it has no seed). Every
finished run is appended to the result file at once (written atomically); ``--resume``
skips the runs already there, so the sweep can be stopped and restarted at any time.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import RESULTS, provenance, resumed, write_json_atomic

MAX_CHARS = 150
EMBED = 64
KERNELS = (2, 3, 4)
MATCHED_FILTERS = 57
BUCKETS = ((1, 20), (21, 40), (41, 80), (81, 150), (151, None))  # characters, inclusive; None: no upper end
MODELS = ("textcnn", "textcnn_matched", "lstm")


def bucket_label(bucket: tuple[int, int | None]) -> str:
    low, high = bucket
    return f"{low}+" if high is None else f"{low}-{high}"


def bucket_index(lengths: np.ndarray) -> np.ndarray:
    """The bucket of each length, ``(N,)`` int."""
    out = np.full(len(lengths), -1)
    for i, (low, high) in enumerate(BUCKETS):
        out[(lengths >= low) & ((lengths <= high) if high is not None else True)] = i
    return out


def by_bucket(correct: np.ndarray, buckets: np.ndarray) -> dict:
    return {bucket_label(b): {"accuracy": round(float(correct[buckets == i].mean()), 4), "n": int((buckets == i).sum())}
            for i, b in enumerate(BUCKETS) if (buckets == i).any()}


def load(train_size: int | None):
    """Chapter 8's Chinese splits, character ids and the test reviews' full lengths."""
    from course_utils import data, text

    reviews = {split: data.load_chinese_sentiment(split) for split in ("train", "test")}
    if train_size:
        keep = np.sort(np.random.default_rng(0).choice(len(reviews["train"].texts), train_size, replace=False))
        reviews["train"] = data.LabelledTexts([reviews["train"].texts[i] for i in keep], reviews["train"].labels[keep],
                                              reviews["train"].label_names)
    chars = {split: [list(t)[:MAX_CHARS] for t in d.texts] for split, d in reviews.items()}
    vocab = text.Vocabulary.build(chars["train"], min_count=2)
    ids = {split: [vocab.encode(c) for c in cs] for split, cs in chars.items()}
    lengths = np.array([len(t) for t in reviews["test"].texts])
    return reviews, vocab, ids, lengths


def make_model(kind: str, vocab_size: int):
    from torch import nn

    from course_utils.models import textcnn
    from course_utils.models.classifier import SequenceClassifier

    if kind == "lstm":
        model = SequenceClassifier(vocab_size, 2, embed_dim=EMBED, hidden_size=64, cell="lstm", pooling="max")
    else:
        filters = MATCHED_FILTERS if kind == "textcnn_matched" else 64
        model = textcnn.TextCNN(vocab_size, EMBED, 2, KERNELS, filters)
    embedding: nn.Embedding = model.embedding
    import torch

    with torch.no_grad():  # Chapter 8's small embeddings; the padding id stays a zero vector
        embedding.weight.normal_(0.0, 0.1)
        embedding.weight[0] = 0.0
    return model


def parameters_outside_embedding(model) -> int:
    return sum(p.numel() for name, p in model.named_parameters() if not name.startswith("embedding"))


def one_run(kind: str, seed: int, epochs: int, splits) -> dict:
    import torch

    from course_utils.models.classifier import predict, train_classifier

    reviews, vocab, ids, lengths = splits
    torch.manual_seed(seed)
    model = make_model(kind, len(vocab))
    history = train_classifier(model, ids["train"], reviews["train"].labels, epochs=epochs, batch_size=32, lr=5e-3,
                               seed=seed, progress=False)
    correct = predict(model, ids["test"]) == np.asarray(reviews["test"].labels)
    return {"model": kind, "seed": seed, "epochs": epochs, "accuracy": round(float(correct.mean()), 4),
            "by_length": by_bucket(correct, bucket_index(lengths)), "seconds": round(history.seconds, 1),
            "parameters": sum(p.numel() for p in model.parameters()),
            "parameters_outside_embedding": parameters_outside_embedding(model)}


def baseline(splits) -> dict:
    """TF-IDF (character 1-2-grams) + logistic regression, by bucket (Chapter 8's baseline)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    reviews, _, _, lengths = splits
    start = time.perf_counter()
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 2), sublinear_tf=True, min_df=2)
    model = LogisticRegression(C=10.0, max_iter=2000).fit(vectorizer.fit_transform(reviews["train"].texts),
                                                          reviews["train"].labels)
    correct = model.predict(vectorizer.transform(reviews["test"].texts)) == np.asarray(reviews["test"].labels)
    return {"model": "tfidf", "accuracy": round(float(correct.mean()), 4),
            "by_length": by_bucket(correct, bucket_index(lengths)), "seconds": round(time.perf_counter() - start, 1)}


def summarise(runs: list[dict]) -> dict:
    """``{model: {"accuracy": mean, bucket: {"mean", "min", "max"}}}`` over seeds."""
    out: dict = {}
    for kind in dict.fromkeys(r["model"] for r in runs):
        mine = [r for r in runs if r["model"] == kind]
        out[kind] = {"seeds": len(mine), "accuracy": round(float(np.mean([r["accuracy"] for r in mine])), 4),
                     "seconds": round(float(np.mean([r["seconds"] for r in mine])), 1), "by_length": {}}
        for label in mine[0]["by_length"]:
            acc = [r["by_length"][label]["accuracy"] for r in mine]
            out[kind]["by_length"][label] = {"mean": round(float(np.mean(acc)), 4), "min": min(acc), "max": max(acc)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train", type=int, help="use N training reviews drawn at random, seed 0 (for a quick test)")
    parser.add_argument("--resume", action="store_true", help="keep the runs already in --out and skip them")
    parser.add_argument("--out", type=Path, default=RESULTS / "cnn_length.json")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    settings = {"max_chars": MAX_CHARS, "embed_dim": EMBED, "kernel_sizes": list(KERNELS), "epochs": args.epochs,
                "matched_filters": MATCHED_FILTERS, "train_size": args.train, "lr": 5e-3, "batch_size": 32,
                "buckets": [bucket_label(b) for b in BUCKETS], "threads": 1}
    old = resumed(args.out, settings, args.resume)
    runs, sessions = old.get("runs", []), old.get("sessions", [])
    splits = load(args.train)
    session = {**provenance(), "seconds": 0.0}
    sessions.append(session)
    start = time.perf_counter()
    base = baseline(splits)

    def write() -> None:
        session["seconds"] = round(time.perf_counter() - start, 1)
        done = {(r["model"], r["seed"]) for r in runs}
        planned = [(m, s) for m in args.models for s in args.seeds]
        figures = {"settings": settings, "complete": all(p in done for p in planned), "runs_done": len(runs),
                   "test_size": len(splits[3]), "baseline": base, "summary": summarise(runs),
                   "sessions": sessions, "runs": runs}
        write_json_atomic(args.out, {**provenance(), "results": figures})

    write()
    print(f"tfidf: accuracy {base['accuracy']:.3f}", flush=True)
    for seed in args.seeds:
        for kind in args.models:
            if any(r["model"] == kind and r["seed"] == seed for r in runs):
                continue
            row = one_run(kind, seed, args.epochs, splits)
            runs.append(row)
            write()
            print(f"{kind:16s} seed {seed}: accuracy {row['accuracy']:.3f} in {row['seconds']:.0f} s  "
                  + " ".join(f"{k}: {v['accuracy']:.2f}" for k, v in row["by_length"].items()), flush=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
