"""The fixed vector on long inputs: reversing strings of 10 to 80 letters, with and without attention.

    python -m benchmarks.long_inputs --resume                 # the committed result
    python -m benchmarks.long_inputs --seeds 0 --train 200 --epochs 1 --test 5 --out /tmp/l.json

Chapter 9's dates are at most about 20 characters long, too short to show whether the fixed
vector of the plain encoder-decoder is a bottleneck on *long* inputs. Here the input is a
string of random lowercase letters whose length is drawn uniformly from 10 to 80, and the
target is the same string reversed: the output is as long as the input, every input
character must reach the output, and nothing can be guessed. Each run trains Chapter 9's
model (``course_utils.models.seq2seq.Seq2Seq``: character embeddings of 32, a bidirectional
GRU encoder of 64 per direction, a GRU decoder of 128; Adam at 1e-2 decayed linearly, batches
of 64 of similar length, gradient norm clipped at 1) without attention or with scaled
dot-product attention, on ``--train`` strings for ``--epochs`` passes, and scores greedy
decoding on ``--test`` new strings in each length bucket of :data:`BUCKETS`: the exact match
(the whole reversed string right) and the character accuracy (the share of target positions
whose character is right). Both models have the same parameters, so a difference is
attention's.

Every finished run is appended to the result file at once (written atomically); ``--resume``
skips the runs already there, so the sweep can be stopped and restarted at any time.
"""

from __future__ import annotations

import argparse
import string
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import RESULTS, provenance, resumed, write_json_atomic

ALPHABET = string.ascii_lowercase
MIN_LEN, MAX_LEN = 10, 80
BUCKETS = ((10, 19), (20, 29), (30, 39), (40, 49), (50, 59), (60, 69), (70, 80))
KINDS = ("none", "scaled")


def random_strings(n: int, low: int, high: int, seed: int) -> list[str]:
    """``n`` strings of random lowercase letters, lengths uniform in ``[low, high]``."""
    rng = np.random.default_rng(seed)
    letters = np.array(list(ALPHABET))
    return ["".join(rng.choice(letters, size=int(rng.integers(low, high + 1)))) for _ in range(n)]


def test_sets(per_bucket: int, seen: set[str]) -> dict[str, list[str]]:
    """``per_bucket`` fresh strings (never in ``seen``) per bucket, seeded 1000 + bucket."""
    out = {}
    for i, (low, high) in enumerate(BUCKETS):
        fresh = [s for s in random_strings(per_bucket + 10, low, high, 1000 + i) if s not in seen]
        out[f"{low}-{high}"] = fresh[:per_bucket]
    return out


def character_accuracy(prediction: str, target: str) -> float:
    """Share of the target's positions where the prediction has the right character."""
    return sum(a == b for a, b in zip(prediction, target, strict=False)) / len(target)


def one_run(kind: str, seed: int, train_size: int, epochs: int, per_bucket: int) -> dict:
    import torch

    torch.set_num_threads(1)
    from course_utils import text
    from course_utils.models import seq2seq as s2s

    train = list(dict.fromkeys(random_strings(train_size, MIN_LEN, MAX_LEN, seed)))
    src_vocab = text.Vocabulary.build(list(ALPHABET))
    tgt_vocab = s2s.target_vocabulary([ALPHABET])
    torch.manual_seed(seed)
    model = s2s.Seq2Seq(len(src_vocab), len(tgt_vocab), embed_dim=32, hidden_size=64,
                        attention=None if kind == "none" else kind)
    history = s2s.train_seq2seq(model, [src_vocab.encode(s) for s in train],
                                [s2s.encode_target(tgt_vocab, s[::-1]) for s in train],
                                epochs=epochs, batch_size=64, lr=1e-2, seed=seed, progress=False)
    bos, eos = tgt_vocab.index[s2s.BOS], tgt_vocab.index[s2s.EOS]
    by_length = {}
    for label, strings in test_sets(per_bucket, set(train)).items():
        outputs, _ = s2s.greedy_decode(model, [src_vocab.encode(s) for s in strings], bos, eos, max_len=MAX_LEN + 1)
        predictions = [s2s.decode_target(tgt_vocab, o) for o in outputs]
        targets = [s[::-1] for s in strings]
        by_length[label] = {"exact_match": round(s2s.exact_match(predictions, targets), 4),
                            "character_accuracy": round(float(np.mean([character_accuracy(p, t) for p, t in
                                                                       zip(predictions, targets, strict=True)])), 4),
                            "n": len(strings)}
    return {"attention": kind, "seed": seed, "train_size": len(train), "epochs": epochs,
            "final_loss": round(history.loss[-1], 4), "loss": [round(x, 4) for x in history.loss],
            "seconds": round(history.seconds, 1), "parameters": sum(p.numel() for p in model.parameters()),
            "by_length": by_length}


