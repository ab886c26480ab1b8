#!/usr/bin/env python3
"""Build the labelled voice-command corpus that scripts/bench_commands.py measures engines on.

Positives: every vocabulary phrase from several espeak-ng voices/variants, rates, pitches and
word gaps, at random offsets and levels, over pink noise, babble, fan, music, clanking plates
and a drum beat, at clean, 20, 10, 5 and 0 dB SNR. Negatives: coaching sentences full of
command words (from the hip-thrust guide), conversation, short non-command words, the coach's
own cues echoed into the mic (with the playback reference saved beside them), and noise alone.

Split (fixed, written into manifest.json): TUNING voices/noises may be used to tune any engine;
HELD-OUT voices and noise types must never be, and are reported separately.

Layout: OUT/manifest.json and OUT/{tuning,heldout}/*.wav (16 kHz mono int16). Each WAV is a
stream of 3 s clips; the manifest gives every clip's label and the phrase's start/end times,
so one recognizer instance streams a whole file (as it would a session).

    python scripts/make_command_corpus.py [OUT] [--small] [--seed 7]
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from voicecoach.speech_in.vocabulary import load_vocabulary  # noqa: E402

RATE = 16000
CLIP = 3.0  # seconds per positive clip; the phrase ends >= 1.2 s before the clip's end
SNRS: list[float | None] = [None, 20.0, 10.0, 5.0, 0.0]  # None = clean
GUIDE = Path("/work/shared/guide/hip-thrust-guide.txt")

# Voices are (espeak-ng voice, variant). The two sets share neither language voice nor variant.
SPLIT = {
    "tuning": {
        "voices": ["en-us", "en-gb", "en-gb-x-rp"],
        "variants": ["", "m3", "f2", "m7", "f5", "Alex", "klatt"],
        "noises": ["pink", "babble", "fan", "music"],
    },
    "heldout": {
        "voices": ["en-029", "en-gb-scotland", "en-gb-x-gbcwmd", "en-us-nyc"],
        "variants": ["f1", "m1", "f4", "m5", "Andrea", "klatt3", "Annie", "Mike"],
        "noises": ["plates", "beat"],
    },
}

COACH_VOICE = ("en-us", "")  # what the coach itself speaks with (pyttsx3 -> espeak-ng)
COACH_CUES = [
    "Get ready. Set one of three, ten reps.", "Drive through your heels.",
    "Pause at the top and squeeze.", "Lower slowly, two, three.", "Stop just before your glutes touch the ground.",
    "Up.", "Down, two, three, four.", "Hold it. Good.", "Keep your chin tucked.",
    "Rest ninety seconds. Get ready for the next set.", "Last rep. Done. Rack the bar.",
    "Slow down on the way down.", "Don't stop now, three more.", "Ready? Go.",
    "That was set two. Say stop to end the session, or pause to rest.", "Next set in ten seconds.",
    "Faster on the way up, slower on the way down.", "If anything hurts, say that hurts.",
]
CONVERSATION = [
    "Did you see the game last night?", "I think I left my water bottle in the car.",
    "Can you spot me on the bench after this?", "How long have you been training here?",
    "This place gets really busy after six.", "My knees have been feeling a lot better lately.",
    "I'm going to grab a coffee after this, want one?", "The music in here is way too loud today.",
    "Let's do legs tomorrow and back on Friday.", "Is anyone using this bench right now?",
    "I need to get new shoes, these are worn out.", "What time does the gym close on Sunday?",
    "She said the new program works really well.", "We should go hiking when the weather is nice.",
    "I could not sleep at all last night.", "Put the plates back when you are finished with them.",
    "Wait for me at the front desk, I'll be quick.", "The next bus leaves at seven fifteen.",
    "Help me move this bench over there, please.", "Can we talk about the schedule for next week?",
]
SHORT_OTHER = ["yeah", "okay", "good", "nice", "alright", "thanks", "one more", "hello", "come on",
               "great", "no", "yes", "almost", "easy", "light weight", "oh well", "hmm", "whoa"]


# ---------------------------------------------------------------------------------------------
def espeak(text: str, voice: str, variant: str, rate: int, pitch: int, gap: int) -> np.ndarray:
    """Synthesize with espeak-ng; float32 mono at 16 kHz."""
    v = voice + (f"+{variant}" if variant else "")
    raw = subprocess.run(
        ["espeak-ng", "-v", v, "-s", str(rate), "-p", str(pitch), "-g", str(gap), "--stdout", text],
        check=True, capture_output=True,
    ).stdout
    x, sr = sf.read(io.BytesIO(raw), dtype="float32")
    return soxr.resample(x, sr, RATE).astype(np.float32)


def trim(x: np.ndarray) -> np.ndarray:
    """Cut espeak's leading/trailing silence so labelled start/end are the speech itself."""
    env = np.convolve(np.abs(x), np.ones(160) / 160, mode="same")
    idx = np.nonzero(env > 0.01 * env.max())[0]
    return x[idx[0] : idx[-1] + 1] if len(idx) else x


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2)) + 1e-12)


