#!/usr/bin/env python3
"""Benchmark the session side: how fast sessions simulate, how long the speech cache takes to
build, how exactly counts land on their beats in the rendered audio, and what one block of the
live output path costs.

    python scripts/bench_session.py [--runs 5]

Prints a markdown table (medians of --runs runs) to paste into BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from voicecoach.app import OUTPUT_RATE, anticipated_phrases, simulate  # noqa: E402
from voicecoach.audio_io import Mixer  # noqa: E402
from voicecoach.content import load_content  # noqa: E402
from voicecoach.lessons import session_lesson  # noqa: E402
from voicecoach.program import Tempo, plan_from_options  # noqa: E402
from voicecoach.session_log import read_log  # noqa: E402
from voicecoach.speech_out import PhraseCache  # noqa: E402


def machine() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration):
        model = platform.processor() or "unknown CPU"
    import os

    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}"


def timed(fn, runs: int) -> float:
    times = []
    for i in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        print(f"  run {i + 1}/{runs}: {times[-1]:.2f} s", file=sys.stderr)
    return statistics.median(times)


def onset_errors(wav: Path, log: Path) -> list[float]:
    """For every count in the timeline, how far (ms) the first audible sample is from its beat."""
    audio, rate = sf.read(str(wav), dtype="float32")
    errors = []
    for e in read_log(log):
        if e["event"] != "count":
            continue
        start = int(round(e["t"] * rate))
        window = np.abs(audio[max(0, start - rate // 10): start + rate // 10])
        loud = np.flatnonzero(window > 0.02)
        if len(loud):
            errors.append(abs((loud[0] - min(start, rate // 10)) / rate * 1000))
    return errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    content = load_content()
    default = plan_from_options(content.goals["hypertrophy"], "barbell")
    long = plan_from_options(content.goals["hypertrophy"], "barbell", sets=11, reps=12, tempo=Tempo.parse("3-2-4"),
                             rest=120, setup=False)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cache = tmp / "cache"

        print("speech cache, cold (default session)", file=sys.stderr)
        phrases = anticipated_phrases(content, session_lesson(content, default))

        def cold() -> None:
            fresh = tmp / f"cold-{time.perf_counter_ns()}"
            PhraseCache(None, 165, OUTPUT_RATE, cache_dir=fresh).prepare(phrases, progress=False)

        rows.append((f"build the speech cache from nothing ({len(phrases)} phrases)", f"{timed(cold, 3):.2f} s"))
        simulate(content, default, tmp / "warm.wav", cache_dir=cache, progress=False)

        for name, plan in (("default session (setup, 3 x 10, about 8 min)", default),
                           ("40-minute session (11 x 12 at 3-2-4)", long)):
            print(name, file=sys.stderr)
            median = timed(lambda: simulate(content, plan, tmp / "s.wav", cache_dir=cache, progress=False,
                                            log_path=tmp / "s.jsonl"), args.runs)
            length = read_log(tmp / "s.jsonl")[-1]["t"]
            rows.append((f"simulate the {name}, warm cache", f"{median:.2f} s for {length / 60:.1f} min of audio "
                         f"({length / median:.0f}x real time)"))

        errors = onset_errors(tmp / "s.wav", tmp / "s.jsonl")
        rows.append((f"count onset vs its beat in the rendered WAV ({len(errors)} counts)",
                     f"median {statistics.median(errors):.1f} ms, max {max(errors):.1f} ms"))

        mixer = Mixer(OUTPUT_RATE)
        clip = PhraseCache(None, 165, OUTPUT_RATE, cache_dir=cache).clip("squeeze")
        for i in range(8):
            mixer.add(clip, 0.01 * i)
        per_block = []
        for _ in range(2000):
            t0 = time.perf_counter()
            mixer.render(100, 1024)
            per_block.append(time.perf_counter() - t0)
        rows.append(("render one 1024-sample output block, 8 clips sounding (feeder thread)",
                     f"median {statistics.median(per_block) * 1e6:.0f} us "
                     f"({1024 / OUTPUT_RATE * 1000:.0f} ms of audio)"))

    print(f"\nMachine: {machine()}. Command: `python scripts/bench_session.py --runs {args.runs}`; "
          f"medians of {args.runs} runs (3 for the cold cache).\n")
    print("| measure | result |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
