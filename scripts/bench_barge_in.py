"""How often a command said over the coach's own speech is heard (barge-in), per echo level.

The coach speaks one long cue at -12 dBFS; the microphone hears it through a simulated room
(delay, reverberation tail, level) plus the lifter saying "stop", "pause please" or "that hurts"
at -26 dBFS at one of four moments. The recognizer gets the playback reference, as in a session.
Counted as heard when exactly the right command comes out. Synthesis and room simulation are the
tests' helpers (tests/speech_helpers.py), so this measures the same audio the echo tests use,
over more conditions.

    python scripts/bench_barge_in.py [--engine pocketsphinx]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from speech_helpers import RATE, rms, room_echo, run, say  # noqa: E402
from voicecoach.speech_in.engines import make_recognizer  # noqa: E402
from voicecoach.speech_in.vocabulary import load_vocabulary  # noqa: E402

CUE = ("Drive through your heels, squeeze your glutes at the top, and lower slowly, two, three, four. "
       "Keep your chin tucked and your ribs down.")
PHRASES = ["stop", "pause please", "that hurts"]
ROOMS = [(10, -6), (80, -6), (40, -12), (60, -16), (20, -20)]  # (delay ms, echo level dB)
MOMENTS = [4.0, 5.0, 6.0, 7.0]  # seconds into the coach's speech track


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engine", default="pocketsphinx")
    args = ap.parse_args()
    vocab = load_vocabulary()
    cue = np.concatenate([say(CUE)] * 2)
    playback = np.concatenate([np.zeros(RATE), cue * (0.25 / rms(cue)), np.zeros(RATE)]).astype(np.float32)
    heard: dict[int, list[bool]] = {}
    total = len(PHRASES) * len(ROOMS) * len(MOMENTS)
    for n, (phrase, (delay, level), at_s) in enumerate(
            (p, r, m) for p in PHRASES for r in ROOMS for m in MOMENTS):
        mic = room_echo(playback, delay, level, seed=2)
        user = say(phrase)
        at = int(at_s * RATE)
        mic[at : at + len(user)] += user * (0.05 / rms(user))
        dets = run(make_recognizer(args.engine, vocab), mic, playback=playback)
        heard.setdefault(level, []).append([d.command for d in dets] == [vocab.command_for(phrase)])
        print(f"\r{n + 1}/{total}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    print(f"| echo level | heard ({args.engine}) |\n|---|---|")
    for level in sorted(heard, reverse=True):
        print(f"| {level} dB | {sum(heard[level])} of {len(heard[level])} |")
    print(f"| all | {sum(map(sum, heard.values()))} of {total} |")


if __name__ == "__main__":
    main()
