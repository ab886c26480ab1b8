"""The `voicecoach` command as a user runs it: real processes, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import soundfile as sf
from process_helpers import VOICECOACH, default_sigint
from speech_helpers import ONE_WORD_VOCABULARY


def vc(*args, **kwargs):
    return subprocess.run(VOICECOACH + list(args), capture_output=True, text=True, timeout=300, **kwargs)


def one_line_error(proc):
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_help_lists_the_commands():
    out = vc("--help").stdout
    for command in ("session", "simulate", "devices", "voices"):
        assert command in out


def test_invalid_values_get_usage_errors_naming_the_value(tmp_path):
    out = str(tmp_path / "x.wav")
    for args, needle in ((["--variation", "sideways"], "'sideways'"), (["--tempo", "2-x"], "'2-x'"),
                         (["--goal", "bulk"], "'bulk'"), (["--commands", "5:jump"], "'jump'"),
                         (["--sets", "0"], "0"), (["--load", "heavy"], "'heavy'"), (["--bogus"], "--bogus")):
        proc = vc("simulate", "--out", out, *args)
        assert proc.returncode == 2, args
        assert needle in one_line_error(proc) or needle in proc.stderr
    assert not (tmp_path / "x.wav").exists()


def test_unwritable_output_is_one_clear_line(tmp_path):
    proc = vc("simulate", "--out", str(tmp_path / "missing" / "x.wav"), "--no-setup")
    assert proc.returncode == 1
    assert "does not exist" in one_line_error(proc)


def test_session_without_a_usable_speaker_fails_cleanly():
    proc = vc("session", "--no-setup", "--device", "97", "--keyboard", stdin=subprocess.DEVNULL)
    assert proc.returncode == 1
    line = one_line_error(proc)
    assert "voicecoach devices" in line or "simulate" in line


def test_a_missing_speaker_is_reported_before_the_speech_model_is_prepared(tmp_path):
    # An empty cache: the moonshine engine would spend ~15 s building its model first.
    proc = vc("session", "--device", "97", stdin=subprocess.DEVNULL,
              env={**os.environ, "XDG_CACHE_HOME": str(tmp_path)})
    assert proc.returncode == 1 and "no output device '97'" in one_line_error(proc)
    assert "preparing the speech model" not in proc.stderr and not any(tmp_path.iterdir())


def test_bad_content_file_names_the_field(tmp_path, content):
    from importlib import resources

    text = resources.files("voicecoach.data").joinpath("guide.toml").read_text()
    bad = tmp_path / "guide.toml"
    bad.write_text(text.replace('rep_range = [3, 6]', 'rep_range = [6, 3]'))
    proc = vc("simulate", "--out", str(tmp_path / "x.wav"), "--content", str(bad))
    assert proc.returncode == 1
    assert "goals.strength.rep_range" in one_line_error(proc)


def test_simulate_writes_the_wav_and_the_timeline(tmp_path):
    out, log = tmp_path / "coach.wav", tmp_path / "timeline.jsonl"
    proc = vc("simulate", "--out", str(out), "--log", str(log), "--sets", "2", "--reps", "3", "--rest", "20",
              "--commands", "2:skip,50:status")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Session over. 2 sets, 6 reps")
    info = sf.info(str(out))
    assert info.samplerate == 22050 and info.channels == 1 and info.duration > 60
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert {"t", "event", "text"} <= set(events[0])
    kinds = {e["event"] for e in events}
    assert {"cue", "count", "earcon", "command", "summary"} <= kinds
    assert [e["t"] for e in events] == sorted(e["t"] for e in events)


def test_the_coach_tells_the_lifter_the_phrases_of_their_vocabulary(tmp_path):
    out, log = tmp_path / "coach.wav", tmp_path / "timeline.jsonl"
    proc = vc("simulate", "--out", str(out), "--log", str(log), "--sets", "1", "--reps", "1",
              "--vocabulary", str(ONE_WORD_VOCABULARY), "--commands", "1:help")
    assert proc.returncode == 0, proc.stderr
    said = [e["text"] for e in map(json.loads, log.read_text().splitlines()) if e["event"] == "cue"]
    assert "Say ready when you're set." in said
    assert any(t.startswith("You can say: ready, done, pause,") for t in said)
    assert not any("okay ready" in t for t in said)


def test_ctrl_c_mid_set_keeps_the_log_and_exits_130(tmp_path):
    out, log = tmp_path / "coach.wav", tmp_path / "timeline.jsonl"
    proc = subprocess.Popen(VOICECOACH + ["simulate", "--out", str(out), "--log", str(log), "--no-setup",
                                          "--sets", "20", "--reps", "100", "--rest", "600"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not log.exists() or '"count"' not in log.read_text()):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "Session over." in stdout
    lines = log.read_text().splitlines()
    assert any('"count"' in line for line in lines)
    assert json.loads(lines[-1])["event"] == "summary"
    assert sf.info(str(out)).duration > 0


def test_listen_into_a_closed_pipe_stops_quietly(tmp_path):
    # `voicecoach listen FILE | head -1`: once the reader is gone, stop like any Unix filter.
    from speech_helpers import RATE, sequence

    x, _ = sequence(["resume", "how many left"], level=0.05)
    wav = tmp_path / "two.wav"
    sf.write(wav, x, RATE)
    proc = subprocess.Popen(VOICECOACH + ["listen", str(wav)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # before anything is written: the first line meets a closed pipe
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 0, err
    # Nothing but the speech model's one-time preparation, if this run is the first to need it.
    assert [line for line in err.splitlines() if not line.startswith("  preparing the speech model")] == []
