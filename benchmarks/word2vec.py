"""The course's PyTorch skip-gram (SGNS) against gensim's Word2Vec, same corpus, same settings.

    python benchmarks/word2vec.py                         # the committed result
    python benchmarks/word2vec.py --epochs 1 --docs 200 --seeds 0 --out /tmp/w2v.json

Both models train on the BBC News articles (tokenised with course_utils.data.tokenize),
with the same vocabulary (min_count), vector size, window, negatives, subsampling,
learning rate and epochs, each on one thread (gensim workers=1; the course's model on one
PyTorch thread), so their seconds compare like for like. Each is scored on WordSim-353
(Spearman) and the analogy questions that its vocabulary covers. Prints a table with the
time ratio and the Spearman ratio and writes benchmarks/results/word2vec.json. Wall-clock
and CPU seconds are both recorded, with the load average at the start and end of the run:
on a shared machine the wall-clock time of a run depends on what else runs, and CPU time,
though inflated by contention too, depends on it less.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import write_result
from course_utils import data
from course_utils.models import word2vec as w2v


def scores(vectors: np.ndarray, words: list[str], wordsim, questions) -> dict:
    rho, n_pairs = w2v.wordsim_spearman(vectors, words, wordsim)
    accuracy, n_questions = w2v.analogy_accuracy(vectors, words, questions)
    return {"spearman": rho, "pairs": n_pairs, "analogy_accuracy": accuracy, "questions": n_questions}


def run(epochs: int, seed: int, docs, corpus, settings: dict, wordsim, questions) -> list[dict]:
    from gensim.models import Word2Vec

    rows = []
    start, cpu = time.perf_counter(), time.process_time()
    ours_settings = {k: v for k, v in settings.items() if k != "min_count"}
    result = w2v.train_sgns(corpus, epochs=epochs, seed=seed, progress=False, **ours_settings)
    ours, ours_cpu = time.perf_counter() - start, time.process_time() - cpu
    rows.append({"model": "course SGNS (PyTorch)", "epochs": epochs, "seed": seed, "seconds": ours,
                 "cpu_seconds": ours_cpu, **scores(result.vectors, result.words, wordsim, questions)})
    start, cpu = time.perf_counter(), time.process_time()
    model = Word2Vec(docs, vector_size=settings["dim"], window=settings["window"], min_count=settings["min_count"],
                     sg=1, hs=0, negative=settings["negative"], sample=settings["sample"],
                     alpha=settings["lr"], min_alpha=0.0001 * settings["lr"], workers=1, seed=seed, epochs=epochs)
    theirs, theirs_cpu = time.perf_counter() - start, time.process_time() - cpu
    rows.append({"model": "gensim Word2Vec (sg=1, negative=5)", "epochs": epochs, "seed": seed, "seconds": theirs,
                 "cpu_seconds": theirs_cpu, **scores(model.wv.vectors, model.wv.index_to_key, wordsim, questions)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, nargs="+", default=[5, 10])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--docs", type=int, default=None, help="use only the first N articles (for a quick test)")
    parser.add_argument("--out", type=Path, help="result file (default: benchmarks/results/word2vec.json)")
    args = parser.parse_args()

    texts = data.load_bbc_news("all").texts[: args.docs]
    docs = [data.tokenize(t) for t in texts]
    min_count = 5 if args.docs is None else 2
    settings = {"dim": 100, "window": 5, "negative": 5, "sample": 1e-3, "lr": 0.05, "batch_size": 4096}
    corpus = w2v.Corpus.build(docs, min_count=min_count)
    wordsim = data.load_wordsim353()
    questions = [q for section in data.load_analogies().values() for q in section]
    load_before = os.getloadavg()[0]
    rows = []
    print(f"{'model':36s} {'epochs':>6s} {'seed':>4s} {'seconds':>8s} {'CPU s':>8s} {'Spearman':>8s} {'analogy':>8s}")
    for epochs in args.epochs:
        for seed in args.seeds:
            for row in run(epochs, seed, docs, corpus, {**settings, "min_count": min_count}, wordsim, questions):
                rows.append(row)
                print(f"{row['model']:36s} {epochs:6d} {seed:4d} {row['seconds']:8.1f} {row['cpu_seconds']:8.1f} "
                      f"{row['spearman']:8.3f} {row['analogy_accuracy']:8.1%}", flush=True)
    summary = []
    for epochs in args.epochs:
        ours = [r for r in rows if r["epochs"] == epochs and r["model"].startswith("course")]
        theirs = [r for r in rows if r["epochs"] == epochs and r["model"].startswith("gensim")]
        mean = lambda rs, key: float(np.mean([r[key] for r in rs]))  # noqa: E731
        summary.append({
            "epochs": epochs,
            "time_ratio": mean(ours, "seconds") / mean(theirs, "seconds"),
            "cpu_time_ratio": mean(ours, "cpu_seconds") / mean(theirs, "cpu_seconds"),
            "spearman_course": mean(ours, "spearman"),
            "spearman_gensim": mean(theirs, "spearman"),
            "spearman_ratio": mean(ours, "spearman") / mean(theirs, "spearman"),
            "analogy_course": mean(ours, "analogy_accuracy"),
            "analogy_gensim": mean(theirs, "analogy_accuracy"),
        })
        s = summary[-1]
        print(f"{epochs} epochs: the course's model takes {s['time_ratio']:.1f}x gensim's time "
              f"({s['cpu_time_ratio']:.1f}x its CPU time) and reaches "
              f"{s['spearman_ratio']:.2f}x its Spearman ({s['spearman_course']:.3f} vs {s['spearman_gensim']:.3f})")
    figures = {
        "corpus": {"articles": len(docs), "tokens": int(len(corpus.ids)), "vocabulary": len(corpus.vocab) - 2,
                   "min_count": min_count},
        "settings": settings,
        "load_average": {"start": load_before, "end": os.getloadavg()[0]},
        "rows": rows,
        "summary": summary,
    }
    path = write_result("word2vec", figures, args.out)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
