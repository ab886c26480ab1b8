"""Voice commands driving a whole simulated session: the lifter's recording as the microphone,
the coach's own voice echoed into it, PocketSphinx listening."""

from __future__ import annotations

import subprocess

import numpy as np
import soundfile as sf

from speech_helpers import RATE, rms, say
from voicecoach.session_log import read_log
from process_helpers import VOICECOACH



def lifter_recording(path, seconds: float, phrases: list[tuple[float, str]], level: float = 0.1):
    """A microphone track of `seconds`: room-quiet noise with each phrase starting at its time."""
    rng = np.random.default_rng(3)
    track = rng.standard_normal(int(seconds * RATE)).astype(np.float32) * 0.0005
    for at, text in phrases:
        u = say(text)
        u = u * (level / rms(u))
        start = int(at * RATE)
        track[start:start + len(u)] += u
    sf.write(str(path), track, RATE, subtype="PCM_16")


def run(tmp_path, mic, *args):
    log = tmp_path / "timeline.jsonl"
    proc = subprocess.run(VOICECOACH + ["simulate", "--out", str(tmp_path / "coach.wav"), "--log", str(log),
                                        "--mic", str(mic), *args], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc, read_log(log)


def test_spoken_commands_drive_the_session_over_the_coach_echo(tmp_path):
    mic = tmp_path / "lifter.wav"
    # The set's counts start about 15 s in; "pause" mid-set, "resume" 15 s later, "stop" at the end.
    lifter_recording(mic, 90, [(24.0, "pause please"), (40.0, "resume"), (70.0, "stop")])
    _, events = run(tmp_path, mic, "--no-setup", "--sets", "2", "--reps", "6", "--echo", "-12")
    heard = [(e["t"], e["text"]) for e in events if e["event"] == "command"]
    assert [c for _, c in heard] == ["pause", "resume", "stop"], heard
    for (t, _), said_at in zip(heard, (24.0, 40.0, 70.0)):
        assert said_at < t < said_at + 2.0
    said = [e["text"] for e in events if e["event"] == "cue"]
    assert "Paused. Say resume when you're ready." in said and "Stopping the session." in said


def test_the_coach_never_hears_itself(tmp_path):
    mic = tmp_path / "quiet.wav"
    lifter_recording(mic, 200, [])
    # Loud echo of a whole session with setup (long cues full of command words), nobody talking.
    _, events = run(tmp_path, mic, "--sets", "1", "--reps", "3", "--echo", "-6", "--commands",
                    ",".join(f"{t}:ready" for t in (20, 40, 60, 80, 100, 120)))
    voice = [e for e in events if e["event"] == "command" and e["text"] != "ready"]
    assert voice == []


def test_recording_at_another_rate_and_channel_count_works(tmp_path):
    mono = tmp_path / "m.wav"
    lifter_recording(mono, 60, [(24.0, "stop")])
    x, _ = sf.read(str(mono), dtype="float32")
    import soxr

    y = soxr.resample(x, RATE, 44100)
    stereo = tmp_path / "stereo44k.wav"
    sf.write(str(stereo), np.stack([y, y], axis=1), 44100)
    _, events = run(tmp_path, stereo, "--no-setup", "--sets", "1", "--reps", "8")
    assert [e["text"] for e in events if e["event"] == "command"] == ["stop"]


def test_bad_microphone_file_is_one_line(tmp_path):
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio")
    proc = subprocess.run(VOICECOACH + ["simulate", "--out", str(tmp_path / "x.wav"), "--mic", str(bad)],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "notes.wav" in proc.stderr and "WAV" in proc.stderr
