"""The benchmark's scoring (scripts/bench_commands.py) on hand-made detections."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from script_helpers import script_module

from voicecoach.speech_in.base import Detection


@pytest.fixture(scope="module")
def bench():
    return script_module("bench_commands")


def det(command, at):
    return Detection(command=command, text=command, confidence=0.9, detected_at=at)


ITEMS = [dict(command="pause", phrase="pause please", start=0.5, end=1.0),
         dict(command="stop", phrase="quit", start=3.5, end=4.0),
         dict(command="ready", phrase="ready", start=6.5, end=7.0),
         dict(command="help", phrase="help", start=9.5, end=10.0)]


def test_a_clip_is_right_only_with_its_command_and_no_other(bench):
    dets = [det("pause", 1.3),                     # right, 0.3 s after the phrase's end
            det("stop", 4.2), det("pause", 4.5),   # right command plus a wrong one: wrong
            det("ready", 6.4),                     # before the phrase starts: belongs to the clip before
            det("help", 12.0)]                     # the last clip runs to the end of the stream
    got = bench.score_clips(ITEMS, dets)
    assert [ok for ok, *_ in got] == [True, False, False, True]
    assert got[0][1] == pytest.approx(0.3) and got[3][1] == pytest.approx(2.0)
    assert got[1][1] is None
    assert [d.command for d in got[1][3]] == ["stop", "pause", "ready"]


def test_false_accepts_per_hour_by_kind(bench):
    s = bench.Scores()
    s.add(dict(kind="negative", split="heldout", category="speech", noise=None, path="a.wav", seconds=1800),
          [det("stop", 10.0)], cpu=1.0, audio=1800)
    s.add(dict(kind="negative", split="heldout", category="coach_echo", noise="coach_echo", path="b.wav",
               seconds=1800), [], cpu=1.0, audio=1800)
    s.add(dict(kind="negative", split="heldout", category="speech", neg_kind="words", noise=None, path="c.wav",
               seconds=1800), [det("done", 3.0), det("quit", 9.0)], cpu=1.0, audio=1800)
    s.add(dict(kind="positive", split="heldout", snr=10.0, noise="plates", items=ITEMS[:1]),
          [det("pause", 1.2)], cpu=0.5, audio=3.0)
    r = s.report(["heldout"])
    sp = r["splits"]["heldout"]
    assert sp["fa_per_hour"] == pytest.approx(2.0)
    assert sp["fa_per_hour_by_kind"] == {"speech": pytest.approx(2.0), "words": pytest.approx(4.0),
                                         "coach_echo": 0.0, "noise": None}
    assert sp["accuracy"]["10"] == 1.0 and sp["accuracy"]["clean"] is None
    assert sp["accuracy_by_command"] == {"pause": 1.0}
    assert sp["accuracy_by_phrase"] == {"pause please": 1.0}
    assert r["rtf"] == pytest.approx(3.5 / 5403)


def test_the_default_engines_phrases_are_listed_weakest_first(bench):
    label = next(l for l, e in bench.BENCH_ENGINES.items() if e == bench.DEFAULT_ENGINE)
    split = {"accuracy_by_phrase": {"stop": 0.9, "pain": 0.5, "ouch": 0.75}}
    line = bench.phrase_line({label: {"splits": {"heldout": split}}}, "heldout")
    assert line == [f"\nPer phrase, {label} (the default engine; all SNRs pooled, weakest first): "
                    "pain 50%, ouch 75%, stop 90%."]
    assert bench.phrase_line({label: {"splits": {"heldout": {"accuracy_by_command": {}}}}}, "heldout") == []


def test_write_section_replaces_only_its_own_section(bench, tmp_path):
    md = tmp_path / "B.md"
    md.write_text("# Benchmarks\n\n## Session timing\n\nkeep\n\n## Command recognition\n\nold\n\n"
                  "### heldout split\n\nold table\n\n## Neural command recognizer (issue 6)\n\nold neural\n")
    bench.write_section("## Command recognition\n\nnew\n", md)
    bench.write_section(bench.NEURAL_POINTER, md, "## Neural command recognizer")
    text = md.read_text()
    assert "keep" in text and "new" in text
    assert "old" not in text
    assert text.count("## Neural command recognizer") == 1 and "docs/neural-recognizer.md" in text


def probe_run(rtf, rss_mb):
    return dict(cpu_s=rtf * 120.0, audio_s=120.0, rss_mb=rss_mb, dists=[], data_files=[])


def test_cost_figures_are_the_median_of_the_probe_runs(bench):
    # Medians at different positions (third run for RTF, last for RSS) and unlike the mean or max.
    runs = [probe_run(0.010, 180), probe_run(0.100, 200), probe_run(0.030, 150), probe_run(0.040, 190),
            probe_run(0.020, 185)]
    m = bench.probe_medians(runs)
    assert m["rtf"] == pytest.approx(0.030)
    assert m["rtf_runs"] == pytest.approx([0.010, 0.100, 0.030, 0.040, 0.020])
    assert m["rss_mb"] == 185
    assert m["probe_audio_s"] == 120.0


def engine_result(bench, pass_rtf, probe_rtfs=None):
    """One engine's results as main() stores them; without probe_rtfs, as older JSON has them."""
    cost = dict(rss_mb=100.0, packages_mb={"pocketsphinx": 39.2}, models_mb={}, install_mb=39.2)
    if probe_rtfs:
        cost.update(bench.probe_medians([probe_run(r, 100.0) for r in probe_rtfs]),
                    probe_wav="tuning/pos_pink_10dB.wav")
    return dict(rtf=pass_rtf, cost=cost)


