"""GRU beside LSTM (and the plain RNN) on the course's real text tasks, and one recurrent layer against two.

    python -m benchmarks.rnn_text --resume                   # the committed result (resumable)
    python -m benchmarks.rnn_text --limit 200 --bbc-epochs 1 --lr-grid 0.01 --seeds 0 --out /tmp/r.json

Three experiments, each a set of model configurations trained with the settings of the
chapter that uses them:

- ``sent`` (Chapter 5): the sentiment classifier of the Chinese reviews, ``SequenceClassifier``
  over characters (those seen twice in training) with 32-dim embeddings and 64 units, max-pooling
  over time, the first 120 characters of each review, 4 epochs of Adam in batches of 64.
  Configurations: the plain (tanh) RNN and the GRU. Selection metric: validation accuracy after
  the last epoch; reported: test accuracy.

- ``bbc`` (Chapter 6): the topic classifier of BBC News, ``SequenceClassifier`` with 64-dim
  embeddings and 64 units, the first 300 tokens of each article, a 5,000-word vocabulary,
  6 epochs of Adam in batches of 32. Configurations: LSTM and GRU with max-pooling over
  time; the LSTM from its last state with PyTorch's forget-gate bias and with the bias
  raised by 1. Selection metric: validation accuracy after the last epoch; reported: test
  accuracy.
- ``seg`` (Chapter 7): the character tagger for Chinese word segmentation, ``CharTagger``
  with 64-dim embeddings started from the same Word2Vec character vectors as the chapter,
  one pass over the training sentences in batches of 32, Adam with the learning rate
  decaying linearly to a tenth of its start. Configurations: a one-layer BiLSTM and BiGRU
  (64 units per direction), a two-layer BiLSTM (64 units), and a one-layer BiLSTM as wide as
  needed to have about the parameters of the two-layer one; and the chapter's left-to-right
  LSTM (100 units, about the parameters of the one-layer BiLSTM). Selection metric: validation
  word F1 (greedy tags); reported: test word F1, greedy and well-formed (Viterbi).

Protocol (the same as ``benchmarks/recall.py --tuned``): every configuration is trained at
seed 0 with each learning rate of ``--lr-grid`` (the chapter's rate is in the grid); its rate
is the one with the best validation metric (ties to the smaller rate); it is then trained at
every seed of ``--seeds`` at that rate (the tuning run at seed 0 is that seed's run). The
default grid of ``seg`` holds only the chapter's rate: on the shared 2-core machine of the
committed run, a grid for five taggers did not fit the time budget, so the taggers are
compared at one rate. Every
finished run is appended at once to benchmarks/results/rnn_text.json (written atomically),
and ``--resume`` skips the runs already there. Each run uses one thread.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import sys
import time
import zlib
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import (
    RESULTS,
    provenance,
    resumed,
    run_jobs,
    write_result_atomic,
)

LR_GRID = {"sent": (1e-3, 3e-3, 1e-2), "bbc": (5e-3, 1e-2, 2e-2), "seg": (1e-2,)}
CHAPTER_LR = {"sent": 3e-3, "bbc": 5e-3, "seg": 1e-2}
CONFIGS = {
    "sent": {
        "rnn_max": {"cell": "rnn", "pooling": "max"},
        "gru_max": {"cell": "gru", "pooling": "max"},
    },
    "bbc": {
        "lstm_max": {"cell": "lstm", "pooling": "max", "forget_bias": 0.0},
        "gru_max": {"cell": "gru", "pooling": "max", "forget_bias": 0.0},
        "lstm_last": {"cell": "lstm", "pooling": "last", "forget_bias": 0.0},
        "lstm_last_bias1": {"cell": "lstm", "pooling": "last", "forget_bias": 1.0},
    },
    "seg": {
        "bilstm_1": {"cell": "lstm", "num_layers": 1, "hidden_size": 64},
        "bigru_1": {"cell": "gru", "num_layers": 1, "hidden_size": 64},
        "bilstm_2": {"cell": "lstm", "num_layers": 2, "hidden_size": 64},
        "bilstm_1_wide": {"cell": "lstm", "num_layers": 1, "hidden_size": 115},  # ~ the parameters of bilstm_2
        "lstm_uni": {"cell": "lstm", "num_layers": 1, "hidden_size": 100, "bidirectional": False},  # ~ bilstm_1's
    },
}
METRIC = {"sent": "val_accuracy", "bbc": "val_accuracy", "seg": "val_f1"}
# settings every run of one result file shares (a resumed file must have been made with the same)
FIXED = ("limit", "bbc_epochs", "bbc_max_len", "seg_passes")


def run_key(run: dict) -> tuple:
    """What identifies a run: a run with the same key is not run again."""
    return (run["experiment"], run["config"], run["seed"], float(run["lr"]))


# --------------------------------------------------------------------------- the three tasks

_CACHE: dict = {}


def _sent_data(settings: dict) -> dict:
    if "sent" not in _CACHE:
        from course_utils import data, text

        splits = {name: data.load_chinese_sentiment(name) for name in ("train", "val", "test")}
        limit = settings["limit"]
        vocab = text.Vocabulary.build((list(t) for t in splits["train"].texts[:limit]), min_count=2)
        ids = {name: [vocab.encode(list(t)) for t in split.texts][:limit] for name, split in splits.items()}
        labels = {name: np.asarray(split.labels)[:limit] for name, split in splits.items()}
        _CACHE["sent"] = {"ids": ids, "labels": labels, "vocab_size": len(vocab)}
    return _CACHE["sent"]


def run_sent(config: dict, lr: float, seed: int, settings: dict) -> dict:
    import torch

    from course_utils.models.classifier import SequenceClassifier, accuracy, train_classifier

    d, max_len = _sent_data(settings), 120
    torch.manual_seed(seed)
    model = SequenceClassifier(d["vocab_size"], 2, embed_dim=32, hidden_size=64, cell=config["cell"],
                               pooling=config["pooling"])
    history = train_classifier(model, d["ids"]["train"], d["labels"]["train"], epochs=4, batch_size=64, lr=lr,
                               seed=seed, max_len=max_len, val=(d["ids"]["val"], d["labels"]["val"]), progress=False)
    return {"val_accuracy": history.metrics["val_accuracy"][-1],
            "test_accuracy": accuracy(model, d["ids"]["test"], d["labels"]["test"], max_len=max_len),
            "val_curve": history.metrics["val_accuracy"], "loss": history.loss, "seconds": round(history.seconds, 2),
            "parameters": sum(p.numel() for p in model.encoder.parameters())}


def _bbc_data(settings: dict) -> dict:
    if "bbc" not in _CACHE:
        from course_utils import data, text

        splits = {name: data.load_bbc_news(name) for name in ("train", "val", "test")}
        limit = settings["limit"]
        tokens = {name: [data.tokenize(t) for t in split.texts][:limit] for name, split in splits.items()}
        labels = {name: np.asarray(split.labels)[:limit] for name, split in splits.items()}
        vocab = text.Vocabulary.build(tokens["train"], min_count=2, max_size=5000)
        ids = {name: [vocab.encode(t[: settings["bbc_max_len"]]) for t in toks] for name, toks in tokens.items()}
        _CACHE["bbc"] = {"ids": ids, "labels": labels, "vocab_size": len(vocab),
                         "n_classes": len(splits["train"].label_names)}
    return _CACHE["bbc"]


def run_bbc(config: dict, lr: float, seed: int, settings: dict) -> dict:
    import torch

    from course_utils.models.classifier import SequenceClassifier, accuracy, train_classifier

    d = _bbc_data(settings)
    torch.manual_seed(seed)
    model = SequenceClassifier(d["vocab_size"], d["n_classes"], embed_dim=64, hidden_size=64, cell=config["cell"],
                               pooling=config["pooling"])
    if config["forget_bias"]:
        H = model.encoder.hidden_size
        with torch.no_grad():  # gate order i, f, g, o: rows H..2H are the forget gate
            model.encoder.bias_ih_l0[H : 2 * H] += config["forget_bias"]
    history = train_classifier(model, d["ids"]["train"], d["labels"]["train"], epochs=settings["bbc_epochs"],
                               batch_size=32, lr=lr, seed=seed, val=(d["ids"]["val"], d["labels"]["val"]),
                               progress=False)
    return {"val_accuracy": history.metrics["val_accuracy"][-1],
            "test_accuracy": accuracy(model, d["ids"]["test"], d["labels"]["test"]),
            "val_curve": history.metrics["val_accuracy"], "loss": history.loss, "seconds": round(history.seconds, 2),
            "parameters": sum(p.numel() for p in model.encoder.parameters())}


def _seg_data(settings: dict) -> dict:
    if "seg" not in _CACHE:
        import torch
        from gensim.models import Word2Vec

        from course_utils import data, text
        from course_utils.models import tagger

        limit = settings["limit"]
        splits = {name: data.load_segmentation(name)[:limit] for name in ("train", "val", "test")}
        train = splits["train"]
        vocab = text.Vocabulary.build((s for s, _ in train), min_count=2)
        # as in Chapter 7: one worker and a fixed hash make gensim's vectors the same on every run
        w2v = Word2Vec([list(s) for s, _ in train], vector_size=64, window=3, min_count=2, sg=0,
                       epochs=2, workers=1, seed=0, hashfxn=lambda s: zlib.crc32(s.encode()))
        vectors = torch.zeros(len(vocab), 64)
        for i, ch in enumerate(vocab.tokens):
            if ch in w2v.wv:
                vectors[i] = torch.from_numpy(w2v.wv[ch].copy())
        _CACHE["seg"] = {"splits": splits, "vocab": vocab, "vectors": vectors,
                         "ids": [vocab.encode(s) for s, _ in train], "tags": [tagger.encode_tags(t) for _, t in train]}
    return _CACHE["seg"]


def run_seg(config: dict, lr: float, seed: int, settings: dict) -> dict:
    import torch

    from course_utils.models import tagger

    d = _seg_data(settings)
    torch.manual_seed(seed)
    model = tagger.CharTagger(len(d["vocab"]), embed_dim=64, hidden_size=config["hidden_size"],
                              bidirectional=config.get("bidirectional", True),
                              num_layers=config["num_layers"], cell=config["cell"])
    with torch.no_grad():
        model.embedding.weight.copy_(d["vectors"])
    passes = settings["seg_passes"]
    history = tagger.train_tagger(model, d["ids"], d["tags"], epochs=4 * passes,
                                  sentences_per_epoch=-(-len(d["ids"]) // 4), batch_size=32, lr=lr, lr_end=lr / 10,
                                  seed=seed, progress=False)
    val = tagger.segmentation_report(model, d["vocab"], d["splits"]["val"])
    test = tagger.segmentation_report(model, d["vocab"], d["splits"]["test"])
    return {"val_f1": val["greedy"][2], "test_f1": test["greedy"][2], "test_f1_well_formed": test["well_formed"][2],
            "test_precision": test["greedy"][0], "test_recall": test["greedy"][1],
            "test_ill_formed": test["ill_formed"],
            "loss": history.loss, "seconds": round(history.seconds, 2),
            "parameters": sum(p.numel() for p in model.layers.parameters()) + sum(
                p.numel() for p in model.output.parameters())}


RUNNERS = {"sent": run_sent, "bbc": run_bbc, "seg": run_seg}
REPORTED = {"sent": ("test_accuracy",), "bbc": ("test_accuracy",), "seg": ("test_f1", "test_f1_well_formed")}


def one_run(job: dict, settings: dict) -> dict:
    """Train one run; its record (the job, what the runner measured, and when it finished)."""
    import torch

    torch.set_num_threads(1)
    config = CONFIGS[job["experiment"]][job["config"]]
    result = RUNNERS[job["experiment"]](config, job["lr"], job["seed"], settings)
    return {**job, **config, **result, "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}


# --------------------------------------------------------------------------- plan and summary


def plan(records: list[dict], cfg: dict) -> tuple[list[dict], dict, dict]:
    """The runs still to do given the ``records`` done so far: ``(jobs, chosen_lr, tuning)``
    with ``chosen_lr[experiment][config]`` for the configurations whose tuning is finished and
    ``tuning[experiment][config] = {lr: validation metric}``."""
    done = {run_key(r): r for r in records}
    jobs, chosen, tuning = [], {}, {}
    for experiment in cfg["experiments"]:
        chosen[experiment], tuning[experiment] = {}, {}
        metric = METRIC[experiment]
        for config in cfg["configs"][experiment]:
            wanted = [{"experiment": experiment, "config": config, "seed": cfg["tune_seed"], "lr": lr}
                      for lr in cfg["lr_grid"][experiment]]
            found = {j["lr"]: done[run_key(j)][metric] for j in wanted if run_key(j) in done}
            tuning[experiment][config] = {str(lr): value for lr, value in found.items()}
            missing = [j for j in wanted if run_key(j) not in done]
            if missing:
                jobs += [{**j, "phase": "tune"} for j in missing]
                continue
            best = None
            for lr in sorted(found):  # ascending; only a strictly better value wins: ties to the smaller rate
                if best is None or found[lr] > best[0]:
                    best = (found[lr], lr)
            chosen[experiment][config] = best[1]
            jobs += [{"experiment": experiment, "config": config, "seed": seed, "lr": best[1], "phase": "sweep"}
                     for seed in cfg["seeds"]
                     if run_key({"experiment": experiment, "config": config, "seed": seed, "lr": best[1]}) not in done]
    jobs.sort(key=lambda j: j["phase"] != "tune")  # every tuning run first
    return jobs, chosen, tuning


def summarise(records: list[dict], cfg: dict, chosen: dict) -> dict:
    """``{experiment: {config: {"lr", "seeds", metric: {"mean", "std", "min", "max", "values"}, "seconds",
    "parameters"}}}`` over the runs at each configuration's chosen rate."""
    out: dict = {}
    for experiment, per_config in chosen.items():
        out[experiment] = {}
        for config, lr in per_config.items():
            runs = sorted((r for r in records if r["experiment"] == experiment and r["config"] == config
                           and float(r["lr"]) == lr and r["seed"] in cfg["seeds"]), key=lambda r: r["seed"])
            if not runs:
                continue
            entry = {"lr": lr, "seeds": [r["seed"] for r in runs], "parameters": runs[0]["parameters"],
                     "seconds": round(float(np.mean([r["seconds"] for r in runs])), 2)}
            for metric in (METRIC[experiment], *REPORTED[experiment]):
                values = [float(r[metric]) for r in runs]
                entry[metric] = {"mean": round(float(np.mean(values)), 5), "std": round(float(np.std(values)), 5),
                                 "min": min(values), "max": max(values), "values": values}
            out[experiment][config] = entry
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiments", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--configs", nargs="+", help="only these configurations (names from CONFIGS)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--lr-grid", nargs="+", type=float,
                        help="learning rates tried for every experiment (default: LR_GRID, per experiment)")
    parser.add_argument("--limit", type=int, help="use only the first N texts of each split (for tests)")
    parser.add_argument("--bbc-epochs", type=int, default=6)
    parser.add_argument("--seg-passes", type=int, default=1, help="passes over the segmentation training data")
    parser.add_argument("--resume", action="store_true", help="keep the runs already in --out and skip them")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes, one thread each (default 1)")
    parser.add_argument("--out", type=Path, help="result file (default benchmarks/results/rnn_text.json)")
    args = parser.parse_args()
    unknown = set(args.configs or []) - {c for e in args.experiments for c in CONFIGS[e]}
    if unknown:
        parser.error(f"unknown configurations for {args.experiments}: {sorted(unknown)}")

    import torch

    torch.set_num_threads(1)
    out = args.out or RESULTS / "rnn_text.json"
    settings = {"limit": args.limit, "bbc_epochs": args.bbc_epochs, "bbc_max_len": 300, "seg_passes": args.seg_passes}
    cfg = {"experiments": args.experiments, "seeds": sorted(args.seeds), "tune_seed": 0,
           "configs": {e: [c for c in CONFIGS[e] if not args.configs or c in args.configs] for e in args.experiments},
           "lr_grid": {e: sorted(args.lr_grid or LR_GRID[e]) for e in args.experiments}}
    if cfg["tune_seed"] not in cfg["seeds"]:
        parser.error("--seeds must include 0, the tuning seed")
    old = resumed(out, settings, args.resume, FIXED)
    records, sessions = old.get("runs", []), old.get("sessions", [])
    start = time.perf_counter()
    session = {**provenance(), "seconds": 0.0}
    sessions = [*sessions, session]

    def write() -> None:
        jobs, chosen, tuning = plan(records, cfg)
        session["seconds"] = round(time.perf_counter() - start, 1)
        figures = {"settings": {**settings, **cfg, "configs_defined": {e: CONFIGS[e] for e in args.experiments},
                                "chapter_lr": CHAPTER_LR, "selection_metric": METRIC, "threads_per_run": 1},
                   "complete": not jobs, "runs_done": len(records),
                   "seconds": round(sum(s["seconds"] for s in sessions), 1), "sessions": sessions,
                   "chosen_lr": chosen, "tuning": tuning, "summary": summarise(records, cfg, chosen), "runs": records}
        write_result_atomic("rnn_text", figures, out)

    def report(record: dict) -> None:
        records.append(record)
        write()
        metric, reported = METRIC[record["experiment"]], REPORTED[record["experiment"]][0]
        print(f"{record['phase']:5s} {record['experiment']} {record['config']:16s} seed {record['seed']} "
              f"lr {record['lr']:g}: {metric} {record[metric]:.4f}, {reported} {record[reported]:.4f} in "
              f"{record['seconds']:6.1f} s  [{time.perf_counter() - start:7.1f} s]", flush=True)

    print(f"{len(records)} runs already in {out}" if records else f"writing {out}", flush=True)
    write()
    run_one = functools.partial(one_run, settings=settings)  # picklable, for the workers
    run_jobs(lambda: plan(records, cfg)[0], run_one, report, args.jobs, run_key)
    write()
    print(f"wrote {out} in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
