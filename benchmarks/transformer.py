"""Chapter 10's side-by-side runs: a small Transformer against Chapter 9's GRU with attention on
the dates, and a decoder-only Transformer against a GRU language model on Chapter 3's corpus.

    python -m benchmarks.transformer --resume                      # the committed result
    python -m benchmarks.transformer --seeds 0 --epochs 1 --steps 20 --out /tmp/t.json   # tiny

Dates (``task: "dates"``), Chapter 9's data: 3,000 training pairs (seed 0, repeats dropped) and
500 new test pairs per language. Models:

- ``gru_attention``: Chapter 9's ``Seq2Seq`` with scaled dot-product attention (embeddings 32,
  bidirectional GRU encoder of 64 per direction, GRU decoder of 128), Adam at 1e-2;
- ``transformer``: ``TransformerSeq2Seq`` (d_model 64, 4 heads, 2 encoder and 2 decoder
  layers, feed-forward 128, pre-norm, sinusoidal positions in the encoder), Adam at 3e-3;
- ``transformer_nopos``: the same with no positions in the encoder (the decoder keeps its own).

All train with ``s2s.train_seq2seq`` (batches of 64, rate decayed linearly, gradient norm
clipped at 1) for ``--epochs`` passes. After every pass the exact match of greedy decoding is
measured on the first 100 test pairs of each language (the curve), and at the end on all of
them. Training time is recorded both as wall-clock and as the process's CPU time without the
evaluations; runs use one thread, so CPU time is the cost on one core and depends much less
than wall-clock time on what else the machine runs.

Language model (``task: "lm"``), Chapter 3's BBC News characters: ``gru_lm`` (embedding 32,
GRU of 256) and ``transformer_lm`` (d_model 96, 4 heads, 3 layers, feed-forward 384, learned
positions, causal mask), on the same random windows of 64 characters (batches of 32, seeded),
Adam at 3e-3 decayed linearly, clipped at 1, for ``--steps`` steps. Both see exactly the
context of their window (the GRU starts each window from a zero state), and both are scored
on the same 40,000 test characters cut into windows of 64: perplexity every ``--steps / 8``
steps and at the end.

Every finished run is appended to the result file at once (written atomically); ``--resume``
skips the runs already there, so the sweep can be stopped and restarted at any time.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import RESULTS, provenance, resumed, write_json_atomic

DATE_MODELS = ("gru_attention", "transformer", "transformer_nopos")
LM_MODELS = ("gru_lm", "transformer_lm")
DATE_LR = {"gru_attention": 1e-2, "transformer": 3e-3, "transformer_nopos": 3e-3}
LM_LR, WINDOW, LM_BATCH, LM_TEST_CHARS = 3e-3, 64, 32, 40_000
LANGUAGES = ("en", "fr", "de", "zh")


def date_data():
    """Chapter 9's split: training pairs, and test pairs per language never seen in training."""
    from course_utils import data

    train = list(dict.fromkeys(data.load_dates(3000, seed=0)))
    seen = {s for s, _ in train}
    test = []
    for i, language in enumerate(LANGUAGES):
        pairs = data.load_dates(600, seed=100 + i, languages=(language,))
        test.append([p for p in dict.fromkeys(pairs) if p[0] not in seen][:500])
    return train, test


def date_model(kind: str, n_src: int, n_tgt: int):
    from course_utils.models import seq2seq as s2s
    from course_utils.models import transformer as tf

    if kind == "gru_attention":
        return s2s.Seq2Seq(n_src, n_tgt, embed_dim=32, hidden_size=64, attention="scaled")
    return tf.TransformerSeq2Seq(n_src, n_tgt, d_model=64, num_heads=4, num_layers=2, dim_feedforward=128,
                                 positions="sinusoidal" if kind == "transformer" else None)