def rtf_cell(table, label):
    return next(l for l in table.splitlines() if l.startswith(f"| {label} |")).split(" | ")[1]


def test_cost_table_shows_the_probe_median_or_says_single_pass(bench):
    base = dict(rss_mb=34.0)
    new = bench.cost_table({"ps": engine_result(bench, 0.027, [0.04, 0.06, 0.05, 0.07, 0.045])}, base)
    assert ("RTF: CPU seconds per audio second of a fresh single-threaded process streaming 120 s of the "
            "corpus's `tuning/pos_pink_10dB.wav`") in new
    assert "median of 5 runs" in new and "single pass" not in new
    assert rtf_cell(new, "ps") == "0.050"  # the probe median, not the accuracy pass's 0.027

    old = bench.cost_table({"ps": engine_result(bench, 0.027)}, base)  # JSON from before probes timed CPU
    assert "median of" not in old and "single pass" in old
    assert rtf_cell(old, "ps") == "0.027 (single pass)"

    mixed = bench.cost_table({"ps": engine_result(bench, 0.027, [0.06, 0.05, 0.031]),
                              "old": engine_result(bench, 0.011)}, base)
    assert "median of 3 runs" in mixed
    assert rtf_cell(mixed, "ps") == "0.050" and rtf_cell(mixed, "old") == "0.011 (single pass)"


def test_the_coachs_own_line_heard_back_is_not_a_false_accept(bench):
    # As in a session (voicecoach/mic_commands.py): "ready" just after the coach said "Ready? Go."
    # is its echo; "stop" 14 s later, with the coach saying other words, counts.
    s = bench.Scores()
    cues = [dict(kind="coach_cue", text="Ready? Go.", start=5.0, end=6.0),
            dict(kind="coach_cue", text="Drive through your heels.", start=19.0, end=20.5)]
    s.add(dict(kind="negative", split="heldout", category="coach_echo", noise="coach_echo", path="b.wav",
               seconds=3600, items=cues), [det("ready", 6.4), det("stop", 20.2)], cpu=1.0, audio=3600)
    sp = s.report(["heldout"])["splits"]["heldout"]
    assert sp["fa_per_hour_by_kind"]["coach_echo"] == pytest.approx(1.0)


def test_the_report_names_the_phrases_it_did_not_score(bench):
    clip = lambda phrase: dict(command="pause", phrase=phrase, start=0.5, end=1.0)  # noqa: E731
    manifest = {"files": [{"kind": "positive", "items": [clip("pause please"), clip("wait"), clip("hold the bar")]}]}
    assert bench.unscored_phrases(manifest) == " (the corpus's clips of 'hold the bar', 'wait', no longer a phrase: not scored)"
    manifest["files"][0]["items"] = [clip("pause please")]
    assert bench.unscored_phrases(manifest) == ""


def test_a_split_the_corpus_lacks_is_refused_before_measuring(tmp_path):
    script = Path(__file__).resolve().parent.parent / "scripts" / "bench_commands.py"
    (tmp_path / "manifest.json").write_text(json.dumps({"files": [{"path": "tuning/a.wav", "split": "tuning"}]}))
    run = subprocess.run([sys.executable, str(script), str(tmp_path), "--split", "heldout-chatter", "--no-write"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines()[-1].endswith("--split: heldout-chatter is not a split of "
                                                        f"{tmp_path} (it has tuning)")
