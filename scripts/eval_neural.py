#!/usr/bin/env python3
"""Measure the neural recognizer on the benchmark corpus (scripts/make_command_corpus.py).

Scoring is the benchmark's (scripts/bench_commands.py): a positive clip is right when its
command, and no other, is detected between the phrase's start and the next phrase's start;
latency = detected_at - phrase end; every detection in a negative file is a false accept.
Tuning and held-out splits are reported separately; nothing here feeds back into training.

    python scripts/eval_neural.py [CORPUS] [--build] [--model-dir DIR] [--json OUT]

With --build (or when CORPUS has no manifest) the corpus is made first with
`python scripts/make_command_corpus.py CORPUS --small`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from voicecoach.audio_io import read_wav  # noqa: E402
from voicecoach.speech_in.neural_backend import NeuralRecognizer  # noqa: E402
from voicecoach.speech_in.vocabulary import load_vocabulary  # noqa: E402
from bench_commands import score_clips, stream  # noqa: E402  (the benchmark's own streaming and scoring)

SNRS = ["clean", "20", "10", "5", "0"]


def run_file(path: str, playback: str | None, model_dir: str | None):
    rec = NeuralRecognizer(load_vocabulary(), model_dir=model_dir, enrollment=False)
    dets, cpu, seconds = stream(rec, Path(path), Path(playback) if playback else None)
    return dets, cpu, seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def evaluate(corpus: Path, model_dir: str | None, jobs: int) -> dict:
    manifest = json.loads((corpus / "manifest.json").read_text())
    files = manifest["files"]
    with ProcessPoolExecutor(jobs) as pool:
        runs = list(pool.map(run_file, [str(corpus / f["path"]) for f in files],
                             [str(corpus / f["playback"]) if f.get("playback") else None for f in files],
                             [model_dir] * len(files)))
    acc = defaultdict(lambda: [0, 0])
    by_noise = defaultdict(lambda: [0, 0])
    by_cmd = defaultdict(lambda: [0, 0])
    lat = defaultdict(list)
    fa = defaultdict(lambda: [0, 0.0])
    examples = []
    cpu = audio = 0.0
    rss = 0
    for f, (dets, c, a, mem) in zip(files, runs):
        cpu += c
        audio += a
        rss = max(rss, mem)
        sp = f["split"]
        if f["kind"] == "positive":
            snr = "clean" if f["snr"] is None else str(int(f["snr"]))
            for ok, l, it, here in score_clips(f["items"], dets):
                acc[(sp, snr)][0] += ok
                acc[(sp, snr)][1] += 1
                by_cmd[(sp, it["command"])][0] += ok
                by_cmd[(sp, it["command"])][1] += 1
                if f["snr"] is not None:
                    by_noise[(sp, f["noise"])][0] += ok
                    by_noise[(sp, f["noise"])][1] += 1
                if l is not None:
                    lat[sp].append(l)
        else:
            cat = "coach_echo" if f["noise"] == "coach_echo" else ("noise" if "neg_noise" in f["path"] else "speech")
            fa[(sp, cat)][0] += len(dets)
            fa[(sp, cat)][1] += f["seconds"]
            examples += [(f["path"], d.detected_at, d.command, d.text, d.confidence) for d in dets]
    report: dict = {"corpus": str(corpus), "rtf_pass": cpu / audio, "max_rss_mb": rss / 1024, "splits": {}}
    for sp in ("tuning", "heldout"):
        fas = {cat: fa[(sp, cat)] for cat in ("speech", "coach_echo", "noise")}
        secs = sum(v[1] for v in fas.values())
        n = sum(v[0] for v in fas.values())
        ls = lat[sp]
        report["splits"][sp] = {
            "accuracy": {s: (acc[(sp, s)][0] / acc[(sp, s)][1] if acc[(sp, s)][1] else None) for s in SNRS},
            "clips": {s: acc[(sp, s)][1] for s in SNRS},
            "accuracy_by_noise": {k[1]: v[0] / v[1] for k, v in by_noise.items() if k[0] == sp},
            "accuracy_by_command": {k[1]: round(v[0] / v[1], 3) for k, v in sorted(by_cmd.items()) if k[0] == sp},
            "false_accepts": n, "negative_hours": secs / 3600, "fa_per_hour": n / (secs / 3600) if secs else None,
            "fa_per_hour_by_kind": {k: (v[0] / (v[1] / 3600) if v[1] else None) for k, v in fas.items()},
            "latency_p50": float(np.percentile(ls, 50)) if ls else None,
            "latency_p95": float(np.percentile(ls, 95)) if ls else None,
        }
    report["false_accept_examples"] = examples[:25]
    report["rtf_one_core"] = timing(corpus, manifest, model_dir)
    return report


def timing(corpus: Path, manifest: dict, model_dir: str | None) -> float:
    """CPU seconds per audio second, one process, best of 3 (others share this machine)."""
    pos = next(f for f in manifest["files"] if f["kind"] == "positive" and f["snr"] == 10.0)
    rtfs = []
    for _ in range(3):
        _, c, a, _ = run_file(str(corpus / pos["path"]), None, model_dir)
        rtfs.append(c / a)
    return min(rtfs)


def table(rep: dict) -> str:
    lines = ["| split | clean | 20 dB | 10 dB | 5 dB | 0 dB | FA/h all (speech / echo / noise) | neg. hours | latency p50 / p95 |",
             "|---|---|---|---|---|---|---|---|---|"]
    for sp, r in rep["splits"].items():
        accs = " | ".join("-" if r["accuracy"][s] is None else f"{100 * r['accuracy'][s]:.0f}% ({r['clips'][s]})" for s in SNRS)
        k = r["fa_per_hour_by_kind"]
        f = lambda v: "-" if v is None else f"{v:.1f}"  # noqa: E731
        lat = "-" if r["latency_p50"] is None else f"{r['latency_p50']:.2f} / {r['latency_p95']:.2f} s"
        lines.append(f"| {sp} | {accs} | {f(r['fa_per_hour'])} ({f(k['speech'])} / {f(k['coach_echo'])} / {f(k['noise'])}) "
                     f"| {r['negative_hours']:.2f} | {lat} |")
    lines.append(f"\nRTF (one core, best of 3): {rep['rtf_one_core']:.3f}; peak RSS of a worker: {rep['max_rss_mb']:.0f} MB")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", nargs="?", default=str(ROOT / "build" / "corpus_eval"))
    ap.add_argument("--build", action="store_true")
    ap.add_argument("--model-dir", default=None)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--json", default=None, help="also write the full report here")
    args = ap.parse_args()
    corpus = Path(args.corpus)
    if args.build or not (corpus / "manifest.json").exists():
        subprocess.run([sys.executable, str(ROOT / "scripts" / "make_command_corpus.py"), str(corpus), "--small"], check=True)
    rep = evaluate(corpus, args.model_dir, args.jobs)
    print(table(rep))
    for sp, r in rep["splits"].items():
        print(f"{sp}: by noise {({k: round(v, 3) for k, v in r['accuracy_by_noise'].items()})}")
        print(f"{sp}: by command {r['accuracy_by_command']}")
    for ex in rep["false_accept_examples"]:
        print("  false accept:", ex)
    if args.json:
        Path(args.json).write_text(json.dumps(rep, indent=1, default=str))


if __name__ == "__main__":
    main()
