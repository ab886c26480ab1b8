#!/usr/bin/env python3
"""Choose the moonshine engine's settings on the corpus's tuning split, reproducibly.

Streams every tuning file once through the engine, recording for each utterance the segmenter
let through: PocketSphinx's verdict, Moonshine's transcript, Moonshine's log-probability of
PocketSphinx's phrase and of the phrase the transcript is only near (for `near_gap`), and the
neural head's score of their commands (for `head_floor`). Then
scores a grid of `MoonshineSettings` on those records with the benchmark's own scoring
(scripts/bench_commands.py), PocketSphinx's threshold included (its verdicts are re-judged
against each), and prints, per setting, accuracy per SNR and false accepts per hour, then the
pick (`pick`): of the settings with at most issue 6's 0.5 false accepts an hour, the best mean
accuracy over the SNRs; if none has so few, the fewest false accepts among the settings within
3 points of the best mean accuracy. (The settings shipped since
session 17 are not that pick but, from the same grid, the fewest false accepts among the
settings with no fewer clean commands than session 16's and at most 8 fewer commands in all:
docs/moonshine.md, "Session 17".)

Only the tuning splits (--splits: tuning, the espeak-ng voices, by default; tuning-neural, Piper's
joe, from corpus v2.4; both pooled): the held-out ones measure what this chose. (Session 13's
pick, on corpus v2.3's tuning split, measured worse there and was not shipped: docs/moonshine.md.)

    python scripts/tune_moonshine.py [CORPUS] [--jobs 2] [--splits tuning,tuning-neural] [--records FILE]
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import itertools
import json
import pickle
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_commands as bench  # noqa: E402 (after the path fix; it puts the project on sys.path)

import numpy as np  # noqa: E402

from voicecoach.speech_in.moonshine_backend import MoonshineRecognizer, MoonshineSettings, words_of  # noqa: E402
from voicecoach.speech_in.neural_backend import confirm_model_dir  # noqa: E402
from voicecoach.speech_in.vocabulary import load_vocabulary  # noqa: E402


def confirm_head_id() -> str:
    """The confirming head's weights' hash: the records hold its scores."""
    return hashlib.sha256((confirm_model_dir() / "command_head.npz").read_bytes()).hexdigest()


THRESHOLD = (-0.1, -0.05, 0.0, 0.025, 0.05)
"""PocketSphinx's threshold (its phone loop's ratios centre near -0.03 on this split)."""
UNSURE = (-0.25, -0.5)
VERIFY = (5.0, 6.0, 6.5, 8.0)
BACKING = (0.0, 1.0, 2.0, 3.0)
RESCUE = (None, 3.0, 5.0)
NEAR = (0.2, 0.25, 0.34)
NEAR_GAP = (None, 2.0, 4.0)
HEAD_FLOOR = (0.0, 0.2, 0.5)
"""The confirming head's floor (0.2 was session 25's with the neural engine's head, 0.5 session 26's E22 pick)."""
TUNING_SPLITS = ("tuning", "tuning-neural")
FA_TARGET = 0.5
SLACK = 3.0
"""Points of mean accuracy the pick may give up for fewer false accepts when no setting reaches
FA_TARGET (corpus v2.3's partner words: none does)."""


class RecordingRecognizer(MoonshineRecognizer):
    """The engine, keeping what each utterance's decision was made from. PocketSphinx decodes
    what the least strict `unsure` and `near` of the grid leave open: every unsure transcript
    that isn't exactly a phrase, with its garbage search (the engine decodes less: PocketSphinx's
    running state then sees fewer searches, a small difference)."""

    def __init__(self, vocabulary) -> None:
        super().__init__(vocabulary)
        self.records: list[tuple] = []

    def decide(self, heard, sphinx, end, likelihood, opinion):
        words = words_of(heard.text)
        command, phrase, distance = self._matcher.nearest(words) if words else (None, "", float("inf"))
        verdict = sphinx() if distance > 0 and heard.logprob < max(UNSURE) else None
        if verdict is not None:
            _ = verdict.ratio  # every setting's rule may need it: decoded now, in the stream's order
        # Moonshine's score of every phrase a setting's rule may ask about (PocketSphinx's, and
        # the one a transcript is only near, for `near_gap`), and the head's of their commands.
        asked = {verdict.text: verdict.command} if verdict is not None else {}
        if 0 < distance <= max(NEAR):
            asked[phrase] = command
        self.records.append((end, verdict, heard, {p: likelihood(p) for p in asked},
                             {c: opinion(c) for c in set(asked.values()) if c is not None}))
        return super().decide(heard, lambda: verdict, end, likelihood, opinion)


def record(path: Path, playback: Path | None) -> list[tuple]:
    rec = RecordingRecognizer(load_vocabulary())
    *_, error = bench.stream(rec, path, playback)
    if error:
        raise RuntimeError(f"{path}: {error}")
    return rec.records


def scored(files, records, decide) -> dict:
    """The figures of `decide` over `files`, their splits pooled (as if all were "tuning")."""
    scores = bench.Scores(load_vocabulary().phrases)
    for f, recs in zip(files, records):
        scores.add({**f, "split": "tuning"}, [d for end, sphinx, heard, p, o in recs for d in decide(end, sphinx, heard, p, o)],
                   0.0, 1.0)
    return scores.report(["tuning"])["splits"]["tuning"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", nargs="?", default="corpus")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--splits", default="tuning",
                    help=f"comma-separated, pooled: {', '.join(TUNING_SPLITS)} (never a held-out one)")
    ap.add_argument("--records", type=Path,
                    help="keep the streamed records in this file, and score them from it when it exists "
                         "(the same code and files: a grid re-scored without streaming again)")
    args = ap.parse_args()
    if args.jobs < 1:
        ap.error("--jobs must be at least 1")
    splits = [s.strip() for s in args.splits.split(",")]
    if wrong := [s for s in splits if s not in TUNING_SPLITS]:
        ap.error(f"--splits: {', '.join(wrong)} is not a tuning split ({', '.join(TUNING_SPLITS)})")
    corpus = Path(args.corpus)
    try:
        manifest = json.loads((corpus / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        sys.exit(f"error: {corpus} is not a corpus from scripts/make_command_corpus.py ({exc})")
    files = [f for f in manifest["files"] if f["split"] in splits]
    if missing := [s for s in splits if not any(f["split"] == s for f in files)]:
        sys.exit(f"error: {corpus} has no {', '.join(missing)} split (scripts/make_command_corpus.py --splits)")
    if args.records and args.records.exists():
        try:
            saved = pickle.loads(args.records.read_bytes())
            kept, records = saved["files"], saved["records"]
            if any(len(r) != 5 for recs in records for r in recs):  # session 24's, without the head's scores
                raise TypeError("records of an older version")
        except (OSError, pickle.UnpicklingError, EOFError, TypeError, KeyError) as exc:
            sys.exit(f"error: {args.records} is not a records file of this script ({type(exc).__name__}); "
                     "delete it to record again")
        if kept != [f["path"] for f in files]:
            sys.exit(f"error: {args.records} holds records of other files; delete it to record again")
        if saved.get("confirm_head") != confirm_head_id():
            sys.exit(f"error: {args.records} holds another confirming head's scores; delete it to record again")
    else:
        records = []
        with ProcessPoolExecutor(args.jobs) as pool:
            runs = pool.map(record, [corpus / f["path"] for f in files],
                            [corpus / f["playback"] if f.get("playback") else None for f in files])
            for i, (f, recs) in enumerate(zip(files, runs), 1):
                records.append(recs)
                print(f"  [{i}/{len(files)}] {f['path']}: {len(recs)} utterances", file=sys.stderr, flush=True)
        if args.records:
            try:
                args.records.write_bytes(pickle.dumps({"files": [f["path"] for f in files], "records": records,
                                                        "confirm_head": confirm_head_id()}))
            except OSError as exc:  # the grid is still scored from what was streamed
                print(f"warning: records not kept in {args.records}: {exc.strerror}", file=sys.stderr)

    def line(name: str, r: dict) -> str:
        acc = " / ".join(bench.pct(r["accuracy"][s]) for s in bench.SNR_ORDER)
        return f"| {name} | {acc} | {r['fa_per_hour']:.1f} |"

    print("| setting (threshold, near, near_gap, unsure, verify, backing, rescue, head_floor) "
          "| accuracy clean / 20 / 10 / 5 / 0 dB | false accepts / h |")
    print("|---|---|---|")
    rec = MoonshineRecognizer(load_vocabulary())  # only its decide() is used
    recorded = MoonshineSettings().sphinx
    results = []
    for threshold in THRESHOLD:
        # A verdict's threshold is PocketSphinx's plus the command's strictness and the echo's margin.
        shift = threshold - recorded.threshold
        judged = [[(e, None if s is None else dataclasses.replace(s, threshold=s.threshold + shift), h, p, o)
                   for e, s, h, p, o in recs] for recs in records]
        for near, near_gap, unsure, verify, backing, rescue, head_floor in itertools.product(
                NEAR, NEAR_GAP, UNSURE, VERIFY, BACKING, RESCUE, HEAD_FLOOR):
            rec.s = MoonshineSettings(near=near, near_gap=float("inf") if near_gap is None else near_gap,
                                      unsure=unsure, verify=verify, backing=backing,
                                      rescue=float("-inf") if rescue is None else rescue, head_floor=head_floor,
                                      sphinx=dataclasses.replace(recorded, threshold=threshold))
            r = scored(files, judged, lambda e, s, h, p, o: rec.decide(h, lambda: s, e, p.__getitem__, o.__getitem__))
            results.append(((threshold, near, near_gap, unsure, verify, backing, rescue, head_floor), r))
            print(line(", ".join(map(str, results[-1][0])), r), flush=True)
    k, r = pick(results)
    print(f"\npick: {line(', '.join(map(str, k)), r)}")


def mean_accuracy(r: dict) -> float:
    return 100 * float(np.mean([a for a in r["accuracy"].values() if a is not None]))


def pick(results: list[tuple[tuple, dict]]) -> tuple[tuple, dict]:
    """Of the settings with at most FA_TARGET false accepts an hour, the best mean accuracy. If
    none has so few, the fewest false accepts among those within SLACK points of the best mean
    accuracy. Ties: the better mean accuracy, then the first in grid order."""
    eligible = [kr for kr in results if kr[1]["fa_per_hour"] <= FA_TARGET]
    if not eligible:
        top = max(mean_accuracy(r) for _, r in results)
        eligible = [kr for kr in results if mean_accuracy(kr[1]) >= top - SLACK]
        fewest = min(r["fa_per_hour"] for _, r in eligible)
        eligible = [kr for kr in eligible if kr[1]["fa_per_hour"] == fewest]
    return max(eligible, key=lambda kr: mean_accuracy(kr[1]))  # max(): the first of equals


if __name__ == "__main__":
    main()