# ---- synthetic noises --------------------------------------------------------------------
def pink(rng, n):
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spec)); f[0] = 1
    return np.fft.irfft(spec / np.sqrt(f), n)


def fan(rng, n):
    t = np.arange(n) / RATE
    rumble = np.cumsum(rng.standard_normal(n)); rumble -= np.convolve(rumble, np.ones(400) / 400, "same")
    blade = rng.uniform(25, 45)
    hum = sum(np.sin(2 * np.pi * blade * k * t + rng.uniform(0, 6)) / k for k in range(1, 6))
    air = pink(rng, n)
    return rumble / rms(rumble) * 0.6 + hum / rms(hum) * 0.3 + air / rms(air) * (1 + 0.2 * np.sin(2 * np.pi * 0.3 * t))


def plates(rng, n):
    """Clanking plates: metallic inharmonic partials with fast decay, at random moments, plus thuds."""
    out = np.zeros(n)
    pos = int(rng.uniform(0, 0.5) * RATE)
    while pos < n:
        length = min(int(0.6 * RATE), n - pos)
        t = np.arange(length) / RATE
        base = rng.uniform(300, 900)
        clank = sum(np.sin(2 * np.pi * base * r * t) * rng.uniform(0.3, 1) * np.exp(-t * rng.uniform(8, 30))
                    for r in (1.0, 2.76, 5.40, 8.93, 13.3))
        thud = np.sin(2 * np.pi * rng.uniform(50, 90) * t) * np.exp(-t * 25) * rng.uniform(0, 2)
        out[pos : pos + length] += (clank + thud) * rng.uniform(0.2, 1.0)
        pos += int(rng.uniform(0.2, 2.5) * RATE)
    return out + pink(rng, n) * 0.02 * rms(out) / rms(pink(rng, 1024))


def music(rng, n):
    """Tuning music: a chord progression of detuned saw pads with a plucked melody."""
    out = np.zeros(n)
    bpm = rng.uniform(90, 130); beat = int(60 / bpm * RATE)
    roots = [57, 53, 60, 55]
    for i, pos in enumerate(range(0, n, beat * 4)):
        L = min(beat * 4, n - pos); t = np.arange(L) / RATE
        root = roots[i % 4]
        for semi in (0, 4, 7, 12):
            f = 440 * 2 ** ((root + semi - 69) / 12)
            for det in (0.998, 1.002):
                out[pos : pos + L] += ((t * f * det) % 1 - 0.5) * 0.2
        for k in range(4):
            p0 = pos + k * beat
            if p0 >= n: break
            l2 = min(beat, n - p0); t2 = np.arange(l2) / RATE
            f = 440 * 2 ** ((root + 12 + rng.choice([0, 2, 4, 7, 9, 12]) - 69) / 12)
            out[p0 : p0 + l2] += np.sin(2 * np.pi * f * t2) * np.exp(-t2 * 6) * 0.8
    return out


