"""What `voicecoach enroll` buys on voices never used for training or tuning (issue 6).

For each held-out espeak-ng voice of the benchmark corpus (scripts/make_command_corpus.py SPLIT
["heldout"]) and its held-out neural voice (hibari-tts's heart: `--voices hibari`; speed follows
the rate, the sampling seed stands in for the pitch), the lifter "enrolls": each enrollment phrase three times at 25 dB, at three
rate/pitch settings. Then every engine listens, without and with that enrollment, to:
- the enrolled phrases at two other rate/pitch settings, clean and over the held-out noises
  (plates at 10 dB, a drum beat at 5 dB): right = the expected command and no other;
- the held-out split's gym words said alone (a partner counting, "squeeze"...), clean and over
  plates at 10 dB, by the same voice and by another held-out voice: every detection is a false
  command.
Counts on fixed audio are deterministic, so one pass is the figure. Synthesis and mixing are the
tests' and the corpus's own helpers.

    python scripts/bench_enrollment.py [--engines moonshine,pocketsphinx,hybrid,neural] [--voices V,...] [--no-write]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "scripts")]

import make_command_corpus as corpus  # noqa: E402
from bench_commands import machine, write_section  # noqa: E402
from speech_helpers import RATE, add_noise, run, say, sequence  # noqa: E402
from voicecoach.listening import enroll_lifter, enrollment_phrases  # noqa: E402
from voicecoach.speech_in.engines import make_recognizer  # noqa: E402
from voicecoach.speech_in.vocabulary import load_vocabulary  # noqa: E402

VOICES = ["en-029", "en-gb-scotland+klatt3", "en-gb-x-gbcwmd+f4", "en-us-nyc+Mike"]
"""Held-out voices and variants of the corpus (never used to train or tune anything)."""
NEURAL_VOICE = "hibari"
"""The corpus's held-out neural voice (split heldout-neural)."""


def speak(text: str, voice: str, rate: int, pitch: int) -> np.ndarray:
    """espeak-ng, or for NEURAL_VOICE hibari-tts at a speed that follows `rate` (165 wpm = 1.0),
    with `pitch` as its sampling seed (it has one speaker and no pitch control)."""
    if voice != NEURAL_VOICE:
        return say(text, voice, rate, pitch)
    return corpus.synth(text, dict(synth="hibari", voice="heart", stretch=165 / rate, seed=pitch))
ENROLL_SETTINGS = [(130, 40), (165, 50), (200, 60)]  # (words per minute, pitch) of the takes
TEST_SETTINGS = [(150, 45), (185, 55)]
CONDITIONS = [("clean", None, None), ("plates 10 dB", "plates", 10.0), ("beat 5 dB", "beat", 5.0)]
WORDS = corpus.deal(corpus.ISOLATED_WORDS, "heldout")


def stream(texts: list[str], voice: str, rate: int, pitch: int, noise: str | None, snr: float | None, seed: int):
    """The texts said alone, 1.6 s apart, over a noise: (audio, [(text, start, end)])."""
    x, spans = sequence(texts, gap=1.6, voice=voice, speed=rate, pitch=pitch, lead=1.0, speak=speak)
    if noise is not None:
        x = corpus.mix_at(x, corpus.make_noise(noise, np.random.default_rng(seed), len(x), [], []), snr)
    return x.astype(np.float32), spans