def summarise(runs: list[dict]) -> dict:
    """``{attention: {bucket: {"exact_match", "character_accuracy": {"mean", "min", "max"}}}}`` over seeds."""
    out: dict = {}
    for kind in dict.fromkeys(r["attention"] for r in runs):
        mine = [r for r in runs if r["attention"] == kind]
        out[kind] = {"seeds": len(mine), "by_length": {}}
        for label in mine[0]["by_length"]:
            out[kind]["by_length"][label] = {
                metric: {"mean": round(float(np.mean([r["by_length"][label][metric] for r in mine])), 4),
                         "min": min(r["by_length"][label][metric] for r in mine),
                         "max": max(r["by_length"][label][metric] for r in mine)}
                for metric in ("exact_match", "character_accuracy")}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--attention", nargs="+", default=list(KINDS), choices=KINDS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--train", type=int, default=4800, help="training strings per run")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--test", type=int, default=100, help="test strings per length bucket")
    parser.add_argument("--resume", action="store_true", help="keep the runs already in --out and skip them")
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel, one process and one thread each")
    parser.add_argument("--out", type=Path, default=RESULTS / "long_inputs.json")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    settings = {"alphabet": ALPHABET, "min_len": MIN_LEN, "max_len": MAX_LEN, "train": args.train,
                "epochs": args.epochs, "test_per_bucket": args.test, "buckets": [f"{a}-{b}" for a, b in BUCKETS],
                "embed_dim": 32, "hidden_size": 64, "lr": 1e-2, "batch_size": 64, "threads": 1}
    old = resumed(args.out, settings, args.resume)
    runs, sessions = old.get("runs", []), old.get("sessions", [])
    session = {**provenance(), "seconds": 0.0}
    sessions.append(session)
    start = time.perf_counter()

    def write() -> None:
        session["seconds"] = round(time.perf_counter() - start, 1)
        done = {(r["attention"], r["seed"]) for r in runs}
        figures = {"settings": settings, "complete": all((k, s) in done for k in args.attention for s in args.seeds),
                   "runs_done": len(runs), "summary": summarise(runs), "sessions": sessions, "runs": runs}
        write_json_atomic(args.out, {**provenance(), "results": figures})

    def report(row: dict) -> None:
        runs.append(row)
        write()
        print(f"{row['attention']:7s} seed {row['seed']}: loss {row['final_loss']:.4f} in {row['seconds']:.0f} s  "
              + " ".join(f"{k}: {v['exact_match']:.2f}/{v['character_accuracy']:.2f}"
                         for k, v in row["by_length"].items()), flush=True)

    write()
    todo = [(kind, seed) for seed in args.seeds for kind in args.attention
            if not any(r["attention"] == kind and r["seed"] == seed for r in runs)]
    if args.jobs == 1:  # in this process: nothing is left behind when it is killed
        for kind, seed in todo:
            report(one_run(kind, seed, args.train, args.epochs, args.test))
    else:
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            futures = [pool.submit(one_run, kind, seed, args.train, args.epochs, args.test) for kind, seed in todo]
            for future in as_completed(futures):
                report(future.result())
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