def run_dates(kind: str, seed: int, epochs: int) -> dict:
    import torch

    torch.set_num_threads(1)
    from course_utils import text
    from course_utils.models import seq2seq as s2s

    train, test = date_data()
    src_vocab = text.Vocabulary.build([s for s, _ in train])
    tgt_vocab = s2s.target_vocabulary([t for _, t in train])
    bos, eos = tgt_vocab.index[s2s.BOS], tgt_vocab.index[s2s.EOS]
    curve_set = [p for pairs in test for p in pairs[:100]]

    def accuracy(model, pairs):
        outputs, _ = s2s.greedy_decode(model, [src_vocab.encode(s) for s, _ in pairs], bos, eos)
        return s2s.exact_match([s2s.decode_target(tgt_vocab, o) for o in outputs], [t for _, t in pairs])

    torch.manual_seed(seed)
    model = date_model(kind, len(src_vocab), len(tgt_vocab))
    clock = {"wall": time.perf_counter(), "cpu": time.process_time(), "eval_wall": 0.0, "eval_cpu": 0.0}
    curve = []

    def evaluate():
        wall, cpu = time.perf_counter(), time.process_time()
        point = {"epoch": len(curve) + 1, "train_seconds": round(wall - clock["wall"] - clock["eval_wall"], 2),
                 "train_cpu_seconds": round(cpu - clock["cpu"] - clock["eval_cpu"], 2),
                 "accuracy": round(accuracy(model, curve_set), 4)}
        curve.append(point)
        clock["eval_wall"] += time.perf_counter() - wall
        clock["eval_cpu"] += time.process_time() - cpu
        return {"accuracy": point["accuracy"]}

    history = s2s.train_seq2seq(model, [src_vocab.encode(s) for s, _ in train],
                                [s2s.encode_target(tgt_vocab, t) for _, t in train], epochs=epochs,
                                batch_size=64, lr=DATE_LR[kind], seed=seed, evaluate=evaluate, progress=False)
    steps = epochs * math.ceil(len(train) / 64)
    final = {lang: round(accuracy(model, pairs), 4) for lang, pairs in zip(LANGUAGES, test, strict=True)}
    return {"task": "dates", "model": kind, "seed": seed, "epochs": epochs, "steps": steps,
            "parameters": sum(p.numel() for p in model.parameters()),
            "train_seconds": curve[-1]["train_seconds"], "train_cpu_seconds": curve[-1]["train_cpu_seconds"],
            "cpu_ms_per_step": round(1000 * curve[-1]["train_cpu_seconds"] / steps, 2),
            "final_loss": round(history.loss[-1], 4), "accuracy": round(float(np.mean(list(final.values()))), 4),
            "accuracy_by_language": final, "curve": curve}


def lm_data():
    """Chapter 3's corpus as ids: (train ids, test ids of LM_TEST_CHARS, vocabulary size)."""
    import torch

    from course_utils import data

    train_text, test_text = data.char_corpus("train"), data.char_corpus("test")[:LM_TEST_CHARS + 1]
    chars = sorted(set(train_text))
    index = {c: i for i, c in enumerate(chars)}
    return (torch.tensor([index[c] for c in train_text]),
            torch.tensor([index.get(c, index[" "]) for c in test_text]), len(chars))