def takes_of(voice: str, phrases: list[str]) -> dict[str, list[np.ndarray]]:
    quiet = np.zeros(RATE // 4, np.float32)
    return {p: [add_noise(np.concatenate([quiet, speak(p, voice, r, pi) * 0.05, quiet]), 25, seed=r)
                for r, pi in ENROLL_SETTINGS] for p in phrases}


def measure(engine: str, vocab, voice: str, other: str, phrases: list[str]) -> dict:
    """Right commands per condition and false commands on words alone, for one engine as set up."""
    out = {"right": {}, "of": {}, "false": 0, "words": 0}
    for name, noise, snr in CONDITIONS:
        right = total = 0
        for k, (rate, pitch) in enumerate(TEST_SETTINGS):
            x, spans = stream(phrases, voice, rate, pitch, noise, snr, seed=k)
            dets = run(make_recognizer(engine, vocab), x)
            for text, start, end in spans:
                right += [d.command for d in dets if start <= d.detected_at < end + 1.2] == [vocab.command_for(text)]
                total += 1
        out["right"][name], out["of"][name] = right, total
    for speaker in (voice, other):
        for noise, snr in ((None, None), ("plates", 10.0)):
            x, spans = stream(WORDS, speaker, 160, 50, noise, snr, seed=7)
            out["false"] += len(run(make_recognizer(engine, vocab), x))
            out["words"] += len(spans)
    return out


def table(results: dict, voices: list[str]) -> str:
    """Before -> after per engine, pooled over `voices`."""
    heads = [c[0] for c in CONDITIONS]
    lines = ["| engine | " + " | ".join(f"{h}: before -> after" for h in heads) + " | words alone: false commands before -> after |",
             "|---|" + "---|" * (len(heads) + 1)]
    for engine, per_voice in results.items():
        runs = [per_voice[v] for v in voices]
        cells = []
        for h in heads:
            b = sum(r[0]["right"][h] for r in runs)
            a = sum(r[1]["right"][h] for r in runs)
            n = sum(r[0]["of"][h] for r in runs)
            cells.append(f"{100 * b / n:.0f}% -> {100 * a / n:.0f}%")
        fb = sum(r[0]["false"] for r in runs)
        fa = sum(r[1]["false"] for r in runs)
        nw = sum(r[0]["words"] for r in runs)
        cells.append(f"{fb} -> {fa} of {nw}")
        lines.append(f"| {engine} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--engines", default="moonshine,pocketsphinx,hybrid,neural")
    ap.add_argument("--voices", default=",".join(VOICES + [NEURAL_VOICE]),
                    help=f"held-out voices to enroll (default: {', '.join(VOICES)} and {NEURAL_VOICE})")
    ap.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = ap.parse_args()
    engines = args.engines.split(",")
    voices = args.voices.split(",")
    if unknown := [v for v in voices if v not in VOICES + [NEURAL_VOICE]]:
        ap.error(f"--voices: {', '.join(unknown)} is not a held-out voice ({', '.join(VOICES + [NEURAL_VOICE])})")
    if NEURAL_VOICE in voices and importlib.util.find_spec("hibari") is None:
        sys.exit(f"bench_enrollment: the voice {NEURAL_VOICE} needs the PyPI package hibari-tts: "
                 "pip install -e '.[bench]'")
    espeak_voices = [v for v in voices if v != NEURAL_VOICE]
    vocab = load_vocabulary()
    phrases = enrollment_phrases(vocab)
    results: dict = {e: {} for e in engines}
    t0 = time.time()
    for voice in voices:
        # Words alone are also said by another held-out espeak-ng voice (the next one in VOICES).
        other = VOICES[(VOICES.index(voice) + 1) % len(VOICES) if voice in VOICES else 0]
        with tempfile.TemporaryDirectory() as before_dir, tempfile.TemporaryDirectory() as after_dir:
            os.environ["XDG_DATA_HOME"] = after_dir
            enroll_lifter(takes_of(voice, phrases), vocab)
            for engine in engines:
                os.environ["XDG_DATA_HOME"] = before_dir
                before = measure(engine, vocab, voice, other, phrases)
                os.environ["XDG_DATA_HOME"] = after_dir
                after = measure(engine, vocab, voice, other, phrases)
                results[engine][voice] = (before, after)
                print(f"[{(time.time() - t0) / 60:4.1f} min] {voice} {engine}: right {before['right']} -> "
                      f"{after['right']} of {before['of']}; false {before['false']} -> {after['false']} "
                      f"of {before['words']}", file=sys.stderr, flush=True)
    per_condition = len(phrases) * len(TEST_SETTINGS)
    text = (
        "## Enrollment (issue 6)\n\n"
        f"Measured with `python scripts/bench_enrollment.py` on {machine()}, {time.strftime('%Y-%m-%d')}. "
        f"Each voice enrolls {len(phrases)} phrases x {len(ENROLL_SETTINGS)} takes at 25 dB; then the same "
        f"phrases at {len(TEST_SETTINGS)} other rates and pitches ({per_condition} utterances per condition "
        "and voice), and the held-out split's gym words said alone "
        f"({', '.join(WORDS)}) by the same voice and by another held-out espeak-ng voice, clean and over plates at "
        "10 dB. The takes become templates that name the command first for the moonshine engine, PocketSphinx and the hybrid (once PocketSphinx's gates pass); the neural and hybrid engines also re-fit the "
        "head's last layer. Counts on fixed audio: one pass.\n")
    if espeak_voices:
        text += (f"\nHeld-out espeak-ng voices {', '.join(espeak_voices)} (the corpus's held-out split: never used "
                 f"to train or tune), pooled:\n\n" + table(results, espeak_voices) + "\n")
    if NEURAL_VOICE in voices:
        text += ("\nThe held-out neural voice (hibari-tts's heart, the corpus's heldout-neural split; its speed "
                 "follows the rate, a sampling seed stands in for the pitch):\n\n" + table(results, [NEURAL_VOICE]) + "\n")
    print(text)
    if not args.no_write:
        write_section(text, ROOT / "BENCHMARKS.md", "## Enrollment (issue 6)")


if __name__ == "__main__":
    main()