def beat(rng, n):
    """Held-out music: a drum groove with kick, snare, hi-hat and a square-wave bass line."""
    out = np.zeros(n)
    step = int(60 / rng.uniform(110, 140) / 4 * RATE)  # sixteenth notes
    bass_notes = [40, 40, 43, 45]
    for i, pos in enumerate(range(0, n, step)):
        L = min(step * 4, n - pos); t = np.arange(L) / RATE
        if i % 16 in (0, 6, 8):
            out[pos : pos + L] += np.sin(2 * np.pi * (50 + 100 * np.exp(-t * 30)) * t) * np.exp(-t * 12)
        if i % 16 in (4, 12):
            out[pos : pos + L] += rng.standard_normal(L) * np.exp(-t * 18) * 0.5
        if i % 2 == 0:
            out[pos : pos + L] += np.diff(rng.standard_normal(L + 1)) * np.exp(-t * 80) * 0.15
        if i % 4 == 0:
            l2 = min(step * 4, n - pos); t2 = np.arange(l2) / RATE
            f = 440 * 2 ** ((bass_notes[(i // 16) % 4] - 69) / 12)
            out[pos : pos + l2] += np.sign(np.sin(2 * np.pi * f * t2)) * 0.15 * np.exp(-t2 * 3)
    return out


def babble(rng, n, voices, texts):
    """Five overlapping talkers from the split's own voices (so held-out voices stay unseen)."""
    out = np.zeros(n)
    for _ in range(5):
        pos = -int(rng.uniform(0, 2) * RATE)
        track = np.zeros(n)
        while pos < n:
            v, var = voices[rng.integers(len(voices))]
            s = trim(espeak(str(rng.choice(texts)), v, var, int(rng.uniform(140, 190)), int(rng.uniform(30, 70)), 0))
            a, b = max(pos, 0), min(pos + len(s), n)
            if b > a:
                track[a:b] += s[a - pos : b - pos]
            pos += len(s) + int(rng.uniform(0.05, 0.4) * RATE)
        out += track / rms(track)
    return out


def make_noise(kind: str, rng, n: int, voices, texts) -> np.ndarray:
    if kind == "babble":
        x = babble(rng, n, voices, texts)
    else:
        x = {"pink": pink, "fan": fan, "plates": plates, "music": music, "beat": beat}[kind](rng, n)
    return (x / rms(x)).astype(np.float32)


def room_ir(rng, delay_ms: float) -> np.ndarray:
    """A small room: direct path after the speaker->mic delay, then ~150-300 ms of decaying tail."""
    rt = rng.uniform(0.15, 0.3)
    L = int((delay_ms / 1000 + rt) * RATE)
    t = np.arange(L) / RATE
    ir = rng.standard_normal(L) * np.exp(-6.9 * t / rt) * 0.3
    d = int(delay_ms / 1000 * RATE)
    ir[:d] = 0.0
    ir[d] = 1.0
    return ir / np.sqrt(np.sum(ir**2))


def conv(x, h):
    n = len(x) + len(h) - 1
    m = 1 << (n - 1).bit_length()
    return np.fft.irfft(np.fft.rfft(x, m) * np.fft.rfft(h, m), m)[: len(x)]


# ---------------------------------------------------------------------------------------------
def render_voice(rng, voices):
    v, var = voices[rng.integers(len(voices))]
    return dict(voice=v, variant=var, rate=int(rng.uniform(130, 195)), pitch=int(rng.uniform(25, 75)),
                gap=int(rng.choice([0, 0, 1, 3])))


def voice_list(split: str):
    s = SPLIT[split]
    return [(v, var) for v in s["voices"] for var in s["variants"]]


def guide_sentences() -> list[str]:
    import re
    text = GUIDE.read_text(encoding="utf-8") if GUIDE.exists() else ""
    parts = re.split(r"(?<=[.!?])\s+|\n+", text)
    return [" ".join(p.replace("•", " ").split()) for p in parts if 25 <= len(p.strip()) <= 220]


def write(path: Path, x: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), (np.clip(x, -1, 1) * 32767).astype(np.int16), RATE, subtype="PCM_16")


def build(out: Path, small: bool, seed: int) -> dict:
    vocab = load_vocabulary()
    phrases = sorted(vocab.phrases.items())
    rng = np.random.default_rng(seed)
    manifest: dict = {"seed": seed, "rate": RATE, "clip_seconds": CLIP, "split": SPLIT,
                      "coach_voice": list(COACH_VOICE), "small": small, "files": []}
    guide = guide_sentences()
    renders = {"tuning": 1 if small else 4, "heldout": 1 if small else 3}
    neg_minutes = {"tuning": 3 if small else 20, "heldout": 2 if small else 12}
    t0 = time.time()
    pool = ThreadPoolExecutor(2)  # espeak-ng runs as a subprocess: two at a time on two cores

    def progress(msg):
        print(f"[{time.time() - t0:6.1f}s] {msg}", file=sys.stderr, flush=True)

    for split in ("tuning", "heldout"):
        voices = voice_list(split)
        noises = SPLIT[split]["noises"]
        srng = np.random.default_rng([seed, 0 if split == "tuning" else 1])
        # --- positives: render each phrase several times, then mix per noise and SNR
        jobs = []
        for phrase, command in phrases:
            for _ in range(renders[split]):
                jobs.append((phrase, command, render_voice(srng, voices)))
        utts = list(pool.map(lambda j: trim(espeak(j[0], **{k: j[2][k] for k in ("voice", "variant", "rate", "pitch", "gap")})), jobs))
        progress(f"{split}: synthesized {len(utts)} positive utterances")
        order = srng.permutation(len(jobs))
        for noise in noises:
            n_clip = int(CLIP * RATE)
            total = n_clip * len(jobs)
            noise_track = make_noise(noise, srng, total, voices, guide + CONVERSATION)
            for snr in SNRS:
                speech = np.zeros(total, np.float32)
                items = []
                for slot, j in enumerate(order):
                    phrase, command, voice = jobs[j]
                    # Speech at -26..-40 dBFS RMS: a lifter two metres from a laptop mic.
                    u = utts[j] * (0.1 / max(rms(utts[j]), 1e-9)) * 10 ** (srng.uniform(-20, -6) / 20)
                    latest = n_clip - len(u) - int(1.2 * RATE)
                    off = int(srng.uniform(0.3 * RATE, max(0.3 * RATE + 1, latest)))
                    a = slot * n_clip + off
                    speech[a : a + len(u)] += u[: total - a]
                    items.append(dict(command=command, phrase=phrase, start=round(a / RATE, 3),
                                      end=round((a + len(u)) / RATE, 3), clip_start=slot * CLIP,
                                      clip_end=(slot + 1) * CLIP, **voice))
                if snr is None:
                    mix = speech + noise_track * 10 ** (-70 / 20)  # "clean": a -70 dBFS floor, not digital zero
                    tag = "clean"
                else:
                    # SNR over the speech itself (active samples), not over the whole stream.
                    active = speech[np.abs(speech) > 1e-4]
                    mix = speech + noise_track * rms(active) / 10 ** (snr / 20)
                    tag = f"{int(snr)}dB"
                if noise != noises[0] and snr is None:
                    continue  # clean is the same for every noise type: keep one copy
                name = f"{split}/pos_{'clean' if snr is None else noise}_{tag}.wav"
                peak = np.max(np.abs(mix))
                if peak > 0.99:
                    mix = mix * 0.99 / peak
                write(out / name, mix)
                manifest["files"].append(dict(path=name, kind="positive", split=split,
                                              noise=None if snr is None else noise, snr=snr, items=items))
            progress(f"{split}: positives over {noise} at {len(SNRS)} SNRs")

        # --- negatives: non-command speech streams, each over one noise type (or clean)
        texts = [("guide", s) for s in guide] + [("conversation", s) for s in CONVERSATION] + \
                [("short", s) for s in SHORT_OTHER] + [("coach_text", s) for s in COACH_CUES]
        target = neg_minutes[split] * 60
        conds = [(None, None)] + [(nz, s) for nz in noises for s in (20.0, 10.0)]
        per_cond = target * 0.75 / len(conds)
        for ci, (noise, snr) in enumerate(conds):
            picks = []
            dur = 0.0
            while dur < per_cond:
                kind, text = texts[srng.integers(len(texts))]
                picks.append((kind, text, render_voice(srng, voices)))
                dur += 0.07 * len(text) + 1.2 if kind != "short" else 1.5
            clips = list(pool.map(lambda p: trim(espeak(p[1], **{k: p[2][k] for k in ("voice", "variant", "rate", "pitch", "gap")})), picks))
            stream, items, pos = [], [], 0
            for (kind, text, voice), c in zip(picks, clips):
                gap = np.zeros(int(srng.uniform(0.4, 2.0) * RATE), np.float32)
                c = c * (0.1 / rms(c)) * 10 ** (srng.uniform(-20, -6) / 20)
                stream += [gap, c.astype(np.float32)]
                items.append(dict(kind=kind, text=text, start=round((pos + len(gap)) / RATE, 3),
                                  end=round((pos + len(gap) + len(c)) / RATE, 3), **voice))
                pos += len(gap) + len(c)
            speech = np.concatenate(stream + [np.zeros(RATE, np.float32)])
            if noise is None:
                mix, tag = speech, "clean"
            else:
                nt = make_noise(noise, srng, len(speech), voices, guide + CONVERSATION)
                active = speech[np.abs(speech) > 1e-4]
                mix, tag = speech + nt * rms(active) / 10 ** (snr / 20), f"{noise}_{int(snr)}dB"
            name = f"{split}/neg_speech_{tag}.wav"
            write(out / name, mix * min(1.0, 0.99 / np.max(np.abs(mix))))
            manifest["files"].append(dict(path=name, kind="negative", split=split, noise=noise, snr=snr,
                                          seconds=round(len(mix) / RATE, 2), items=items))
        progress(f"{split}: non-command speech negatives")

        # --- the coach's own cues echoed into the mic (reference saved for echo cancellation)
        cue_secs = target * 0.15
        coach, ref_items, pos, dur = [], [], 0, 0.0
        while dur < cue_secs:
            text = COACH_CUES[srng.integers(len(COACH_CUES))]
            c = trim(espeak(text, COACH_VOICE[0], COACH_VOICE[1], 165, 50, 0))
            gap = np.zeros(int(srng.uniform(0.3, 1.5) * RATE), np.float32)
            coach += [gap, c * (0.25 / rms(c))]
            ref_items.append(dict(kind="coach_cue", text=text, start=round((pos + len(gap)) / RATE, 3),
                                  end=round((pos + len(gap) + len(c)) / RATE, 3)))
            pos += len(gap) + len(c)
            dur = pos / RATE
        playback = np.concatenate(coach + [np.zeros(RATE, np.float32)]).astype(np.float32)
        mic = np.zeros_like(playback)
        # Vary level (-6..-20 dB) and delay (10..80 ms) per 20 s section, like a moved laptop.
        sec = 20 * RATE
        for a in range(0, len(playback), sec):
            seg = playback[max(0, a - RATE) : a + sec]
            ir = room_ir(srng, srng.uniform(10, 80))
            e = conv(seg, ir) * 10 ** (srng.uniform(-20, -6) / 20)
            mic[a : a + sec] = e[a - max(0, a - RATE) :][: len(mic[a : a + sec])]
        floor = make_noise(noises[0], srng, len(mic), voices, CONVERSATION) * 10 ** (-50 / 20)
        mic = mic + floor
        write(out / f"{split}/neg_coach_echo.wav", mic)
        write(out / f"{split}/neg_coach_echo.playback.wav", playback)
        manifest["files"].append(dict(path=f"{split}/neg_coach_echo.wav", kind="negative", split=split,
                                      noise="coach_echo", snr=None, seconds=round(len(mic) / RATE, 2),
                                      playback=f"{split}/neg_coach_echo.playback.wav", items=ref_items))
        progress(f"{split}: coach echo negatives")

        # --- noise alone
        per_noise = target * 0.10 / len(noises)
        for noise in noises:
            n = int(per_noise * RATE)
            x = make_noise(noise, srng, n, voices, guide + CONVERSATION) * 10 ** (srng.uniform(-30, -15) / 20)
            write(out / f"{split}/neg_noise_{noise}.wav", x * min(1.0, 0.99 / np.max(np.abs(x))))
            manifest["files"].append(dict(path=f"{split}/neg_noise_{noise}.wav", kind="negative", split=split,
                                          noise=noise, snr=None, seconds=round(n / RATE, 2), items=[]))
        progress(f"{split}: noise-alone negatives")

    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    neg = sum(f.get("seconds", 0) for f in manifest["files"] if f["kind"] == "negative")
    pos = sum(len(f["items"]) for f in manifest["files"] if f["kind"] == "positive")
    progress(f"done: {pos} positive clips, {neg / 60:.1f} min of negatives -> {out}")
    return manifest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", default="corpus", help="output directory (git-ignored)")
    ap.add_argument("--small", action="store_true", help="a quick corpus for smoke runs")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    build(Path(args.out), args.small, args.seed)


if __name__ == "__main__":
    main()