def run_lm(kind: str, seed: int, steps: int) -> dict:
    import torch
    from torch.nn import functional as F

    torch.set_num_threads(1)
    from course_utils.models import transformer as tf

    train_ids, test_ids, V = lm_data()
    n = (len(test_ids) - 1) // WINDOW
    test_x, test_y = test_ids[: n * WINDOW].view(n, WINDOW), test_ids[1 : n * WINDOW + 1].view(n, WINDOW)
    torch.manual_seed(seed)
    model = (tf.GRULM(V, hidden_size=256, embedding_size=32) if kind == "gru_lm" else
             tf.TransformerLM(V, d_model=96, num_heads=4, num_layers=3, dim_feedforward=384, max_len=WINDOW))
    optimizer = torch.optim.Adam(model.parameters(), lr=LM_LR)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda i: max(1 - i / steps, 0.02))
    generator = torch.Generator().manual_seed(seed)

    @torch.no_grad()
    def perplexity():
        model.eval()
        total = sum(F.cross_entropy(model(x).reshape(-1, V), y.reshape(-1), reduction="sum").item()
                    for x, y in zip(test_x.split(256), test_y.split(256), strict=True))
        model.train()
        return math.exp(total / test_y.numel())

    curve, train_wall, train_cpu, losses = [], 0.0, 0.0, []
    every = max(1, steps // 8)
    for step in range(1, steps + 1):
        starts = torch.randint(0, len(train_ids) - WINDOW - 1, (LM_BATCH,), generator=generator)
        window = torch.stack([train_ids[s : s + WINDOW + 1] for s in starts.tolist()])
        wall, cpu = time.perf_counter(), time.process_time()
        loss = F.cross_entropy(model(window[:, :-1]).reshape(-1, V), window[:, 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        train_wall += time.perf_counter() - wall
        train_cpu += time.process_time() - cpu
        losses.append(loss.item())
        if step % every == 0 or step == steps:
            curve.append({"step": step, "train_seconds": round(train_wall, 2), "train_cpu_seconds": round(train_cpu, 2),
                          "perplexity": round(perplexity(), 4)})
    return {"task": "lm", "model": kind, "seed": seed, "steps": steps,
            "parameters": sum(p.numel() for p in model.parameters()),
            "train_seconds": round(train_wall, 2), "train_cpu_seconds": round(train_cpu, 2),
            "cpu_ms_per_step": round(1000 * train_cpu / steps, 2),
            "final_loss": round(float(np.mean(losses[-max(1, steps // 20):])), 4),
            "perplexity": curve[-1]["perplexity"], "curve": curve}


def one_run(task: str, model: str, seed: int, epochs: int, steps: int) -> dict:
    return run_dates(model, seed, epochs) if task == "dates" else run_lm(model, seed, steps)


def at_cpu_seconds(curve: list[dict], budget: float, metric: str) -> float | None:
    """The metric at the last evaluation reached within ``budget`` CPU seconds of training
    (None if the first evaluation came later)."""
    done = [p for p in curve if p["train_cpu_seconds"] <= budget + 1e-9]
    return done[-1][metric] if done else None


def summarise(runs: list[dict]) -> dict:
    """Per task and model, over seeds: mean/min/max of the final metric, parameters, CPU ms per
    step, and the metric at equal CPU time (the budget is the smallest total training CPU time
    of any run of that task)."""
    out: dict = {}
    for task, metric in (("dates", "accuracy"), ("lm", "perplexity")):
        mine = [r for r in runs if r["task"] == task]
        if not mine:
            continue
        budget = min(r["train_cpu_seconds"] for r in mine)
        out[task] = {"metric": metric, "equal_cpu_budget": round(budget, 2), "models": {}}
        for model in dict.fromkeys(r["model"] for r in mine):
            rows = [r for r in mine if r["model"] == model]
            values = [r[metric] for r in rows]
            equal = [at_cpu_seconds(r["curve"], budget, metric) for r in rows]
            equal = [v for v in equal if v is not None]
            out[task]["models"][model] = {
                "seeds": len(rows), "parameters": rows[0]["parameters"],
                metric: {"mean": round(float(np.mean(values)), 4), "min": min(values), "max": max(values)},
                "cpu_ms_per_step": round(float(np.median([r["cpu_ms_per_step"] for r in rows])), 2),
                "train_cpu_seconds": round(float(np.mean([r["train_cpu_seconds"] for r in rows])), 2),
                f"{metric}_at_equal_cpu": (round(float(np.mean(equal)), 4) if len(equal) == len(rows) else None)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=["dates", "lm"], choices=["dates", "lm"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=10, help="passes over the dates")
    parser.add_argument("--steps", type=int, default=500, help="language-model steps")
    parser.add_argument("--resume", action="store_true", help="keep the runs already in --out and skip them")
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel, one process and one thread each")
    parser.add_argument("--out", type=Path, default=RESULTS / "transformer.json")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    settings = {"epochs": args.epochs, "steps": args.steps, "date_lr": DATE_LR, "lm_lr": LM_LR, "window": WINDOW,
                "lm_batch": LM_BATCH, "lm_test_chars": LM_TEST_CHARS, "threads": 1}
    old = resumed(args.out, settings, args.resume)
    runs, sessions = old.get("runs", []), old.get("sessions", [])
    session = {**provenance(), "seconds": 0.0}
    sessions.append(session)
    start = time.perf_counter()
    todo = [(task, model, seed) for seed in args.seeds for task in args.tasks
            for model in (DATE_MODELS if task == "dates" else LM_MODELS)]

    def write() -> None:
        session["seconds"] = round(time.perf_counter() - start, 1)
        done = {(r["task"], r["model"], r["seed"]) for r in runs}
        figures = {"settings": settings, "complete": all(key in done for key in todo), "runs_done": len(runs),
                   "summary": summarise(runs), "sessions": sessions, "runs": runs}
        write_json_atomic(args.out, {**provenance(), "results": figures})

    def report(row: dict) -> None:
        runs.append(row)
        write()
        metric = "accuracy" if row["task"] == "dates" else "perplexity"
        print(f"{row['task']} {row['model']:17s} seed {row['seed']}: {metric} {row[metric]:.4f}, "
              f"{row['parameters']:,} parameters, {row['cpu_ms_per_step']:.1f} CPU ms/step, "
              f"{row['train_cpu_seconds']:.0f} CPU s", flush=True)

    write()
    missing = [key for key in todo if not any((r["task"], r["model"], r["seed"]) == key for r in runs)]
    if args.jobs == 1:  # in this process: nothing is left behind when it is killed
        for task, model, seed in missing:
            report(one_run(task, model, seed, args.epochs, args.steps))
    else:
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            futures = [pool.submit(one_run, *key, args.epochs, args.steps) for key in missing]
            for future in as_completed(futures):
                report(future.result())
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
