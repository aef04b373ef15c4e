"""Exact match of the date encoder-decoder against training-set size and attention scoring.

    python benchmarks/seq2seq.py --threads 1 --resume              # the committed result
    python benchmarks/seq2seq.py --sizes 200 --compare-size 200 --epochs 1 --test 20 --out /tmp/s.json

Two experiments, each over ``--seeds``: without attention and with scaled dot-product
attention at every training-set size of ``--sizes`` (the size sweep), and all four attention
kinds (none, dot, scaled, additive) at ``--compare-size`` pairs. Each run trains
the model of Chapter 9 with the chapter's settings (embeddings 32, GRU 64 per direction,
Adam, learning rate 1e-2 decayed linearly, batches of 64, 8 epochs) on
``load_dates(size, seed)`` and scores greedy decoding on the chapter's test set (500 dates per
language, ``load_dates(600, seed=100 + i, languages=(language,))``, inputs seen in training
removed). Writes benchmarks/results/seq2seq.json.

A run is keyed by (attention, requested size, seed): a row's ``requested_size`` is the size
asked for, its ``train_size`` the number of pairs left once repeats are removed. Every
finished run is written to the result at once (atomically), its rows kept in the order of
a run from scratch; ``--resume`` keeps the runs already in ``--out`` and runs only the
missing ones, and refuses a file made with other settings (sizes, compare size, epochs,
test set, model and torch threads). Each session that ran something is listed under
``sessions`` with its own command, seeds and seconds; the result's top-level ``command`` is
the last session's without ``--resume``, which remakes the whole file from scratch when that
session asked for the whole grid and every seed, as the committed one did. The committed
result was made in two sessions: seeds 0 and 1 (then the default), and seed 2 with
``--resume``; a run on one thread gives the same row when repeated (seconds aside), so the
two sessions give the rows of one run from scratch.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import RESULTS, provenance, resumed, write_json_atomic
from course_utils import data, text
from course_utils.models import seq2seq as s2s

LANGUAGES = ("en", "fr", "de", "zh")


def test_set(seen: set[str], per_language: int) -> list[tuple[str, str, str]]:
    """(source, target, language) for ``per_language`` new dates in each language."""
    rows = []
    for i, language in enumerate(LANGUAGES):
        pairs = data.load_dates(int(per_language * 1.2) + 10, seed=100 + i, languages=(language,))
        rows += [(s, t, language) for s, t in dict.fromkeys(pairs) if s not in seen][:per_language]
    return rows


def run(attention: str | None, size: int, seed: int, epochs: int, per_language: int) -> dict:
    train = list(dict.fromkeys(data.load_dates(size, seed=seed)))
    test = test_set({s for s, _ in train}, per_language)
    src_vocab = text.Vocabulary.build([s for s, _ in train])
    tgt_vocab = s2s.target_vocabulary([t for _, t in train])
    torch.manual_seed(seed)
    model = s2s.Seq2Seq(len(src_vocab), len(tgt_vocab), embed_dim=32, hidden_size=64, attention=attention)
    history = s2s.train_seq2seq(model, [src_vocab.encode(s) for s, _ in train],
                                [s2s.encode_target(tgt_vocab, t) for _, t in train],
                                epochs=epochs, batch_size=64, lr=1e-2, seed=seed, progress=False)
    outputs, _ = s2s.greedy_decode(model, [src_vocab.encode(s) for s, _, _ in test],
                                   tgt_vocab.index[s2s.BOS], tgt_vocab.index[s2s.EOS])
    correct = [s2s.decode_target(tgt_vocab, o) == t for o, (_, t, _) in zip(outputs, test, strict=True)]
    by_language = {lang: sum(c for c, row in zip(correct, test, strict=True) if row[2] == lang)
                   / max(sum(row[2] == lang for row in test), 1) for lang in LANGUAGES}
    return {"attention": attention or "none", "train_size": len(train), "seed": seed, "epochs": epochs,
            "exact_match": sum(correct) / len(correct), "by_language": by_language, "test_size": len(test),
            "final_loss": history.loss[-1], "seconds": round(history.seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    kinds = ["none", "dot", "scaled", "additive"]
    parser.add_argument("--attention", nargs="+", default=["none", "scaled"], choices=kinds,
                        help="kinds in the size sweep")
    parser.add_argument("--sizes", nargs="+", type=int, default=[1000, 3000, 10000, 20000])
    parser.add_argument("--compare", nargs="*", default=kinds, choices=kinds,
                        help="kinds compared at --compare-size")
    parser.add_argument("--compare-size", type=int, default=3000)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--test", type=int, default=500, help="test dates per language")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own choice)")
    parser.add_argument("--resume", action="store_true", help="keep the runs already in --out and skip them")
    parser.add_argument("--out", type=Path, default=RESULTS / "seq2seq.json", help="result file")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    settings = {"sizes": args.sizes, "compare_size": args.compare_size, "epochs": args.epochs,
                "test_per_language": args.test, "languages": list(LANGUAGES), "embed_dim": 32, "hidden_size": 64,
                "lr": 1e-2, "batch_size": 64, "torch_threads": torch.get_num_threads()}
    grid = [(kind, size) for size in args.sizes for kind in args.attention]
    grid += [(kind, args.compare_size) for kind in args.compare if (kind, args.compare_size) not in grid]
    old = resumed(args.out, settings, args.resume)
    rows, sessions = old.get("rows", []), old.get("sessions", [])
    session = {**provenance(), "seeds": args.seeds, "runs": 0, "seconds": 0.0}
    # the command that makes the whole file from scratch: this one without --resume
    command = " ".join([Path(sys.executable).name, *(a for a in sys.argv if a != "--resume")])
    start = time.perf_counter()

    def key(row: dict) -> tuple[str, int, int]:
        return row["attention"], row["requested_size"], row["seed"]

    def order(row: dict) -> tuple:
        """The place of a row in a run from scratch (grid, then seed); rows of other kinds last."""
        cell = (row["attention"], row["requested_size"])
        return (grid.index(cell) if cell in grid else len(grid), row["seed"])

    def write() -> None:
        session["seconds"] = round(time.perf_counter() - start, 1)
        rows.sort(key=order)
        done = {key(r) for r in rows}
        figures = {"settings": settings, "seeds": sorted({r["seed"] for r in rows}),
                   "complete": all((kind, size, seed) in done for kind, size in grid for seed in args.seeds),
                   "sessions": sessions, "rows": rows}
        write_json_atomic(args.out, {**provenance(), "command": command, "results": figures})

    done = {key(r) for r in rows}
    for attention, size in grid:
        for seed in args.seeds:
            if (attention, size, seed) in done:
                continue
            row = run(None if attention == "none" else attention, size, seed, args.epochs, args.test)
            rows.append({**row, "requested_size": size})
            if not session["runs"]:
                sessions.append(session)
            session["runs"] += 1
            write()
            print(f"{row['attention']:9s} {size:6d} pairs  seed {seed}  "
                  f"exact match {row['exact_match']:.2%}  ({row['seconds']:.0f} s)", flush=True)
    if session["runs"] or not args.out.exists():
        write()
        print(f"wrote {args.out}")
    else:
        print(f"nothing to run: every run is already in {args.out}")


if __name__ == "__main__":
    main()
